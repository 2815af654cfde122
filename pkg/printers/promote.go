package printers

import (
	"fmt"
	"io"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// PromoteResult is what "promote -o json" prints.
type PromoteResult struct {
	Promoted []etcd.PromoteOutcome `json:"promoted"`
	State    etcd.ClusterState     `json:"state"`
	Members  *etcd.MemberList      `json:"members,omitempty"`
}

// PrintPromoteResult prints the result of "promote": the whole result for json and yaml, the
// member table otherwise.
func PrintPromoteResult(w io.Writer, f Format, r *PromoteResult) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	return PrintMemberList(w, f, r.Members)
}

// PrintPromoteOutcome prints the line that says what happened to one learner (table and wide
// output only; json and yaml carry it in PromoteResult).
func PrintPromoteOutcome(w io.Writer, out etcd.PromoteOutcome) error {
	_, err := fmt.Fprintf(w, "member %s (%s): %s in %s\n", orID(out.Name, out.ID), out.ID, out.Outcome, out.Took)
	return err
}

// ShowPromoteProgress shows one observation of a learner catching up on bar.
func ShowPromoteProgress(bar *Progress, p etcd.PromoteProgress) {
	note := ""
	if p.ETA > 0 {
		note = "ETA " + p.ETA.String()
	}
	if p.Waiting != "" {
		note += " " + p.Waiting
	}
	bar.Update(fmt.Sprintf("learner %s (%s) raft index", orID(p.Name, p.ID), p.ID), p.LearnerIndex, p.LeaderIndex, note)
}

// PrintNoLearners says that "promote" without MEMBER found nothing to do.
func PrintNoLearners(w io.Writer) error {
	_, err := fmt.Fprintln(w, "no learners to promote: every member already votes")
	return err
}

// PrintStatusErrors prints one "error: " line per member problem of st.
func PrintStatusErrors(w io.Writer, st *etcd.ClusterStatus) error {
	for _, e := range st.Errors() {
		if _, err := fmt.Fprintf(w, "error: %s\n", e); err != nil {
			return err
		}
	}
	return nil
}

// PromoteNotHealthy is the message of the error "promote" exits with when the cluster is not
// healthy after a promotion.
func PromoteNotHealthy(st *etcd.ClusterStatus) string {
	return "promoted, but the cluster is not healthy yet: " + StatusSummary(st)
}

func orID(name, id string) string {
	if name == "" {
		return id
	}
	return name
}
