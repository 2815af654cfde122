package member

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// add runs "member add cp-4 --peer-urls=https://10.0.0.14:2380" with the options set sets, and
// confirm standing in for the operator (nil: cmdutil.Confirm on a standard input that is not a
// terminal). It returns stdout, stderr and the exit code.
func add(t *testing.T, objs []runtime.Object, c *fakeetcd.Cluster, set func(o *AddOptions), confirm func(string) error) (string, string, int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdtest.Globals(t, objs, c, "kubectl etcd member add")
	o := &AddOptions{GlobalOptions: g, IOStreams: streams, Name: "cp-4", PeerURLs: []string{"https://10.0.0.14:2380"},
		Learner: true, confirm: confirm, cmdPath: "kubectl etcd member add"}
	set(o)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	if err != nil {
		errOut.WriteString(cmdutil.Message(err) + "\n")
	}
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

func added(c *fakeetcd.Cluster) bool { return cmdtest.Called(c, "member add") }

func voter(o *AddOptions) { o.Learner = false }

func neverAsked(t *testing.T) func(string) error {
	return func(q string) error { t.Errorf("asked %q", q); return errors.New("asked") }
}

// oneMember keeps only cp-1 and its pod.
func oneMember(t *testing.T) ([]runtime.Object, *fakeetcd.Cluster) {
	objs, c := cluster(t)
	c.Members = c.Members[:1]
	return objs[:1], c
}

// Issue 21 item 2: a voter added to a one-member cluster makes two voters with one running:
// quorum is lost at once. Refused without --force, with the quorum before and after.
func TestAddVoterToOneMemberRefused(t *testing.T) {
	objs, c := oneMember(t)
	_, errOut, code := add(t, objs, c, func(o *AddOptions) { voter(o); o.Yes = true }, neverAsked(t))
	if code != cmdutil.ExitRefused || !strings.Contains(errOut, "the cluster would lose quorum until cp-4 runs: 1 serving of 2 voters, 2 needed") ||
		!strings.Contains(errOut, "pass --force to add it anyway") {
		t.Errorf("code %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "before: 1 voters (1 serving), quorum 1, can lose 0 more") || !strings.Contains(errOut, "after:  2 voters (1 serving), quorum 2, can lose 0 more") {
		t.Errorf("plan:\n%s", errOut)
	}
	if added(c) {
		t.Error("the member was added")
	}
}

// Three to four voters: fault tolerance drops from 1 to 0 until the new member runs.
func TestAddVoterToThreeRefusedThenForced(t *testing.T) {
	objs, c := cluster(t)
	_, errOut, code := add(t, objs, c, func(o *AddOptions) { voter(o); o.Yes = true }, neverAsked(t))
	if code != cmdutil.ExitRefused || !strings.Contains(errOut, "the cluster could lose 1 more member(s) now and only 0 until cp-4 has started and caught up") || added(c) {
		t.Fatalf("code %d added %v\n%s", code, added(c), errOut)
	}
	// --dry-run --force prints the plan on stdout and changes nothing.
	out, errOut, code := add(t, objs, c, func(o *AddOptions) { voter(o); o.Force, o.DryRun = true, true }, neverAsked(t))
	if code != 0 || !strings.Contains(out, "Member:   new voter cp-4") || !strings.Contains(out, "Verdict:  needs --force") ||
		!strings.Contains(errOut, "dry run: nothing was changed") || added(c) {
		t.Fatalf("dry run: code %d added %v\n%s\n%s", code, added(c), out, errOut)
	}
	// --force --yes adds it, with the even-count warning.
	out, errOut, code = add(t, objs, c, func(o *AddOptions) { voter(o); o.Force, o.Yes = true, true }, neverAsked(t))
	if code != 0 || !added(c) || !strings.Contains(out, "Added member cp-4") || !strings.Contains(errOut, "warning: 4 voting members: an even count") {
		t.Errorf("--force --yes: code %d added %v\n%s\n%s", code, added(c), out, errOut)
	}
}

// Without --yes the operator is asked, and a standard input that is not a terminal refuses.
func TestAddVoterNeedsTerminalOrYes(t *testing.T) {
	objs, c := oneMember(t)
	_, errOut, code := add(t, objs, c, func(o *AddOptions) { voter(o); o.Force = true }, nil)
	if code != cmdutil.ExitRefused || !strings.Contains(errOut, "standard input is not a terminal; pass --yes") || added(c) {
		t.Errorf("code %d added %v\n%s", code, added(c), errOut)
	}
}

// Two healthy voters to three keeps the failures the cluster survives (none): safe, asked once.
func TestAddVoterToTwoAsksAndAdds(t *testing.T) {
	objs, c := cluster(t)
	c.Members = c.Members[:2]
	asked := ""
	_, errOut, code := add(t, objs[:2], c, voter, func(q string) error { asked = q; return nil })
	if code != 0 || !added(c) || asked != "Add cp-4 as a voting member?" || !strings.Contains(errOut, "Verdict:  safe to add") {
		t.Errorf("code %d added %v asked %q\n%s", code, added(c), asked, errOut)
	}
}

// The plan is made again after the prompt: a member that failed meanwhile stops the addition.
func TestAddVoterRechecksAfterPrompt(t *testing.T) {
	objs, c := cluster(t)
	c.Members = c.Members[:2]
	_, errOut, code := add(t, objs[:2], c, voter, func(string) error {
		c.Lock()
		c.Members[1].Down = true
		c.Unlock()
		return nil
	})
	if code != cmdutil.ExitRefused || !strings.Contains(errOut, "the cluster changed while waiting for the confirmation: serving voters: 1, was 2") || added(c) {
		t.Errorf("code %d added %v\n%s", code, added(c), errOut)
	}
}

// A learner does not change the quorum: added as before, without a preview or a question.
func TestAddLearnerNotAsked(t *testing.T) {
	objs, c := oneMember(t)
	out, errOut, code := add(t, objs, c, func(*AddOptions) {}, neverAsked(t))
	if code != 0 || !added(c) || !strings.HasPrefix(out, "Added learner cp-4") || strings.Contains(errOut, "Quorum:") {
		t.Errorf("code %d added %v\n%s\n%s", code, added(c), out, errOut)
	}
	// An unhealthy cluster still refuses a learner without --force.
	objs, c = cluster(t)
	c.Members[2].Down = true
	_, errOut, code = add(t, objs, c, func(*AddOptions) {}, neverAsked(t))
	if code != cmdutil.ExitRefused || !strings.Contains(errOut, "the cluster is not healthy (2 of 3 voting members healthy)") || added(c) {
		t.Errorf("unhealthy: code %d\n%s", code, errOut)
	}
}
