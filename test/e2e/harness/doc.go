// Package harness starts a real, kubeadm-like etcd control plane on one machine for end-to-end
// tests of kubectl-etcd: real etcd members running kubeadm's etcd argv, a real kube-apiserver
// (with its own storage etcd, so killing members never takes the API down) and patched KWOK as
// every node's kubelet API, so that `kubectl exec` and `kubectl port-forward` on the etcd pods
// reach the real members.
//
// Binaries are not built here: they come from the cache filled by hack/e2e-tools.sh
// ($E2E_CACHE, default ~/.cache/kubectl-etcd/e2e).
//
// # Modes
//
//   - netns (default as root with a working `ip netns`): every node cp-N is a network + mount +
//     UTS namespace with address 172.31.(192+i).(10+N) on a per-cluster bridge kh<i>br (i is
//     claimed under /run/kubectl-etcd-e2e; namespaces and bridges of dead runs are swept at
//     start). Inside, /etc/kubernetes/pki and /var/lib/etcd are the node's own (overlays, the
//     host's /etc and /var/lib stay untouched), etcd runs kubeadm's argv verbatim (client
//     127.0.0.1:2379 + NODEIP:2379, peer NODEIP:2380, metrics http://127.0.0.1:2381) and the
//     node's own kwok serves NODEIP:10250 and runs exec'd commands in the node's namespaces.
//   - loopback: every member listens on 127.0.0.1 with free ports, one kwok plays every node's
//     kubelet, pod specs show the real host paths (a non-default PKI layout), and PortForward
//     objects map the pod's ports 2379/2380/2381 (and the member's real ports) to the member.
//
// $E2E_MODE overrides Options.Mode, $E2E_ETCD_VERSION sets the default etcd version, and
// $E2E_KEEP=1 keeps the run dir.
//
// # API
//
//	func Start(t testing.TB, opts Options) *Cluster         // t.Cleanup(c.Stop); t.Fatalf on error
//	func New(opts Options) (*Cluster, error)                 // outside tests; call Stop
//	func (c *Cluster) Stop()                                 // idempotent teardown
//
//	func (c *Cluster) MemberNames() []string                 // cp-1, cp-2, ... in creation order
//	func (c *Cluster) ClientURL(name string) string          // reachable from the test process
//	func (c *Cluster) MetricsURL(name string) string         // as the member sees it
//	func (c *Cluster) Endpoints() []string
//	func (c *Cluster) MemberID(name string) uint64
//	func (c *Cluster) MemberRunning(name string) bool
//	func (c *Cluster) PodEtcdctlFlags(name string) []string  // etcdctl flags that work in pod etcd-<name>
//	func (c *Cluster) Client(t testing.TB) *clientv3.Client  // healthcheck-client cert, closed at cleanup
//	func (c *Cluster) Etcdctl(ctx, args...) (stdout, stderr string, err error)
//	func (c *Cluster) Kubectl(ctx, args...) (stdout, stderr string, err error)
//	func (c *Cluster) Env() []string                         // KUBECONFIG + PATH, for the plugin binary
//
//	func (c *Cluster) StopMember(name string) error          // SIGTERM etcd, pod stays
//	func (c *Cluster) KillMember(name string) error          // SIGKILL etcd, pod stays
//	func (c *Cluster) StartMember(name string) error         // same argv again, waits for Status
//	func (c *Cluster) AddLearner(ctx, name string) (uint64, error)
//	func (c *Cluster) AddMember(ctx, name string, o AddOptions) (uint64, error) // Voter, NoStart
//	func (c *Cluster) DeletePod(name string) error           // member keeps running
//	func (c *Cluster) FreezeNode(name string) error          // SIGSTOP its kwok: calls to the node hang
//	func (c *Cluster) ThawNode(name string) error            // SIGCONT it
//	func (c *Cluster) Fill(ctx, mib int) error               // ~mib MiB of random values under /fill/
//	func (c *Cluster) CopyAPIObjects(ctx) (int, int64, error) // the API server's /registry/ keys into the members
//
// Files under Cluster.Dir: pki/ (kubeadm's /etc/kubernetes/pki: ca, apiserver*, admin, sa.*,
// apiserver-etcd-client, etcd/{ca,healthcheck-client}), nodes/<name>/pki (the node's
// /etc/kubernetes/pki incl. etcd/{server,peer}), nodes/<name>/data (its /var/lib/etcd),
// kubeconfig, env (shell exports), logs/<process>.log.
//
// Every process runs in its own process group with Pdeathsig=SIGKILL; Stop kills the groups,
// deletes the namespaces and bridge, and removes Dir unless the test failed (or Keep/E2E_KEEP).
// SIGINT/SIGTERM tear down every live cluster (keeping the run dirs) and exit 130.
package harness
