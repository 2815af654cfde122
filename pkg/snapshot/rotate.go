package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// rotationPattern matches the names RotationName gives, with the suffixes of the layers.
var rotationPattern = regexp.MustCompile(`^etcd-([0-9a-z]+)-([0-9]{8}T[0-9]{6}Z)\.db(\.zst|\.gz)?(\.age)?$`)

// RotationName is the name a save into a directory gives: etcd-<cluster id>-<UTC time>.db
// (the layers' suffixes follow).
func RotationName(clusterID string, t time.Time) string {
	return fmt.Sprintf("etcd-%s-%s.db", clusterID, t.UTC().Format("20060102T150405Z"))
}

// sidecar is the part of a snapshot's FILE.json that Rotate checks.
type sidecar struct {
	ClusterID     string `json:"clusterID"`
	PluginVersion string `json:"pluginVersion"`
}

// Rotate keeps the newest keep snapshots of cluster clusterID in dir and removes the older ones
// (each file and its FILE.json). It only considers what this plugin wrote there: regular files
// named as RotationName names them for that cluster, with a FILE.json sidecar that records the
// same cluster. newest (the snapshot just saved and verified) is always kept. It returns what
// it removed; a file it could not remove is in the error, and the others are still removed.
func Rotate(dir, clusterID string, keep int, newest string) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("--keep must be at least 1, not %d", keep)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s for --keep: %w", dir, unwrapPath(err))
	}
	type cand struct{ name, stamp string }
	var cands []cand
	newestBase := filepath.Base(newest)
	for _, e := range entries {
		m := rotationPattern.FindStringSubmatch(e.Name())
		if m == nil || m[1] != clusterID || e.Name() == newestBase || !e.Type().IsRegular() {
			continue
		}
		if !isOurs(filepath.Join(dir, e.Name()), clusterID) {
			continue
		}
		cands = append(cands, cand{e.Name(), m[2]})
	}
	// Newest first; the one just saved counts as the newest of all.
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].stamp != cands[j].stamp {
			return cands[i].stamp > cands[j].stamp
		}
		return cands[i].name > cands[j].name
	})
	if len(cands) <= keep-1 {
		return nil, nil
	}
	var removed []string
	var errs []error
	for _, c := range cands[keep-1:] {
		p := filepath.Join(dir, c.name)
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove the old snapshot %s: %w", p, unwrapPath(err)))
			continue
		}
		if err := os.Remove(p + ".json"); err != nil {
			errs = append(errs, fmt.Errorf("removed the old snapshot %s, but not its %s.json: %w", p, p, unwrapPath(err)))
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// isOurs says whether path has a sidecar written by this plugin for clusterID.
func isOurs(path, clusterID string) bool {
	st, err := os.Lstat(path + ".json")
	if err != nil || !st.Mode().IsRegular() || st.Size() > 1<<20 {
		return false
	}
	b, err := os.ReadFile(path + ".json")
	if err != nil {
		return false
	}
	var sc sidecar
	if json.Unmarshal(b, &sc) != nil {
		return false
	}
	return sc.ClusterID == clusterID && sc.PluginVersion != ""
}
