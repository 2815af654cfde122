package exec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// kvSim is an Executor that behaves like etcdctl against one tiny etcd: get, put (--lease),
// lease grant/revoke and txn, the last reading its operations from stdin in etcdctl's
// non-interactive format (each list ends at a blank line; EOF before that is etcdctl's
// "Error: EOF", exit 3). Its answers have the shape of the captures in testdata/.
type kvSim struct {
	kv     map[string]simKV
	leases map[int64]bool
	next   int64
	// before runs before each command is carried out; it may run other commands (another
	// plugin acting at that moment) or fail this one.
	before func(ctx context.Context, args []string) error
	calls  []simCall
}

type simKV struct {
	value string
	lease int64
}

type simCall struct {
	args        []string
	hasDeadline bool
	ctxErr      error
}

func newKVSim() *kvSim {
	return &kvSim{kv: map[string]simKV{}, leases: map[int64]bool{}, next: 0x694d7a0c1a5b0000}
}

func (k *kvSim) Exec(ctx context.Context, _, _, _ string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	args := argv
	for i, a := range argv {
		if a == "json" {
			args = argv[i+1:]
			break
		}
	}
	_, dl := ctx.Deadline()
	k.calls = append(k.calls, simCall{args: args, hasDeadline: dl, ctxErr: ctx.Err()})
	fail := func(code int, msg string) error {
		fmt.Fprintf(stderr, "Error: %s\n", msg)
		return &ExitError{Code: code, Err: errors.New(msg)}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if k.before != nil {
		if err := k.before(ctx, args); err != nil {
			return fail(1, err.Error())
		}
	}
	write := func(v any) error {
		b, _ := json.Marshal(v)
		_, _ = stdout.Write(b)
		return nil
	}
	switch {
	case len(args) == 3 && args[0] == "lease" && args[1] == "grant":
		k.next++
		k.leases[k.next] = true
		return write(map[string]any{"ID": k.next, "TTL": args[2]})
	case len(args) == 3 && args[0] == "lease" && args[1] == "revoke":
		id, err := strconv.ParseInt(args[2], 16, 64)
		if err != nil || !k.leases[id] {
			return fail(1, "failed to revoke lease (etcdserver: requested lease not found)")
		}
		delete(k.leases, id)
		for key, v := range k.kv {
			if v.lease == id {
				delete(k.kv, key)
			}
		}
		return write(map[string]any{"header": map[string]any{}})
	case len(args) == 2 && args[0] == "get":
		return write(k.rangeResp(args[1]))
	case len(args) >= 3 && args[0] == "put":
		if err := k.put(args[1], args[2], args[3:]); err != nil {
			return fail(1, err.Error())
		}
		return write(map[string]any{"header": map[string]any{}})
	case len(args) == 1 && args[0] == "txn":
		if stdin == nil {
			return fail(3, "EOF")
		}
		return k.txn(bufio.NewReader(stdin), write, fail)
	}
	return fail(1, "kvSim: unexpected command "+strings.Join(args, " "))
}

func (k *kvSim) rangeResp(key string) map[string]any {
	resp := map[string]any{"header": map[string]any{}, "count": 0}
	if v, ok := k.kv[key]; ok {
		resp["kvs"] = []map[string]any{{"key": []byte(key), "value": []byte(v.value), "lease": v.lease}}
		resp["count"] = 1
	}
	return resp
}

func (k *kvSim) put(key, value string, flags []string) error {
	var lease int64
	for _, f := range flags {
		h, ok := strings.CutPrefix(f, "--lease=")
		if !ok {
			return fmt.Errorf("unknown flag %s", f)
		}
		id, err := strconv.ParseInt(h, 16, 64)
		if err != nil {
			return err
		}
		if !k.leases[id] {
			return errors.New("etcdserver: requested lease not found")
		}
		lease = id
	}
	k.kv[key] = simKV{value: value, lease: lease}
	return nil
}

// unquoteFields splits a txn line into Go-quoted strings and bare words, as etcdctl's Argify does.
func unquoteFields(line string) ([]string, error) {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil, err
			}
			s, _ := strconv.Unquote(q)
			out = append(out, s)
			line = line[len(q):]
			continue
		}
		w, rest, _ := strings.Cut(line, " ")
		out = append(out, w)
		line = rest
	}
	return out, nil
}

func (k *kvSim) txn(r *bufio.Reader, write func(any) error, fail func(int, string) error) error {
	readList := func() ([]string, error) {
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return nil, err
			}
			if l = strings.TrimSpace(l); l == "" {
				return lines, nil
			}
			lines = append(lines, l)
		}
	}
	var lists [3][]string
	for i := range lists {
		l, err := readList()
		if err != nil {
			return fail(3, "EOF")
		}
		lists[i] = l
	}
	ok := true
	for _, c := range lists[0] {
		rest, found := strings.CutPrefix(c, "create(")
		q, err := strconv.QuotedPrefix(rest)
		if !found || err != nil || strings.TrimSpace(rest[len(q):]) != `) = "0"` {
			return fail(4, "malformed comparison: "+c)
		}
		key, _ := strconv.Unquote(q)
		if _, exists := k.kv[key]; exists {
			ok = false
		}
	}
	ops := lists[2]
	if ok {
		ops = lists[1]
	}
	resp := map[string]any{"header": map[string]any{}}
	if ok {
		resp["succeeded"] = true
	}
	var results []map[string]any
	for _, op := range ops {
		f, err := unquoteFields(op)
		if err != nil || len(f) < 2 {
			return fail(4, "invalid txn request: "+op)
		}
		switch f[0] {
		case "put":
			if len(f) < 3 {
				return fail(4, "invalid txn request: "+op)
			}
			if err := k.put(f[1], f[2], f[3:]); err != nil {
				return fail(1, err.Error())
			}
			results = append(results, map[string]any{"Response": map[string]any{"response_put": map[string]any{"header": map[string]any{}}}})
		case "get":
			results = append(results, map[string]any{"Response": map[string]any{"response_range": k.rangeResp(f[1])}})
		default:
			return fail(4, "invalid txn request: "+op)
		}
	}
	resp["responses"] = results
	return write(resp)
}

func simSession(sim *kvSim) *Session {
	return &Session{member: &discovery.Member{Namespace: "kube-system", Pod: "etcd-cp-1", Container: "etcd",
		LocalClientURL: "https://127.0.0.1:2379"}, exec: sim, etcdctl: "etcdctl"}
}

// Two runs race for the same member: B does all of its locking while A is between its first
// and its next call. Exactly one may hold the lock; the other is told who does, and its lease is
// gone. (With get, then lease grant, then put, both held it.)
func TestTryLockTwoRunsOnlyOneWins(t *testing.T) {
	sim := newKVSim()
	s := simSession(sim)
	const key = "/kubectl-etcd/lock/8e9e05c52164694d"
	var relB func(context.Context) error
	var errB error
	calls := 0
	sim.before = func(_ context.Context, _ []string) error {
		calls++
		if calls == 2 { // A's second command: B runs now, from start to end
			sim.before = nil
			relB, errB = s.TryLock(context.Background(), key, `{"op":"snapshot","pid":2}`, time.Minute)
		}
		return nil
	}
	relA, errA := s.TryLock(context.Background(), key, `{"op":"defrag","pid":1}`, time.Minute)
	if (errA == nil) == (errB == nil) {
		t.Fatalf("both or neither hold the lock: A err %v, B err %v; store %+v", errA, errB, sim.kv)
	}
	var le *transport.LockedError
	if !errors.As(errA, &le) || le.Holder != `{"op":"snapshot","pid":2}` || le.Key != key {
		t.Fatalf("A: %v; want LockedError naming B's value", errA)
	}
	if relA != nil || relB == nil {
		t.Fatal("release functions do not match who holds the lock")
	}
	if len(sim.leases) != 1 || sim.kv[key].value != `{"op":"snapshot","pid":2}` || !sim.leases[sim.kv[key].lease] {
		t.Errorf("after the race: leases %v, store %+v; want only B's lease, holding the key", sim.leases, sim.kv)
	}
	if err := relB(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sim.kv) != 0 || len(sim.leases) != 0 {
		t.Errorf("after release: store %+v leases %v", sim.kv, sim.leases)
	}
	// The lock is taken in one etcdctl txn.
	txns := 0
	for _, c := range sim.calls {
		if c.args[0] == "txn" {
			txns++
		}
		if c.args[0] == "put" || c.args[0] == "get" {
			t.Errorf("a separate %s: %v", c.args[0], c.args)
		}
	}
	if txns != 2 {
		t.Errorf("%d txn calls for two lock attempts", txns)
	}
}

// When the transaction fails because the caller's context ended (Ctrl-C), the lease is still
// revoked, with a live context that has a deadline.
func TestTryLockRevokesAfterCancel(t *testing.T) {
	sim := newKVSim()
	s := simSession(sim)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim.before = func(_ context.Context, args []string) error {
		if args[0] == "txn" || args[0] == "put" {
			cancel()
			return errors.New("context canceled")
		}
		return nil
	}
	if _, err := s.TryLock(ctx, "/kubectl-etcd/lock/1", "v", time.Minute); err == nil {
		t.Fatal("TryLock succeeded although its write failed")
	}
	last := sim.calls[len(sim.calls)-1]
	if last.args[0] != "lease" || last.args[1] != "revoke" {
		t.Fatalf("last call %v; want the lease revoked", last.args)
	}
	if last.ctxErr != nil || !last.hasDeadline {
		t.Errorf("revoke ran with ctx error %v, deadline %v; want a live context with a deadline", last.ctxErr, last.hasDeadline)
	}
	if len(sim.leases) != 0 {
		t.Errorf("leases left: %v", sim.leases)
	}
}

// The txn's input follows etcdctl's format, and its real output (captured from etcdctl 3.6 and
// 3.7) decodes to won / held-by-value.
func TestLockTxnFormatAndDecode(t *testing.T) {
	in := LockTxn("/kubectl-etcd/lock/8e9e05c52164694d", `{"op":"defrag","host":"a \"b\"","pid":1}`, "694d7a0c1a5b0001")
	want := "create(\"/kubectl-etcd/lock/8e9e05c52164694d\") = \"0\"\n\n" +
		`put "/kubectl-etcd/lock/8e9e05c52164694d" "{\"op\":\"defrag\",\"host\":\"a \\\"b\\\"\",\"pid\":1}" --lease=694d7a0c1a5b0001` + "\n\n" +
		"get \"/kubectl-etcd/lock/8e9e05c52164694d\"\n\n"
	if in != want {
		t.Errorf("txn input\n%q\nwant\n%q", in, want)
	}
	for _, v := range versions {
		won, holder, err := DecodeLockTxn([]byte(load(t, v, "txn-lock-won").stdout))
		if err != nil || !won || holder != "" {
			t.Errorf("%s won: %v %q %v", v, won, holder, err)
		}
		won, holder, err = DecodeLockTxn([]byte(load(t, v, "txn-lock-held").stdout))
		if err != nil || won || holder != `{"op":"defrag","pid":42}` {
			t.Errorf("%s held: %v %q %v", v, won, holder, err)
		}
	}
}
