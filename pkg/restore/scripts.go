package restore

// Scripts run by /bin/sh in the helper's shell containers. They are constants: paths and names
// travel as $1, $2, ... or in files the plugin wrote in the stage directory, never in the
// script text. They use only what kubeadm's kube-proxy image has (sh, cat, chmod, grep, ln, rm,
// sleep, wc): no mv, cp, mkdir or date.
const (
	// stageWait STAGE RESTORED: the first init container. It makes the restored data
	// directory private (etcd wants 0700) and waits until the plugin has uploaded the
	// snapshot; the restore container (etcdutl) runs when it exits.
	stageWait = `set -eu
chmod 700 "$2"
while [ ! -f "$1/.uploaded" ]; do sleep 1; done`

	// upload FILE: stdin to FILE (mode 0600), then prints its size in bytes.
	upload = `set -eu; rm -f -- "$1"; cat > "$1"; chmod 600 "$1"; wc -c < "$1"`

	// touch FILE: creates the empty FILE.
	touch = `: > "$1"`

	// writeFile FILE: stdin to FILE, mode 0600 (a leftover FILE is replaced).
	writeFile = `set -eu; rm -f -- "$1"; cat > "$1"; chmod 600 "$1"`

	// listFiles DIR: the names of the regular, not hidden, files in DIR (what the kubelet reads).
	listFiles = `for f in "$1"/*; do [ -f "$f" ] && printf '%s\n' "${f##*/}"; done; true`

	// discard RESTORED KEEP PREFIX: removes what staging wrote: RESTORED/member and the kept
	// copies KEEP/PREFIX-* (the stage container has no KEEP mounted: then only the first).
	discard = `rm -rf -- "$1/member" && { [ ! -d "$2" ] || rm -f -- "$2/$3"-*; }`

	// restoredOK DIR: prints yes when DIR/member holds a WAL file and the database.
	restoredOK = `for f in "$1"/member/wal/*.wal; do [ -f "$f" ] && [ -f "$1/member/snap/db" ] && { echo yes; exit 0; }; done; echo no`

	// cutover STAGE MANIFESTS KEEP PREFIX DELAY LIMIT SETTLE: the helper's main container. It
	// waits for STAGE/go, then DELAY seconds more (the plugin writes STAGE/abort in that time if
	// it could not trigger every node), then, appending each step to KEEP/PREFIX.log:
	//  1. removes the control-plane manifests listed in STAGE/components ("FILE PORT" lines)
	//     and waits until their ports are closed;
	//  2. removes the etcd manifest (STAGE/etcd: "FILE CLIENT-PORT PEER-PORT") and waits until
	//     etcd's ports are closed, then SETTLE seconds;
	//  3. installs KEEP/PREFIX-restored-FILE (pointed at the restored data directory) in its
	//     place and waits until etcd listens;
	//  4. puts the control-plane manifests back from the copies in KEEP (PREFIX-FILE).
	// Each wait gives up after LIMIT seconds. If etcd does not stop, the restored manifest is
	// not installed and the control plane goes back as it was. Manifests are installed
	// atomically: written under a hidden name (the kubelet ignores those), then linked.
	cutover = `set -u
stage=$1 man=$2 keep=$3 prefix=$4 delay=$5 limit=$6 settle=$7
log=$keep/$prefix.log
say() { printf '%s\n' "$*" >> "$log"; printf '%s\n' "$*"; }
listening() {
  for p in "$@"; do
    h=$(printf '%04X' "$p")
    grep -Eq "^ *[0-9]+: [0-9A-F]+:$h [0-9A-F]+:[0-9A-F]+ 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
  done
  return 1
}
until_down() { n=0; while listening "$@"; do n=$((n+1)); [ "$n" -ge "$limit" ] && return 1; sleep 1; done; return 0; }
until_up() { n=0; until listening "$@"; do n=$((n+1)); [ "$n" -ge "$limit" ] && return 1; sleep 1; done; return 0; }
put() {
  t=$man/.$2.kubectl-etcd
  rm -f -- "$t" && cat -- "$1" > "$t" && chmod 600 "$t" && rm -f -- "$man/$2" && ln -- "$t" "$man/$2" && rm -f -- "$t"
}
back() {
  brc=0
  while read -r f p; do put "$keep/$prefix-$f" "$f" || { say "error: could not put $f back from $keep/$prefix-$f"; brc=1; }; done < "$stage/components"
  return $brc
}
while [ ! -f "$stage/go" ]; do sleep 1; done
sleep "$delay"
if [ -f "$stage/abort" ]; then say "aborted before any change: nothing was changed on this node"; exit 0; fi
read -r etcdf cport pport < "$stage/etcd"
rc=0
say "step 1/4: stopping the control plane"
while read -r f p; do rm -f -- "$man/$f"; done < "$stage/components"
while read -r f p; do
  until_down "$p" || { say "warning: $f still listens on port $p after ${limit}s"; rc=1; }
done < "$stage/components"
say "step 2/4: stopping etcd"
rm -f -- "$man/$etcdf"
if ! until_down "$cport" "$pport"; then
  say "error: etcd still listens after ${limit}s: the restored manifest is NOT installed; putting the original etcd manifest and the control plane back"
  put "$keep/$prefix-$etcdf" "$etcdf" || say "error: could not put $etcdf back from $keep/$prefix-$etcdf"
  back
  say "failed"
  exit 1
fi
sleep "$settle"
say "step 3/4: starting etcd from the restored data directory"
if ! put "$keep/$prefix-restored-$etcdf" "$etcdf"; then
  say "error: could not install the restored etcd manifest; putting the original back"
  put "$keep/$prefix-$etcdf" "$etcdf" || say "error: could not put $etcdf back from $keep/$prefix-$etcdf"
  rc=1
elif ! until_up "$cport"; then
  say "warning: the restored etcd does not listen on port $cport after ${limit}s"
  rc=1
fi
say "step 4/4: starting the control plane"
back || rc=1
if [ "$rc" = 0 ]; then say "done"; else say "failed: see the errors above"; fi
exit $rc`
)
