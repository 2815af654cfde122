package printers

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// Golden tests of the printers of the commands' results (alarms, consistency, defrag, doctor,
// downgrade, membership, move-leader). Their golden files are testdata/results-*.golden; the
// bytes are those the commands printed before the rendering moved here.

// render runs one printer in one format.
func render(t *testing.T, f Format, render1 func(io.Writer, Format) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := render1(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// goldenFormats checks a printer's table and JSON output against results-NAME.table.golden and
// results-NAME.json.golden, and that wide is the same as table (none of these results has wide
// columns).
func goldenFormats(t *testing.T, name string, render1 func(io.Writer, Format) error) {
	t.Helper()
	table := render(t, Table, render1)
	golden(t, "results-"+name+".table.golden", table)
	golden(t, "results-"+name+".json.golden", render(t, JSON, render1))
	if wide := render(t, Wide, render1); !bytes.Equal(wide, table) {
		t.Errorf("%s: wide differs from table:\n--- wide\n%s\n--- table\n%s", name, wide, table)
	}
}

// goldenTable checks a printer's table output only (a further case of a printer whose JSON
// goldenFormats already covers).
func goldenTable(t *testing.T, name string, render1 func(io.Writer, Format) error) {
	t.Helper()
	golden(t, "results-"+name+".table.golden", render(t, Table, render1))
}

func TestAlarmsGolden(t *testing.T) {
	alarms := []etcd.AlarmInfo{
		{MemberID: "8e9e05c52164694d", Name: "cp-1", Pod: "etcd-cp-1", Alarm: "NOSPACE", DBSize: 2 << 30, Quota: 2 << 30},
		{MemberID: "91bc3c398fb3c146", Name: "cp-2", Pod: "etcd-cp-2", Alarm: "NOSPACE", DBSize: 2147000000},
		{MemberID: "fd422379fda50e48", Alarm: "CORRUPT", DBSize: 104857600, Quota: 8 << 30},
	}
	goldenFormats(t, "alarms", func(w io.Writer, f Format) error { return PrintAlarms(w, f, alarms) })
	// No alarms: the headers in a table (the command prints "no active alarms" instead), an
	// empty list in JSON.
	goldenTable(t, "alarms-none", func(w io.Writer, f Format) error { return PrintAlarms(w, f, []etcd.AlarmInfo{}) })
	if got := string(render(t, JSON, func(w io.Writer, f Format) error { return PrintAlarms(w, f, []etcd.AlarmInfo{}) })); got != "[]\n" {
		t.Errorf("no alarms as JSON: %q, want \"[]\\n\"", got)
	}
}

func TestDisarmedGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := PrintDisarmed(&buf, []string{"8e9e05c52164694d:NOSPACE", "91bc3c398fb3c146:NOSPACE"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "results-disarmed.golden", buf.Bytes())
}

func TestConsistencyGolden(t *testing.T) {
	ok := &etcd.ConsistencyReport{Revision: 4711, Consistent: true, Members: []etcd.HashResult{
		{Name: "cp-1", ID: "8e9e05c52164694d", Pod: "etcd-cp-1", Hash: 0xdeadbeef, HashRevision: 4711, CompactRevision: 4600},
		{Name: "cp-2", ID: "91bc3c398fb3c146", Pod: "etcd-cp-2", Hash: 0xdeadbeef, HashRevision: 4711, CompactRevision: 4600},
		{Name: "cp-3", ID: "fd422379fda50e48", Pod: "etcd-cp-3", Hash: 0xdeadbeef, HashRevision: 4711, CompactRevision: 4600},
	}}
	goldenFormats(t, "consistency", func(w io.Writer, f Format) error { return PrintConsistency(w, f, ok) })

	// Members that differ or fail: no closing "consistent:" line (the problems go to stderr).
	bad := &etcd.ConsistencyReport{Revision: 4711, Members: []etcd.HashResult{
		{Name: "cp-1", ID: "8e9e05c52164694d", Pod: "etcd-cp-1", Hash: 0xdeadbeef, HashRevision: 4711, CompactRevision: 4600},
		{Name: "cp-2", ID: "91bc3c398fb3c146", Pod: "etcd-cp-2", Hash: 0x1234, HashRevision: 4711, CompactRevision: 4600},
		{Name: "cp-3", ID: "fd422379fda50e48", Pod: "etcd-cp-3", Error: "context deadline exceeded"},
	}, Problems: []string{"hashes differ at revision 4711: 00001234: cp-2; deadbeef: cp-1", "cp-3: context deadline exceeded"}}
	goldenTable(t, "consistency-mismatch", func(w io.Writer, f Format) error { return PrintConsistency(w, f, bad) })
	// Consistent, but a member could not be asked: no closing line either.
	partial := *ok
	partial.Problems = []string{"cp-3: context deadline exceeded"}
	goldenTable(t, "consistency-problems", func(w io.Writer, f Format) error { return PrintConsistency(w, f, &partial) })
}

func defragTargets() []etcd.DefragTarget {
	return []etcd.DefragTarget{
		{Name: "cp-2", ID: "91bc3c398fb3c146", Pod: "etcd-cp-2", DBSize: 100 << 20, DBSizeInUse: 50 << 20, FragmentationPct: 50,
			ExpectedReclaim: 50 << 20, Needed: true, Reason: "50% fragmented, 104857600 bytes"},
		{Name: "cp-3", ID: "fd422379fda50e48", Pod: "etcd-cp-3", DBSize: 100 << 20, DBSizeInUse: 90 << 20, FragmentationPct: 10,
			ExpectedReclaim: 10 << 20, Reason: "only 10% fragmented (threshold 45%)"},
		{Name: "cp-4", ID: "a1b2c3d4e5f60718", Pod: "etcd-cp-4", DBSize: 100 << 20, DBSizeInUse: 40 << 20, FragmentationPct: 60,
			ExpectedReclaim: 60 << 20, Needed: true, Reason: "60% fragmented, 104857600 bytes"},
		{Name: "cp-1", ID: "8e9e05c52164694d", Pod: "etcd-cp-1", Leader: true, DBSize: 100 << 20, DBSizeInUse: 10 << 20, FragmentationPct: 90,
			ExpectedReclaim: 90 << 20, Needed: true, Reason: "90% fragmented, 104857600 bytes"},
	}
}

func TestDefragReportGolden(t *testing.T) {
	dry := &etcd.DefragReport{DryRun: true, Order: defragTargets(), Skipped: []string{"learner cp-5 (0102030405060708)"}}
	goldenTable(t, "defrag-dry-run", func(w io.Writer, f Format) error { return PrintDefragReport(w, f, dry) })

	// A full run: every needed member done, leadership moved off the leader, alarms disarmed.
	done := &etcd.DefragReport{Order: defragTargets(), Compacted: 4711, Disarmed: []string{"8e9e05c52164694d:NOSPACE", "91bc3c398fb3c146:NOSPACE"}}
	for i := range done.Order {
		d := &done.Order[i]
		if d.Needed {
			d.Started, d.Done, d.SizeAfter, d.Took = true, true, d.DBSizeInUse, "1.2s"
			done.Reclaimed += d.ExpectedReclaim
		}
	}
	done.Order[3].LeaderMove = "cp-2"
	goldenFormats(t, "defrag", func(w io.Writer, f Format) error { return PrintDefragReport(w, f, done) })

	// A run that failed: done, FAILED, and not touched after the stop.
	failed := &etcd.DefragReport{Order: defragTargets()}
	failed.Order[0].Started, failed.Order[0].Done, failed.Order[0].SizeAfter, failed.Order[0].Took = true, true, 50<<20, "800ms"
	failed.Order[2].Started, failed.Order[2].Error, failed.Order[2].Took = true, "context deadline exceeded", "30s"
	failed.Order[3].Error = "stopped: cp-4 failed"
	failed.Reclaimed = 50 << 20
	goldenTable(t, "defrag-failed", func(w io.Writer, f Format) error { return PrintDefragReport(w, f, failed) })

	// A run stopped before a member whose error says nothing of a start: not touched.
	untouched := &etcd.DefragReport{Order: defragTargets()[:1]}
	goldenTable(t, "defrag-not-touched", func(w io.Writer, f Format) error { return PrintDefragReport(w, f, untouched) })
}

func TestDoctorReportGolden(t *testing.T) {
	r := &etcd.DoctorReport{Transport: "exec", State: string(etcd.StateDegraded), Findings: []etcd.Finding{
		{Severity: etcd.SeverityCritical, Check: "unreachable", Member: "cp-3 (fd422379fda50e48)", Finding: "member does not answer", Fix: "check the etcd process on its node"},
		{Severity: etcd.SeverityWarning, Check: "version-skew", Finding: "members run different etcd versions (3.5.1: cp-3; 3.6.16: cp-1,cp-2)", Fix: "finish the upgrade (or rollback) so that all members run one version"},
	}, Skipped: []string{"certificate expiry"}}
	goldenFormats(t, "doctor", func(w io.Writer, f Format) error { return PrintDoctorReport(w, f, r, nil) })

	// Nothing to fix: the status summary.
	c, pods := cluster()
	c.Members[2].Down = false
	st := etcd.Status(context.Background(), c.Connector(), pods, etcd.StatusOptions{})
	clean := &etcd.DoctorReport{Transport: "exec", State: string(st.State), Findings: []etcd.Finding{}}
	goldenTable(t, "doctor-no-findings", func(w io.Writer, f Format) error { return PrintDoctorReport(w, f, clean, st) })
}

func downgradeMembers() []etcd.MemberVersion {
	return []etcd.MemberVersion{
		{Name: "cp-1", ID: "8e9e05c52164694d", Pod: "etcd-cp-1", Leader: true, Version: "3.7.3"},
		{Name: "cp-2", ID: "91bc3c398fb3c146", Pod: "etcd-cp-2", Version: "3.7.3"},
		{ID: "fd422379fda50e48", Pod: "etcd-cp-3", Problem: "unreachable"},
	}
}

func TestDowngradePlanGolden(t *testing.T) {
	valid := &etcd.DowngradePlan{Action: etcd.DowngradeValidate, Target: "3.6", ClusterVersion: "3.7", State: string(etcd.StateHealthy), Members: downgradeMembers()}
	goldenFormats(t, "downgrade", func(w io.Writer, f Format) error { return PrintDowngradePlan(w, f, valid) })

	refused := &etcd.DowngradePlan{Action: etcd.DowngradeEnable, Target: "3.5", State: string(etcd.StateDegraded), Members: downgradeMembers(),
		Refusals: []etcd.Blocker{{Member: "cp-1", Reason: "runs 3.7.3: etcd downgrades one minor version at a time; downgrade to 3.6 first"},
			{Reason: "every member must be healthy"}}}
	goldenTable(t, "downgrade-refused", func(w io.Writer, f Format) error { return PrintDowngradePlan(w, f, refused) })

	enabled := &etcd.DowngradePlan{Action: etcd.DowngradeEnable, Target: "3.6", ClusterVersion: "3.6", State: string(etcd.StateHealthy), Members: downgradeMembers(),
		Downgrade: &etcd.DowngradeState{Enabled: true, TargetVersion: "3.6.0"}, Changed: true}
	goldenTable(t, "downgrade-enabled", func(w io.Writer, f Format) error { return PrintDowngradePlan(w, f, enabled) })

	nothing := &etcd.DowngradePlan{Action: etcd.DowngradeCancel, State: string(etcd.StateHealthy), Members: downgradeMembers(),
		Downgrade: &etcd.DowngradeState{}, Nothing: true}
	goldenTable(t, "downgrade-nothing", func(w io.Writer, f Format) error { return PrintDowngradePlan(w, f, nothing) })
}

func TestMemberAddedGolden(t *testing.T) {
	learner := &etcd.AddResult{ClusterID: "cdf818194e3a8c32", ID: "a1b2c3d4e5f60718", Name: "cp-4", Learner: true,
		PeerURLs:       []string{"https://10.0.0.14:2380", "https://10.0.1.14:2380"},
		InitialCluster: "cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-4=https://10.0.0.14:2380,cp-4=https://10.0.1.14:2380",
		Members: []etcd.MemberInfo{{ID: "8e9e05c52164694d", Name: "cp-1", PeerURLs: []string{"https://10.0.0.11:2380"}},
			{ID: "91bc3c398fb3c146", Name: "cp-2", PeerURLs: []string{"https://10.0.0.12:2380"}}}}
	goldenFormats(t, "member-add", func(w io.Writer, f Format) error { return PrintMemberAdded(w, f, learner) })

	voter := *learner
	voter.Learner = false
	goldenTable(t, "member-add-voter", func(w io.Writer, f Format) error { return PrintMemberAdded(w, f, &voter) })
}

func TestAddPlanGolden(t *testing.T) {
	c, pods := cluster() // cp-3 down, one unstarted learner
	c.Members[2].Down = false
	c.Members = c.Members[:3]
	st := etcd.Status(context.Background(), c.Connector(), pods, etcd.StatusOptions{})
	plan, err := etcd.PlanAdd(context.Background(), c.Connector(), pods, etcd.AddOptions{Name: "cp-4", PeerURLs: []string{"https://10.0.0.14:2380"}})
	if err != nil || st.Quorum.HealthyVoters != 3 {
		t.Fatalf("%v %+v", err, st.Quorum)
	}
	goldenFormats(t, "member-add-plan", func(w io.Writer, f Format) error { return PrintAddPlan(w, f, plan) })
	learner, err := etcd.PlanAdd(context.Background(), c.Connector(), pods, etcd.AddOptions{Name: "cp-4", PeerURLs: []string{"https://10.0.0.14:2380"}, Learner: true})
	if err != nil {
		t.Fatal(err)
	}
	goldenTable(t, "member-add-plan-learner", func(w io.Writer, f Format) error { return PrintAddPlan(w, f, learner) })
}

func TestRemovePlanGolden(t *testing.T) {
	c, pods := cluster() // cp-3 down, one unstarted learner
	plan := func(arg string) *etcd.RemovePlan {
		t.Helper()
		st := etcd.Status(context.Background(), c.Connector(), pods, etcd.StatusOptions{})
		m, err := etcd.FindStatusMember(st, arg)
		if err != nil {
			t.Fatal(err)
		}
		return etcd.PlanRemove(st, *m)
	}
	down := plan("cp-3")
	goldenFormats(t, "member-remove", func(w io.Writer, f Format) error { return PrintRemovePlan(w, f, down) })

	learner := plan("a1b2c3d4e5f60718")
	goldenTable(t, "member-remove-learner", func(w io.Writer, f Format) error { return PrintRemovePlan(w, f, learner) })

	// The leader under NOSPACE while cp-3 is down: serving, reads only, and refused.
	c.Members[0].Unhealthy = "Active Alarm(s): NOSPACE "
	leader := plan("cp-1")
	if len(leader.Refusals) == 0 {
		t.Fatal("removing a serving member while another is down is not refused")
	}
	goldenTable(t, "member-remove-refused", func(w io.Writer, f Format) error { return PrintRemovePlan(w, f, leader) })
}

func TestLeaderMoveGolden(t *testing.T) {
	cp1 := &etcd.MemberStatus{Name: "cp-1", ID: "8e9e05c52164694d"}
	cp2 := &etcd.MemberStatus{Name: "cp-2", ID: "91bc3c398fb3c146"}
	var buf bytes.Buffer
	if err := PrintLeaderMove(&buf, cp1, cp2); err != nil {
		t.Fatal(err)
	}
	if err := PrintLeaderMove(&buf, cp2, cp2); err != nil {
		t.Fatal(err)
	}
	golden(t, "results-moveleader.golden", buf.Bytes())
}

func TestDescribeMember(t *testing.T) {
	for _, tc := range []struct {
		m    etcd.MemberStatus
		want string
	}{
		{etcd.MemberStatus{Name: "cp-3", ID: "fd422379fda50e48"}, "member cp-3 (fd422379fda50e48)"},
		{etcd.MemberStatus{ID: "a1b2c3d4e5f60718"}, "unstarted member a1b2c3d4e5f60718"},
	} {
		if got := DescribeMember(tc.m); got != tc.want {
			t.Errorf("DescribeMember(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}
