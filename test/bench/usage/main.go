// Command usage measures "kubectl etcd usage --file" on a large synthetic backend: throughput
// (MB of file per second) and the peak RSS of the plugin and its child process, for two numbers
// of distinct keys, so that the memory the per-key map needs shows apart from the file size.
//
// The backend is written directly in etcd's bbolt layout (key bucket of revisions holding
// mvccpb.KeyValue; every key written -revisions times), which is what a snapshot's database is;
// no cluster is needed. Usage: go run ./bench/usage [-mib 1024] [-rounds 2]
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

func main() {
	mib := flag.Int("mib", 1024, "MiB of keys and values to write into each backend")
	rounds := flag.Int("rounds", 2, "runs of the plugin per backend")
	revisions := flag.Int("revisions", 2, "revisions per key (all but the last are history)")
	dir := flag.String("dir", "", "where to write the backends (default: a temporary directory, removed)")
	flag.Parse()
	bin := os.Getenv("KUBECTL_ETCD")
	if bin == "" {
		fmt.Fprintln(os.Stderr, "error: set KUBECTL_ETCD to the plugin binary (make build)")
		os.Exit(1)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "usage-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	// The same volume in few large values and in many small ones.
	for _, valueSize := range []int{16 << 10, 1 << 10} {
		path := filepath.Join(*dir, fmt.Sprintf("db-%d", valueSize))
		keys := int64(*mib) << 20 / int64(valueSize) / int64(*revisions)
		t0 := time.Now()
		if err := write(path, keys, valueSize, *revisions); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		st, err := os.Stat(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		fmt.Printf("backend: %d keys x %d revisions of %d-byte values, file %.0f MB (written in %s)\n",
			keys, *revisions, valueSize, float64(st.Size())/1e6, time.Since(t0).Round(time.Second))
		for r := range *rounds {
			wall, rss, anon, file, err := measure(bin, path)
			if err != nil {
				fmt.Fprintln(os.Stderr, "error:", err)
				os.Exit(1)
			}
			fmt.Printf("  round %d: %s, %.0f MB/s, peak RSS %.0f MiB (the walk alone: anonymous %.0f MiB, file-backed %.0f MiB)\n",
				r+1, wall.Round(time.Millisecond), float64(st.Size())/wall.Seconds()/1e6, rss, anon, file)
		}
		os.Remove(path)
	}
}

// measure runs usage --file (wall time, and the peak RSS of the plugin or its child: wait4's
// rusage covers the descendants the plugin waited for), then the child's own command alone while
// sampling its anonymous and file-backed resident memory: bbolt maps the file, and the pages it
// reads count in RSS as file-backed (page cache the kernel can drop), apart from the heap.
func measure(bin, path string) (wall time.Duration, rss, anon, file float64, err error) {
	cmd := exec.Command(bin, "usage", "--file", path, "-o", "json")
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("%s usage --file %s: %w", bin, path, err)
	}
	wall = time.Since(t0)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024
	}
	child := exec.Command(bin, "__usage-file", path)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return 0, 0, 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return wall, rss, anon, file, err
		case <-tick.C:
			a, f := statusRSS(child.Process.Pid)
			anon, file = max(anon, a), max(file, f)
		}
	}
}

// statusRSS reads RssAnon and RssFile (MiB) from /proc/PID/status.
func statusRSS(pid int) (anon, file float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(l, "RssAnon: %f kB", &kb); err == nil {
			anon = kb / 1024
		}
		if _, err := fmt.Sscanf(l, "RssFile: %f kB", &kb); err == nil {
			file = kb / 1024
		}
	}
	return anon, file
}

// write builds the backend: every key is written revs times, one revision after the other, as
// configmaps spread over 100 namespaces.
func write(path string, keys int64, valueSize, revs int) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	rev := int64(1)
	const batch = 20000
	for r := range revs {
		for start := int64(0); start < keys; start += batch {
			err := db.Update(func(tx *bolt.Tx) error {
				kb, err := tx.CreateBucketIfNotExists([]byte("key"))
				if err != nil {
					return err
				}
				kb.FillPercent = 1 // appends in revision order
				for i := start; i < min(start+batch, keys); i++ {
					rev++
					kv := &mvccpb.KeyValue{Key: fmt.Appendf(nil, "/registry/configmaps/ns-%02d/cm-%09d", i%100, i), Value: value, ModRevision: rev, Version: int64(r + 1)}
					v, err := proto.Marshal(kv)
					if err != nil {
						return err
					}
					rk := make([]byte, 17)
					binary.BigEndian.PutUint64(rk, uint64(rev))
					rk[8] = '_'
					if err := kb.Put(rk, v); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return db.Sync()
}
