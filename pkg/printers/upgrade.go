package printers

import (
	"fmt"
	"io"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

var upgradeHeaders = []string{"POD", "NODE", "MEMBER", "ROLE", "VERSION", "STORAGE", "IMAGE"}

// PrintUpgradeReport renders an upgrade-check: the members, the verdict with its reasons, and the
// plan. Wide adds member IDs and the downgrade state.
func PrintUpgradeReport(w io.Writer, f Format, r *etcd.UpgradeReport) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	headers := upgradeHeaders
	if f == Wide {
		headers = append(append([]string{}, upgradeHeaders...), "ID", "DOWNGRADE")
	}
	downgrade := "-"
	if r.Downgrade != nil && r.Downgrade.Enabled {
		downgrade = "enabled:" + r.Downgrade.TargetVersion
	}
	var rows [][]string
	for _, m := range r.Members {
		role := "follower"
		switch {
		case m.Leader:
			role = "leader"
		case m.Learner:
			role = "learner"
		}
		row := []string{OrDash(m.Pod), OrDash(m.Node), OrDash(m.Name), role, OrDash(m.Version), OrDash(m.StorageVersion), OrDash(m.Image)}
		if f == Wide {
			row = append(row, OrDash(m.ID), downgrade)
		}
		rows = append(rows, row)
	}
	if err := PrintTable(w, headers, rows); err != nil {
		return err
	}
	verdict := "safe"
	if !r.Safe {
		verdict = "NOT safe"
	}
	fmt.Fprintf(w, "\nTarget %s: %s (cluster %s, lowest member %s, storage version %s)\n", r.Target, verdict, r.State, OrDash(r.Lowest), OrDash(r.StorageVersion))
	for _, b := range r.Blockers {
		if b.Member != "" {
			fmt.Fprintf(w, "  blocked: %s: %s\n", b.Member, b.Reason)
		} else {
			fmt.Fprintf(w, "  blocked: %s\n", b.Reason)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if len(r.Plan) == 0 {
		_, err := fmt.Fprintf(w, "Plan: nothing to do, every member runs %s\n", r.Target)
		return err
	}
	fmt.Fprintln(w, "Plan: one member at a time, followers first, the leader last; after each member wait until")
	fmt.Fprintln(w, "'kubectl etcd status' exits 0 (every member healthy) before the next:")
	for _, s := range r.Plan {
		where := ""
		if s.Node != "" {
			where = " on node " + s.Node
		}
		leader := ""
		if s.Leader {
			leader = " (leader)"
		}
		fmt.Fprintf(w, "  %d. %s%s%s: %s -> %s\n", s.Step, s.Member, where, leader, s.From, s.To)
	}
	return nil
}
