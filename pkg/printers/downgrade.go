package printers

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// PrintDowngradePlan renders a downgrade plan, as previewed or as done: the action, the
// members' versions, the cluster version, the downgrade state and the verdict (or the refusals),
// one "Key: value" line each (wide is the same text); JSON and YAML give the plan.
func PrintDowngradePlan(w io.Writer, f Format, p *etcd.DowngradePlan) error {
	if f.Structured() {
		return PrintStructured(w, f, p)
	}
	vs := make([]string, 0, len(p.Members))
	for _, m := range p.Members {
		vs = append(vs, fmt.Sprintf("%s %s", m.Who(), OrDash(m.Version)))
	}
	fmt.Fprintf(w, "Action:    downgrade %s %s\n", p.Action, p.Target)
	fmt.Fprintf(w, "Cluster:   %s; members: %s\n", p.State, strings.Join(vs, ", "))
	if p.ClusterVersion != "" {
		fmt.Fprintf(w, "Version:   cluster version %s (as etcd reports it)\n", p.ClusterVersion)
	}
	state := "not enabled"
	if p.Downgrade != nil && p.Downgrade.Enabled {
		state = "enabled, target " + p.Downgrade.TargetVersion
	}
	fmt.Fprintf(w, "Downgrade: %s\n", state)
	var err error
	switch {
	case len(p.Refusals) > 0:
		for _, r := range p.Refusals {
			if r.Member != "" {
				_, err = fmt.Fprintf(w, "Refused:   %s: %s\n", r.Member, r.Reason)
			} else {
				_, err = fmt.Fprintf(w, "Refused:   %s\n", r.Reason)
			}
		}
	case p.Changed:
		_, err = fmt.Fprintln(w, "Verdict:   done")
	case p.Nothing:
		_, err = fmt.Fprintln(w, "Verdict:   nothing to do")
	default:
		_, err = fmt.Fprintln(w, "Verdict:   valid")
	}
	return err
}
