package etcd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// HashResult is one member's hash of the keyspace.
type HashResult struct {
	Name            string `json:"name"`
	ID              string `json:"id"`
	Pod             string `json:"pod"`
	Hash            uint32 `json:"hash"`
	HashRevision    int64  `json:"hashRevision"`
	CompactRevision int64  `json:"compactRevision"`
	Error           string `json:"error,omitempty"`
}

// ConsistencyReport is the result of "check consistency".
type ConsistencyReport struct {
	Revision   int64        `json:"revision"`
	Consistent bool         `json:"consistent"`
	Members    []HashResult `json:"members"`
	Problems   []string     `json:"problems,omitempty"`
	// Attempts is how many rounds were asked: a round is asked again when a compaction landed
	// during it (the members' compact revisions differ).
	Attempts int `json:"attempts,omitempty"`
}

// ConsistencyAttempts bounds the rounds of CheckConsistency while the members' compact revisions
// differ; consistencyPause is the pause between two rounds.
const ConsistencyAttempts = 3

var consistencyPause = 200 * time.Millisecond

// CheckConsistency hashes the keyspace at one revision on every voting member, all at once, and
// compares the hashes of members that report the same compact revision: a hash covers the
// revisions between the compact revision and the revision asked, so members compacted at
// different revisions cannot be compared (etcd's own corruption check compares the same way).
// When a compaction landed during a round (kube-apiserver compacts every 5 minutes) the round is
// asked again, at most ConsistencyAttempts times; members that still could not be compared are a
// problem, never an inconsistency. Each member's call gets at least timeout, more for a large
// database (as defrag does): HashKV reads the whole keyspace.
func CheckConsistency(ctx context.Context, conn transport.Connector, pods []discovery.Member, timeout time.Duration) (*ConsistencyReport, error) {
	for attempt := 1; ; attempt++ {
		r, err := hashRound(ctx, conn, pods, timeout)
		if err != nil {
			return nil, err
		}
		r.Attempts = attempt
		if !r.compactionRaced() || attempt >= ConsistencyAttempts {
			r.compare()
			return r, nil
		}
		if err := Sleep(ctx, consistencyPause); err != nil {
			return nil, err
		}
	}
}

// hashRound reads the revision every reachable member has reached (the lowest reported) and asks
// every voting member with a pod, in parallel, for its hash at that revision.
func hashRound(ctx context.Context, conn transport.Connector, pods []discovery.Member, timeout time.Duration) (*ConsistencyReport, error) {
	st := Status(ctx, conn, pods, StatusOptions{Timeout: timeout})
	rev := int64(0)
	for _, m := range st.Members {
		if m.Reachable && m.Revision > 0 && (rev == 0 || m.Revision < rev) {
			rev = m.Revision
		}
	}
	if rev == 0 {
		return nil, fmt.Errorf("%w: no member reported its revision", ErrNoMemberReachable)
	}
	r := &ConsistencyReport{Revision: rev, Consistent: true}
	var asked []MemberStatus
	for _, m := range st.Members {
		if !m.Learner && m.HasPod && m.ID != "" {
			asked = append(asked, m)
		}
	}
	r.Members = make([]HashResult, len(asked))
	var wg sync.WaitGroup
	for i, m := range asked {
		r.Members[i] = HashResult{Name: m.Name, ID: m.ID, Pod: m.Pod}
		pod := memberOf(pods, m.Pod, m.Name)
		if !m.Reachable || pod == nil {
			r.Members[i].Error = "not reachable: " + orUnknown(strings.Join(m.Problems, "; "))
			continue
		}
		wg.Add(1)
		go func(hr *HashResult, size int64) {
			defer wg.Done()
			err := withSession(ctx, conn, pod, hashKVTimeout(size, timeout), func(ctx context.Context, s transport.Session) error {
				h, err := s.HashKV(ctx, rev)
				if err != nil {
					return err
				}
				hr.Hash, hr.HashRevision, hr.CompactRevision = h.Hash, h.HashRevision, h.CompactRevision
				return nil
			})
			if err != nil {
				hr.Error = oneLine(err)
			}
		}(&r.Members[i], m.DBSize)
	}
	wg.Wait()
	return r, nil
}

// hashKVTimeout bounds one member's HashKV: the call timeout, or the time a defrag of a database
// of this size gets when that is longer (both read the whole file).
func hashKVTimeout(size int64, call time.Duration) time.Duration {
	return max(call, defragTimeout(size, 0))
}

// compactionRaced reports whether a compaction landed during the round: the members that
// answered report different compact revisions, or one had compacted past the revision asked.
func (r *ConsistencyReport) compactionRaced() bool {
	seen := map[int64]bool{}
	for _, h := range r.Members {
		if h.Error == "" {
			seen[h.CompactRevision] = true
		} else if strings.Contains(h.Error, "compacted") {
			return true
		}
	}
	return len(seen) > 1
}

// compare records the members that failed, and compares the hashes within each group of members
// at the same compact revision; members alone in their group could not be compared.
func (r *ConsistencyReport) compare() {
	groups := map[int64][]HashResult{}
	for _, h := range r.Members {
		if h.Error != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("%s (%s): %s", h.Name, h.ID, h.Error))
			continue
		}
		groups[h.CompactRevision] = append(groups[h.CompactRevision], h)
	}
	compacts := make([]int64, 0, len(groups))
	for c := range groups {
		compacts = append(compacts, c)
	}
	sort.Slice(compacts, func(i, j int) bool { return compacts[i] < compacts[j] })
	for _, c := range compacts {
		hashes := map[uint32][]string{}
		for _, h := range groups[c] {
			hashes[h.Hash] = append(hashes[h.Hash], h.Name)
		}
		if len(hashes) < 2 {
			continue
		}
		r.Consistent = false
		var parts []string
		for h, names := range hashes {
			parts = append(parts, fmt.Sprintf("%08x: %s", h, strings.Join(names, ",")))
		}
		sort.Strings(parts)
		r.Problems = append(r.Problems, fmt.Sprintf("hashes differ at revision %d (compact revision %d): %s", r.Revision, c, strings.Join(parts, "; ")))
	}
	if len(compacts) > 1 {
		var parts []string
		for _, c := range compacts {
			var names []string
			for _, h := range groups[c] {
				names = append(names, h.Name)
			}
			parts = append(parts, fmt.Sprintf("%d: %s", c, strings.Join(names, ",")))
		}
		r.Problems = append(r.Problems, fmt.Sprintf("members compacted at different revisions (%s) after %d attempts: only members at the same compact revision were compared; run the check again",
			strings.Join(parts, "; "), r.Attempts))
	}
}

// memberOf returns the discovered member a row names by pod and member name (nil: none).
func memberOf(pods []discovery.Member, pod, name string) *discovery.Member {
	for i := range pods {
		if pods[i].Is(pod, name) {
			return &pods[i]
		}
	}
	return nil
}
