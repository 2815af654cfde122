package printers

import (
	"fmt"
	"io"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// PrintLeaderMove renders the result of "move-leader": where leadership went, or that the
// member asked for already leads (from and to are the same member). It is the same line in every
// format: the command has no structured form.
func PrintLeaderMove(w io.Writer, from, to *etcd.MemberStatus) error {
	if from.ID == to.ID {
		_, err := fmt.Fprintf(w, "%s (%s) is already the leader\n", to.Name, to.ID)
		return err
	}
	_, err := fmt.Fprintf(w, "leadership moved from %s (%s) to %s (%s)\n", from.Name, from.ID, to.Name, to.ID)
	return err
}
