#!/usr/bin/env bash
# A kubeadm-made control plane of three nodes on this machine, for make test-kubeadm and
# make kubeadm-up. Each node is a network + mount + UTS namespace with its own containerd,
# kubelet, /etc/kubernetes, /var/lib/etcd, /var/lib/kubelet and cgroup parent; kubeadm init runs
# on cp-1 and kubeadm join --control-plane on cp-2 and cp-3. Images are built locally (no
# registry). See test/e2e/README.md ("kubeadm cluster") for what differs from a real node.
#
# Usage (as root):
#   hack/kubeadm-cluster.sh up DIR            bring the cluster up; state and logs under DIR
#   hack/kubeadm-cluster.sh up DIR --external-etcd
#                                             kubeadm's "HA etcd cluster" topology instead: three
#                                             etcd hosts (etcd-1..3) with a standalone kubelet each,
#                                             certificates from kubeadm init phase certs, manifests
#                                             from kubeadm init phase etcd local, and one control-
#                                             plane node cp-1 made by kubeadm init with etcd.external.
#                                             It has names of its own (prefix ka1, bridge ka1br,
#                                             172.30.251.0/24, claim kubeadm-external.dir), so it runs
#                                             beside the stacked cluster; every subcommand given its
#                                             DIR acts on that cluster only.
#   hack/kubeadm-cluster.sh down [DIR]        stop everything, delete namespaces, bridge, cgroups,
#                                             restore the kernel settings (DIR: the running one)
#   hack/kubeadm-cluster.sh exec DIR NODE CMD...   run CMD inside NODE's namespaces
#   hack/kubeadm-cluster.sh kubelet-stop DIR NODE  stop NODE's kubelet (what systemctl stop does)
#   hack/kubeadm-cluster.sh kubelet-restart DIR NODE  what systemctl restart kubelet does
#   hack/kubeadm-cluster.sh join DIR NODE [--interrupt-after-learner]
#                                             (re)join NODE as a control-plane node; with the flag,
#                                             kubeadm is killed after it added the etcd learner and
#                                             wrote the etcd manifest, before it promotes it
#   hack/kubeadm-cluster.sh reset DIR NODE    kubelet-stop, then kubeadm reset -f on NODE
# Environment: E2E_CACHE (tool cache, as hack/e2e-tools.sh), ETCD_VERSION (default v3.6.16),
# K8S_VERSION (default v1.37.2).
#
# Layout: bridge ka0br 172.30.250.1/24; node cp-<i> in netns ka0-cp-<i> at 172.30.250.1<i>, veth
# ka0v<i>; cgroup parent /ka0-cp-<i> in every cgroup v1 hierarchy. One such cluster at a time: the
# running one is recorded in /run/kubectl-etcd-e2e/kubeadm.dir, and up first tears down a
# previous one whose owner is gone. The external-etcd cluster: etcd-<i> at 172.30.251.2<i> (veth
# ka1ve<i>), cp-1 at 172.30.251.11 (veth ka1v1), cgroup parents /ka1-<node>, recorded in
# /run/kubectl-etcd-e2e/kubeadm-external.dir; DIR/topology says which kind a DIR holds.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-etcd/e2e}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
K8S_VERSION=${K8S_VERSION:-v1.37.2}
KA_BIN=$CACHE/kubeadm-$K8S_VERSION
K8S_BIN=$CACHE/k8s-$K8S_VERSION
ETCD_BIN=$CACHE/etcd-$ETCD_VERSION
CLAIM_DIR=/run/kubectl-etcd-e2e
# set_topology stacked|external: the names of one kind of cluster. stacked is the default.
set_topology() {
  TOPOLOGY=$1
  case $1 in
    stacked)
      PREFIX=ka0; CURRENT=$CLAIM_DIR/kubeadm.dir; SUBNET=172.30.250
      NODES=(cp-1 cp-2 cp-3); ETCD_HOSTS=(); OTHER_BRIDGE=ka1br ;;
    external)
      PREFIX=ka1; CURRENT=$CLAIM_DIR/kubeadm-external.dir; SUBNET=172.30.251
      NODES=(etcd-1 etcd-2 etcd-3 cp-1); ETCD_HOSTS=(etcd-1 etcd-2 etcd-3); OTHER_BRIDGE=ka0br ;;
    *) die "unknown topology $1" ;;
  esac
  BRIDGE=${PREFIX}br
  ENDPOINT=cp.$PREFIX.test # the control-plane endpoint name, in every node's /etc/hosts
}
# load_topology: the topology DIR was brought up with (stacked when DIR says nothing).
load_topology() { set_topology "$(cat "$DIR/topology" 2>/dev/null || echo stacked)"; }
# A small image with a shell, for the tests of the node helper (--helper-image): built from this
# machine's files (Debian's dash, coreutils and grep), imported on every node, never pulled. It
# has exactly what kubeadm's kube-proxy image (distroless-iptables) has for a shell user, so that
# no code leans on a tool real nodes lack: no mv, cp or mkdir.
SHELL_IMAGE=registry.k8s.io/kubectl-etcd-e2e/shell:v1
SHELL_IMAGE_TOOLS=(sh cat chmod grep ln rm sleep wc)
# kube-proxy's iptables mode runs these (one multi-call binary of Debian's iptables, nft backend).
IPTABLES_TOOLS=(iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore)
CGROUP_CONTROLLERS=(cpu cpuacct cpuset memory devices freezer blkio pids systemd)
# What the kubelet requires of the kernel (its protectKernelDefaults check): set by up, restored by down.
SYSCTLS=(vm.overcommit_memory=1 vm.panic_on_oom=0 kernel.panic=10 kernel.panic_on_oops=1
  kernel.keys.root_maxkeys=1000000 kernel.keys.root_maxbytes=25000000)
# kubeadm preflight checks this machine fails, each for a reason that does not apply to the test:
#   SystemVerification: kubeadm's system validator rejects cgroup v1 (the VM cannot move to v2;
#     the kubelet runs on v1 with failCgroupV1: false);
#   FileContent--proc-sys-net-bridge-bridge-nf-call-iptables: the sysctl does not exist inside a
#     node's network namespace; there is no CNI, and kube-proxy does not need it without bridged
#     pod traffic;
#   Swap: kept for machines with swap on (the kubelet runs with failSwapOn: false).
PREFLIGHT_IGNORES=(SystemVerification FileContent--proc-sys-net-bridge-bridge-nf-call-iptables Swap)
export PATH=$KA_BIN:$K8S_BIN:$PATH:/usr/local/sbin:/usr/sbin:/sbin

log() { printf '[kubeadm-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
timed() { local what=$1 start=$SECONDS; shift; "$@"; log "$what: $((SECONDS - start)) s"; }
set_topology stacked

# node_index NODE: cp-<i> is <i>, etcd-<i> (an external etcd host) is e<i>.
node_index() { case $1 in cp-*) echo "${1#cp-}" ;; etcd-*) echo "e${1#etcd-}" ;; *) die "bad node name $1" ;; esac; }
node_ip() { case $1 in cp-*) echo "$SUBNET.1${1#cp-}" ;; etcd-*) echo "$SUBNET.2${1#etcd-}" ;; esac; }
netns() { echo "$PREFIX-$1"; }
veth() { echo "${PREFIX}v$(node_index "$1")"; }
is_etcd_host() { case $1 in etcd-*) return 0 ;; esac; return 1; }
holder_pid() { cat "$DIR/nodes/$1/holder.pid"; }
# alive PID: the process exists and is not a zombie.
alive() {
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# in NODE CMD...: runs CMD in the node's network, mount and UTS namespaces.
in_node() { local n=$1; shift; nsenter -t "$(holder_pid "$n")" --mount --uts --net -- "$@"; }

# spawn NAME NODE CMD...: starts CMD detached in NODE (own session), pid in nodes/NODE/NAME.pid.
spawn() {
  local name=$1 n=$2; shift 2
  echo "=== $(date -Is) starting $*" >>"$DIR/logs/$n-$name.log"
  setsid nsenter -t "$(holder_pid "$n")" --mount --uts --net -- "$@" >>"$DIR/logs/$n-$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/nodes/$n/$name.pid"
}

# wait_for WHAT SECONDS CMD...: polls CMD every 0.2 s.
wait_for() {
  local what=$1 limit=$2 t0=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt "$limit" ] || die "timed out after ${limit}s waiting for $what"
    sleep 0.2
  done
}

build_images() {
  local img=$DIR/images pv
  mkdir -p "$img"
  pv=$(kubeadm config images list --config "$DIR/kubeadm-init-cp-1.yaml" 2>/dev/null | sed -n 's#^registry.k8s.io/pause:##p')
  (cd "$ROOT/test" && go build -o "$img/oci-image" ./e2e/kubeadm/cmd/oci-image)
  local ref
  while read -r ref; do
    local name=${ref#registry.k8s.io/}; name=${name%%:*}
    case $name in
      pause) "$img/oci-image" -o "$img/$name.tar" -ref "$ref" -entrypoint /pause -file "/pause=$KA_BIN/pause" ;;
      etcd) etcd_image "$img/oci-image" "$img/$name.tar" "$ref" ;;
      kube-apiserver) "$img/oci-image" -o "$img/$name.tar" -ref "$ref" -file "/usr/local/bin/$name=$K8S_BIN/$name" ;;
      kube-controller-manager | kube-scheduler) "$img/oci-image" -o "$img/$name.tar" -ref "$ref" -file "/usr/local/bin/$name=$KA_BIN/$name" ;;
      kube-proxy) kube_proxy_image "$img/oci-image" "$img/$name.tar" "$ref" ;;
      coredns/coredns) ;; # the addon is skipped (no CoreDNS)
      *) die "kubeadm wants image $ref, which this harness does not build" ;;
    esac
  done < <(kubeadm config images list --config "$DIR/kubeadm-init-cp-1.yaml")
  [ -n "$pv" ] || die "kubeadm lists no pause image"
  shell_image "$img/oci-image" "$img/shell.tar" "$SHELL_IMAGE"
  if [ "$TOPOLOGY" = external ]; then
    # With etcd.external kubeadm lists no etcd image. The etcd hosts run ETCD_VERSION (their
    # kubeadmcfg.yaml names the tag); cp-1 gets the etcd image kubeadm would pick for this
    # Kubernetes version, as if pre-pulled: what the plugin's helper pod runs there by default.
    etcd_image "$img/oci-image" "$img/etcd.tar" "registry.k8s.io/etcd:${ETCD_VERSION#v}-0"
    etcd_image "$img/oci-image" "$img/etcd-default.tar" "$(kubeadm config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null | grep '/etcd:')"
  fi
  echo "$pv" >"$DIR/pause-version"
}

# etcd_image OCI-IMAGE OUT REF: a distroless etcd image (etcd, etcdctl, etcdutl) of ETCD_VERSION.
etcd_image() {
  "$1" -o "$2" -ref "$3" -file "/usr/local/bin/etcd=$ETCD_BIN/etcd" \
    -file "/usr/local/bin/etcdctl=$ETCD_BIN/etcdctl" -file "/usr/local/bin/etcdutl=$ETCD_BIN/etcdutl"
}

# shell_image OCI-IMAGE OUT REF [ARGS...]: an image with this machine's SHELL_IMAGE_TOOLS under
# /bin and the shared libraries ldd names for them (the ELF interpreter at its absolute path, the
# libraries in the loader's default directories); ARGS are more -file mappings, whose ELF files
# get their libraries too.
shell_image() {
  local tool=$1 out=$2 ref=$3 b src lib f args=() elves=(); shift 3
  local -A libs=()
  for b in "${SHELL_IMAGE_TOOLS[@]}"; do
    src=$(readlink -f "$(command -v "$b")") || die "no $b on this machine for the shell image"
    args+=(-file "/bin/$b=$src"); elves+=("$src")
  done
  while [ $# -gt 0 ]; do
    args+=("$1" "$2"); f=${2#*=}
    head -c4 "$f" | grep -q ELF && elves+=("$f")
    shift 2
  done
  for f in "${elves[@]}"; do
    while read -r lib; do libs[$lib]=1; done < <(ldd "$f" 2>/dev/null | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i}')
  done
  for lib in "${!libs[@]}"; do args+=(-file "$lib=$(readlink -f "$lib")"); done
  "$tool" -o "$out" -ref "$ref" "${args[@]}"
}

# kube_proxy_image OCI-IMAGE OUT REF: like kubeadm's kube-proxy image (distroless-iptables): the
# shell image's tools, the real kube-proxy of the same Kubernetes version at the path kubeadm's
# DaemonSet runs, and iptables with its extension modules.
kube_proxy_image() {
  local tool=$1 out=$2 ref=$3 xt b m args=()
  xt=/usr/lib/$(uname -m)-linux-gnu/xtables
  [ -d "$xt" ] || die "no iptables extensions in $xt on this machine for the kube-proxy image"
  args+=(-file "/usr/local/bin/kube-proxy=$KA_BIN/kube-proxy")
  for b in "${IPTABLES_TOOLS[@]}"; do args+=(-file "/usr/sbin/$b=$(readlink -f "$(command -v "$b")")"); done
  for m in "$xt"/*.so; do args+=(-file "$m=$(readlink -f "$m")"); done
  shell_image "$tool" "$out" "$ref" "${args[@]}"
}

# node_up NODE [IMAGE...]: namespaces, mounts, cgroup parent, containerd with the images
# imported (the IMAGE tars of DIR/images, default all of them).
node_up() {
  local n=$1 d=$DIR/nodes/$1 ns ip veth c; shift
  local tars=("$@")
  [ ${#tars[@]} -gt 0 ] || tars=("$DIR"/images/*.tar)
  ns=$(netns "$n"); ip=$(node_ip "$n"); veth=$(veth "$n")
  mkdir -p "$d"/{etc-upper,etc-work,usr-upper,usr-work,var-upper,var-work,containerd,kubelet,etcd,log,run}
  chmod 700 "$d/etcd"
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "$SUBNET.1"
  # Per network namespace (not VM-wide): kubeadm's preflight wants forwarding on.
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  setsid nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
  echo $! >"$d/holder.pid"
  wait_for "namespaces of $n" 10 grep -qx sleep "/proc/$(cat "$d/holder.pid")/comm"
  local t; t=$(cat "$d/holder.pid")
  nsenter -t "$t" --uts hostname "$n"
  nsenter -t "$t" --mount -- sh -euc '
    d=$1
    mount -t overlay overlay -o lowerdir=/etc,upperdir=$d/etc-upper,workdir=$d/etc-work /etc
    mount -t overlay overlay -o lowerdir=/usr,upperdir=$d/usr-upper,workdir=$d/usr-work /usr
    mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$d/var-upper,workdir=$d/var-work /var/lib
    for x in containerd kubelet etcd; do mkdir -p /var/lib/$x; mount --bind $d/$x /var/lib/$x; done
    mount --bind $d/log /var/log
    mount --bind $d/run /run
    mkdir -p /etc/containerd /etc/kubernetes /etc/kubeadm
  ' sh "$d"
  {
    echo "127.0.0.1 localhost"
    echo "$(node_ip cp-1) $ENDPOINT"
    for x in "${NODES[@]}"; do echo "$(node_ip "$x") $x"; done
  } | in_node "$n" tee /etc/hosts >/dev/null
  for c in "${CGROUP_CONTROLLERS[@]}"; do
    mkdir -p "/sys/fs/cgroup/$c/$PREFIX-$n"
  done
  cp /sys/fs/cgroup/cpuset/cpuset.cpus "/sys/fs/cgroup/cpuset/$PREFIX-$n/cpuset.cpus"
  cp /sys/fs/cgroup/cpuset/cpuset.mems "/sys/fs/cgroup/cpuset/$PREFIX-$n/cpuset.mems"
  cat <<EOF | in_node "$n" tee /etc/containerd/config.toml >/dev/null
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  # This machine denies lowering oom_score_adj (no CAP_SYS_RESOURCE; the kubelet's -998 for
  # static pods fails in runc): clamp it to containerd's own, as for rootless containerd.
  restrict_oom_score_adj = true
  sandbox_image = "registry.k8s.io/pause:$(cat "$DIR/pause-version")"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
EOF
  spawn containerd "$n" containerd --config /etc/containerd/config.toml
  wait_for "containerd of $n" 30 in_node "$n" ctr -a /run/containerd/containerd.sock version
  for c in "${tars[@]}"; do
    in_node "$n" ctr -a /run/containerd/containerd.sock -n k8s.io images import "$c" >/dev/null
  done
}

# kubelet_common prints the KubeletConfiguration fields every kubelet of both topologies needs:
# this kernel's cgroup v1 with the cgroupfs driver, no swap check, and image GC and eviction
# thresholds that never fire on a CI machine's nearly full disk.
kubelet_common() {
  cat <<'EOF'
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
EOF
}

kubeadm_configs() {
  local token key n ip
  token=$(openssl rand -hex 3).$(openssl rand -hex 8)
  key=$(openssl rand -hex 32)
  echo "$token" >"$DIR/token"; echo "$key" >"$DIR/certificate-key"
  for n in "${NODES[@]}"; do
    is_etcd_host "$n" && continue
    ip=$(node_ip "$n")
    local reg
    reg="  name: $n
  criSocket: unix:///run/containerd/containerd.sock
  imagePullPolicy: Never
  ignorePreflightErrors: [$(IFS=,; echo "${PREFLIGHT_IGNORES[*]}")]
  kubeletExtraArgs:
  - {name: node-ip, value: \"$ip\"}
  - {name: cgroup-root, value: /$PREFIX-$n}"
    if [ "$n" = cp-1 ]; then
      cat >"$DIR/kubeadm-init-$n.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: "$token"
certificateKey: "$key"
localAPIEndpoint:
  advertiseAddress: "$ip"
  bindPort: 6443
nodeRegistration:
$reg
skipPhases: [addon/coredns]
timeouts:
  controlPlaneComponentHealthCheck: 2m
  kubeletHealthCheck: 1m
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $K8S_VERSION
clusterName: $PREFIX
controlPlaneEndpoint: "$ENDPOINT:6443"
networking:
  serviceSubnet: 10.96.0.0/16
$(etcd_config)
---
# kube-proxy as kubeadm deploys it; a node's network namespace may not change the conntrack
# table's size or timeouts (0: leave them as they are), as in kind.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
protectKernelDefaults: true
$(kubelet_common)
EOF
    else
      cat >"$DIR/kubeadm-join-$n.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: "$ENDPOINT:6443"
    token: "$token"
    caCertHashes: [CA_CERT_HASH]
controlPlane:
  certificateKey: "$key"
  localAPIEndpoint:
    advertiseAddress: "$ip"
    bindPort: 6443
nodeRegistration:
$reg
EOF
    fi
  done
}

# etcd_config: the etcd section of the ClusterConfiguration: a stacked member per control-plane
# node, or (external) the etcd hosts with the API server's client certificate, as the guide says.
etcd_config() {
  if [ "$TOPOLOGY" = stacked ]; then
    printf 'etcd:\n  local:\n    imageTag: "%s-0"\n' "${ETCD_VERSION#v}"
    return
  fi
  local h
  printf 'etcd:\n  external:\n    endpoints:\n'
  for h in "${ETCD_HOSTS[@]}"; do printf '    - https://%s:2379\n' "$(node_ip "$h")"; done
  printf '    caFile: /etc/kubernetes/pki/etcd/ca.crt\n'
  printf '    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt\n'
  printf '    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key\n'
}

# etcd_host_config HOST: the guide's kubeadmcfg.yaml of one etcd host.
etcd_host_config() {
  local n=$1 ip h initial=""
  ip=$(node_ip "$n")
  for h in "${ETCD_HOSTS[@]}"; do initial+="${initial:+,}$h=https://$(node_ip "$h"):2380"; done
  cat <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  name: $n
  criSocket: unix:///run/containerd/containerd.sock
localAPIEndpoint:
  advertiseAddress: $ip
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $K8S_VERSION
etcd:
  local:
    imageTag: "${ETCD_VERSION#v}-0"
    serverCertSANs: ["$ip"]
    peerCertSANs: ["$ip"]
    extraArgs:
    - {name: initial-cluster, value: "$initial"}
    - {name: initial-cluster-state, value: new}
    - {name: name, value: $n}
    - {name: listen-peer-urls, value: "https://$ip:2380"}
    - {name: listen-client-urls, value: "https://$ip:2379"}
    - {name: advertise-client-urls, value: "https://$ip:2379"}
    - {name: initial-advertise-peer-urls, value: "https://$ip:2380"}
EOF
}

# etcd_hosts_up: the guide's steps. The kubelet of each host runs standalone (static pods only,
# no API server); the CA is made once on etcd-1, then etcd-1 makes every host's certificates
# from that host's kubeadmcfg.yaml, keeping a copy per host and deleting all but the CA before
# the next (etcd-1 last, whose files stay); each host gets its copy (no CA key on the others);
# kubeadm init phase etcd local writes each host's manifest.
etcd_hosts_up() {
  local h stage=$DIR/etcd-stage
  mkdir -p "$stage"
  for h in "${ETCD_HOSTS[@]}"; do
    mkdir -p "$stage/$h"
    etcd_host_config "$h" >"$stage/$h/kubeadmcfg.yaml"
    cat <<EOF | in_node "$h" tee /etc/kubernetes/kubelet-standalone.yaml >/dev/null
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupRoot: /$PREFIX-$h
address: 127.0.0.1
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
staticPodPath: /etc/kubernetes/manifests
$(kubelet_common)
EOF
    spawn kubelet "$h" kubelet --config=/etc/kubernetes/kubelet-standalone.yaml
  done
  in_node etcd-1 kubeadm init phase certs etcd-ca --config="$stage/etcd-1/kubeadmcfg.yaml" >>"$DIR/logs/etcd-1-kubeadm.log" 2>&1 || die "kubeadm init phase certs etcd-ca failed"
  local order=("${ETCD_HOSTS[@]:1}" "${ETCD_HOSTS[0]}") phase
  for h in "${order[@]}"; do
    for phase in etcd-server etcd-peer etcd-healthcheck-client apiserver-etcd-client; do
      in_node etcd-1 kubeadm init phase certs "$phase" --config="$stage/$h/kubeadmcfg.yaml" >>"$DIR/logs/etcd-1-kubeadm.log" 2>&1 ||
        die "kubeadm init phase certs $phase for $h failed (log $DIR/logs/etcd-1-kubeadm.log)"
    done
    in_node etcd-1 cp -R /etc/kubernetes/pki "$stage/$h/"
    [ "$h" = etcd-1 ] || in_node etcd-1 find /etc/kubernetes/pki -not -name ca.crt -not -name ca.key -type f -delete
  done
  for h in "${ETCD_HOSTS[@]:1}"; do
    find "$stage/$h" -name ca.key -type f -delete
    in_node "$h" cp -R "$stage/$h/pki" /etc/kubernetes/
  done
  for h in "${ETCD_HOSTS[@]}"; do
    in_node "$h" kubeadm init phase etcd local --config="$stage/$h/kubeadmcfg.yaml" >>"$DIR/logs/$h-kubeadm.log" 2>&1 ||
      die "kubeadm init phase etcd local on $h failed (log $DIR/logs/$h-kubeadm.log)"
  done
  # The control-plane node needs the CA and the API server's client pair (guide: copied from host 1).
  local pki=$DIR/nodes/etcd-1/etc-upper/kubernetes/pki
  in_node cp-1 mkdir -p /etc/kubernetes/pki/etcd
  in_node cp-1 cp "$pki/etcd/ca.crt" /etc/kubernetes/pki/etcd/ca.crt
  in_node cp-1 cp "$pki/apiserver-etcd-client.crt" "$pki/apiserver-etcd-client.key" /etc/kubernetes/pki/
  rm -rf "$stage"/*/pki
  timed "external etcd healthy (3 members)" wait_for "the external etcd cluster" 180 etcd_healthy
}

# etcd_healthy: every etcd host answers a linearizable read (etcdctl endpoint health).
etcd_healthy() {
  local pki=$DIR/nodes/etcd-1/etc-upper/kubernetes/pki eps="" h
  for h in "${ETCD_HOSTS[@]}"; do eps+="${eps:+,}https://$(node_ip "$h"):2379"; done
  "$ETCD_BIN/etcdctl" --endpoints="$eps" --cacert="$pki/etcd/ca.crt" --cert="$pki/apiserver-etcd-client.crt" \
    --key="$pki/apiserver-etcd-client.key" --dial-timeout=2s --command-timeout=3s endpoint health
}

# start_kubelet NODE: the command line kubeadm's systemd drop-in gives the kubelet.
start_kubelet() {
  local n=$1 args
  args=$(in_node "$n" sh -c '. /var/lib/kubelet/kubeadm-flags.env && echo "$KUBELET_KUBEADM_ARGS"')
  # shellcheck disable=SC2086
  spawn kubelet "$n" kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
    --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml $args
}

kubelet_stop() {
  local n=$1 pid
  pid=$(cat "$DIR/nodes/$n/kubelet.pid" 2>/dev/null || true)
  if alive "$pid"; then
    kill -TERM "$pid"
    local t0=$SECONDS
    while alive "$pid"; do
      [ $((SECONDS - t0)) -lt 30 ] || { kill -KILL "$pid"; break; }
      sleep 0.2
    done
  fi
  rm -f "$DIR/nodes/$n/kubelet.pid"
}

# run_kubeadm NODE LOG INTERRUPT ARGS...: runs kubeadm in NODE and starts the kubelet once kubeadm
# has written its configuration (kubeadm's kubelet-start phase would ask systemd). With
# INTERRUPT=1, kubeadm is killed right after it wrote the etcd manifest of the new learner.
run_kubeadm() {
  local n=$1 logf=$2 interrupt=$3 pid rc=0; shift 3
  rm -f "$DIR/nodes/$n/kubeadm.done"
  ( in_node "$n" kubeadm "$@" >"$logf" 2>&1; echo $? >"$DIR/nodes/$n/kubeadm.done" ) &
  pid=$!
  local started=0
  while [ ! -f "$DIR/nodes/$n/kubeadm.done" ]; do
    if [ $started = 0 ] && [ -s "$DIR/nodes/$n/kubelet/config.yaml" ] && [ -s "$DIR/nodes/$n/kubelet/kubeadm-flags.env" ]; then
      sleep 0.5 # both files are written by one phase; let it finish
      start_kubelet "$n"; started=1
    fi
    if [ "$interrupt" = 1 ] && grep -q "Waiting for a learner to start" "$logf"; then
      pkill -KILL -f "^kubeadm join" --ns "$(holder_pid "$n")" --nslist net || true
      log "$n: kubeadm join killed after adding the learner (as an interrupted join)"
      wait "$pid" || true
      grep -q "etcd/etcd.yaml\|Creating static Pod manifest for \"etcd\"" "$logf" || die "kubeadm was killed before it wrote the etcd manifest"
      return 0
    fi
    sleep 0.1
  done
  wait "$pid" || true
  rc=$(cat "$DIR/nodes/$n/kubeadm.done")
  [ "$rc" = 0 ] || { tail -40 "$logf" >&2; die "kubeadm $1 on $n failed (exit $rc; log $logf)"; }
}

# pods_ready NODE: the node's four static pods are in the API (mirror pods) and Ready.
pods_ready() {
  local out
  out=$(kubectl --kubeconfig "$DIR/kubeconfig" -n kube-system get pods --field-selector "spec.nodeName=$1" \
    -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}') || return 1
  local c comps=(kube-apiserver kube-controller-manager kube-scheduler)
  [ "$TOPOLOGY" = external ] || comps+=(etcd)
  for c in "${comps[@]}"; do
    grep -qx "$c-$1=True" <<<"$out" || return 1
  done
}

node_init() {
  timed "kubeadm init on cp-1" run_kubeadm cp-1 "$DIR/logs/cp-1-kubeadm.log" 0 init --config /etc/kubeadm/kubeadm.yaml --upload-certs -v=1
}

node_join() {
  local n=$1 interrupt=${2:-0} hash
  hash=sha256:$(openssl x509 -pubkey -noout -in "$DIR/nodes/cp-1/pki-ca.crt" | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
  sed "s#CA_CERT_HASH#\"$hash\"#" "$DIR/kubeadm-join-$n.yaml" | in_node "$n" tee /etc/kubeadm/kubeadm.yaml >/dev/null
  timed "kubeadm join on $n" run_kubeadm "$n" "$DIR/logs/$n-kubeadm.log" "$interrupt" join --config /etc/kubeadm/kubeadm.yaml -v=1
  if [ "$interrupt" = 0 ]; then
    timed "static pods of $n in the API and Ready" wait_for "the static pods of $n" 120 pods_ready "$n"
  fi
}

sysctl_set() {
  local kv k
  # The other cluster (stacked or external) may run: its up set them and its down restores
  # them; this one leaves them to it.
  if ip link show "$OTHER_BRIDGE" >/dev/null 2>&1; then
    for kv in "${SYSCTLS[@]}"; do sysctl -qw "$kv"; done
    log "kernel settings set; the cluster of $OTHER_BRIDGE runs and restores them when it goes down"
    return
  fi
  : >"$DIR/sysctl.orig"
  for kv in "${SYSCTLS[@]}"; do
    k=${kv%%=*}
    echo "$k=$(sysctl -n "$k")" >>"$DIR/sysctl.orig"
    sysctl -qw "$kv"
  done
  log "VM-wide kernel settings the kubelet requires set (restored by down): ${SYSCTLS[*]}"
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "must run as root (namespaces, cgroups, containerd)"
  for b in "$KA_BIN/.complete" "$K8S_BIN/.complete" "$ETCD_BIN/.complete"; do
    [ -f "$b" ] || die "missing $b: run hack/e2e-tools.sh etcd k8s kubeadm first"
  done
  for c in containerd runc ctr iptables conntrack socat openssl nsenter unshare; do
    command -v "$c" >/dev/null || die "missing $c (make test-kubeadm installs containerd runc iptables conntrack socat)"
  done
  mkdir -p "$CLAIM_DIR"
  if [ -f "$CURRENT" ]; then
    local old; old=$(cat "$CURRENT")
    if [ -f "$old/owner.pid" ] && alive "$(cat "$old/owner.pid")"; then
      die "a kubeadm cluster is running from $old (owner pid $(cat "$old/owner.pid")); run: $0 down"
    fi
    log "tearing down the previous cluster of $old (its owner is gone)"
    DIR=$old cmd_down
  fi
  ip link show "$BRIDGE" >/dev/null 2>&1 && { log "deleting leftover $BRIDGE"; DIR=/nonexistent sweep; }
  local t0=$SECONDS
  mkdir -p "$DIR/logs" "$DIR/nodes"
  echo "$TOPOLOGY" >"$DIR/topology"
  echo "$DIR" >"$CURRENT"
  echo $$ >"$DIR/up.pid"
  echo "${OWNER_PID:-$PPID}" >"$DIR/owner.pid"
  ip link add "$BRIDGE" type bridge
  ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  sysctl_set
  kubeadm_configs
  timed "images" build_images
  local n
  for n in "${NODES[@]}"; do
    if is_etcd_host "$n"; then
      timed "node $n (namespaces, containerd, images)" node_up "$n" "$DIR/images/pause.tar" "$DIR/images/etcd.tar"
    else
      timed "node $n (namespaces, containerd, images)" node_up "$n"
    fi
  done
  [ "$TOPOLOGY" = stacked ] || etcd_hosts_up
  in_node cp-1 tee /etc/kubeadm/kubeadm.yaml <"$DIR/kubeadm-init-cp-1.yaml" >/dev/null
  node_init
  cp "$DIR/nodes/cp-1/etc-upper/kubernetes/pki/ca.crt" "$DIR/nodes/cp-1/pki-ca.crt"
  write_kubeconfig
  timed "static pods of cp-1 in the API and Ready" wait_for "the static pods of cp-1" 120 pods_ready cp-1
  for n in "${NODES[@]}"; do
    case $n in cp-1 | etcd-*) ;; *) node_join "$n" ;; esac
  done
  # Pods are refused until the controller manager made the namespace's default ServiceAccount.
  timed "kube-system/default ServiceAccount" wait_for "the default ServiceAccount of kube-system" 120 \
    kubectl --kubeconfig "$DIR/kubeconfig" -n kube-system get serviceaccount default
  rm -f "$DIR/up.pid"
  log "cluster up in $((SECONDS - t0)) s; KUBECONFIG=$DIR/kubeconfig"
}

# write_kubeconfig: kubeadm's admin.conf, pointed at cp-1's address (reachable from the host
# over the bridge and among the API server's certificate SANs) instead of the endpoint name,
# which only the nodes resolve.
write_kubeconfig() {
  in_node cp-1 cat /etc/kubernetes/admin.conf |
    sed "s#server: https://$ENDPOINT:6443#server: https://$(node_ip cp-1):6443#" >"$DIR/kubeconfig"
  chmod 600 "$DIR/kubeconfig"
}

# sweep: kills whatever runs in the nodes' namespaces or cgroups, deletes namespaces, veths,
# the bridge and the cgroups. Safe to run twice, and without DIR state.
sweep() {
  local n ns pids c
  for n in "${NODES[@]}"; do
    ns=$(netns "$n")
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      pids=$( { ip netns pids "$ns" 2>/dev/null || true
                cat /sys/fs/cgroup/pids/"$PREFIX-$n"/cgroup.procs 2>/dev/null || true
                find /sys/fs/cgroup/pids/"$PREFIX-$n" -name cgroup.procs -exec cat {} + 2>/dev/null || true
                [ -f "$DIR/nodes/$n/holder.pid" ] && cat "$DIR/nodes/$n/holder.pid" || true; } | sort -u)
      pids=$(for p in $pids; do if alive "$p"; then echo "$p"; fi; done)
      [ -z "$pids" ] && break
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 0.3
    done
    ip netns del "$ns" 2>/dev/null || true
    ip link del "$(veth "$n")" 2>/dev/null || true
    # unified: the kubelet also creates <prefix>-<node> in the cgroup2 hierarchy (hugetlb only here)
    for c in "${CGROUP_CONTROLLERS[@]}" unified; do
      [ -d "/sys/fs/cgroup/$c/$PREFIX-$n" ] || continue
      find "/sys/fs/cgroup/$c/$PREFIX-$n" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "/sys/fs/cgroup/$c/$PREFIX-$n" ] && log "warning: could not remove /sys/fs/cgroup/$c/$PREFIX-$n"
    done
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

cmd_down() {
  [ -n "${DIR:-}" ] || DIR=$(cat "$CURRENT" 2>/dev/null || true)
  [ -n "$DIR" ] || { log "no kubeadm cluster recorded in $CURRENT"; DIR=/nonexistent; }
  if [ -f "$DIR/topology" ]; then
    load_topology
  elif [ "$DIR" != /nonexistent ] && [ "$DIR" != "$(cat "$CLAIM_DIR/kubeadm.dir" 2>/dev/null)" ]; then
    # A DIR whose up stopped before it made anything (a refused claim): there is nothing of it
    # to tear down, and the names a sweep would guess may be another running cluster's.
    log "no cluster was brought up in $DIR (no $DIR/topology); nothing to tear down"
    return 0
  fi
  local n up
  # An up still running (interrupted by the caller) must not go on creating things.
  up=$(cat "$DIR/up.pid" 2>/dev/null || true)
  if [ "$up" != $$ ] && alive "$up"; then
    pkill -KILL -P "$up" 2>/dev/null || true
    kill -KILL "$up" 2>/dev/null || true
  fi
  for n in "${NODES[@]}"; do
    [ -f "$DIR/nodes/$n/kubelet.pid" ] && kubelet_stop "$n" 2>/dev/null || true
  done
  sweep
  if [ -f "$DIR/sysctl.orig" ]; then
    local kv
    while read -r kv; do sysctl -qw "$kv" || log "warning: could not restore $kv"; done <"$DIR/sysctl.orig"
    rm -f "$DIR/sysctl.orig"
    log "kernel settings restored"
  fi
  [ "$(cat "$CURRENT" 2>/dev/null)" = "$DIR" ] && rm -f "$CURRENT"
  log "down ($DIR)"
}

cmd=${1:-}; shift || true
case $cmd in
  up)
    case "$#:${2:-}" in
      1:) ;;
      2:--external-etcd) set_topology external ;;
      *) die "usage: $0 up DIR [--external-etcd]" ;;
    esac
    DIR=$(realpath -m "$1"); cmd_up ;;
  down) DIR=${1:+$(realpath -m "$1")}; cmd_down ;;
  exec) [ $# -ge 3 ] || die "usage: $0 exec DIR NODE CMD..."; DIR=$(realpath -m "$1"); load_topology; n=$2; shift 2; in_node "$n" "$@" ;;
  kubelet-stop) [ $# = 2 ] || die "usage: $0 kubelet-stop DIR NODE"; DIR=$(realpath -m "$1"); load_topology; kubelet_stop "$2" ;;
  kubelet-restart) [ $# = 2 ] || die "usage: $0 kubelet-restart DIR NODE"; DIR=$(realpath -m "$1"); load_topology; kubelet_stop "$2"; start_kubelet "$2" ;;
  join)
    [ $# -ge 2 ] || die "usage: $0 join DIR NODE [--interrupt-after-learner]"; DIR=$(realpath -m "$1"); load_topology
    node_join "$2" "$([ "${3:-}" = --interrupt-after-learner ] && echo 1 || echo 0)" ;;
  reset)
    [ $# = 2 ] || die "usage: $0 reset DIR NODE"; DIR=$(realpath -m "$1"); load_topology
    kubelet_stop "$2"
    in_node "$2" kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock -v=1 >>"$DIR/logs/$2-kubeadm-reset.log" 2>&1 ||
      { tail -20 "$DIR/logs/$2-kubeadm-reset.log" >&2; die "kubeadm reset on $2 failed"; } ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2 ;;
esac
