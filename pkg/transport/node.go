package transport

import (
	"context"
	"errors"
)

// NodeFiles is implemented by sessions that run etcd's own tools inside the member's pod (the
// exec transport), and so reach the node's disk through the pod's hostPath mounts. The etcd
// image is distroless: etcdctl and etcdutl are all there is, no shell, test, ls or rm.
type NodeFiles interface {
	// SnapshotFileStatus reports on a snapshot file with etcdutl. An error that wraps
	// fs.ErrNotExist means there is no such file; any other error means something is there
	// that is not a readable snapshot.
	SnapshotFileStatus(ctx context.Context, path string) (*SnapshotFileStatus, error)
	// SaveSnapshotFile has etcdctl save a snapshot of the member to path (etcdctl writes
	// path.part, then renames it over path).
	SaveSnapshotFile(ctx context.Context, path string) error
	// VerifySnapshotFile proves path's sha256 trailer: etcdutl restores path into scratch (a
	// directory that must not exist, whose name ends in ".part"), which checks the trailer;
	// scratch is removed again whatever happened. A mismatch wraps ErrHashMismatch. leftover
	// names scratch when it could not be removed.
	VerifySnapshotFile(ctx context.Context, path, scratch string) (leftover string, err error)
}

// SnapshotFileStatus is what etcdutl snapshot status says about a file.
type SnapshotFileStatus struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKeys int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version,omitempty"`
}

// ErrHashMismatch says a snapshot file's sha256 trailer does not match its data.
var ErrHashMismatch = errors.New("the sha256 trailer does not match the data")
