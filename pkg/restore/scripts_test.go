package restore

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKubelet runs a listener per manifest while its file is in the manifest directory, as a
// kubelet runs a static pod: etcd's two ports, the API server's one. stuck keeps etcd running
// after its manifest is gone.
type fakeKubelet struct {
	dir   string
	ports map[string][]int
	stuck bool
	// dead: the restored etcd never listens.
	dead bool
	mu   sync.Mutex
	open map[string][]net.Listener
	// seen records each start of a manifest with its content.
	seen []string
	stop chan struct{}
	done chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newFakeKubelet(t *testing.T, dir string, ports map[string][]int, stuck bool) *fakeKubelet {
	k := &fakeKubelet{dir: dir, ports: ports, stuck: stuck, open: map[string][]net.Listener{}, stop: make(chan struct{}), done: make(chan struct{})}
	go k.loop(t)
	t.Cleanup(func() {
		close(k.stop)
		<-k.done
		for _, ls := range k.open {
			for _, l := range ls {
				l.Close()
			}
		}
	})
	return k
}

func (k *fakeKubelet) loop(t *testing.T) {
	defer close(k.done)
	for {
		select {
		case <-k.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		k.mu.Lock()
		for file, ports := range k.ports {
			data, err := os.ReadFile(filepath.Join(k.dir, file))
			running := k.open[file] != nil
			switch {
			case err == nil && !running && !(k.dead && string(data) == "restored etcd"):
				for _, p := range ports {
					l, lerr := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
					if lerr != nil {
						t.Errorf("fake kubelet: %v", lerr)
						continue
					}
					k.open[file] = append(k.open[file], l)
				}
				k.seen = append(k.seen, file+"="+string(data))
			case err != nil && running && !(k.stuck && file == "etcd.yaml"):
				for _, l := range k.open[file] {
					l.Close()
				}
				delete(k.open, file)
			}
		}
		k.mu.Unlock()
	}
}

func (k *fakeKubelet) starts() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.seen...)
}

// cutoverNode lays out a node: manifests, the kept copies, the stage directory.
func cutoverNode(t *testing.T, cport, pport, aport int) (stage, man, keep string) {
	d := t.TempDir()
	stage, man, keep = filepath.Join(d, "stage"), filepath.Join(d, "manifests"), filepath.Join(d, "keep")
	for _, x := range []string{stage, man, keep} {
		if err := os.Mkdir(x, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	w := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w(filepath.Join(man, "etcd.yaml"), "old etcd")
	w(filepath.Join(man, "kube-apiserver.yaml"), "apiserver")
	w(filepath.Join(keep, "P-etcd.yaml"), "old etcd")
	w(filepath.Join(keep, "P-kube-apiserver.yaml"), "apiserver")
	w(filepath.Join(keep, "P-restored-etcd.yaml"), "restored etcd")
	w(filepath.Join(stage, "components"), fmt.Sprintf("kube-apiserver.yaml %d\n", aport))
	w(filepath.Join(stage, "etcd"), fmt.Sprintf("etcd.yaml %d %d\n", cport, pport))
	return stage, man, keep
}

func runCutover(t *testing.T, stage, man, keep string) (string, error) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", cutover, "sh", stage, man, keep, "P", "0", "10", "0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out[e.Name()] = string(b)
	}
	return out
}

func TestCutoverScript(t *testing.T) {
	cport, pport, aport := freePort(t), freePort(t), freePort(t)
	stage, man, keep := cutoverNode(t, cport, pport, aport)
	k := newFakeKubelet(t, man, map[string][]int{"etcd.yaml": {cport, pport}, "kube-apiserver.yaml": {aport}}, false)
	time.Sleep(200 * time.Millisecond) // the kubelet runs what the directory holds
	if err := os.WriteFile(filepath.Join(stage, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCutover(t, stage, man, keep)
	if err != nil {
		t.Fatalf("cutover: %v\n%s", err, out)
	}
	if got := dirFiles(t, man); len(got) != 2 || got["etcd.yaml"] != "restored etcd" || got["kube-apiserver.yaml"] != "apiserver" {
		t.Errorf("manifests after the cutover (no hidden leftovers either): %v", got)
	}
	for _, f := range []string{"etcd.yaml", "kube-apiserver.yaml"} {
		if st, err := os.Stat(filepath.Join(man, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v %v, want 0600 as kubeadm writes it", f, st.Mode().Perm(), err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(keep, "P.log"))
	want := "step 1/4: stopping the control plane\nstep 2/4: stopping etcd\nstep 3/4: starting etcd from the restored data directory\nstep 4/4: starting the control plane\ndone\n"
	if string(log) != want {
		t.Errorf("progress file:\n%s\nwant:\n%s", log, want)
	}
	time.Sleep(100 * time.Millisecond)
	starts := strings.Join(k.starts(), "|")
	if starts != "etcd.yaml=old etcd|kube-apiserver.yaml=apiserver|etcd.yaml=restored etcd|kube-apiserver.yaml=apiserver" &&
		starts != "kube-apiserver.yaml=apiserver|etcd.yaml=old etcd|etcd.yaml=restored etcd|kube-apiserver.yaml=apiserver" {
		t.Errorf("what the kubelet ran, in order: %s", starts)
	}
}

func TestCutoverScriptRestoredEtcdDoesNotStart(t *testing.T) {
	cport, pport, aport := freePort(t), freePort(t), freePort(t)
	stage, man, keep := cutoverNode(t, cport, pport, aport)
	k := newFakeKubelet(t, man, map[string][]int{"etcd.yaml": {cport, pport}, "kube-apiserver.yaml": {aport}}, false)
	k.mu.Lock()
	k.dead = true
	k.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(stage, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", cutover, "sh", stage, man, keep, "P", "0", "2", "0")
	out, err := cmd.CombinedOutput()
	// The control plane still goes back, and the run says it failed (an error before step 4
	// is not forgotten by it).
	log, _ := os.ReadFile(filepath.Join(keep, "P.log"))
	if err == nil || !strings.Contains(string(log), "does not listen") || !strings.HasSuffix(string(log), "failed: see the errors above\n") {
		t.Fatalf("restored etcd that never listens: %v\n%s\nlog:\n%s", err, out, log)
	}
	if got := dirFiles(t, man); got["etcd.yaml"] != "restored etcd" || got["kube-apiserver.yaml"] != "apiserver" {
		t.Errorf("manifests: %v", got)
	}
}

func TestCutoverScriptAbort(t *testing.T) {
	stage, man, keep := cutoverNode(t, freePort(t), freePort(t), freePort(t))
	for _, f := range []string{"go", "abort"} {
		if err := os.WriteFile(filepath.Join(stage, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runCutover(t, stage, man, keep)
	if err != nil || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("abort: %v\n%s", err, out)
	}
	if got := dirFiles(t, man); got["etcd.yaml"] != "old etcd" || got["kube-apiserver.yaml"] != "apiserver" {
		t.Errorf("manifests after an abort: %v", got)
	}
}

func TestCutoverScriptEtcdDoesNotStop(t *testing.T) {
	cport, pport, aport := freePort(t), freePort(t), freePort(t)
	stage, man, keep := cutoverNode(t, cport, pport, aport)
	newFakeKubelet(t, man, map[string][]int{"etcd.yaml": {cport, pport}, "kube-apiserver.yaml": {aport}}, true)
	time.Sleep(200 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(stage, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", cutover, "sh", stage, man, keep, "P", "0", "2", "0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the restored manifest is NOT installed") {
		t.Fatalf("etcd that does not stop: %v\n%s", err, out)
	}
	if got := dirFiles(t, man); len(got) != 2 || got["etcd.yaml"] != "old etcd" || got["kube-apiserver.yaml"] != "apiserver" {
		t.Errorf("manifests after the failed cutover: %v", got)
	}
}
