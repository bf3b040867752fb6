package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/pathwatch"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
)

// DeviceReport writes, every interval, the shared disks this node sees
// for its servers into its HANode: each path's state, the registered keys
// and the holder, the host half of monshow. It writes only when something
// changed. While a server here terminates or switches, when the path rule
// of 7.5.8 matters, it checks every renew interval instead, and at once
// when Reconcile sees a server enter such a phase. It is a manager Runnable.
// maxReportedDevices is how many shared disks an HANode shows
// (status.devices' maxItems).
const maxReportedDevices = 512

func (a *Agent) DeviceReport(interval time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		log := ctrl.LoggerFrom(ctx).WithValues("node", a.Node)
		var last []hav1alpha1.DeviceStatus
		for {
			devices, err := a.devices(ctx)
			if err == nil {
				a.applyPathRule(ctx, a.lastServers, a.lastProbes)
			}
			if err != nil {
				log.Error(err, "Reading the shared disks")
			} else if !equality.Semantic.DeepEqual(devices, last) {
				shown := devices
				if len(shown) > maxReportedDevices {
					// The HANode holds so many (its schema's maxItems): the
					// rest is left out rather than the whole report refused.
					log.Info("More shared disks than the HANode shows: the first ones by name are reported",
						"disks", len(devices), "reported", maxReportedDevices)
					shown = shown[:maxReportedDevices]
				}
				if err := a.updateHANode(ctx, func(st *hav1alpha1.HANodeStatus) { st.Devices = shown }); err != nil {
					log.Error(err, "Writing the shared disks to HANode")
				} else {
					last = devices
				}
			}
			wait := interval
			if a.pathRuleCritical(ctx, a.lastServers) {
				wait = a.Timing.Renew
			}
			select {
			case <-ctx.Done():
				return nil
			case <-a.kickChan():
			case <-time.After(wait):
			}
		}
	}
}

// devices probes every shared disk named by an HAServer of this node.
func (a *Agent) devices(ctx context.Context) ([]hav1alpha1.DeviceStatus, error) {
	var list hav1alpha1.HAServerList
	if err := a.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	var names []string
	for _, s := range list.Items {
		if !slices.ContainsFunc(s.Spec.Hosts, func(h hav1alpha1.HostSpec) bool { return h.Node == a.Node }) {
			continue
		}
		for _, d := range s.Spec.SharedDisks {
			if !slices.Contains(names, d.Device) {
				names = append(names, d.Device)
			}
		}
	}
	slices.Sort(names)
	out := []hav1alpha1.DeviceStatus{}
	a.lastServers, a.lastProbes = list.Items, map[string][]pathwatch.PathResult{}
	for _, name := range names {
		disk, err := a.Disks.Resolve(name)
		if err != nil {
			unknown := hav1alpha1.PathStatus{Name: "-", State: hav1alpha1.PathUnknown, LastError: hav1alpha1.TruncateMessage(err.Error())}
			out = append(out, hav1alpha1.DeviceStatus{Name: name, Paths: []hav1alpha1.PathStatus{unknown}})
			continue
		}
		st, results := a.probe(disk)
		a.lastProbes[disk.Name] = results
		out = append(out, st)
	}
	a.observePaths(a.lastProbes)
	return out, nil
}

func (a *Agent) probe(d scsipr.Disk) (hav1alpha1.DeviceStatus, []pathwatch.PathResult) {
	st := hav1alpha1.DeviceStatus{Name: d.Name, WWID: d.WWID}
	timeout := a.SCSI.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	results := pathwatch.Check(d.Paths, timeout)
	// Keys and holder are read only through the paths that just answered,
	// and within the timeout: a command on a path whose transport is
	// recovering waits in the blocked queue, where its own timeout has not
	// even started (seen on a real kernel, make test-scsi).
	alive := scsipr.Disk{Name: d.Name}
	for i, r := range results {
		if !r.Failed() {
			alive.Paths = append(alive.Paths, d.Paths[i])
		}
	}
	for _, r := range results {
		ps := hav1alpha1.PathStatus{Name: r.Path, State: hav1alpha1.PathActive}
		if r.Failed() {
			ps.State, ps.LastError = hav1alpha1.PathFailed, hav1alpha1.TruncateMessage(r.Err.Error())
		}
		st.Paths = append(st.Paths, ps)
	}
	if len(alive.Paths) == 0 {
		return st, results
	}
	if keys, err := bounded(timeout, func() (scsipr.Keys, error) { return a.SCSI.ReadKeys(alive) }); err == nil {
		for _, k := range keys.Keys {
			st.RegisteredKeys = append(st.RegisteredKeys, fmt.Sprintf("%016x", uint64(k)))
		}
	}
	res, err := bounded(timeout, func() (scsipr.Reservation, error) { return a.SCSI.ReadReservation(alive) })
	if err == nil && res.Held {
		st.HolderKey, st.ReservationType = fmt.Sprintf("%016x", uint64(res.Key)), res.Type.String()
	}
	return st, results
}

// pathRuleCritical says a server of this node terminates or switches
// here: the phases where a failed path may mean terminating the OS.
func (a *Agent) pathRuleCritical(ctx context.Context, servers []hav1alpha1.HAServer) bool {
	for i := range servers {
		if len(servers[i].Spec.SharedDisks) == 0 {
			continue
		}
		if p, ok := a.phaseHere(ctx, &servers[i]); ok && (p == pathwatch.ActiveTerminating || p == pathwatch.Switching) {
			return true
		}
	}
	return false
}

// kickChan is the channel Reconcile uses to start a path check now.
func (a *Agent) kickChan() chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.kick == nil {
		a.kick = make(chan struct{}, 1)
	}
	return a.kick
}

// kickPathWatch asks DeviceReport for a check now (never blocks).
func (a *Agent) kickPathWatch() {
	select {
	case a.kickChan() <- struct{}{}:
	default:
	}
}

// bounded runs f in its own goroutine and gives up after d: SCSI commands
// on a blocked queue (no_path_retry queue) must not hang the agent. The
// goroutine ends when the I/O does.
func bounded[T any](d time.Duration, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-timer.C:
		var zero T
		return zero, fmt.Errorf("no answer in %s (I/O queued on a failed path?)", d)
	}
}
