package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// fillMiB makes the stream take a moment (a few seconds through port-forward on 2 cores), so
// that the member or the plugin can be stopped while it runs.
const fillMiB = 256

// TestSnapshotInterrupted stops a snapshot mid-stream, by killing the member it streams from and
// by Ctrl-C: the plugin must fail, say what happened and leave neither FILE nor FILE.part.
func TestSnapshotInterrupted(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := c.Fill(ctx, fillMiB); err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %d MiB in %s", fillMiB, time.Since(t0).Round(time.Millisecond))
	dir := t.TempDir()

	t.Run("member killed", func(t *testing.T) {
		G := filepath.Join(dir, "G.db")
		p := start(t, c, dir, args("snapshot", "save", "G.db", "--member", "cp-2", plugintest.PFArgs(c))...)
		partSize, ok := waitPart(p, G+".part")
		if !ok {
			r := p.Wait(t)
			t.Fatalf("G.part never appeared\n%s", r)
		}
		tk := time.Now()
		if err := c.KillMember("cp-2"); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed cp-2 when G.part had %d bytes (kill took %s)", partSize, time.Since(tk).Round(time.Millisecond))
		r := p.Wait(t)
		took := time.Since(tk)
		t.Logf("exit %d %s after the kill; stderr: %s", r.Code, took.Round(time.Millisecond), r.Stderr)
		// Today the plugin notices after ~30 s (its gRPC keepalive); a hang shows up here.
		if took > 60*time.Second {
			t.Errorf("the plugin took %s after the member died to give up", took.Round(time.Second))
		}
		if r.Code == 0 {
			t.Fatalf("the snapshot finished although its member was killed mid-stream (stream faster than the kill? raise fillMiB)\n%s", r)
		}
		if r.Code != 1 {
			t.Errorf("exit code %d, want 1\n%s", r.Code, r)
		}
		wantCrashFree(t, r)
		// Says which member, that the stream broke, and that nothing was kept.
		for _, want := range []string{"error: ", "etcd-cp-2", "nothing was kept"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("stderr lacks %q\n%s", want, r)
			}
		}
		wantAbsent(t, r, G, G+".part", G+".json")
		if err := c.StartMember("cp-2"); err != nil {
			t.Fatalf("restarting cp-2: %v", err)
		}
	})

	t.Run("Ctrl-C", func(t *testing.T) {
		H := filepath.Join(dir, "H.db")
		p := start(t, c, dir, args("snapshot", "save", "H.db", "--member", "cp-3", plugintest.PFArgs(c))...)
		partSize, ok := waitPart(p, H+".part")
		if !ok {
			r := p.Wait(t)
			t.Fatalf("H.part never appeared\n%s", r)
		}
		if err := p.Cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		t.Logf("sent SIGINT when H.part had %d bytes", partSize)
		r := p.Wait(t)
		t.Logf("exit %d; stderr: %s", r.Code, r.Stderr)
		if r.Code == 0 {
			t.Fatalf("the snapshot finished although it was interrupted (raise fillMiB)\n%s", r)
		}
		wantCrashFree(t, r)
		if !strings.Contains(r.Stderr, "error: ") || !strings.Contains(r.Stderr, "interrupted") {
			t.Errorf("stderr does not say the snapshot was interrupted\n%s", r)
		}
		wantAbsent(t, r, H, H+".part", H+".json")
	})

	// Ctrl-C releases the member's lock on the way out: the same member is free at once.
	t.Run("after Ctrl-C the member is free", func(t *testing.T) {
		r := run(t, c, dir, args("snapshot", "save", "K3.db", "--member", "cp-3", plugintest.PFArgs(c))...)
		plugintest.WantCode(t, r, 0)
		wantSnapshotOK(t, dir, "K3.db")
	})

	// The killed member's lock cannot be released through the dead member; it must expire (its
	// lease) so that the member can be snapshotted again.
	t.Run("after the member died its lock expires", func(t *testing.T) {
		t0 := time.Now()
		var r *plugintest.Result
		for time.Since(t0) < 2*time.Minute {
			r = run(t, c, dir, args("snapshot", "save", "K2.db", "--member", "cp-2", plugintest.PFArgs(c))...)
			if r.Code != 5 {
				break
			}
			if !strings.Contains(r.Stderr, "busy") {
				t.Fatalf("refused, but not because the member is busy\n%s", r)
			}
			time.Sleep(5 * time.Second)
		}
		plugintest.WantCode(t, r, 0)
		t.Logf("cp-2 could be snapshotted again %s after the first retry", time.Since(t0).Round(time.Second))
		wantSnapshotOK(t, dir, "K2.db")
	})
}

// TestSnapshotSignals stops a snapshot mid-stream with SIGTERM and SIGHUP (the terminal
// closing), which must clean up exactly like Ctrl-C, and with a second Ctrl-C while the first
// one's cleanup still waits, which must quit at once and still leave no FILE.part.
func TestSnapshotSignals(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := c.Fill(ctx, fillMiB); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	for sig, name := range map[syscall.Signal]string{syscall.SIGTERM: "TERM.db", syscall.SIGHUP: "HUP.db"} {
		t.Run(name, func(t *testing.T) {
			F := filepath.Join(dir, name)
			p := start(t, c, dir, args("snapshot", "save", name, "--member", "cp-3", plugintest.PFArgs(c))...)
			partSize, ok := waitPart(p, F+".part")
			if !ok {
				r := p.Wait(t)
				t.Fatalf("%s.part never appeared\n%s", name, r)
			}
			if err := p.Cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			t.Logf("sent %v when the .part had %d bytes", sig, partSize)
			r := p.Wait(t)
			if r.Code == 0 {
				t.Fatalf("the snapshot finished although it was stopped (raise fillMiB)\n%s", r)
			}
			if r.Code != 1 {
				t.Errorf("exit code %d, want 1 (the command cleaned up and failed; a process killed by the signal has none)\n%s", r.Code, r)
			}
			wantCrashFree(t, r)
			if !strings.Contains(r.Stderr, "interrupted") || !strings.Contains(r.Stderr, "nothing was kept") {
				t.Errorf("stderr does not say the snapshot was interrupted and nothing kept\n%s", r)
			}
			wantAbsent(t, r, F, F+".part", F+".json")
		})
	}

	t.Run("second Ctrl-C", func(t *testing.T) {
		F := filepath.Join(dir, "INT2.db")
		p := start(t, c, dir, args("snapshot", "save", "INT2.db", "--member", "cp-1", plugintest.PFArgs(c))...)
		if _, ok := waitPart(p, F+".part"); !ok {
			r := p.Wait(t)
			t.Fatalf("INT2.db.part never appeared\n%s", r)
		}
		// With the node's kubelet frozen the first Ctrl-C's cleanup waits (the lock's release
		// cannot reach the member, for up to 5 s), so the second one arrives while it does. It
		// is sent once the first has removed the .part: two signals sent at once would merge
		// into one.
		if err := c.FreezeNode("cp-1"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.ThawNode("cp-1") })
		if err := p.Cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if !waitGone(p, F+".part") {
			r := p.Wait(t)
			t.Fatalf("the first Ctrl-C did not remove INT2.db.part, or the plugin exited at once\n%s", r)
		}
		t0 := time.Now()
		if err := p.Cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		r := p.Wait(t)
		t.Logf("exited %s after the second SIGINT", time.Since(t0).Round(time.Millisecond))
		_ = c.ThawNode("cp-1")
		t.Logf("exit %d after two SIGINTs; stderr: %s", r.Code, r.Stderr)
		if r.Code != 130 {
			t.Errorf("exit code %d, want 130: the second Ctrl-C must quit without waiting for the cleanup\n%s", r.Code, r)
		}
		wantCrashFree(t, r)
		wantAbsent(t, r, F, F+".part", F+".json")
	})
}

// wantSnapshotOK checks a saved snapshot with "snapshot status" and its size against the fill.
func wantSnapshotOK(t *testing.T, dir, name string) {
	t.Helper()
	r := run(t, nil, dir, "snapshot", "status", name)
	plugintest.WantCode(t, r, 0)
	if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() < fillMiB<<20 {
		t.Errorf("%s: %v, size %v; want >= %d MiB", name, err, fi, fillMiB)
	}
	_ = os.Remove(filepath.Join(dir, name))
}

// waitPart polls for path until it exists with some data or the process exits; it returns the
// size seen.
func waitPart(p *plugintest.Proc, path string) (int64, bool) {
	deadline := time.Now().Add(plugintest.HangLimit)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return fi.Size(), true
		}
		select {
		case <-p.Exited:
			return 0, false
		case <-time.After(2 * time.Millisecond):
		}
	}
	return 0, false
}

// waitGone polls until path is gone while the process still runs; false when it exited first.
func waitGone(p *plugintest.Proc, path string) bool {
	deadline := time.Now().Add(plugintest.HangLimit)
	for time.Now().Before(deadline) {
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			select {
			case <-p.Exited:
				return false
			default:
				return true
			}
		}
		select {
		case <-p.Exited:
			return false
		case <-time.After(2 * time.Millisecond):
		}
	}
	return false
}
