package portforward

import (
	"context"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
)

// endingForwarder opens forwards that end when closed, and counts them.
type endingForwarder struct{ opened int }

func (e *endingForwarder) Forward(_ context.Context, _, pod string, port int) (*Forward, error) {
	e.opened++
	var f *Forward
	f = NewForward(pod, port, 0, func() { f.Finish(nil) })
	return f, nil
}

// ReleaseExcept stops the forwards to every other member (their SPDY connections go with
// them) and keeps the chosen member's, which the next session reuses.
func TestConnectorReleaseExcept(t *testing.T) {
	fw := &endingForwarder{}
	c := &Connector{Forwarder: fw}
	ctx := context.Background()
	members := []*discovery.Member{
		{Namespace: "kube-system", Pod: "etcd-cp-1"}, {Namespace: "kube-system", Pod: "etcd-cp-2"}, {Namespace: "kube-system", Pod: "etcd-cp-3"},
	}
	var fs []*Forward
	for _, m := range members {
		f, err := c.forward(ctx, m, 2379)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	c.ReleaseExcept(members[1])
	if fs[0].Alive() || fs[2].Alive() || !fs[1].Alive() {
		t.Fatalf("alive after release: cp-1 %v, cp-2 %v, cp-3 %v; want only cp-2", fs[0].Alive(), fs[1].Alive(), fs[2].Alive())
	}
	if f, _ := c.forward(ctx, members[1], 2379); f != fs[1] || fw.opened != 3 {
		t.Errorf("the kept forward was not reused (%d opened)", fw.opened)
	}
	if f, _ := c.forward(ctx, members[0], 2379); f == fs[0] || !f.Alive() || fw.opened != 4 {
		t.Errorf("a released member's forward was not reopened (%d opened)", fw.opened)
	}
	_ = c.Close()
}
