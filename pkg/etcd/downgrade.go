package etcd

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Downgrade actions as the commands name them.
const (
	DowngradeValidate = "validate"
	DowngradeEnable   = "enable"
	DowngradeCancel   = "cancel"
)

// DowngradePlan is what "downgrade" previews and, for enable and cancel, does.
type DowngradePlan struct {
	Action string `json:"action"`
	// Target is the minor version downgraded to ("" for cancel).
	Target string `json:"target,omitempty"`
	// ClusterVersion is the cluster version etcd reported (from validate, or the change).
	ClusterVersion string          `json:"clusterVersion,omitempty"`
	State          string          `json:"state"`
	Members        []MemberVersion `json:"members"`
	// Downgrade is the downgrade state the members report (before the change; after it once
	// Run read it again).
	Downgrade *DowngradeState `json:"downgrade,omitempty"`
	// Refusals say why the action must not run; empty means it may.
	Refusals []Blocker `json:"refusals,omitempty"`
	// Changed is set once etcd accepted enable or cancel.
	Changed bool `json:"changed"`
	// Nothing is set when there is nothing to do (cancel without an enabled downgrade).
	Nothing bool `json:"nothingToDo,omitempty"`
}

// PlanDowngrade checks the action against a status. For validate and enable it applies the
// downgrade rules and, when they pass, asks etcd to validate the target (read-only).
func PlanDowngrade(ctx context.Context, conn transport.Connector, pods []discovery.Member, st *ClusterStatus, action string, target Version, timeout time.Duration) *DowngradePlan {
	p := &DowngradePlan{Action: action, State: string(st.State), Members: MemberVersions(st)}
	if action != DowngradeCancel {
		p.Target = target.MinorString()
	}
	if t, ok := st.DowngradeEnabled(); ok {
		p.Downgrade = &DowngradeState{Enabled: true, TargetVersion: t}
	}
	if st.State != StateHealthy && action != DowngradeCancel {
		p.Refusals = append(p.Refusals, Blocker{Reason: fmt.Sprintf("the cluster is %s: every member must be healthy before a version change", st.State)})
	}
	switch action {
	case DowngradeCancel:
		if p.Downgrade == nil {
			p.Nothing = true
		}
		if !st.Quorum.HasQuorum() {
			p.Refusals = append(p.Refusals, Blocker{Reason: "quorum is lost: etcd cannot apply a cancel"})
		}
		return p
	case DowngradeEnable:
		if p.Downgrade != nil {
			p.Refusals = append(p.Refusals, Blocker{Reason: fmt.Sprintf("a downgrade to %s is already enabled", p.Downgrade.TargetVersion)})
		}
	}
	p.Refusals = append(p.Refusals, CheckDowngrade(p.Members, target).Blockers...)
	if len(p.Refusals) == 0 {
		resp, err := callDowngrade(ctx, conn, pods, clientv3.DowngradeValidate, p.Target, timeout)
		if err != nil {
			p.Refusals = append(p.Refusals, Blocker{Reason: "etcd refuses the target: " + oneLine(err)})
		} else {
			p.ClusterVersion = resp.Version
		}
	}
	return p
}

// Worse names what turned against the plan since before (used after a confirmation).
func (p *DowngradePlan) Worse(before *DowngradePlan) []string {
	var out []string
	if len(p.Refusals) > 0 && len(before.Refusals) == 0 {
		for _, r := range p.Refusals {
			out = append(out, r.Reason)
		}
	}
	if p.Action == DowngradeCancel && p.Nothing && !before.Nothing {
		out = append(out, "the downgrade is no longer enabled")
	}
	return out
}

// ApplyDowngrade runs enable or cancel against a voting member (the leader preferred).
func ApplyDowngrade(ctx context.Context, conn transport.Connector, pods []discovery.Member, p *DowngradePlan, timeout time.Duration) error {
	action := clientv3.DowngradeEnable
	if p.Action == DowngradeCancel {
		action = clientv3.DowngradeCancel
	}
	resp, err := callDowngrade(ctx, conn, pods, action, p.Target, timeout)
	if err != nil {
		if strings.Contains(err.Error(), "etcdserver:") {
			return fmt.Errorf("%w: etcd refuses downgrade %s: %s", ErrRefused, p.Action, oneLine(err))
		}
		return fmt.Errorf("downgrade %s: %w", p.Action, err)
	}
	p.Changed = true
	p.ClusterVersion = resp.Version
	return nil
}

func callDowngrade(ctx context.Context, conn transport.Connector, pods []discovery.Member, action clientv3.DowngradeAction, version string, timeout time.Duration) (*clientv3.DowngradeResponse, error) {
	s, err := voterSession(ctx, conn, pods, 0, timeout)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.Downgrade(cctx, action, version)
}
