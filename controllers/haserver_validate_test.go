package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

func validCondition(t *testing.T, f *fakeCluster, name string) (*hav1alpha1.HAServer, string, string) {
	t.Helper()
	s := f.get(name)
	c := meta.FindStatusCondition(s.Status.Conditions, hav1alpha1.ConditionValid)
	if c == nil {
		return s, "", ""
	}
	return s, c.Reason, c.Message
}

// A disk the cluster admin did not allow: Valid=False naming the field
// and the fix, and nothing done — no pod, no reservation, no fencing.
func TestDiskNotAllowed_NothingDone(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-disk-denied", "dd-a", "dd-b")
	f.newServer("app", func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/payroll"}} // testAllowedDisks allows mpath* only
	}, "dd-a", "dd-b")
	eventually(t, "Valid=False DiskNotAllowed", func() bool {
		_, reason, msg := validCondition(t, f, "app")
		return reason == ReasonDiskNotAllowed && strings.Contains(msg, "spec.sharedDisks[0].device") && strings.Contains(msg, "--allowed-disks")
	})
	time.Sleep(2 * time.Second) // time to act, had it been going to
	s := f.get("app")
	var pods corev1.PodList
	if err := env.Client.List(context.Background(), &pods, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 || s.Status.Switchover != nil || s.Status.FencingEpoch != 0 || len(s.Status.AgentRequests) != 0 {
		t.Fatalf("the controller acted on a refused server: %d pods, status %+v", len(pods.Items), s.Status)
	}
	// It does not claim to know what the server does: every other
	// condition is Unknown.
	for _, ct := range []string{hav1alpha1.ConditionAvailable, hav1alpha1.ConditionSwitchoverInProgress, hav1alpha1.ConditionFenced,
		hav1alpha1.ConditionReservationHeld, hav1alpha1.ConditionDegraded} {
		if c := meta.FindStatusCondition(s.Status.Conditions, ct); c == nil || c.Status != "Unknown" || c.Reason != hav1alpha1.ReasonSpecRefused {
			t.Errorf("condition %s of a refused server: %+v, want Unknown (%s)", ct, c, hav1alpha1.ReasonSpecRefused)
		}
	}
}

// Two servers naming one disk on a shared host: the younger is refused
// until the older lets the disk go; a server on other hosts may use the
// same name (another host's mpatha is another disk).
func TestDiskInUse_YoungerRefusedUntilTheOlderGoes(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-disk-inuse", "du-a", "du-b", "du-c")
	disk := func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpathq"}}
	}
	first := f.newServer("first", disk, "du-a", "du-b")
	eventually(t, "first asks du-a for the reservation", func() bool { return f.get("first").Status.FencingEpoch == 1 })
	f.reserved("du-a", "first", 1)
	f.waitActive("first", "du-a")
	f.newServer("second", disk, "du-b", "du-c")
	eventually(t, "second refused with DiskInUse", func() bool {
		_, reason, msg := validCondition(t, f, "second")
		return reason == ReasonDiskInUse && strings.Contains(msg, "t-disk-inuse/first") && strings.Contains(msg, "du-b")
	})
	if s := f.get("second"); s.Status.FencingEpoch != 0 || s.Status.Switchover != nil {
		t.Fatalf("the refused server was acted on: %+v", s.Status)
	}
	if err := env.Client.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second valid and started once first is gone", func() bool {
		_, reason, _ := validCondition(t, f, "second")
		return reason == hav1alpha1.ReasonSpecValid && f.get("second").Status.FencingEpoch > 0 && f.get("second").Status.TargetNode == "du-b"
	})
}

// One disk named two ways, by its /dev/mapper name and by its WWID, is one
// disk: once the shared host's agent reports the map's WWID, the younger
// server is refused (before, the two strings passed as two disks, and the
// two servers would have preempted each other's key).
func TestDiskInUse_SameDiskByWWID(t *testing.T) {
	withManager(t)
	f := newFakeCluster(t, "t-disk-wwid", "dw-a", "dw-b")
	const wwid = "36001405aaaabbbbccccddddeeeeffff0"
	first := f.newServer("first", func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = []hav1alpha1.SharedDisk{{Device: "/dev/mapper/mpathw"}}
	}, "dw-a", "dw-b")
	eventually(t, "first asks dw-a for the reservation", func() bool { return f.get("first").Status.FencingEpoch == 1 })
	// dw-b's agent reports the disk it sees for first: mpathw, with its WWID.
	ctx := context.Background()
	eventually(t, "dw-b's HANode reports mpathw", func() bool {
		var hn hav1alpha1.HANode
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "dw-b"}, &hn); err != nil {
			return false
		}
		hn.Status.Devices = []hav1alpha1.DeviceStatus{{Name: "mpathw", WWID: wwid}}
		return env.Client.Status().Update(ctx, &hn) == nil
	})
	f.newServer("second", func(s *hav1alpha1.HAServerSpec) {
		s.SharedDisks = []hav1alpha1.SharedDisk{{Device: wwid}}
	}, "dw-b", "dw-a")
	eventually(t, "second refused: the same disk by its WWID", func() bool {
		_, reason, msg := validCondition(t, f, "second")
		return reason == ReasonDiskInUse && strings.Contains(msg, "t-disk-wwid/first") && strings.Contains(msg, "as /dev/mapper/mpathw")
	})
	if s := f.get("second"); s.Status.FencingEpoch != 0 {
		t.Fatalf("the refused server was acted on: %+v", s.Status)
	}
	_ = first
}
