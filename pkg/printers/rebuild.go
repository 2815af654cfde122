package printers

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/rebuild"
)

// PrintRebuildPlan renders the preview of "member rebuild": the member, why it may need it, the
// quorum while it is out, the numbered steps with their paths on the node, and the verdict.
func PrintRebuildPlan(w io.Writer, f Format, p *rebuild.Plan) error {
	if f.Structured() {
		return PrintStructured(w, f, p)
	}
	m := p.Member
	id := m.ID
	if id == "" {
		id = "not in the member list"
	}
	fmt.Fprintf(w, "Member:   %s (%s), node %s, pod %s\n", OrDash(m.Name), id, OrDash(m.Node), OrDash(m.Pod))
	fmt.Fprintf(w, "State:    %s\n", p.State)
	d := p.During
	fmt.Fprintf(w, "Quorum:   during the rebuild: %d of %d voters serving, quorum %d, can lose %d more\n",
		d.HealthyVoters, d.Voters, d.Needed, max(d.FailuresLeft, 0))
	if p.Layout.DataDir != "" {
		for i, s := range p.Steps() {
			label := "Steps:"
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(w, "%-9s %d. %s\n", label, i+1, s)
		}
	}
	if len(p.Blocked) > 0 {
		_, err := fmt.Fprintf(w, "Verdict:  refused: %s\n", strings.Join(p.Blocked, "; "))
		return err
	}
	return printVerdict(w, "safe to rebuild", p.Refusals)
}

// PrintRebuildResult says what a finished rebuild did.
func PrintRebuildResult(w io.Writer, f Format, r *rebuild.Result) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	fmt.Fprintf(w, "Rebuilt member %s on node %s: new member ID %s (was %s), %s in %s.\n", r.Name, r.Node, r.NewID, OrDash(r.OldID), r.Outcome, r.Took)
	fmt.Fprintf(w, "The original manifest is in place again; a copy is kept at %s.\n", r.KeptManifest)
	if r.OldData != "" {
		fmt.Fprintf(w, "The old data is kept at %s/member; delete it once satisfied: rm -rf %s (on node %s).\n", r.OldData, r.OldData, r.Node)
	}
	return nil
}
