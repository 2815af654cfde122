package etcd

import (
	"context"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// The member list comes from the first pod, in discovery order, that answers: a quicker member
// later in the order never wins, so "from" (and every golden output built on it) is the same from
// one run to the next. Here the first pod answers only once the second pod's session is closed,
// that is after the second pod's answer is in.
func TestFetchMemberListPrefersTheFirstPod(t *testing.T) {
	c := threeMembers()
	secondDone := make(chan struct{})
	c.BeforeCall = func(_ *fake.Cluster, pod, op string) {
		if pod == "etcd-cp-1" && op == "member list" {
			<-secondDone
		}
	}
	conn := &closeNotifier{Connector: c.Connector(), pod: "etcd-cp-2", closed: secondDone}
	_, from, err := FetchMemberList(context.Background(), conn, pods("cp-1", "cp-2"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if from.Pod != "etcd-cp-1" {
		t.Fatalf("member list from %s, want etcd-cp-1 (the first pod, in order, that answers)", from.Pod)
	}
}

// closeNotifier closes a channel when the session of one pod is closed.
type closeNotifier struct {
	transport.Connector
	pod    string
	closed chan struct{}
}

func (n *closeNotifier) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	s, err := n.Connector.Connect(ctx, m)
	if err != nil || m.Pod != n.pod {
		return s, err
	}
	return &notifyingSession{Session: s, closed: n.closed}, nil
}

type notifyingSession struct {
	transport.Session
	closed chan struct{}
}

func (s *notifyingSession) Close() error {
	err := s.Session.Close()
	close(s.closed)
	return err
}

// A pod before it that cannot answer is passed over.
func TestFetchMemberListSkipsAFailedPod(t *testing.T) {
	c := threeMembers()
	c.Find(id1).Down = true
	_, from, err := FetchMemberList(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if from.Pod != "etcd-cp-2" {
		t.Fatalf("member list from %s, want etcd-cp-2", from.Pod)
	}
}
