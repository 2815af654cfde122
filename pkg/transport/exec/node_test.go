package exec

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// podDisk answers etcdutl and etcdctl the way the real ones do (messages captured from etcd
// v3.6.16 and v3.7.3) over an in-memory disk: path -> "db", "corrupt" or "dir".
type podDisk struct {
	files map[string]string
	// restoreFails, when set, is etcdutl restore's message after it created the directory.
	restoreFails string
}

func (d *podDisk) answer(argv []string) capture {
	arg := func(i int) string { return argv[i] }
	switch {
	case argv[0] == "etcdutl" && arg(1) == "snapshot" && arg(2) == "status":
		switch d.files[arg(3)] {
		case "":
			return capture{stderr: "Error: stat " + arg(3) + ": no such file or directory\n", code: 1}
		case "db", "corrupt":
			return capture{stdout: `{"hash":2320429947,"revision":2,"totalKey":1,"totalSize":20480,"version":"3.6.0"}`}
		}
		return capture{stderr: "Error: invalid database\n", code: 1}
	case argv[0] == "etcdutl" && arg(1) == "snapshot" && arg(2) == "restore":
		dir := arg(5)
		if d.files[dir] != "" {
			return capture{stderr: "Error: data-dir \"" + dir + "\" not empty or could not be read\n", code: 1}
		}
		d.files[dir] = "dir"
		if d.files[arg(3)] == "corrupt" {
			return capture{stderr: "Error: expected sha256 [237 240 59], got [7 222 153]\n", code: 1}
		}
		if d.restoreFails != "" {
			return capture{stderr: "Error: " + d.restoreFails + "\n", code: 1}
		}
		return capture{stderr: `{"level":"info","msg":"restored snapshot"}` + "\n"}
	case argv[0] == "etcdctl":
		i := len(argv) - 1 // etcdctl ... snapshot save PATH
		if argv[i-2] != "snapshot" || argv[i-1] != "save" {
			break
		}
		part := argv[i] + ".part"
		if d.files[part] == "dir" { // os.OpenFile fails, the deferred os.RemoveAll removes it
			delete(d.files, part)
			return capture{stderr: "Error: could not open " + part + " (open " + part + ": is a directory)\n", code: 1}
		}
		d.files[argv[i]] = "db"
		return capture{stderr: "Snapshot saved at " + argv[i] + "\n"}
	}
	return capture{stderr: "Error: unexpected command " + strings.Join(argv, " "), code: 2}
}

func nodeSession(t *testing.T, d *podDisk) (*Session, *recorder) {
	t.Helper()
	rec := &recorder{answer: d.answer}
	m := &discovery.Member{Namespace: "kube-system", Pod: "etcd-cp-1", Container: "etcd", LocalClientURL: "https://127.0.0.1:2379",
		TrustedCAFile: "/etc/kubernetes/pki/etcd/ca.crt", CertFile: "/etc/kubernetes/pki/etcd/server.crt", KeyFile: "/etc/kubernetes/pki/etcd/server.key"}
	s, err := (&Connector{Executor: rec}).Connect(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Session), rec
}

func TestSnapshotFileStatus(t *testing.T) {
	s, _ := nodeSession(t, &podDisk{files: map[string]string{"/var/lib/etcd/a.db": "db", "/var/lib/etcd/d": "dir"}})
	if st, err := s.SnapshotFileStatus(context.Background(), "/var/lib/etcd/a.db"); err != nil || st.Revision != 2 || st.TotalKeys != 1 {
		t.Errorf("a.db: %+v %v", st, err)
	}
	if _, err := s.SnapshotFileStatus(context.Background(), "/var/lib/etcd/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent: %v", err)
	}
	// Something that is there but no snapshot is not "absent".
	if _, err := s.SnapshotFileStatus(context.Background(), "/var/lib/etcd/d"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory: %v", err)
	}
}

func TestVerifySnapshotFileRestoresAndRemovesScratch(t *testing.T) {
	for _, c := range []struct {
		name, file   string
		restoreFails string
		is           error
	}{
		{name: "valid", file: "db"},
		{name: "corrupt", file: "corrupt", is: transport.ErrHashMismatch},
		{name: "disk full during restore", file: "db", restoreFails: "write /var/lib/etcd/v.part/member/snap/db: no space left on device"},
	} {
		d := &podDisk{files: map[string]string{"/var/lib/etcd/s.db": c.file}, restoreFails: c.restoreFails}
		s, rec := nodeSession(t, d)
		scratch := "/var/lib/etcd/.kubectl-etcd-verify-0123.part"
		leftover, err := s.VerifySnapshotFile(context.Background(), "/var/lib/etcd/s.db", scratch)
		switch {
		case c.is != nil && !errors.Is(err, c.is):
			t.Errorf("%s: want %v, got %v", c.name, c.is, err)
		case c.is == nil && c.restoreFails == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.restoreFails != "" && (err == nil || !strings.Contains(err.Error(), "no space left")):
			t.Errorf("%s: want the restore's error, got %v", c.name, err)
		}
		if leftover != "" || d.files[scratch] != "" {
			t.Errorf("%s: scratch left: %q %v", c.name, leftover, d.files)
		}
		// The restore did not use --skip-hash-check, and the removal went through etcdctl
		// with the base name; no snapshot file was created by it.
		var restore, save string
		for _, argv := range rec.calls {
			line := strings.Join(argv, " ")
			if strings.Contains(line, "snapshot restore") {
				restore = line
			}
			if strings.Contains(line, "snapshot save") {
				save = line
			}
		}
		if restore != "etcdutl snapshot restore /var/lib/etcd/s.db --data-dir "+scratch {
			t.Errorf("%s: restore %q", c.name, restore)
		}
		if !strings.HasSuffix(save, " snapshot save /var/lib/etcd/.kubectl-etcd-verify-0123") || d.files["/var/lib/etcd/.kubectl-etcd-verify-0123"] != "" {
			t.Errorf("%s: cleanup %q, files %v", c.name, save, d.files)
		}
	}
}

// etcdctl snapshot save is only run for the cleanup when the scratch directory is surely there:
// otherwise it would save a whole snapshot that nothing could remove.
func TestVerifySnapshotFileNeverSavesWithoutScratch(t *testing.T) {
	d := &podDisk{files: map[string]string{"/var/lib/etcd/s.db": "db"}}
	s, rec := nodeSession(t, d)
	inner := rec.answer
	rec.answer = func(argv []string) capture {
		if argv[0] == "etcdutl" && argv[2] == "restore" { // fails before creating the directory
			return capture{stderr: "Error: --initial-cluster has default=... but missing from --initial-advertise-peer-urls\n", code: 1}
		}
		return inner(argv)
	}
	_, err := s.VerifySnapshotFile(context.Background(), "/var/lib/etcd/s.db", "/var/lib/etcd/.v.part")
	if err == nil {
		t.Fatal("a failed restore verified")
	}
	for _, argv := range rec.calls {
		if argv[0] == "etcdctl" {
			t.Errorf("etcdctl ran: %v", argv)
		}
	}
	if _, err := s.VerifySnapshotFile(context.Background(), "/var/lib/etcd/s.db", "/var/lib/etcd/v"); err == nil {
		t.Error("a scratch name without .part was accepted")
	}
}
