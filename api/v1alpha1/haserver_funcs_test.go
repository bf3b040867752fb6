package v1alpha1

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func TestEffectiveValues(t *testing.T) {
	s := &HAServer{ObjectMeta: metav1.ObjectMeta{Name: "db"}}
	if s.EffectiveAlias() != "db" || s.Spec.EffectiveMode() != ModeMonitor || s.Spec.EffectiveSwitchType() != SwitchTypeSwitch {
		t.Fatalf("defaults: %q %q %q", s.EffectiveAlias(), s.Spec.EffectiveMode(), s.Spec.EffectiveSwitchType())
	}
	s.Spec.Alias = "DB"
	if s.EffectiveAlias() != "DB" {
		t.Fatal("alias")
	}
	cases := []struct {
		errMode SwitchError
		retry   *int32
		want    int32
	}{
		{SwitchErrorStop, nil, 0},
		{SwitchErrorStop, ptr(int32(5)), 0},
		{SwitchErrorRetry, nil, DefaultSwitchRetry},
		{SwitchErrorRetry, ptr(int32(0)), 0},
		{SwitchErrorRetry, ptr(int32(7)), 7},
	}
	for _, c := range cases {
		spec := HAServerSpec{SwitchError: c.errMode, SwitchRetry: c.retry}
		if got := spec.EffectiveSwitchRetry(); got != c.want {
			t.Errorf("%s/%v: %d, want %d", c.errMode, c.retry, got, c.want)
		}
	}
}

func TestGroupExchange(t *testing.T) {
	for _, c := range []struct {
		g    *GroupMembership
		want bool
	}{
		{nil, false},
		{&GroupMembership{Name: "g"}, true},
		{&GroupMembership{Name: "g", Exchange: ptr(true)}, true},
		{&GroupMembership{Name: "g", Exchange: ptr(false)}, false},
	} {
		if got := (&HAServerSpec{Group: c.g}).GroupExchange(); got != c.want {
			t.Errorf("%+v: %t", c.g, got)
		}
	}
}

func TestNodesByPriority(t *testing.T) {
	list := HAServerSpec{Hosts: []HostSpec{{Node: "a"}, {Node: "b"}, {Node: "c"}}}
	if got := list.NodesByPriority(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("list order: %v", got)
	}
	prio := HAServerSpec{Hosts: []HostSpec{
		{Node: "a", StandbyPriority: ptr(int32(1))},
		{Node: "b", StandbyPriority: ptr(int32(9))},
		{Node: "c", StandbyPriority: ptr(int32(2))},
	}}
	if got := prio.NodesByPriority(); !reflect.DeepEqual(got, []string{"a", "c", "b"}) {
		t.Errorf("priority order: %v", got)
	}
	if prio.PrimaryNode() != "a" || (&HAServerSpec{}).PrimaryNode() != "" {
		t.Error("primary")
	}
}
