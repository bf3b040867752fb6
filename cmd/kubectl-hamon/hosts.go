package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// hostsView is what the hosts say of themselves: each host's HANode
// (written by its agent) and Lease (renewed by its agent), and every
// agent's reservation key, to name the holder and the registrants.
type hostsView struct {
	now time.Time
	// server, when set, limits the view to its hosts, disks and reports.
	server *hav1alpha1.HAServer
	// nodes are the hosts shown, in order.
	nodes  []string
	hanode map[string]*hav1alpha1.HANode
	lease  map[string]*coordinationv1.Lease
	// leaseErr is why the Leases could not be read, if they could not.
	leaseErr error
	// keys maps a reservation key to the node whose agent uses it.
	keys map[string]string
}

func newHostsView(now time.Time, server *hav1alpha1.HAServer, hanodes []hav1alpha1.HANode,
	leases []coordinationv1.Lease, leaseErr error) *hostsView {
	hv := &hostsView{now: now, server: server, hanode: map[string]*hav1alpha1.HANode{},
		lease: map[string]*coordinationv1.Lease{}, leaseErr: leaseErr, keys: map[string]string{}}
	for i := range hanodes {
		n := &hanodes[i]
		hv.hanode[n.Name] = n
		if k := n.Status.ReservationKey; k != "" {
			hv.keys[k] = n.Name
		}
	}
	for i := range leases {
		hv.lease[leases[i].Name] = &leases[i]
	}
	if server != nil {
		for _, h := range server.Spec.Hosts {
			hv.nodes = append(hv.nodes, h.Node)
		}
	} else {
		for _, n := range hanodes {
			hv.nodes = append(hv.nodes, n.Name)
		}
		slices.Sort(hv.nodes)
	}
	return hv
}

// readHosts reads the HANodes and the Leases. Leases that cannot be read
// (the user may not read hamon's namespace) make aliveness unknown rather
// than the command fail.
func (o *options) readHosts(ctx context.Context, server *hav1alpha1.HAServer) (*hostsView, error) {
	var nodes hav1alpha1.HANodeList
	if err := o.c.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("listing HANodes: %w", err)
	}
	var leases coordinationv1.LeaseList
	leaseErr := o.c.List(ctx, &leases, client.InNamespace(o.leaseNamespace))
	if leaseErr != nil {
		leaseErr = fmt.Errorf("listing Leases in %s: %w", o.leaseNamespace, leaseErr)
	}
	return newHostsView(o.now(), server, nodes.Items, leases.Items, leaseErr), nil
}

// aliveness is whether a host's agent renews its Lease.
type aliveness int

const (
	aliveUnknown aliveness = iota
	aliveYes
	aliveNo
)

// leaseState says whether node's agent renews its Lease, with a detail:
// when it renewed it, or since when it has expired, or why it is unknown.
func (hv *hostsView) leaseState(node string) (aliveness, string) {
	if hv.leaseErr != nil {
		return aliveUnknown, hv.leaseErr.Error()
	}
	l := hv.lease[node]
	if l == nil {
		return aliveNo, "no Lease"
	}
	if l.Spec.RenewTime == nil {
		return aliveNo, "never renewed"
	}
	renew := l.Spec.RenewTime.Time
	dur := time.Duration(0)
	if l.Spec.LeaseDurationSeconds != nil {
		dur = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	if hv.now.Before(renew.Add(dur)) {
		return aliveYes, "renewed " + ago(hv.now.Sub(renew)) + " ago"
	}
	return aliveNo, "expired " + ago(hv.now.Sub(renew.Add(dur))) + " ago"
}

// alive says in words whether node's agent renews its Lease; with ages, it
// says since when (words that change every second).
func (hv *hostsView) alive(node string, ages bool) (aliveness, string) {
	a, detail := hv.leaseState(node)
	switch {
	case a == aliveUnknown:
		return a, "unknown"
	case a == aliveYes && ages:
		return a, "yes (" + detail + ")"
	case a == aliveYes:
		return a, "yes"
	case !ages && strings.HasPrefix(detail, "expired"):
		return a, "no (expired)"
	}
	return a, "no (" + detail + ")"
}

// ago is a short human duration, as kubectl prints ages.
func ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return duration.HumanDuration(d)
}

// keyName names the node that uses key, or returns the key itself.
func (hv *hostsView) keyName(key string) string {
	if key == "" {
		return ""
	}
	if n, ok := hv.keys[key]; ok {
		return n
	}
	return key
}

// devices are the shared disks node's agent reports: all of them, or the
// server's.
func (hv *hostsView) devices(node string) []hav1alpha1.DeviceStatus {
	n := hv.hanode[node]
	if n == nil {
		return nil
	}
	if hv.server == nil {
		return n.Status.Devices
	}
	var out []hav1alpha1.DeviceStatus
	for _, d := range hv.server.Spec.SharedDisks {
		if dev := findDevice(n.Status.Devices, d.Device); dev != nil {
			out = append(out, *dev)
		}
	}
	return out
}

// findDevice finds the disk spec (/dev/mapper/<name> or a WWID) among an
// agent's devices.
func findDevice(devs []hav1alpha1.DeviceStatus, spec string) *hav1alpha1.DeviceStatus {
	for i := range devs {
		d := &devs[i]
		if d.Name == spec || "/dev/mapper/"+d.Name == spec || (d.WWID != "" && d.WWID == spec) {
			return d
		}
	}
	return nil
}

// diskName is a disk spec without /dev/mapper/.
func diskName(spec string) string { return strings.TrimPrefix(spec, "/dev/mapper/") }

// reports are node's agent's reports: all of them, or the server's.
func (hv *hostsView) reports(node string) []hav1alpha1.NodeServerStatus {
	n := hv.hanode[node]
	if n == nil {
		return nil
	}
	if hv.server == nil {
		return n.Status.Servers
	}
	if r := n.Status.Report(hv.server.ReportKey()); r != nil {
		return []hav1alpha1.NodeServerStatus{*r}
	}
	return nil
}

// holderSighting is one view of who holds a disk's reservation.
type holderSighting struct {
	holder string // a node name, or a key no agent uses
	by     string // "the controller", or the node whose agent read it
	disk   string
}

// holders lists who holds the reservation of the server's disks, as the
// controller and as each host's agent see it.
func (hv *hostsView) holders(s *hav1alpha1.HAServer) []holderSighting {
	var out []holderSighting
	if s.Status.ReservationHolder != "" {
		out = append(out, holderSighting{holder: s.Status.ReservationHolder, by: "the controller"})
	}
	for _, node := range hv.nodes {
		n := hv.hanode[node]
		if n == nil {
			continue
		}
		for _, d := range s.Spec.SharedDisks {
			if dev := findDevice(n.Status.Devices, d.Device); dev != nil && dev.HolderKey != "" {
				out = append(out, holderSighting{holder: hv.keyName(dev.HolderKey), by: node, disk: diskName(d.Device)})
			}
		}
	}
	return out
}
