package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

// runCompression compares snapshot save plain, .zst, .gz and .zst.age from the same member of
// a fresh harness cluster whose database holds real Kubernetes objects written through the API
// server and copied from its storage etcd into the members (ConfigMaps with configuration text, Secrets with random key material, as a cluster
// keeps them), not random bytes. Per format: stored size, ratio, MB/s of snapshot bytes per
// wall second, peak RSS.
func runCompression(mib, rounds, members int, member string, keep bool) error {
	e, stop, err := newBenchEnv(members, keep)
	if err != nil {
		return err
	}
	defer stop()
	work, plugin, emptyPKI, c, certs := e.work, e.plugin, e.emptyPKI, e.c, e.certs
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	tf := time.Now()
	n, written, err := fillObjects(ctx, c, int64(mib)<<20)
	if err != nil {
		return err
	}
	fmt.Printf("\ncompression: wrote %d ConfigMaps and Secrets (%.1f MB of object data) through the API server in %s\n",
		n, float64(written)/1e6, time.Since(tf).Round(100*time.Millisecond))
	// The harness's API server keeps its objects in its own storage etcd: copy them, byte for
	// byte as kube-apiserver encoded them, into the members the plugin saves from.
	tc := time.Now()
	keys, size, err := c.CopyAPIObjects(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("copied %d keys (%.1f MB) from the API server's storage into the members in %s\n", keys, float64(size)/1e6, time.Since(tc).Round(100*time.Millisecond))

	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	type format struct {
		name, file string
		extra      []string
	}
	formats := []format{
		{"plain .db", "s.db", nil},
		{"zstd .db.zst", "s.db.zst", nil},
		{"gzip .db.gz", "s.db.gz", nil},
		{"zstd+age .db.zst.age", "s.db.zst.age", []string{"--encrypt-to", id.Recipient().String()}},
	}
	type result struct {
		samples []sample
		stored  int64
		raw     int64
	}
	results := make([]result, len(formats))
	for r := 0; r < rounds; r++ {
		for k := range formats {
			i := (k + r) % len(formats) // rotate the order between rounds
			f := formats[i]
			path := filepath.Join(work, f.file)
			argv := append(append([]string{"snapshot", "save", path, "--member", member, "--transport", "port-forward", "--kubeadm-pki-dir", emptyPKI}, certs...), f.extra...)
			s, err := measure(ctx, fmt.Sprintf("round %d %s", r+1, f.name), c.Env(), path, plugin, argv...)
			if err != nil {
				return err
			}
			var md struct {
				Size     int64 `json:"size"`
				FileSize int64 `json:"fileSize"`
			}
			if b, err := os.ReadFile(path + ".json"); err == nil {
				_ = json.Unmarshal(b, &md)
			}
			// MB/s of the snapshot itself (the plain bytes etcd sent), comparable across formats.
			s.bytes = md.Size
			results[i].samples = append(results[i].samples, s)
			results[i].raw = md.Size
			results[i].stored = md.Size
			if md.FileSize > 0 {
				results[i].stored = md.FileSize
			}
			fmt.Println(s)
			_ = os.Remove(path)
			_ = os.Remove(path + ".json")
		}
	}
	plain := mean(results[0].samples)
	fmt.Printf("\n%-24s %12s %12s %8s %10s %10s %10s\n", "FORMAT", "SNAPSHOT", "STORED", "RATIO", "MB/S", "VS PLAIN", "PEAK RSS")
	for i, f := range formats {
		r := results[i]
		fmt.Printf("%-24s %9.1f MB %9.1f MB %7.2fx %10.1f %9.2fx %6.1f MiB\n", f.name, float64(r.raw)/1e6, float64(r.stored)/1e6,
			float64(r.raw)/float64(max(r.stored, 1)), mean(r.samples), mean(r.samples)/plain, maxRSS(r.samples))
	}
	return nil
}

// fillObjects writes ConfigMaps and Secrets through the API server until about size bytes of
// object data are stored: three ConfigMaps (configuration text: properties, JSON, YAML with
// varying names, ports and numbers) to one Secret (random key material, base64 in its JSON,
// as TLS keys and tokens are) in 20 namespaces, four writers in parallel.
func fillObjects(ctx context.Context, c *harness.Cluster, size int64) (int, int64, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return 0, 0, err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, 0, err
	}
	const namespaces = 20
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%02d", i)}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return 0, 0, fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
	}
	var written atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for written.Load() < size {
				i := int(next.Add(1))
				ns := fmt.Sprintf("team-%02d", i%namespaces)
				meta := metav1.ObjectMeta{Name: fmt.Sprintf("app-%06d", i), Namespace: ns,
					Labels: map[string]string{"app.kubernetes.io/name": fmt.Sprintf("app-%d", i%97), "app.kubernetes.io/part-of": ns}}
				var err error
				var n int
				if i%4 == 3 {
					key := make([]byte, 3072)
					_, _ = rand.Read(key)
					s := &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque,
						Data: map[string][]byte{"tls.key": key, "token": []byte(fmt.Sprintf("%x", key[:32]))}}
					_, err = cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
					n = len(key) + 64
				} else {
					data := configData(i, ns)
					_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta, Data: data}, metav1.CreateOptions{})
					for k, v := range data {
						n += len(k) + len(v)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				written.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	return int(next.Load()), written.Load(), nil
}

// configData is an application's configuration as teams keep it in ConfigMaps.
func configData(i int, ns string) map[string]string {
	var props, yaml strings.Builder
	for k := range 40 {
		fmt.Fprintf(&props, "service.dep-%d.endpoint=http://svc-%d.%s.svc.cluster.local:%d/api/v%d\nservice.dep-%d.timeout=%dms\n",
			k, (i*7+k)%500, ns, 8000+(i+k)%1000, 1+k%3, k, 100*(1+(i+k)%30))
	}
	for k := range 25 {
		fmt.Fprintf(&yaml, "- name: route-%d\n  match:\n    prefix: /v%d/items/%d\n  backend:\n    service: svc-%d\n    port: %d\n  retries: %d\n",
			k, 1+k%2, i*k%9973, (i+k)%311, 8080+k%4, k%5)
	}
	dash, _ := json.Marshal(map[string]any{"title": fmt.Sprintf("app-%d in %s", i, ns), "refresh": "30s",
		"panels": []map[string]any{{"id": i, "type": "graph", "targets": []string{fmt.Sprintf("rate(http_requests_total{app=\"app-%d\"}[5m])", i)}}}})
	return map[string]string{"application.properties": props.String(), "routes.yaml": yaml.String(), "dashboard.json": string(dash)}
}
