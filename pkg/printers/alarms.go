package printers

import (
	"fmt"
	"io"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

var alarmHeaders = []string{"MEMBER-ID", "NAME", "POD", "ALARM", "DB", "QUOTA"}

// PrintAlarms renders the active alarms of "alarm list": one row per alarm with the member, its
// database size and quota (wide is the same table), or the list as JSON or YAML. An empty list
// is a table of headers only; the command says "no active alarms" on stderr instead.
func PrintAlarms(w io.Writer, f Format, alarms []etcd.AlarmInfo) error {
	if f.Structured() {
		return PrintStructured(w, f, alarms)
	}
	rows := make([][]string, 0, len(alarms))
	for _, a := range alarms {
		quota := "-"
		if a.Quota > 0 {
			quota = Bytes(a.Quota)
		}
		rows = append(rows, []string{a.MemberID, OrDash(a.Name), OrDash(a.Pod), a.Alarm, Bytes(a.DBSize), quota})
	}
	return PrintTable(w, alarmHeaders, rows)
}

// PrintDisarmed renders what "alarm disarm" disarmed: one "disarmed MEMBER-ID:ALARM" line per
// alarm. It is the same text in every format: the command has no structured form.
func PrintDisarmed(w io.Writer, disarmed []string) error {
	for _, d := range disarmed {
		if _, err := fmt.Fprintf(w, "disarmed %s\n", d); err != nil {
			return err
		}
	}
	return nil
}
