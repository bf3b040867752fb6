package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// diskIndex indexes HAServers by the devices of spec.sharedDisks.
const diskIndex = "spec.sharedDisks.device"

// Reasons of Valid=False that stop the controller from acting at all.
const (
	ReasonDiskNotAllowed = "DiskNotAllowed"
	ReasonDiskInUse      = "DiskInUse"
)

// invalidSpec says why the controller must not act on s at all, or "" when
// it may: a shared disk the cluster admin did not allow for the namespace,
// or one that an older HAServer already uses on a host they share. Reservations fence whole
// hosts, so a server in either case gets no pods, no reservation and no
// fencing until the spec or the allow-list is fixed.
func (r *HAServerReconciler) invalidSpec(ctx context.Context, s *hav1alpha1.HAServer) (reason, msg string, err error) {
	for i, d := range s.Spec.SharedDisks {
		if r.AllowedDisks != nil && !r.AllowedDisks.Allows(s.Namespace, d.Device) {
			return ReasonDiskNotAllowed, fmt.Sprintf("spec.sharedDisks[%d].device %s is not allowed in namespace %s: "+
				"a cluster admin allows it with the controller's --allowed-disks (chart value sharedDisks.allowed), "+
				"or use an allowed disk", i, d.Device, s.Namespace), nil
		}
		o, node, as, err := r.olderUser(ctx, s, d.Device)
		if err != nil {
			return "", "", err
		}
		if o != nil {
			named := ""
			if as != d.Device {
				named = " (as " + as + ", the same disk by its WWID as node " + node + "'s agent reports it)"
			}
			return ReasonDiskInUse, fmt.Sprintf("spec.sharedDisks[%d].device %s on node %s is already used by HAServer %s/%s%s: "+
				"two servers reserving one disk would fence each other; name another disk or remove it there",
				i, d.Device, node, o.Namespace, o.Name, named), nil
		}
	}
	return "", "", nil
}

// olderUser finds an older HAServer that uses the disk device names on a
// host it shares with s: under that name on any shared host, or under
// another name of the same disk (its /dev/mapper name or its WWID, as that
// host's agent reports them) on that host. It returns the server, the
// host, and the name it uses.
func (r *HAServerReconciler) olderUser(ctx context.Context, s *hav1alpha1.HAServer,
	device string) (*hav1alpha1.HAServer, string, string, error) {
	older := func(name string, onHost func(o *hav1alpha1.HAServer) string) (*hav1alpha1.HAServer, string, error) {
		var others hav1alpha1.HAServerList
		if err := r.List(ctx, &others, client.MatchingFields{diskIndex: name}); err != nil {
			return nil, "", err
		}
		for j := range others.Items {
			o := &others.Items[j]
			if o.UID == s.UID || !o.DeletionTimestamp.IsZero() || !olderThan(o, s) {
				continue
			}
			if node := onHost(o); node != "" {
				return o, node, nil
			}
		}
		return nil, "", nil
	}
	o, node, err := older(device, func(o *hav1alpha1.HAServer) string { return sharedHost(o, s) })
	if o != nil || err != nil {
		return o, node, device, err
	}
	// A server not yet acted on reads the agents' reports past the cache:
	// this check is all that stands between it and its first reservation,
	// and a report written just before the server was created may not be
	// in the cache yet. Once it has been acted on, the cache serves.
	reports := client.Reader(r.Client)
	if r.APIReader != nil && s.Status.FencingEpoch == 0 && s.Status.ActiveNode == "" {
		reports = r.APIReader
	}
	for _, h := range s.Spec.Hosts {
		aliases, err := diskAliases(ctx, reports, h.Node, device)
		if err != nil {
			return nil, "", "", err
		}
		for _, a := range aliases {
			o, _, err := older(a, func(o *hav1alpha1.HAServer) string {
				if slices.ContainsFunc(o.Spec.Hosts, func(x hav1alpha1.HostSpec) bool { return x.Node == h.Node }) {
					return h.Node
				}
				return ""
			})
			if o != nil || err != nil {
				return o, h.Node, a, err
			}
		}
	}
	return nil, "", "", nil
}

// diskAliases are the other names, on node, of the disk device names: as
// node's agent reports its devices (HANode status), the disk's WWID and the
// /dev/mapper name of every map with that WWID. None when the agent has not
// reported the disk (yet).
func diskAliases(ctx context.Context, reports client.Reader, node, device string) ([]string, error) {
	var hn hav1alpha1.HANode
	if err := reports.Get(ctx, client.ObjectKey{Name: node}, &hn); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	wwid := ""
	for _, d := range hn.Status.Devices {
		if d.WWID != "" && ("/dev/mapper/"+d.Name == device || strings.EqualFold(d.Name, device) || strings.EqualFold(d.WWID, device)) {
			wwid = d.WWID
		}
	}
	if wwid == "" {
		return nil, nil
	}
	var out []string
	add := func(n string) {
		if n != device && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	add(wwid)
	add(strings.ToUpper(wwid))
	for _, d := range hn.Status.Devices {
		if strings.EqualFold(d.WWID, wwid) {
			add("/dev/mapper/" + d.Name)
			add(d.Name)
		}
	}
	return out, nil
}

// sharedHost is a node both servers run on, "" when none: a device name
// such as /dev/mapper/mpatha is the host's name for a disk, so the same
// name on hosts the servers do not share may well be two disks.
func sharedHost(a, b *hav1alpha1.HAServer) string {
	for _, ha := range a.Spec.Hosts {
		for _, hb := range b.Spec.Hosts {
			if ha.Node == hb.Node {
				return ha.Node
			}
		}
	}
	return ""
}

// olderThan orders HAServers by creation, then by namespace/name: the
// first one to name a disk keeps it.
func olderThan(a, b *hav1alpha1.HAServer) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// refuse records why the controller does not act on s: Valid=False and,
// when that is news, a warning event naming the field and the fix.
func (r *HAServerReconciler) refuse(ctx context.Context, s *hav1alpha1.HAServer, reason, msg string) error {
	before := s.DeepCopy()
	prev := meta.FindStatusCondition(s.Status.Conditions, hav1alpha1.ConditionValid)
	setRefusedConditions(s, reason, msg)
	s.Status.ObservedGeneration = s.Generation
	if prev != nil && prev.Status == metav1.ConditionFalse && prev.Reason == reason && prev.Message == msg {
		return nil
	}
	r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, "HAMN170-E", "Validate", "HAMN170-E %s", msg)
	return r.Status().Patch(ctx, s, client.MergeFrom(before))
}

func indexDisks(o client.Object) []string {
	var out []string
	for _, d := range o.(*hav1alpha1.HAServer).Spec.SharedDisks {
		out = append(out, d.Device)
	}
	return out
}
