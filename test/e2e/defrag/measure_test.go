package defrag_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestMeasureDefragUnderLoad (E2E_MEASURE=1) measures what a rolling defrag does to a steady
// write load on a fragmented database with live data: leader elections (raft term and
// etcd_server_leader_changes_seen_total before/after) and put latency while each member is
// defragmented, once with --move-leader (default) and once with --move-leader=false, where the
// leader defragments in place. It logs the figures and never fails on timing.
//
//	cd test && E2E_MEASURE=1 go test ./e2e/defrag/ -run TestMeasureDefragUnderLoad -count=1 -v -timeout 30m
//
// E2E_MEASURE_LIVE_MIB and E2E_MEASURE_GARBAGE_MIB size the live data and the deleted data
// (default 100 and 100).
func TestMeasureDefragUnderLoad(t *testing.T) {
	plugintest.SkipShort(t)
	if os.Getenv("E2E_MEASURE") != "1" {
		t.Skip("set E2E_MEASURE=1 to measure defrag under a write load")
	}
	liveMiB, garbageMiB := envInt("E2E_MEASURE_LIVE_MIB", 100), envInt("E2E_MEASURE_GARBAGE_MIB", 100)
	c := harness.Start(t, harness.Options{})
	cl := c.Client(t)
	t0 := time.Now()
	writeLive(t, c, liveMiB)
	t.Logf("wrote %d MiB of live data under /live/ in %s", liveMiB, time.Since(t0).Round(time.Millisecond))

	ld := startLoad(t, c)
	var reports []func()
	for _, mode := range []struct {
		name string
		argv []string
	}{
		{"move-leader", args(execArgs(), "defrag", "--force", "-o", "json")},
		{"leader-in-place", args(execArgs(), "defrag", "--force", "--move-leader=false", "--yes", "-o", "json")},
	} {
		fragment(t, c, cl, garbageMiB)
		time.Sleep(5 * time.Second) // a quiet baseline window
		l := leader(t, c, cl)
		before, lc := states(t, c, cl), leaderChanges(t, c)
		runStart := time.Now()
		p := start(t, c, mode.argv...)
		r := p.wait(t)
		runEnd := time.Now()
		after, lc2 := states(t, c, cl), leaderChanges(t, c)
		if r.Code != 0 {
			t.Errorf("%s: %s", mode.name, r)
			continue
		}
		var rep defragReport
		plugintest.Decode(t, r, &rep)
		ls := p.stderrLines()
		// Reported once the load has stopped, so that puts still in flight at the end of the run
		// (a stall) count with their full latency.
		reports = append(reports, func() {
			nl := nameOf(c, after[l].Leader)
			var changes []string
			for _, n := range slices.Sorted(maps.Keys(lc2)) {
				changes = append(changes, fmt.Sprintf("%s +%d", n, lc2[n]-lc[n]))
			}
			t.Logf("== %s: kubectl-etcd %s; leader %s -> %s; raft term %d -> %d (+%d); leader changes seen: %s; run took %s",
				mode.name, strings.Join(r.Args[:len(r.Args)-2], " "), l, nl, maxTerm(before), maxTerm(after), maxTerm(after)-maxTerm(before),
				strings.Join(changes, ", "), r.Dur.Round(time.Millisecond))
			t.Logf("   baseline (5 s before the run): %s", ld.window(runStart.Add(-5*time.Second), runStart).summary())
			for _, x := range rep.Order {
				beg, err1 := findEvent(ls, "defragmenting "+x.Name+" ")
				end, err2 := findEvent(ls, x.Name+": ")
				if err1 != nil || err2 != nil {
					t.Errorf("%s: no progress lines for %s: %v %v\n%s", mode.name, x.Name, err1, err2, r)
					continue
				}
				role := "follower"
				if x.Leader {
					role = "leader at start"
					if x.LeaderMove != "" {
						role += ", leadership moved to " + x.LeaderMove + " first"
						if mv, err := findEvent(ls, "moving leadership from "); err == nil {
							w := ld.window(mv.at, beg.at)
							t.Logf("   leadership move %s -> %s, %s:", x.Name, x.LeaderMove, beg.at.Sub(mv.at).Round(time.Millisecond))
							t.Logf("      all puts:                 %s", w.summary())
							for _, wr := range append([]string{"client"}, c.MemberNames()...) {
								t.Logf("      %-25s %s", wr+":", w.only(wr).summary())
							}
						}
					} else {
						role += ", defragmented in place"
					}
				}
				w := ld.window(beg.at, end.at)
				t.Logf("   %s (%s) %.0f -> %.0f MiB, defrag took %s, step %s:", x.Name, role, mib(x.DBSize), mib(x.SizeAfter), x.Took, end.at.Sub(beg.at).Round(time.Millisecond))
				t.Logf("      all puts:                 %s", w.summary())
				t.Logf("      via c.Client (all eps):   %s", w.only("client").summary())
				t.Logf("      pinned to %s:           %s", x.Name, w.only(x.Name).summary())
				t.Logf("      pinned to the others:     %s", w.except("client", x.Name).summary())
			}
			t.Logf("   whole run: %s", ld.window(runStart, runEnd).summary())
		})
	}
	ld.stop()
	for _, f := range reports {
		f()
	}
	t.Logf("load: %d puts, %d errors", ld.count(), ld.errors())
	for _, e := range ld.errorList() {
		t.Logf("   %s", e)
	}
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil || v <= 0 {
		return def
	}
	return v
}

// writeLive writes about mib MiB of 64 KiB random values under /live/ (kept, so that a defrag
// has data to copy), with 8 writers.
func writeLive(t *testing.T, c *harness.Cluster, mib int) {
	t.Helper()
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	total := mib * (1 << 20) / (64 << 10)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := 0; i < total; i++ {
			next <- i
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for i := range next {
				_, _ = rand.Read(buf)
				if _, err := cl.Put(ctx, fmt.Sprintf("/live/%08d", i), string(buf)); err != nil {
					errs <- err
					for range next {
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatalf("writing live data: %v", err)
	}
}

// sample is one put of the load.
type sample struct {
	writer string
	at     time.Time
	lat    time.Duration
	err    string
}

// load puts small keys in a loop: one writer through c.Client(t) (all endpoints, like a
// kube-apiserver), and one pinned to each member.
type load struct {
	mu       sync.Mutex
	samples  []sample
	stopping atomic.Bool
	wg       sync.WaitGroup
	once     sync.Once
}

func startLoad(t *testing.T, c *harness.Cluster) *load {
	ld := &load{}
	writers := map[string]*clientv3.Client{"client": c.Client(t)}
	for _, n := range c.MemberNames() {
		cl, err := clientv3.New(clientv3.Config{Endpoints: []string{c.ClientURL(n)}, TLS: tlsOf(t, c), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		writers[n] = cl
	}
	val := strings.Repeat("v", 128)
	for name, cl := range writers {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for i := 0; !ld.stopping.Load(); i++ {
				pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				_, err := cl.Put(pctx, fmt.Sprintf("/load/%s/%d", name, i%1000), val)
				lat := time.Since(t0)
				pcancel()
				smp := sample{writer: name, at: t0, lat: lat}
				if err != nil {
					smp.err = err.Error()
				}
				ld.mu.Lock()
				ld.samples = append(ld.samples, smp)
				ld.mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(ld.stop)
	return ld
}

// stop stops issuing puts and waits for those in flight.
func (ld *load) stop() {
	ld.once.Do(func() {
		ld.stopping.Store(true)
		ld.wg.Wait()
	})
}

func (ld *load) count() int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return len(ld.samples)
}

func (ld *load) errors() int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	n := 0
	for _, s := range ld.samples {
		if s.err != "" {
			n++
		}
	}
	return n
}

// errorList lists the failed puts.
func (ld *load) errorList() []string {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	var out []string
	for _, s := range ld.samples {
		if s.err != "" {
			out = append(out, fmt.Sprintf("%s via %s after %s: %s", s.at.Format("15:04:05.000"), s.writer, s.lat.Round(time.Millisecond), s.err))
		}
	}
	return out
}

// window returns the puts that were in flight at some point in [from, to].
func (ld *load) window(from, to time.Time) samples {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	var out samples
	for _, s := range ld.samples {
		if s.at.Before(to) && s.at.Add(s.lat).After(from) {
			out = append(out, s)
		}
	}
	return out
}

type samples []sample

func (ss samples) only(writer string) samples {
	var out samples
	for _, s := range ss {
		if s.writer == writer {
			out = append(out, s)
		}
	}
	return out
}

func (ss samples) except(writers ...string) samples {
	var out samples
	for _, s := range ss {
		if !slices.Contains(writers, s.writer) {
			out = append(out, s)
		}
	}
	return out
}

func (ss samples) summary() string {
	if len(ss) == 0 {
		return "no puts"
	}
	lats := make([]time.Duration, 0, len(ss))
	errs := 0
	for _, s := range ss {
		lats = append(lats, s.lat)
		if s.err != "" {
			errs++
		}
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[min(len(lats)-1, int(float64(len(lats))*p))] }
	return fmt.Sprintf("%5d puts, p50 %7s p99 %7s max %7s, %d errors", len(ss),
		pct(0.50).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond), lats[len(lats)-1].Round(time.Millisecond), errs)
}

// tlsOf is the healthcheck-client TLS config of the cluster, from its PKI dir.
func tlsOf(t *testing.T, c *harness.Cluster) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.PKIDir, "healthcheck-client.crt"), filepath.Join(c.PKIDir, "healthcheck-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(c.PKIDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no CA certificate in ca.crt")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
}
