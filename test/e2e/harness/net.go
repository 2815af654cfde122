package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Network layout of the netns mode. A cluster claims an index i (0..63) through an exclusive pid
// file under claimDir; it then owns bridge "kh<i>br" with 172.31.(192+i).1/24, and one network
// namespace "kh<i>-<node>" per node with IP 172.31.(192+i).(10+ordinal) on a veth "kh<i>v<ordinal>".
// Claims whose owner process is dead are reclaimed (namespaces and bridge deleted) at the next start.
const (
	claimDir   = "/run/kubectl-etcd-e2e"
	maxIndex   = 64
	subnetBase = 192
)

var (
	bridgeRE = regexp.MustCompile(`^kh(\d+)br$`)
	netnsRE  = regexp.MustCompile(`^kh(\d+)-`)
)

type network struct {
	index  int
	bridge string
	hostIP net.IP // bridge address; the apiserver listens here
	claim  string
}

func (n *network) nsName(node string) string   { return fmt.Sprintf("kh%d-%s", n.index, node) }
func (n *network) vethName(ordinal int) string { return fmt.Sprintf("kh%dv%d", n.index, ordinal) }
func (n *network) nodeIP(ordinal int) net.IP {
	return net.IPv4(172, 31, byte(subnetBase+n.index), byte(10+ordinal)).To4()
}

// netnsUsable reports whether this process can create network namespaces.
func netnsUsable() bool {
	if os.Geteuid() != 0 {
		return false
	}
	for _, tool := range []string{"ip", "nsenter", "unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := run(ctx, "ip", "netns", "list")
	return err == nil
}

// procStart returns the start time (clock ticks since boot) of a live, non-zombie process, or ""
// when there is none.
func procStart(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// Fields after the parenthesized comm: state is the 1st, starttime the 20th.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return ""
	}
	return f[19]
}

// A claim file holds "<pid> <start time> <run dir>" of its owner.
type claimInfo struct {
	pid   int
	start string
	dir   string
}

func readClaim(path string) claimInfo {
	b, err := os.ReadFile(path)
	if err != nil {
		return claimInfo{}
	}
	f := strings.Fields(string(b))
	var ci claimInfo
	if len(f) > 0 {
		ci.pid, _ = strconv.Atoi(f[0])
	}
	if len(f) > 1 {
		ci.start = f[1]
	}
	if len(f) > 2 {
		ci.dir = f[2]
	}
	return ci
}

func (ci claimInfo) alive() bool {
	st := procStart(ci.pid)
	return st != "" && st == ci.start
}

// setupNetwork sweeps resources of dead runs, claims a free index and creates the bridge.
func setupNetwork(ctx context.Context, runDir string) (*network, error) {
	if err := os.MkdirAll(claimDir, 0o755); err != nil {
		return nil, err
	}
	// Sweeping and claiming are serialized between concurrent runs.
	lock, err := os.OpenFile(filepath.Join(claimDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close() // releases the flock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	sweepStale(ctx)
	used := usedSubnets()
	for i := 0; i < maxIndex; i++ {
		n := &network{index: i, bridge: fmt.Sprintf("kh%dbr", i), claim: filepath.Join(claimDir, fmt.Sprintf("kh%d.pid", i))}
		n.hostIP = net.IPv4(172, 31, byte(subnetBase+i), 1).To4()
		if used[fmt.Sprintf("172.31.%d", subnetBase+i)] {
			continue
		}
		f, err := os.OpenFile(n.claim, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			continue // claimed by a live run (dead ones were swept)
		}
		fmt.Fprintf(f, "%d %s %s\n", os.Getpid(), procStart(os.Getpid()), runDir)
		f.Close()
		cleanupIndex(ctx, i) // leftovers without a claim file (e.g. claim dir wiped)
		if _, err := run(ctx, "ip", "link", "add", n.bridge, "type", "bridge"); err != nil {
			os.Remove(n.claim)
			return nil, err
		}
		for _, argv := range [][]string{
			{"ip", "addr", "add", n.hostIP.String() + "/24", "dev", n.bridge},
			{"ip", "link", "set", n.bridge, "up"},
		} {
			if _, err := run(ctx, argv...); err != nil {
				n.teardown(ctx, nil)
				return nil, err
			}
		}
		return n, nil
	}
	return nil, fmt.Errorf("no free network index under %s (0..%d in use)", claimDir, maxIndex-1)
}

// usedSubnets returns the /24 prefixes ("a.b.c") of addresses on host interfaces.
func usedSubnets() map[string]bool {
	used := map[string]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip4 := ipn.IP.To4(); ip4 != nil {
				used[fmt.Sprintf("%d.%d.%d", ip4[0], ip4[1], ip4[2])] = true
			}
		}
	}
	return used
}

// sweepStale removes namespaces, bridges and claims of harness runs whose owner is dead.
func sweepStale(ctx context.Context) {
	indexes := map[int]bool{}
	if out, err := run(ctx, "ip", "-o", "link", "show", "type", "bridge"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 1 {
				if m := bridgeRE.FindStringSubmatch(strings.TrimSuffix(f[1], ":")); m != nil {
					i, _ := strconv.Atoi(m[1])
					indexes[i] = true
				}
			}
		}
	}
	for _, ns := range listNetns(ctx) {
		if m := netnsRE.FindStringSubmatch(ns); m != nil {
			i, _ := strconv.Atoi(m[1])
			indexes[i] = true
		}
	}
	entries, _ := os.ReadDir(claimDir)
	for _, e := range entries {
		var i int
		if _, err := fmt.Sscanf(e.Name(), "kh%d.pid", &i); err == nil {
			indexes[i] = true
		}
	}
	for i := range indexes {
		claim := filepath.Join(claimDir, fmt.Sprintf("kh%d.pid", i))
		ci := readClaim(claim)
		if ci.alive() {
			continue
		}
		cleanupIndex(ctx, i)
		// The dead run's dir (ci.dir) is left for post-mortem; it holds only files.
		os.Remove(claim)
	}
}

func listNetns(ctx context.Context) []string {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// cleanupIndex kills what still runs inside the namespaces of index i (left by a dead run of this
// harness), then deletes those namespaces and the bridge.
func cleanupIndex(ctx context.Context, i int) {
	prefix := fmt.Sprintf("kh%d-", i)
	for _, ns := range listNetns(ctx) {
		if !strings.HasPrefix(ns, prefix) {
			continue
		}
		if out, err := run(ctx, "ip", "netns", "pids", ns); err == nil {
			for _, f := range strings.Fields(out) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_, _ = run(ctx, "ip", "netns", "del", ns)
	}
	// Host ends of veth pairs whose namespace is gone may linger for a moment.
	if out, err := run(ctx, "ip", "-o", "link", "show"); err == nil {
		vethPrefix := fmt.Sprintf("kh%dv", i)
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 1 {
				name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
				if rest, ok := strings.CutPrefix(name, vethPrefix); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
					_, _ = run(ctx, "ip", "link", "del", name)
				}
			}
		}
	}
	_, _ = run(ctx, "ip", "link", "del", fmt.Sprintf("kh%dbr", i))
}

// addNode creates the node's network namespace and veth pair.
func (n *network) addNode(ctx context.Context, node string, ordinal int) error {
	ns, veth := n.nsName(node), n.vethName(ordinal)
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", veth, "master", n.bridge, "up"},
		{"ip", "-n", ns, "addr", "add", n.nodeIP(ordinal).String() + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// teardown deletes the namespaces of nodes, the bridge and the claim.
func (n *network) teardown(ctx context.Context, nodes []string) {
	for _, node := range nodes {
		_, _ = run(ctx, "ip", "netns", "del", n.nsName(node))
	}
	cleanupIndex(ctx, n.index) // anything else under our prefix
	os.Remove(n.claim)
}
