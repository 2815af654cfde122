package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// AddOptions describe a new member.
type AddOptions struct {
	Name     string
	PeerURLs []string
	Learner  bool
	// Force overrides the plan's refusals (health, quorum, fault tolerance), never the learner
	// limit (etcd enforces that itself) nor a name or peer URL already in use.
	Force       bool
	CallTimeout time.Duration
}

// AddResult is the result of "member add", with the settings the new member must start with.
type AddResult struct {
	ClusterID      string       `json:"clusterID"`
	ID             string       `json:"id"`
	Name           string       `json:"name"`
	Learner        bool         `json:"learner"`
	PeerURLs       []string     `json:"peerURLs"`
	InitialCluster string       `json:"initialCluster"`
	Members        []MemberInfo `json:"members"`
}

// ValidatePeerURLs checks that every URL is an absolute http(s) URL with a port.
func ValidatePeerURLs(urls []string) error {
	if len(urls) == 0 {
		return errors.New("member peer urls not provided (--peer-urls)")
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
			return fmt.Errorf("invalid peer URL %q: want http(s)://HOST:PORT, e.g. https://10.0.0.14:2380", raw)
		}
	}
	return nil
}

// ValidateMemberName checks a new member's name: not blank, and without "," or "=", which
// separate the entries and the name from the URL in ETCD_INITIAL_CLUSTER ("NAME=URL,..."): such a
// name would give the new member a cluster list it cannot parse.
func ValidateMemberName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("member name must not be empty")
	}
	if i := strings.IndexAny(name, ",="); i >= 0 {
		return fmt.Errorf("member name %q must not contain %q: it would break ETCD_INITIAL_CLUSTER (NAME=URL,...); choose another name, e.g. the node name", name, name[i:i+1])
	}
	return nil
}

// AddPlan is the preview of "member add": the new member and the quorum before and after. A new
// voter counts from the moment it is added, but serves only once it has started and caught up:
// until then it is counted as not serving, as "member remove" counts a member that is down.
type AddPlan struct {
	Name     string   `json:"name"`
	PeerURLs []string `json:"peerURLs"`
	Learner  bool     `json:"learner"`
	Before   Quorum   `json:"before"`
	After    Quorum   `json:"after"`
	// Refusals are the reasons the addition needs --force; empty means it is safe.
	Refusals []string `json:"refusals,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// PlanAdd reads the cluster and plans the addition. Errors are refusals that --force does not
// override (a name or peer URL already in use, the learner limit, no member list); the plan's
// Refusals are those it does: a cluster that is not healthy, and for a voter a loss of quorum or
// of fault tolerance until the new member serves.
func PlanAdd(ctx context.Context, conn transport.Connector, pods []discovery.Member, o AddOptions) (*AddPlan, error) {
	if err := ValidateMemberName(o.Name); err != nil {
		return nil, err
	}
	if err := ValidatePeerURLs(o.PeerURLs); err != nil {
		return nil, err
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	st := Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout, ProbeHealth: true})
	if st.Quorum.Voters == 0 {
		return nil, fmt.Errorf("%w: no member answered with the member list; cannot add a member to a cluster it cannot see", ErrRefused)
	}
	maxLearners := 1
	for _, p := range pods {
		if p.MaxLearners > maxLearners {
			maxLearners = p.MaxLearners
		}
	}
	var learners []string
	for _, m := range st.Members {
		if m.Name == o.Name && o.Name != "" {
			return nil, fmt.Errorf("%w: a member named %q already exists (%s)", ErrRefused, o.Name, m.ID)
		}
		if overlaps(m.PeerURLs, o.PeerURLs) {
			return nil, fmt.Errorf("%w: peer URL %s already belongs to member %s (%s)", ErrRefused, strings.Join(o.PeerURLs, ","), nameOrUnstarted(m.Name), m.ID)
		}
		if m.Learner && m.ID != "" {
			learners = append(learners, fmt.Sprintf("%s (%s)", nameOrUnstarted(m.Name), m.ID))
		}
	}
	if o.Learner && len(learners) >= maxLearners {
		return nil, fmt.Errorf("%w: too many learners: %s already a learner and the cluster allows %d (etcd --max-learners); promote or remove it first",
			ErrRefused, strings.Join(learners, ", "), maxLearners)
	}
	return planAdd(st.Quorum, o), nil
}

// planAdd is the quorum arithmetic of PlanAdd: the new voter is one more voter that does not
// serve yet; a learner leaves the quorum as it is.
func planAdd(before Quorum, o AddOptions) *AddPlan {
	p := &AddPlan{Name: o.Name, PeerURLs: o.PeerURLs, Learner: o.Learner, Before: before, After: before}
	if before.HealthyVoters < before.Voters {
		p.Refusals = append(p.Refusals, fmt.Sprintf("the cluster is not healthy (%d of %d voting members healthy); adding a member now can cost quorum, fix the cluster first",
			before.HealthyVoters, before.Voters))
	}
	if o.Learner {
		p.After.Learners++
		return p
	}
	p.After = NewQuorum(before.Voters+1, before.HealthyVoters, before.Learners)
	switch {
	case !p.After.HasQuorum():
		p.Refusals = append(p.Refusals, fmt.Sprintf("the cluster would lose quorum until %s runs: %d serving of %d voters, %d needed; a wrong peer URL would leave it so (recovery then needs --force-new-cluster)",
			o.Name, p.After.HealthyVoters, p.After.Voters, p.After.Needed))
	case p.After.FailuresLeft < p.Before.FailuresLeft:
		p.Refusals = append(p.Refusals, fmt.Sprintf("the cluster could lose %d more member(s) now and only %d until %s has started and caught up",
			p.Before.FailuresLeft, p.After.FailuresLeft, o.Name))
	}
	p.Warnings = append(p.Warnings, fmt.Sprintf("a voting member changes the quorum at once: %s counts as not serving until it has started and caught up (a learner, the default, would not change the quorum)", o.Name))
	if p.After.Voters%2 == 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d voting members: an even count tolerates no more failures than %d; etcd recommends 3 or 5",
			p.After.Voters, p.After.Voters-1))
	}
	return p
}

// Worse compares the plan made again right before the addition with the plan the operator saw
// and confirmed; it returns what changed for the worse, one line each.
func (p *AddPlan) Worse(confirmed *AddPlan) []string {
	return worseQuorum("addition", p.Before, p.After, p.Refusals, confirmed.Before, confirmed.After, confirmed.Refusals)
}

// AddMember plans the addition (PlanAdd), refuses it unless the plan is safe or o.Force is set,
// and makes it (ApplyAdd).
func AddMember(ctx context.Context, conn transport.Connector, pods []discovery.Member, o AddOptions) (*AddResult, error) {
	p, err := PlanAdd(ctx, conn, pods, o)
	if err != nil {
		return nil, err
	}
	if len(p.Refusals) > 0 && !o.Force {
		return nil, fmt.Errorf("%w: adding %s: %s; pass --force to add it anyway", ErrRefused, o.Name, strings.Join(p.Refusals, "; "))
	}
	return ApplyAdd(ctx, conn, pods, o)
}

// ApplyAdd adds the member through a voter (the leader first), without checks of its own: the
// caller planned the addition with PlanAdd. It returns the settings the new member must start with.
func ApplyAdd(ctx context.Context, conn transport.Connector, pods []discovery.Member, o AddOptions) (*AddResult, error) {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	s, err := voterSession(ctx, conn, pods, 0, o.CallTimeout)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var resp *clientv3.MemberAddResponse
	err = retryUnhealthy(ctx, 15*time.Second, func() error {
		cctx, cancel := context.WithTimeout(ctx, o.CallTimeout)
		defer cancel()
		var err error
		resp, err = s.MemberAdd(cctx, o.Name, o.PeerURLs, o.Learner)
		return err
	})
	switch {
	case errHas(err, msgTooManyLearners):
		return nil, fmt.Errorf("%w: too many learners: etcd refuses another learner (%s); promote or remove the existing one first", ErrRefused, oneLine(err))
	case errHas(err, msgPeerURLExists):
		return nil, fmt.Errorf("%w: %s", ErrRefused, oneLine(err))
	case errHas(err, msgUnhealthy):
		return nil, fmt.Errorf("%w: etcd refuses the change: %s (a member that started within the last few seconds makes etcd wait; retry shortly)", ErrRefused, oneLine(err))
	case err != nil:
		return nil, fmt.Errorf("member add: %w", err)
	}
	res := &AddResult{Name: o.Name, Learner: o.Learner, PeerURLs: o.PeerURLs}
	if resp.Header != nil {
		res.ClusterID = FormatID(resp.Header.ClusterId)
	}
	if resp.Member != nil {
		res.ID = FormatID(resp.Member.ID)
	}
	var ic []string
	for _, m := range resp.Members {
		name := m.Name
		if resp.Member != nil && m.ID == resp.Member.ID {
			name = o.Name
		}
		if name == "" {
			continue // a member that never started has no name to list
		}
		for _, u := range m.PeerURLs {
			ic = append(ic, name+"="+u)
		}
	}
	res.InitialCluster = strings.Join(ic, ",")
	res.Members = JoinMembers(&clientv3.MemberListResponse{Header: resp.Header, Members: resp.Members}, pods, string(conn.Mode()), "").Members
	return res, nil
}
