package etcd

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveRef(t *testing.T) {
	refs := []memberRef{
		{ID: 0x8e9e05c52164694d, Name: "cp-1", Pod: "etcd-cp-1", Node: "cp-1", IDHex: "8e9e05c52164694d"},
		{ID: 0x91bc3c398fb3c146, Name: "cp-2", Pod: "etcd-cp-2", Node: "cp-2", IDHex: "91bc3c398fb3c146"},
		// a member whose name is another member's node
		{ID: 0xfd422379fda50e48, Name: "cp-2", Pod: "etcd-cp-3", Node: "cp-3", IDHex: "fd422379fda50e48"},
		// a member whose name parses as hex, and one with that ID
		{ID: 0x1234, Name: "beef", IDHex: "1234"},
		{ID: 0xbeef, Name: "", IDHex: "beef"},
	}
	for _, tc := range []struct {
		arg     string
		want    int
		wantErr string
	}{
		{arg: "cp-1", want: 0},
		{arg: "etcd-cp-1", want: 0},
		{arg: " 8e9e05c52164694d ", want: 0},
		{arg: "0x91BC3C398FB3C146", want: 1},
		{arg: "etcd-cp-3", want: 2},
		{arg: "cp-3", want: 2},
		{arg: "1234", want: 3},
		{arg: "cp-2", wantErr: `"cp-2" names 2 members: cp-2 91bc3c398fb3c146 (pod etcd-cp-2 on cp-2), cp-2 fd422379fda50e48 (pod etcd-cp-3 on cp-3)`},
		{arg: "beef", wantErr: `"beef" names 2 members`},
		{arg: "cp-9", wantErr: "member not found"},
		{arg: "", wantErr: "member not found"},
	} {
		got, err := resolveRef(refs, tc.arg)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%q: got %d, %v; want %d", tc.arg, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: got %d, %v; want error %q", tc.arg, got, err, tc.wantErr)
		case tc.wantErr == "member not found" && !errors.Is(err, ErrNotFound):
			t.Errorf("%q: %v is not ErrNotFound", tc.arg, err)
		}
	}
}

func TestFindStatusMemberRefusesAmbiguous(t *testing.T) {
	st := &ClusterStatus{Members: []MemberStatus{
		{Name: "a", Pod: "etcd-a", Node: "b", ID: "1"},
		{Name: "b", Pod: "etcd-b", Node: "c", ID: "2"},
		{Name: "", Pod: "etcd-x", Node: "x"},
	}}
	if _, err := FindStatusMember(st, "b"); err == nil || !strings.Contains(err.Error(), `names 2 members`) {
		t.Errorf("ambiguous: %v", err)
	}
	if m, err := FindStatusMember(st, "etcd-b"); err != nil || m.ID != "2" {
		t.Errorf("pod: %v %v", m, err)
	}
	if _, err := FindStatusMember(st, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("row without ID: %v", err)
	}
}
