package etcd

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// MemberStatus is everything the plugin learned about one member. IDs are hex strings.
type MemberStatus struct {
	Pod      string `json:"pod,omitempty"`
	Node     string `json:"node,omitempty"`
	Name     string `json:"name,omitempty"`
	ID       string `json:"id,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`

	Reachable bool   `json:"reachable"`
	Healthy   bool   `json:"healthy"`
	HealthErr string `json:"healthError,omitempty"`
	// HealthTook is how long the health probe's read took (as etcdctl reports it).
	HealthTook string `json:"healthTook,omitempty"`
	// HealthInferred says that Healthy was read from the member's status in the cluster round
	// (exec), not from a health probe asked of the member: see README, status over exec.
	HealthInferred bool   `json:"healthInferred,omitempty"`
	Leader         bool   `json:"leader"`
	Learner        bool   `json:"learner"`
	Version        string `json:"version,omitempty"`
	// StorageVersion is the storage schema version (etcd 3.6 and later).
	StorageVersion string `json:"storageVersion,omitempty"`
	// Downgrade is the cluster's downgrade state as this member reports it (etcd 3.6 and later;
	// nil when the member does not report it).
	Downgrade        *DowngradeState `json:"downgrade,omitempty"`
	DBSize           int64           `json:"dbSize"`
	DBSizeInUse      int64           `json:"dbSizeInUse"`
	DBSizeQuota      int64           `json:"dbSizeQuota,omitempty"`
	FragmentationPct float64         `json:"fragmentationPercent"`
	RaftTerm         uint64          `json:"raftTerm"`
	RaftIndex        uint64          `json:"raftIndex"`
	RaftAppliedIndex uint64          `json:"raftAppliedIndex"`
	Revision         int64           `json:"revision"`
	LeaderID         string          `json:"leaderID,omitempty"`
	ClusterID        string          `json:"clusterID,omitempty"`
	Alarms           []string        `json:"alarms,omitempty"`
	// Errors are errors the member itself reports in its status (etcd's "errors" field).
	Errors []string `json:"errors,omitempty"`

	// HasPod is false for a member in the member list with no etcd pod (a dead or reset node).
	HasPod   bool   `json:"hasPod"`
	PodPhase string `json:"podPhase,omitempty"`
	PodReady bool   `json:"podReady"`
	Image    string `json:"image,omitempty"`
	DataDir  string `json:"dataDir,omitempty"`
	// PeerURLs and ClientURLs come from the member list.
	PeerURLs   []string `json:"peerURLs,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`

	// ServerCertNotAfter is when the member's serving certificate expires (RFC 3339), where the
	// transport could read it from a TLS handshake.
	ServerCertNotAfter string `json:"serverCertNotAfter,omitempty"`
	// ServerCertDaysLeft is the number of whole days until then.
	ServerCertDaysLeft *int `json:"serverCertDaysLeft,omitempty"`

	// WALFsyncP99 is the member's WAL fsync p99 over its lifetime, in seconds, from its
	// /metrics (status -o wide, json and yaml; AddLifetimeFsync).
	WALFsyncP99 *float64 `json:"walFsyncP99Seconds,omitempty"`

	// Problems are the failures met while asking this member (one line each).
	Problems []string `json:"problems,omitempty"`
}

// Serving reports whether the member serves: it was reached, is in the member list, and is
// healthy or unhealthy only because of a NOSPACE alarm. NOSPACE refuses writes but the member
// still serves reads and takes part in raft, so it counts toward the quorum. A member with a
// CORRUPT alarm, a member that is down or unreachable, and one that never started do not serve.
func (m MemberStatus) Serving() bool {
	if !m.Reachable || m.ID == "" || hasAlarm(m, "CORRUPT") {
		return false
	}
	return m.Healthy || onlyNOSPACE(m)
}

// DowngradeState is etcd's downgrade info: whether a downgrade is enabled and to which version.
type DowngradeState struct {
	Enabled       bool   `json:"enabled"`
	TargetVersion string `json:"targetVersion,omitempty"`
}

// DowngradeEnabled returns the target of a downgrade that some member reports enabled.
func (s *ClusterStatus) DowngradeEnabled() (target string, enabled bool) {
	for _, m := range s.Members {
		if m.Downgrade != nil && m.Downgrade.Enabled {
			return m.Downgrade.TargetVersion, true
		}
	}
	return "", false
}

// ServingVoter is Serving for a voting member (learners excluded). It is the one definition of
// a member that counts toward the quorum: status, the removal plan, the snapshot source and the
// leadership transferee all use it.
func (m MemberStatus) ServingVoter() bool { return !m.Learner && m.Serving() }

// ClusterStatus is the result of "status".
type ClusterStatus struct {
	Transport string         `json:"transport"`
	ClusterID string         `json:"clusterID,omitempty"`
	Leader    string         `json:"leader,omitempty"`
	State     ClusterState   `json:"state"`
	Quorum    Quorum         `json:"quorum"`
	Members   []MemberStatus `json:"members"`
	// Alarms are the cluster's active alarms ("<member id>:NOSPACE").
	Alarms []string `json:"alarms,omitempty"`
	// AlarmsRead says whether some member answered the alarm list: without it, no alarms in
	// Alarms means unknown, not none (metrics-only cannot read the list).
	AlarmsRead bool `json:"-"`
	// Downgrade is the cluster's downgrade state (etcd 3.6+; nil when no member reports it).
	Downgrade *DowngradeState `json:"downgrade,omitempty"`
	// Warnings are problems worth an operator's attention that are not member failures.
	Warnings []string `json:"warnings,omitempty"`
	// Unavailable names the fields the transport could not fill (metrics-only mode).
	Unavailable []string `json:"unavailable,omitempty"`
	// TimedOutAfter is set (to the per-call timeout) when no member answered because every
	// call hit that deadline: the members' state is unknown, not known to be down. State
	// stays QuorumLost, so that nothing goes ahead on it.
	TimedOutAfter string `json:"timedOutAfter,omitempty"`

	// listed is whether some member answered the member list (the rows were joined with it).
	listed bool
}

// CertExpiryWarning is how close to expiry a serving certificate must be for a warning.
const CertExpiryWarning = 30 * 24 * time.Hour

// Errors returns one line per member problem, for printing after the table.
func (s *ClusterStatus) Errors() []string {
	var out []string
	for _, m := range s.Members {
		who := m.Pod
		if who == "" {
			who = "member " + m.Name
			if m.Name == "" {
				who = "member " + m.ID
			}
		}
		for _, p := range m.Problems {
			out = append(out, who+": "+p)
		}
	}
	return out
}

// Only returns a copy of the status with the member rows narrowed to the pods selected says
// yes to (a member without a pod has the pod name ""); the verdict (state, quorum, leader,
// alarms, warnings) stays the whole cluster's. It is how --pod narrows a status without
// counting the members outside the selection as down.
func (s *ClusterStatus) Only(selected func(pod string) bool) *ClusterStatus {
	out := *s
	out.Members = nil
	for _, m := range s.Members {
		if selected(m.Pod) {
			out.Members = append(out.Members, m)
		}
	}
	return &out
}

// StatusOptions tunes Status.
type StatusOptions struct {
	// Timeout bounds each call to a member; all members are asked in parallel, so the whole
	// command takes about one Timeout when a member does not answer.
	Timeout time.Duration
	// ProbeHealth asks every member for a linearizable read (etcdctl endpoint health) even
	// where the transport would read its health from its status (exec's cluster round): for
	// the commands that change the cluster and gate on its health. It costs one more exec.
	ProbeHealth bool
}

// Status asks every member, in parallel, for its status and health, reads the member list and
// the alarms once, and joins it all to the pods. Failures of single members are recorded in the
// result, never returned: the caller decides what the state means.
//
// It goes in three steps: probe (probeMembers asks every member), join (one row per member of
// the member list and per pod left over) and summarize (quorum, leader, state, warnings).
func Status(ctx context.Context, conn transport.Connector, members []discovery.Member, o StatusOptions) *ClusterStatus {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	probes := probeMembers(ctx, conn, members, o)
	defer closeProbes(probes)

	res := &ClusterStatus{Transport: string(conn.Mode())}
	mlist, alarms := clusterViews(probes)
	alarmsByMember, all := alarmsOf(alarms)
	res.Alarms, res.AlarmsRead = all, alarms != nil
	leaderID, clusterID := leaderOf(probes)
	res.ClusterID = clusterID
	res.Members = joinMembers(members, probes, mlist, leaderID, alarmsByMember)
	res.listed = mlist != nil

	summarize(res, mlist, leaderID)
	if allTimedOut(probes) {
		res.TimedOutAfter = o.Timeout.String()
	}
	if l, ok := conn.(transport.Limited); ok {
		res.Unavailable = l.Unavailable()
	}
	return res
}

// clusterViews picks the member list and the alarms from the probes: the member list of the
// leader when it answered one, else of the last member that did; the first alarm list answered.
func clusterViews(probes []memberProbe) (*clientv3.MemberListResponse, *clientv3.AlarmResponse) {
	var mlist *clientv3.MemberListResponse
	var alarms *clientv3.AlarmResponse
	for _, p := range probes {
		if p.mlist != nil && (mlist == nil || (p.status != nil && p.status.Leader == p.status.Header.GetMemberId())) {
			mlist = p.mlist
		}
		if p.alarms != nil && alarms == nil {
			alarms = p.alarms
		}
	}
	return mlist, alarms
}

// alarmsOf sorts the active alarms by member, and lists them as "<member id>:<alarm>".
func alarmsOf(alarms *clientv3.AlarmResponse) (byMember map[uint64][]string, all []string) {
	byMember = map[uint64][]string{}
	if alarms == nil {
		return byMember, nil
	}
	for _, a := range alarms.Alarms {
		if a.Alarm == etcdserverpb.AlarmType_NONE {
			continue
		}
		byMember[a.MemberID] = append(byMember[a.MemberID], a.Alarm.String())
		all = append(all, FormatID(a.MemberID)+":"+a.Alarm.String())
	}
	return byMember, all
}

// leaderOf is the leader the members report (the last probe that names one wins; 0: none) and
// the cluster ID of the first probe that names a leader.
func leaderOf(probes []memberProbe) (leaderID uint64, clusterID string) {
	for _, p := range probes {
		if p.status != nil && p.status.Leader != 0 {
			leaderID = p.status.Leader
			if clusterID == "" && p.status.Header != nil && p.status.Header.ClusterId != 0 {
				clusterID = FormatID(p.status.Header.ClusterId)
			}
		}
	}
	return leaderID, clusterID
}

// joinMembers builds the rows: one per member of the member list (matched to its pod, see
// matchPod), then one per pod no member matched (unreachable, or not yet a member), sorted
// by pod, then name and ID.
func joinMembers(members []discovery.Member, probes []memberProbe, mlist *clientv3.MemberListResponse, leaderID uint64, alarmsByMember map[uint64][]string) []MemberStatus {
	var rows []MemberStatus
	usedPod := map[int]bool{}
	statusOf := func(i int) *clientv3.StatusResponse { return probes[i].status }
	if mlist != nil {
		for _, mm := range mlist.Members {
			ms := MemberStatus{ID: FormatID(mm.ID), Name: mm.Name, Learner: mm.IsLearner,
				PeerURLs: mm.PeerURLs, ClientURLs: mm.ClientURLs, Leader: mm.ID == leaderID && leaderID != 0}
			i := matchPod(mm, members, statusOf, usedPod)
			if i >= 0 {
				usedPod[i] = true
				fillFromPod(&ms, &members[i], &probes[i])
			} else if mm.Name == "" {
				ms.Problems = append(ms.Problems, "member has not started yet (no name or client URLs); no etcd pod runs it")
			} else {
				ms.Problems = append(ms.Problems, "no etcd pod found for this member (dead node, reset node or a pod outside the selector?)")
			}
			ms.Alarms = alarmsByMember[mm.ID]
			rows = append(rows, ms)
		}
	}
	// Pods whose member is not in the list (unreachable, or not yet a member) still get a row.
	for i := range members {
		if usedPod[i] {
			continue
		}
		ms := MemberStatus{}
		fillFromPod(&ms, &members[i], &probes[i])
		if mlist != nil && ms.ID != "" {
			ms.Problems = append(ms.Problems, "member "+ms.ID+" answers but is not in the cluster's member list")
		}
		rows = append(rows, ms)
	}
	sort.SliceStable(rows, func(i, j int) bool { return sortKey(rows[i]) < sortKey(rows[j]) })
	return rows
}

// fillFromPod fills a row with what pod m and its probe p tell: the pod's fields, the member's
// status, health and certificate, and the problems met.
func fillFromPod(ms *MemberStatus, m *discovery.Member, p *memberProbe) {
	ms.Pod, ms.Node, ms.HasPod = m.Pod, m.Node, true
	ms.PodPhase, ms.PodReady, ms.Image, ms.DataDir = m.Phase, m.Ready, m.Image, m.DataDir
	if ms.Name == "" {
		ms.Name = m.Name
	}
	ms.Endpoint = m.LocalClientURL
	if p.session != nil {
		ms.Endpoint = p.session.Endpoint()
	}
	if st := p.status; st != nil {
		fillFromStatus(ms, st, m.QuotaBackendBytes)
	}
	if c := p.cert; c != nil {
		ms.ServerCertNotAfter = c.NotAfter.UTC().Format(time.RFC3339)
		days := int(time.Until(c.NotAfter).Hours() / 24)
		ms.ServerCertDaysLeft = &days
	}
	if h := p.health; h != nil {
		ms.Reachable = ms.Reachable || h.Error == "" || h.Healthy
		ms.Healthy = h.Healthy
		ms.HealthErr = h.Error
		ms.HealthInferred = p.healthInferred
		if h.Took > 0 {
			ms.HealthTook = h.Took.Round(time.Microsecond).String()
		}
	}
	if !m.Running() {
		ms.Problems = append(ms.Problems, fmt.Sprintf("pod is %s, not Running", orUnknown(m.Phase)))
	}
	ms.Problems = append(ms.Problems, p.errs...)
	if h := p.health; h != nil && !h.Healthy && h.Error != "" && !containsPrefix(p.errs, "health") {
		ms.Problems = append(ms.Problems, "unhealthy: "+h.Error)
	}
}

// fillFromStatus fills a row with a member's status answer; quota is the pod's
// --quota-backend-bytes, used when the member does not report its quota.
func fillFromStatus(ms *MemberStatus, st *clientv3.StatusResponse, quota int64) {
	ms.Reachable = true
	if st.Header != nil {
		if st.Header.MemberId != 0 {
			ms.ID = FormatID(st.Header.MemberId)
		}
		if st.Header.ClusterId != 0 {
			ms.ClusterID = FormatID(st.Header.ClusterId)
		}
		ms.Revision = st.Header.Revision
		ms.Leader = st.Leader != 0 && st.Leader == st.Header.MemberId
	}
	ms.Learner = ms.Learner || st.IsLearner
	ms.Version = st.Version
	ms.StorageVersion = st.StorageVersion
	if di := st.DowngradeInfo; di != nil {
		ms.Downgrade = &DowngradeState{Enabled: di.Enabled, TargetVersion: di.TargetVersion}
	}
	ms.DBSize, ms.DBSizeInUse, ms.DBSizeQuota = st.DbSize, st.DbSizeInUse, st.DbSizeQuota
	if ms.DBSizeQuota == 0 {
		ms.DBSizeQuota = quota
	}
	ms.FragmentationPct = Fragmentation(st.DbSize, st.DbSizeInUse)
	ms.RaftTerm, ms.RaftIndex, ms.RaftAppliedIndex = st.RaftTerm, st.RaftIndex, st.RaftAppliedIndex
	if st.Leader != 0 {
		ms.LeaderID = FormatID(st.Leader)
	}
	ms.Errors = st.Errors
}
