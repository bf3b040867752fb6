// Package agent is the node agent's link to the API: it renews the node's
// Lease (and self-fences when it cannot), carries out the controller's
// requests for this node (take the reservation for an epoch, release,
// clear, terminate the OS), notices when its key was preempted while its
// server is active here, and reports all of it in the node's HANode. It
// writes only its own node's objects.
package agent

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/cri"
	"github.com/hamon-ha/hamon/nodeagent/fencing"
	"github.com/hamon-ha/hamon/nodeagent/lease"
	"github.com/hamon-ha/hamon/nodeagent/multipath"
	"github.com/hamon-ha/hamon/nodeagent/pathwatch"
	"github.com/hamon-ha/hamon/nodeagent/peer"
	"github.com/hamon-ha/hamon/nodeagent/scsipr"
	"github.com/hamon-ha/hamon/nodeagent/watchdog"
)

// Version is the agent's version, reported in HANode.
var Version = "v0.1.0-dev"

// DiskResolver finds a shared disk's paths on this host.
type DiskResolver interface {
	// Resolve turns a sharedDisks device (/dev/mapper/<name> or a WWID)
	// into the disk and its paths.
	Resolve(device string) (scsipr.Disk, error)
}

// Agent is one node's agent.
type Agent struct {
	Client client.Client
	// APIReader reads from the API server past the cache (the manager's
	// GetAPIReader); nil: Client.
	APIReader client.Reader
	Node      string
	Namespace string
	BootID    string
	Key       scsipr.Key
	Disks     DiskResolver
	SCSI      scsipr.Client
	// Runtime reaches the node's container runtime (CRI): the agent stops
	// servers and runs their patrolCommand through it, without the API server.
	Runtime cri.Runtime
	// Exits follows the runtime's container ends (FollowExits); nil: the
	// controller learns of them from the kubelet only. ExitRelist is how
	// often a runtime without container events is relisted.
	Exits      cri.ExitFollower
	ExitRelist time.Duration
	// Multipath tells multipathd the node's key for the maps it holds, so
	// that a path multipathd adds or reinstates is registered too; nil: not told.
	Multipath multipath.Daemon
	OS        fencing.Terminator
	// AllowedDisks is the cluster admin's allow-list of shared disks
	// (--allowed-disks, the same as the controller's): the agent reserves,
	// releases or clears no other disk, whatever a status asks. nil: every
	// disk (tests; the binary always sets it).
	AllowedDisks *hav1alpha1.DiskAllowList
	Timing       lease.Timing
	Now          func() time.Time
	// Watchdog is the host's watchdog, fed while the agent is healthy (see
	// lease.Timing.Decide); nil: none.
	Watchdog watchdog.Device
	// Peers asks the agents of the other hosts whether they can renew; nil:
	// no peer check (every unprotected server stops at the self-fence
	// deadline, as when no peer answers).
	Peers *peer.Client
	// PeerAddress is where this agent answers its peers, written in its
	// HANode for them to find.
	PeerAddress string
	// PeerListen is where and how it answers them; Listen "": it does not.
	PeerListen PeerServer

	// lease is the node's Lease as the last renewal's answer returned it;
	// it belongs to the Heartbeat loop (one goroutine).
	lease *coordinationv1.Lease

	// lastServers and lastProbes belong to the DeviceReport loop (one goroutine).
	lastServers []hav1alpha1.HAServer
	lastProbes  map[string][]pathwatch.PathResult

	// reports are this node's reports on its servers (reports.go).
	reports reportStore

	mu        sync.Mutex
	lastRenew time.Time
	// renewFailed says the last renewal attempt failed (or none was made
	// yet): the agent then tells a peer that asks that it cannot renew, and
	// its next successful renewal re-acquires the Lease (acquireTime), so
	// that the controller starts no unprotected server here for two watchdog
	// timeouts (a peer may still be running it on this agent's word).
	renewFailed bool
	// confirmed is when each peer last confirmed it cannot renew either.
	confirmed map[string]time.Time
	// selfStops are the unprotected servers being stopped (false) or
	// stopped (true) here since the self-fence deadline passed.
	selfStops map[string]bool
	// localStops are stops the agent made on its own while the API server
	// was out of reach, by server key, not yet reported.
	localStops map[string]localStop
	patrols    map[string]*patrolRun
	kick       chan struct{}
}

// KeyFor derives a node's reservation key from the cluster's name and the
// node's name: stable across reboots, different per node, never zero.
// The first byte is 'h' so that hamon's keys are recognisable in
// sg_persist's output.
func KeyFor(cluster, node string) scsipr.Key {
	sum := sha256.Sum256([]byte(cluster + "/" + node))
	k := binary.BigEndian.Uint64(sum[:8])
	return scsipr.Key(0x68<<56 | k&0x00ffffffffffffff)
}

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// +kubebuilder:rbac:groups=ha.hamon.io,resources=haservers,verbs=get;list;watch
// +kubebuilder:rbac:groups=ha.hamon.io,resources=hanodes,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=ha.hamon.io,resources=hanodes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update

// Reconcile handles one HAServer that has this node among its hosts.
func (a *Agent) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var s hav1alpha1.HAServer
	if err := a.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !slices.ContainsFunc(s.Spec.Hosts, func(h hav1alpha1.HostSpec) bool { return h.Node == a.Node }) {
		return reconcile.Result{}, nil
	}
	defer a.lockReport(s.ReportKey())()
	prev := a.report(ctx, s.ReportKey(), s.UID)
	next := prev
	next.Answers = slices.Clone(prev.Answers)
	a.handleRequests(ctx, &s, &next)
	requeue := a.watchKey(ctx, &s, &next)
	a.patrol(ctx, &s, &next)
	if a.pathRuleCritical(ctx, []hav1alpha1.HAServer{s}) {
		a.kickPathWatch()
	}
	if !equality.Semantic.DeepEqual(next, prev) {
		next.Time = nowTime(a.now())
		if err := a.writeReport(ctx, next); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// handleRequests carries out, in id order, each of the server's
// agentRequests for this node that it has not answered yet, and answers it.
// It acts only for a server whose spec the controller did not refuse, and
// checks each request against what it knows (allowed).
func (a *Agent) handleRequests(ctx context.Context, s *hav1alpha1.HAServer, r *hav1alpha1.NodeServerStatus) {
	for _, rq := range s.Status.AgentRequests {
		if rq.Node != a.Node || rq.ID <= r.LastAnswered() {
			continue
		}
		ans := hav1alpha1.AgentAnswer{ID: rq.ID, Action: rq.Action, Epoch: rq.Epoch, Result: hav1alpha1.AnswerDone}
		if why := a.refusal(s, rq); why != "" {
			ctrl.LoggerFrom(ctx).Info("Refusing a request", "haserver", s.ReportKey(), "request", rq.ID, "action", rq.Action, "why", why)
			ans.Result, ans.Message = hav1alpha1.AnswerRefused, why
			r.AddAnswer(ans)
			continue
		}
		var err error
		switch rq.Action {
		case hav1alpha1.AgentReserve:
			ans.Result, ans.Message = a.reserve(ctx, s, rq, r)
		default:
			err = a.carryOut(ctx, s, rq, r)
			r.Message = fmt.Sprintf("%s done", rq.Action)
		}
		if err != nil {
			ans.Result = hav1alpha1.AnswerFailed
			r.Message = hav1alpha1.TruncateMessage(fmt.Sprintf("%s failed: %v", rq.Action, err))
		}
		if ans.Message == "" {
			ans.Message = r.Message
		}
		r.AddAnswer(ans)
	}
}

// refusal says why the agent will not carry out rq, "" when it will. Only
// the controller writes an HAServer's status (an admission policy sees to
// it); these checks are the agent's own, in depth.
func (a *Agent) refusal(s *hav1alpha1.HAServer, rq hav1alpha1.AgentRequest) string {
	if c := meta.FindStatusCondition(s.Status.Conditions, hav1alpha1.ConditionValid); c != nil && c.Status == metav1.ConditionFalse {
		return "the server's spec is refused (Valid=False, " + c.Reason + "): nothing is done for it"
	}
	switch rq.Action {
	case hav1alpha1.AgentReserve, hav1alpha1.AgentRelease, hav1alpha1.AgentClearReservation:
		if a.AllowedDisks == nil {
			return ""
		}
		for _, d := range s.Spec.SharedDisks {
			if !a.AllowedDisks.Allows(s.Namespace, d.Device) {
				return fmt.Sprintf("shared disk %s is not allowed in namespace %s by this agent's --allowed-disks (%s)",
					d.Device, s.Namespace, a.AllowedDisks)
			}
		}
	case hav1alpha1.AgentFenceHost:
		if !involved(s, a.Node) {
			return "the status records " + a.Node + " neither as active nor as a host a switchover clears: the OS is not terminated"
		}
	default:
		return fmt.Sprintf("unknown action %q: this agent is older than the controller", rq.Action)
	}
	return ""
}

// involved says the status records node as the server's active host, or
// as a host the current (or last) switchover moves from or clears: the only
// hosts whose OS the controller terminates.
func involved(s *hav1alpha1.HAServer, node string) bool {
	for _, h := range s.Status.Hosts {
		if h.Node == node && (h.Role == hav1alpha1.RoleActive || h.ActiveCopy) {
			return true
		}
	}
	sw := s.Status.Switchover
	if sw == nil && len(s.Status.Switchovers) > 0 {
		sw = &s.Status.Switchovers[len(s.Status.Switchovers)-1]
	}
	return sw != nil && (sw.From == node || sw.Clearing == node || slices.Contains(sw.Tried, node))
}

// reserve takes the reservation for the request's epoch, if the request is
// still current: the switchover is in stage Reserving for this node and
// epoch. It records what the node holds in r.
func (a *Agent) reserve(ctx context.Context, s *hav1alpha1.HAServer, rq hav1alpha1.AgentRequest,
	r *hav1alpha1.NodeServerStatus) (hav1alpha1.AnswerResult, string) {
	sw := s.Status.Switchover
	if sw == nil || sw.Stage != hav1alpha1.StageReserving || s.Status.TargetNode != a.Node || rq.Epoch != s.Status.FencingEpoch {
		return hav1alpha1.AnswerRefused, fmt.Sprintf("stale: the switchover is no longer reserving for %s in epoch %d", a.Node, rq.Epoch)
	}
	r.Epoch, r.PatrolFailed, r.KeyPreempted, r.ReservedDevices = rq.Epoch, false, false, nil
	disks, err := a.resolve(s)
	if err == nil && len(disks) == 0 {
		r.Reservation, r.Message = hav1alpha1.ReservationNotRequired, "no shared disks"
		return hav1alpha1.AnswerRefused, r.Message
	}
	if err == nil {
		var rep scsipr.Report
		rep, err = a.SCSI.Acquire(disks, a.Key, reservationType(s))
		r.Message = describeReport(rep)
	}
	if err != nil {
		r.Reservation, r.Message = hav1alpha1.ReservationFailed, hav1alpha1.TruncateMessage(err.Error())
		return hav1alpha1.AnswerFailed, r.Message
	}
	r.Reservation = hav1alpha1.ReservationHeld
	for _, d := range s.Spec.SharedDisks {
		r.ReservedDevices = append(r.ReservedDevices, d.Device) // emptied above, for this epoch
	}
	if msg := a.tellMultipathd(ctx, s, true); msg != "" {
		r.Message = hav1alpha1.TruncateMessage(strings.TrimPrefix(r.Message+"; "+msg, "; "))
	}
	return hav1alpha1.AnswerDone, r.Message
}

// tellMultipathd gives multipathd this node's key for every map of s (held:
// after taking the disks) or takes it back (after giving them up or losing
// them). A failure does not undo the reservation: it is logged and
// returned for the report, since a reinstated path would then not be
// registered (a write through it gets RESERVATION CONFLICT until the next
// takeover).
func (a *Agent) tellMultipathd(ctx context.Context, s *hav1alpha1.HAServer, held bool) string {
	if a.Multipath == nil {
		return ""
	}
	var failed []string
	for _, d := range s.Spec.SharedDisks {
		m, ok := strings.CutPrefix(d.Device, "/dev/mapper/")
		if !ok {
			continue // a WWID: multipathd names the map itself; only /dev/mapper names are told
		}
		var err error
		if held {
			err = a.Multipath.SetKey(ctx, m, a.Key)
		} else {
			err = a.Multipath.ClearKey(ctx, m)
		}
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Telling multipathd the reservation key", "map", m, "held", held)
			failed = append(failed, fmt.Sprintf("multipathd %s: %v", m, err))
		}
	}
	return strings.Join(failed, "; ")
}

func describeReport(rep scsipr.Report) string {
	var parts []string
	for disk, keys := range rep.Preempted {
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("preempted %s on %s", k, disk))
		}
	}
	for _, f := range rep.FailedPaths {
		parts = append(parts, fmt.Sprintf("KAMN725-W path %s of %s failed: %v", f.Path, f.Disk, f.Err))
	}
	slices.Sort(parts)
	return hav1alpha1.TruncateMessage(strings.Join(parts, "; "))
}

// carryOut does a Release, ClearReservation or FenceHost request.
func (a *Agent) carryOut(ctx context.Context, s *hav1alpha1.HAServer, rq hav1alpha1.AgentRequest, r *hav1alpha1.NodeServerStatus) error {
	disks, err := a.resolve(s)
	if err != nil {
		return err
	}
	switch rq.Action {
	case hav1alpha1.AgentRelease:
		if err := a.SCSI.Release(disks, a.Key, reservationType(s)); err != nil {
			return err
		}
		r.Reservation = hav1alpha1.ReservationReleased
		a.tellMultipathd(ctx, s, false)
	case hav1alpha1.AgentClearReservation:
		return a.SCSI.Clear(disks, a.Key)
	case hav1alpha1.AgentFenceHost:
		ctrl.LoggerFrom(ctx).Info("Terminating the OS as the controller asks", "haserver", s.Name, "epoch", rq.Epoch, "request", rq.ID)
		a.tell(ctx, s, "Fencing", "HAMN152-W",
			fmt.Sprintf("The node agent of %s terminates its OS as the controller asks (forced fence, epoch %d)", a.Node, rq.Epoch))
		return a.terminateOS(ctx, terminationFenceHost, fmt.Sprintf("HAMN150-W forced fence for %s (epoch %d)", s.ReportKey(), rq.Epoch))
	}
	return nil
}

// watchKey checks, while the server is active here with shared disks, that
// this node's key is still registered. When another host preempted it, the
// server here is stopped at once (a planned stop) and the loss reported.
func (a *Agent) watchKey(ctx context.Context, s *hav1alpha1.HAServer, r *hav1alpha1.NodeServerStatus) time.Duration {
	if s.Status.ActiveNode != a.Node || len(s.Spec.SharedDisks) == 0 || r.Reservation != hav1alpha1.ReservationHeld {
		return 0
	}
	disks, err := a.resolveReserved(s, r)
	if err != nil {
		return a.Timing.Renew
	}
	timeout := a.SCSI.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	holds, err := bounded(timeout, func() (bool, error) { return a.SCSI.Holds(disks, a.Key) })
	switch {
	case err != nil:
		keyChecks.WithLabelValues(a.Node, "error").Inc()
	case holds:
		keyChecks.WithLabelValues(a.Node, "held").Inc()
	default:
		keyChecks.WithLabelValues(a.Node, "preempted").Inc()
	}
	if err != nil || holds {
		return a.Timing.Renew
	}
	ctrl.LoggerFrom(ctx).Info("This node's reservation key was preempted: stopping the server here", "haserver", s.Name)
	a.tell(ctx, s, "Fencing", "HAMN181-W",
		fmt.Sprintf("The node agent of %s found its reservation key preempted on the shared disks: it stops the server there", a.Node))
	r.KeyPreempted, r.Reservation = true, hav1alpha1.ReservationReleased
	a.tellMultipathd(ctx, s, false)
	r.Message = "key preempted by another host: server stopped here"
	if err := a.stopServer(ctx, s); err != nil {
		r.Message = hav1alpha1.TruncateMessage("key preempted; stopping the server failed: " + err.Error())
	}
	return 0
}

func podOf(s *hav1alpha1.HAServer, node string) string {
	for _, h := range s.Status.Hosts {
		if h.Node == node {
			return h.Pod
		}
	}
	return ""
}

func (a *Agent) resolve(s *hav1alpha1.HAServer) ([]scsipr.Disk, error) {
	var disks []scsipr.Disk
	for _, d := range s.Spec.SharedDisks {
		disk, err := a.Disks.Resolve(d.Device)
		if err != nil {
			return nil, fmt.Errorf("shared disk %s: %w", d.Device, err)
		}
		disks = append(disks, disk)
	}
	return disks, nil
}

// resolveReserved resolves the disks the node's reservation took: those of
// r.ReservedDevices still in the spec (a report from before they were
// recorded: every disk of the spec).
func (a *Agent) resolveReserved(s *hav1alpha1.HAServer, r *hav1alpha1.NodeServerStatus) ([]scsipr.Disk, error) {
	if r.ReservedDevices == nil {
		return a.resolve(s)
	}
	var disks []scsipr.Disk
	for _, d := range s.Spec.SharedDisks {
		if !slices.Contains(r.ReservedDevices, d.Device) {
			continue
		}
		disk, err := a.Disks.Resolve(d.Device)
		if err != nil {
			return nil, fmt.Errorf("shared disk %s: %w", d.Device, err)
		}
		disks = append(disks, disk)
	}
	return disks, nil
}

func reservationType(s *hav1alpha1.HAServer) scsipr.Type {
	if len(s.Spec.SharedDisks) > 0 && s.Spec.SharedDisks[0].Reservation == hav1alpha1.ReservationExclusiveAccessRegistrantsOnly {
		return scsipr.TypeExclusiveAccessRegistrantsOnly
	}
	return scsipr.TypeWriteExclusiveRegistrantsOnly
}

// updateHANode patches this node's HANode status with mutate, with an
// optimistic lock. After a conflict it reads the HANode from the API
// server: the cache may not have its own last write yet.
func (a *Agent) updateHANode(ctx context.Context, mutate func(*hav1alpha1.HANodeStatus)) error {
	var read client.Reader = a.Client
	for range 5 {
		var hn hav1alpha1.HANode
		err := read.Get(ctx, client.ObjectKey{Name: a.Node}, &hn)
		if apierrors.IsNotFound(err) {
			hn = hav1alpha1.HANode{ObjectMeta: metav1.ObjectMeta{Name: a.Node}}
			if err := a.Client.Create(ctx, &hn); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating HANode %s: %w", a.Node, err)
			}
			continue
		}
		if err != nil {
			return err
		}
		before := hn.DeepCopy()
		if hn.Status.BootID != a.BootID {
			// A new boot: whatever the last one was doing to itself
			// (Terminating) is over.
			hn.Status.Fencing = hav1alpha1.FencingNone
		}
		hn.Status.AgentVersion, hn.Status.BootID = Version, a.BootID
		hn.Status.ReservationKey = fmt.Sprintf("%016x", uint64(a.Key))
		hn.Status.PeerAddress, hn.Status.WatchdogTimeout = a.PeerAddress, nil
		if a.Watchdog != nil {
			hn.Status.WatchdogTimeout = &metav1.Duration{Duration: a.Watchdog.Timeout()}
		}
		if hn.Status.Fencing == "" {
			hn.Status.Fencing = hav1alpha1.FencingNone
		}
		mutate(&hn.Status)
		err = a.Client.Status().Patch(ctx, &hn, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			read = a.apiReader()
			continue
		}
		return err
	}
	return errors.New("HANode kept changing under the agent")
}

// Heartbeat renews the node's Lease every Timing.Renew until ctx ends.
// Past the self-fence deadline without a renewal it asks its peers and
// stops the unprotected servers they do not cover (isolate). It is a
// manager Runnable.
func (a *Agent) Heartbeat(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithValues("node", a.Node)
	// Until its first renewal the agent knows nothing it can vouch for: it
	// starts past its self-fence deadline, so the watchdog (armed when it
	// was opened) is fed only once it renews or its servers are covered. An
	// agent restarted on an isolated host must not feed the watchdog of a
	// host that its predecessor had stopped feeding.
	a.mu.Lock()
	a.lastRenew, a.renewFailed = a.now().Add(-a.Timing.SelfFence), true
	a.mu.Unlock()
	a.initMetrics()
	hctx, cancel := context.WithTimeout(ctx, a.Timing.Renew)
	if err := a.updateHANode(hctx, func(*hav1alpha1.HANodeStatus) {}); err != nil {
		log.Error(err, "Writing HANode")
	}
	cancel()
	tick := time.NewTicker(a.Timing.Renew)
	defer tick.Stop()
	for {
		if a.heartbeat(ctx) != nil {
			a.isolate(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// heartbeat makes one renewal attempt and records its outcome.
func (a *Agent) heartbeat(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithValues("node", a.Node)
	// Stops made without the controller are reported before the renewal
	// that follows them: a controller that sees the renewal has the report
	// too (it waits for a renewal before it takes a server's exit 0 as a
	// normal end). No renewal while one is unreported.
	var err error
	if !a.reportLocalStops(ctx) {
		err = errors.New("a stop made without the controller is not reported yet")
		log.Info("Not renewing the Lease: a stop made without the controller is not reported yet")
	} else {
		start := time.Now()
		err = a.renew(ctx)
		leaseRenewSeconds.WithLabelValues(a.Node).Observe(time.Since(start).Seconds())
		if err != nil {
			log.Error(err, "Renewing the node Lease")
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.renewFailed = err != nil
	if err != nil {
		leaseRenewFailures.WithLabelValues(a.Node).Inc()
	} else {
		a.lastRenew, a.confirmed, a.selfStops = a.now(), nil, nil
		leaseLastRenew.WithLabelValues(a.Node).Set(float64(a.lastRenew.UnixNano()) / 1e9)
	}
	return err
}

// renew renews the node's Lease from the Lease its own last renewal
// returned, as the kubelet's node lease controller does: the informer
// cache may lag behind (a watch that is slow to deliver), and an update
// from a stale copy is a conflict; enough of them in a row would self-fence
// a healthy host. Only when it has no copy, or its copy lost a conflict,
// does it read the Lease, from the API server itself.
func (a *Agent) renew(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.Timing.Renew)
	defer cancel()
	now := metav1.NewMicroTime(a.now())
	dur := int32(a.Timing.Duration / time.Second) //nolint:gosec // seconds of a lease fit
	// After a failed attempt (or at start) this agent may have told a peer
	// it cannot renew: the renewal re-acquires the Lease, and the
	// controller starts no unprotected server here until the Lease has been
	// held for two watchdog timeouts.
	a.mu.Lock()
	reacquire := a.renewFailed
	a.mu.Unlock()
	for attempt := 0; ; attempt++ {
		l := a.lease
		if l == nil {
			l = &coordinationv1.Lease{}
			err := a.apiReader().Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Node}, l)
			if apierrors.IsNotFound(err) {
				l = &coordinationv1.Lease{
					ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Node},
					Spec:       coordinationv1.LeaseSpec{HolderIdentity: &a.Node, LeaseDurationSeconds: &dur, RenewTime: &now, AcquireTime: &now},
				}
				if err := a.Client.Create(ctx, l); err != nil {
					return err
				}
				a.lease = l
				return nil
			}
			if err != nil {
				return err
			}
		}
		l = l.DeepCopy()
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &a.Node, &dur, &now
		if reacquire {
			l.Spec.AcquireTime = &now
		}
		err := a.Client.Update(ctx, l)
		if err == nil {
			a.lease = l // the API server's answer: the next renewal starts from it
			return nil
		}
		a.lease = nil
		if !apierrors.IsConflict(err) || attempt > 0 {
			return err
		}
	}
}

// apiReader reads from the API server itself, past the informer cache.
func (a *Agent) apiReader() client.Reader {
	if a.APIReader != nil {
		return a.APIReader
	}
	return a.Client
}

// localStop is a stop the agent made on its own, to be reported.
type localStop struct {
	uid  types.UID
	stop hav1alpha1.LocalStop
}

// noteLocalStop remembers that the agent stopped s's copy here on its own,
// to report it as soon as the API server can be reached.
func (a *Agent) noteLocalStop(s *hav1alpha1.HAServer, why hav1alpha1.LocalStopReason) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.noteLocalStopLocked(s, why)
}

func (a *Agent) noteLocalStopLocked(s *hav1alpha1.HAServer, why hav1alpha1.LocalStopReason) {
	if a.localStops == nil {
		a.localStops = map[string]localStop{}
	}
	a.localStops[s.ReportKey()] = localStop{uid: s.UID,
		stop: hav1alpha1.LocalStop{Pod: podOf(s, a.Node), Reason: why, Time: nowTime(a.now())}}
}

// reportLocalStops writes the stops the agent made on its own into its
// reports, once the API server answers again: the controller then reads the
// server's end as the abnormal termination it is (StoppedByAgent), not as a
// normal end, and the server runs again.
func (a *Agent) reportLocalStops(ctx context.Context) (allReported bool) {
	a.mu.Lock()
	pending := maps.Clone(a.localStops)
	a.mu.Unlock()
	allReported = true
	for key, ls := range pending {
		wctx, cancel := context.WithTimeout(ctx, a.Timing.Renew)
		unlock := a.lockReport(key)
		r := a.report(wctx, key, ls.uid)
		r.LocalStop, r.Time = &ls.stop, nowTime(a.now())
		err := a.writeReport(wctx, r)
		unlock()
		cancel()
		if err != nil && (apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) {
			// Refused for good: holding the renewals back for it would only
			// make the controller count this healthy host out.
			ctrl.LoggerFrom(ctx).Error(err, "A stop made without the controller cannot be reported; giving up on it",
				"haserver", key, "pod", ls.stop.Pod)
		} else if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Reporting a stop made without the controller", "haserver", key)
			allReported = false
			continue
		}
		a.mu.Lock()
		if cur, ok := a.localStops[key]; ok && cur.stop.Pod == ls.stop.Pod {
			delete(a.localStops, key)
		}
		a.mu.Unlock()
	}
	return allReported
}

func nowTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// SetupWithManager registers the agent: a reconciler of the HAServers that
// name this node, and the heartbeat.
func (a *Agent) SetupWithManager(mgr ctrl.Manager) error {
	if a.SCSI.Retries == 0 && a.SCSI.Timeout == 0 {
		a.SCSI = scsipr.DefaultClient
	}
	if err := a.Timing.Validate(); err != nil {
		return err
	}
	if a.Runtime != nil {
		a.Runtime = timedRuntime{Runtime: a.Runtime, node: a.Node}
	}
	if err := mgr.Add(manager.RunnableFunc(a.Heartbeat)); err != nil {
		return err
	}
	if a.Watchdog != nil {
		if err := mgr.Add(manager.RunnableFunc(a.FeedWatchdog)); err != nil {
			return err
		}
	}
	if a.PeerListen.Listen != "" {
		if err := mgr.Add(manager.RunnableFunc(a.ServePeers(a.PeerListen))); err != nil {
			return err
		}
	}
	if err := mgr.Add(manager.RunnableFunc(a.DeviceReport(5 * a.Timing.Renew))); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(a.FollowExits)); err != nil {
		return err
	}
	onThisNode := predicate.NewPredicateFuncs(func(o client.Object) bool {
		s, ok := o.(*hav1alpha1.HAServer)
		return ok && slices.ContainsFunc(s.Spec.Hosts, func(h hav1alpha1.HostSpec) bool { return h.Node == a.Node })
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&hav1alpha1.HAServer{}, builder.WithPredicates(onThisNode)).
		Named("nodeagent").
		Complete(a)
}
