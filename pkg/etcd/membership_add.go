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
	// Force skips the health check (never the learner limit: etcd enforces that itself).
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

// AddMember adds a member after checking that the cluster is healthy and has room for a learner.
func AddMember(ctx context.Context, conn transport.Connector, pods []discovery.Member, o AddOptions) (*AddResult, error) {
	if err := ValidatePeerURLs(o.PeerURLs); err != nil {
		return nil, err
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	st := Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout})
	if st.Quorum.Voters == 0 {
		return nil, fmt.Errorf("%w: no member answered with the member list; cannot add a member to a cluster it cannot see", ErrRefused)
	}
	if st.Quorum.HealthyVoters < st.Quorum.Voters && !o.Force {
		return nil, fmt.Errorf("%w: the cluster is not healthy (%d of %d voting members healthy); adding a member now can cost quorum — fix the cluster first or pass --force",
			ErrRefused, st.Quorum.HealthyVoters, st.Quorum.Voters)
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
