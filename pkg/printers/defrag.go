package printers

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

var defragHeaders = []string{"ORDER", "MEMBER", "ID", "POD", "LEADER", "DB", "IN-USE", "FRAG", "RECLAIM", "ACTION"}

// PrintDefragReport renders a defrag plan and, unless it was a dry run, what was done: the
// members in order with the action taken on each (after a run also the size after and the time
// taken), the members skipped, and the space reclaimed and the alarms disarmed. Wide is the same
// table; JSON and YAML give the whole report.
func PrintDefragReport(w io.Writer, f Format, r *etcd.DefragReport) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	headers := defragHeaders
	if !r.DryRun {
		headers = append(append([]string{}, defragHeaders...), "AFTER", "TOOK")
	}
	rows := make([][]string, 0, len(r.Order))
	for i, t := range r.Order {
		row := []string{fmt.Sprint(i + 1), t.Name, t.ID, t.Pod, Bool(t.Leader), Bytes(t.DBSize),
			Bytes(t.DBSizeInUse), fmt.Sprintf("%.0f%%", t.FragmentationPct), Bytes(t.ExpectedReclaim), defragAction(t, r.DryRun)}
		if !r.DryRun {
			after := "-"
			if t.Done {
				after = Bytes(t.SizeAfter)
			}
			row = append(row, after, OrDash(t.Took))
		}
		rows = append(rows, row)
	}
	if err := PrintTable(w, headers, rows); err != nil {
		return err
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	if r.DryRun {
		return nil
	}
	line := "reclaimed " + Bytes(r.Reclaimed)
	if len(r.Disarmed) > 0 {
		line += "; disarmed " + strings.Join(r.Disarmed, ", ")
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// defragAction is the ACTION cell: what the plan does with a member, or what the run did.
func defragAction(t etcd.DefragTarget, dryRun bool) string {
	action := "skip: " + t.Reason
	if t.Needed {
		action = "defrag (" + t.Reason + ")"
		switch {
		case t.Done:
			action = "done"
		case t.Started && t.Error != "":
			action = "FAILED"
		case t.Error != "":
			action = "not touched (stopped here)"
		case !dryRun:
			action = "not touched"
		}
	}
	if t.LeaderMove != "" {
		action += ", leadership moved to " + t.LeaderMove
	}
	return action
}
