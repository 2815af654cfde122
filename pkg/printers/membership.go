package printers

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// PrintMemberAdded renders the result of "member add": the member added, the settings it must
// start with, and the next steps (wide is the same text); JSON and YAML give the result.
func PrintMemberAdded(w io.Writer, f Format, res *etcd.AddResult) error {
	if f.Structured() {
		return PrintStructured(w, f, res)
	}
	kind := "member"
	if res.Learner {
		kind = "learner"
	}
	fmt.Fprintf(w, "Added %s %s (%s) to cluster %s\n\n", kind, res.Name, res.ID, res.ClusterID)
	fmt.Fprintf(w, "ETCD_NAME=%q\nETCD_INITIAL_CLUSTER=%q\nETCD_INITIAL_ADVERTISE_PEER_URLS=%q\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n\n",
		res.Name, res.InitialCluster, strings.Join(res.PeerURLs, ","))
	fmt.Fprintf(w, "Next: start etcd on the new node with --name=%s --initial-cluster=%s --initial-cluster-state=existing\n",
		res.Name, res.InitialCluster)
	_, err := fmt.Fprintln(w, "(on kubeadm: in /etc/kubernetes/manifests/etcd.yaml, with an empty /var/lib/etcd),")
	if res.Learner {
		_, err = fmt.Fprintf(w, "then, once it runs: kubectl etcd promote %s\n", res.Name)
	}
	return err
}

// PrintRemovePlan renders the preview of "member remove": the member, its pod and state, the
// quorum before and after (unchanged for a learner) and the verdict (wide is the same text);
// JSON and YAML give the plan. Its warnings are not printed here (the command prints them to
// stderr).
func PrintRemovePlan(w io.Writer, f Format, p *etcd.RemovePlan) error {
	if f.Structured() {
		return PrintStructured(w, f, p)
	}
	m := p.Member
	health := "not serving"
	switch {
	case m.Healthy && m.Serving():
		health = "healthy"
	case m.Serving():
		health = "serving (NOSPACE alarm: reads only)"
	}
	role := "voter"
	if p.Learner {
		role = "learner"
	}
	leader := ""
	if m.Leader {
		leader = " (leader)"
	}
	fmt.Fprintf(w, "Member:   %s\n", DescribeMember(m))
	fmt.Fprintf(w, "Pod:      %s (node %s)\n", OrDash(m.Pod), OrDash(m.Node))
	fmt.Fprintf(w, "State:    %s %s%s\n", health, role, leader)
	printQuorumChange(w, p.Learner, p.Before, p.After)
	return printVerdict(w, "safe to remove", p.Refusals)
}

// PrintAddPlan renders the preview of "member add": the new member, the quorum before and after
// (the new voter counted as not serving until it runs; unchanged for a learner) and the verdict;
// JSON and YAML give the plan. Its warnings are not printed here (the command prints them to
// stderr).
func PrintAddPlan(w io.Writer, f Format, p *etcd.AddPlan) error {
	if f.Structured() {
		return PrintStructured(w, f, p)
	}
	role := "voter"
	if p.Learner {
		role = "learner"
	}
	fmt.Fprintf(w, "Member:   new %s %s\n", role, p.Name)
	fmt.Fprintf(w, "Peers:    %s\n", strings.Join(p.PeerURLs, ","))
	printQuorumChange(w, p.Learner, p.Before, p.After)
	return printVerdict(w, "safe to add", p.Refusals)
}

// printQuorumChange writes the quorum lines of a membership plan.
func printQuorumChange(w io.Writer, learner bool, before, after etcd.Quorum) {
	if learner {
		fmt.Fprintln(w, "Quorum:   unchanged (learners do not vote)")
		return
	}
	fmt.Fprintf(w, "Quorum:   before: %d voters (%d serving), quorum %d, can lose %d more\n",
		before.Voters, before.HealthyVoters, before.Needed, max(before.FailuresLeft, 0))
	fmt.Fprintf(w, "          after:  %d voters (%d serving), quorum %d, can lose %d more\n",
		after.Voters, after.HealthyVoters, after.Needed, max(after.FailuresLeft, 0))
}

// printVerdict writes the verdict line of a membership plan.
func printVerdict(w io.Writer, safe string, refusals []string) error {
	if len(refusals) == 0 {
		_, err := fmt.Fprintf(w, "Verdict:  %s\n", safe)
		return err
	}
	_, err := fmt.Fprintf(w, "Verdict:  needs --force: %s\n", strings.Join(refusals, "; "))
	return err
}

// DescribeMember names a member as the membership commands write it in their output, prompts
// and errors: "member NAME (ID)", or "unstarted member ID" for one that never started.
func DescribeMember(m etcd.MemberStatus) string {
	if m.Name == "" {
		return fmt.Sprintf("unstarted member %s", m.ID)
	}
	return fmt.Sprintf("member %s (%s)", m.Name, m.ID)
}
