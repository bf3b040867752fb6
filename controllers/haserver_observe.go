package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

// startFailureReasons are the container waiting reasons that mean the
// server cannot start (rather than "not yet").
var startFailureReasons = []string{
	"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
}

// hostView is what was observed of one host.
type hostView struct {
	// alive says the node agent's Lease is fresh, as the lease sight
	// counts it.
	alive bool
	// bootID is the host's boot ID as its agent reports it (HANode).
	bootID string
	// report is the agent's report on this server (HANode status).
	report *hav1alpha1.NodeServerStatus
	// pod is the server's current pod on the host, nil when none; live says
	// it is neither terminated nor being deleted.
	pod  *corev1.Pod
	live bool
	// copyMayRun says a pod of the server here that is not live (being
	// deleted, or an extra one) may still have its container running: its
	// preStop hook (the termCommand) and grace period take their time. No
	// new copy of the server starts here until it is gone: a pod is gone
	// only when it is deleted from the API or its container is reported
	// terminated. Both copies would share the node's reservation key, so
	// the disk could not tell them apart.
	copyMayRun bool
	// stale are the host's other pods of this server (terminated or extra).
	stale []*corev1.Pod
	// termPods are the pods that run the termCommand here after an
	// abnormal termination: never copies of the server.
	termPods []*corev1.Pod
	// nodeExists says the Node object exists.
	nodeExists bool
	// cordoned says the Node is unschedulable (kubectl cordon or drain).
	cordoned bool
	// renewed is the agent's last Lease renewal (its renewTime, the host's
	// clock); awaitAgent says an event waits for a renewal after it.
	renewed    time.Time
	awaitAgent bool
	// settlesAt, when set, is when the host will have held its Lease for
	// MsgWait since its agent last re-acquired it (acquireTime, set on the
	// first renewal after a failed one: it may have confirmed an outage to
	// a peer). Measured on the host's own clock (renewTime - acquireTime),
	// placed on the controller's.
	settlesAt time.Time
	// rebooted says the host's boot ID is not the one the status recorded:
	// every pod seen there belongs to the old boot (now in stale), and
	// whatever ran there has ended.
	rebooted bool
}

// observe reads what the machine needs about each host of s.
func (r *HAServerReconciler) observe(ctx context.Context, s *hav1alpha1.HAServer, nodes []string) (map[string]*hostView, error) {
	views := map[string]*hostView{}
	for _, n := range nodes {
		views[n] = &hostView{}
	}
	now := r.Clock.Now()
	for _, n := range nodes {
		v := views[n]
		var lease coordinationv1.Lease
		err := r.Get(ctx, client.ObjectKey{Namespace: r.AgentNamespace, Name: n}, &lease)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading the lease of %s: %w", n, err)
		default:
			expiry := leaseExpiry(&lease)
			if r.sight != nil {
				expiry = r.sight.expiry(&lease, recordedAlive(s, n))
			}
			v.alive = now.Before(expiry)
			if lease.Spec.RenewTime != nil {
				v.renewed = lease.Spec.RenewTime.Time
				if a := lease.Spec.AcquireTime; a != nil && r.MsgWait > 0 {
					if held := v.renewed.Sub(a.Time); held < r.MsgWait {
						// From when this renewal was seen: the same time at
						// every look until the next renewal, which moves
						// both by as much.
						seen := now
						if r.sight != nil {
							seen = r.sight.seenAt(&lease)
						}
						v.settlesAt = seen.Add(r.MsgWait - max(held, 0))
					}
				}
			}
		}
		var hn hav1alpha1.HANode
		err = r.Get(ctx, client.ObjectKey{Name: n}, &hn)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading HANode %s: %w", n, err)
		default:
			v.bootID = hn.Status.BootID
			if rep := hn.Status.Report(s.ReportKey()); rep != nil && (rep.ServerUID == "" || rep.ServerUID == string(s.UID)) {
				v.report = rep
			}
		}
		var node corev1.Node
		err = r.Get(ctx, client.ObjectKey{Name: n}, &node)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading node %s: %w", n, err)
		}
		v.nodeExists = err == nil
		v.cordoned = err == nil && node.Spec.Unschedulable
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(s.Namespace), client.MatchingFields{podServerIndex: s.Name}); err != nil {
		return nil, fmt.Errorf("listing pods of %s: %w", s.Name, err)
	}
	recorded := map[string]string{}
	for _, h := range s.Status.Hosts {
		recorded[h.Node] = h.Pod
	}
	cached := map[string]bool{}
	place := func(p *corev1.Pod) {
		v := views[p.Spec.NodeName]
		if v == nil {
			v = &hostView{}
			views[p.Spec.NodeName] = v
		}
		live := p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
		switch {
		case p.Labels[hav1alpha1.LabelRole] == hav1alpha1.RoleTermCommandLabel:
			v.termPods = append(v.termPods, p)
		case ofEarlierBoot(p, v.bootID):
			// Created for an earlier boot of the host: whatever it ran
			// went with that boot, and it is never the current copy (a
			// kubelet may report it Running for a while after the reboot).
			v.stale = append(v.stale, p)
		case p.Name == recorded[p.Spec.NodeName], v.pod == nil && live:
			if v.pod != nil {
				v.stale = append(v.stale, v.pod)
			}
			v.pod, v.live = p, live
		default:
			v.stale = append(v.stale, p)
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if !metav1IsControlledBy(p, s) {
			continue
		}
		cached[p.Name] = true
		place(p)
	}
	missing, err := r.recordedPodsNotCached(ctx, s, cached)
	if err != nil {
		return nil, err
	}
	for _, p := range missing {
		place(p)
	}
	for _, v := range views {
		preferNewerLivePod(v)
	}
	for _, h := range s.Status.Hosts {
		if v := views[h.Node]; v != nil && h.BootID != "" && v.bootID != "" && v.bootID != h.BootID {
			if v.pod != nil {
				v.stale = append(v.stale, v.pod)
			}
			v.pod, v.live, v.rebooted = nil, false, true
		}
	}
	if err := r.refreshReportsOfExits(ctx, s, views); err != nil {
		return nil, err
	}
	for _, v := range views {
		// On a rebooted host too: the reboot ended what ran there, but a
		// pod of the old boot that had not started yet (Pending) is started
		// by the kubelet when it comes back, unless it is deleted first.
		// Until the old pods are reported ended or gone, a copy may run.
		if v.pod != nil && !v.live && containerMayRun(v.pod) {
			v.copyMayRun = true
		}
		for _, p := range v.stale {
			v.copyMayRun = v.copyMayRun || containerMayRun(p)
		}
	}
	return views, nil
}

// recordedPodsNotCached reads, from the API server itself, each pod the
// status records on a host where the server runs that the cache does not
// hold. The pod cache and the HAServer cache are fed by two watches in no
// common order (after an API-server outage one may lag the other by tens
// of seconds): a pod just created and recorded may not be cached yet, and
// reading its absence as "the pod is gone" would take a running copy for
// ended and start another one elsewhere beside it (the soak, seed
// 1796669769871663582). Only a pod the API server does not have is gone.
func (r *HAServerReconciler) recordedPodsNotCached(ctx context.Context, s *hav1alpha1.HAServer,
	cached map[string]bool) ([]*corev1.Pod, error) {
	if r.APIReader == nil {
		return nil, nil
	}
	var out []*corev1.Pod
	for _, h := range s.Status.Hosts {
		if h.Pod == "" || !h.Running || cached[h.Pod] {
			continue
		}
		var p corev1.Pod
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: h.Pod}, &p)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading pod %s, recorded on %s but not in the cache: %w", h.Pod, h.Node, err)
		}
		if metav1IsControlledBy(&p, s) && p.Spec.NodeName == h.Node {
			out = append(out, &p)
		}
	}
	return out, nil
}

// refreshReportsOfExits reads, from the API server itself, the agent's
// report on s of every host whose server pod has just ended with exit 0.
// Such an end is taken as normal only once the host's agent has renewed
// its Lease since, and the agent writes a stop it made on its own before
// that renewal; but the controller's caches of Leases and HANodes are fed
// by two watches in no common order, so the cached report may still lack
// it. Read after the Lease, the API server's copy has it. (Rare: only on
// an exit 0.)
func (r *HAServerReconciler) refreshReportsOfExits(ctx context.Context, s *hav1alpha1.HAServer, views map[string]*hostView) error {
	if r.APIReader == nil {
		return nil
	}
	for node, v := range views {
		if v.pod == nil || v.pod.DeletionTimestamp != nil {
			continue
		}
		cs := serverContainerStatus(v.pod)
		if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			continue
		}
		var hn hav1alpha1.HANode
		err := r.APIReader.Get(ctx, client.ObjectKey{Name: node}, &hn)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading HANode %s: %w", node, err)
		}
		if rep := hn.Status.Report(s.ReportKey()); rep != nil && (rep.ServerUID == "" || rep.ServerUID == string(s.UID)) {
			v.report = rep
		}
	}
	return nil
}

// containerMayRun says the server's container in p may be running: p is not
// finished and its server container is not reported terminated.
func containerMayRun(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	cs := serverContainerStatus(p)
	return cs == nil || cs.State.Terminated == nil
}

// preferNewerLivePod makes a live pod the host's current copy when the
// recorded one has ended. hamon makes a new pod on a host only once the
// earlier copy there has ended, and records its name in a second status
// write, after the create: when that write is lost (a conflict, a
// controller restart), the record still names the ended pod, and reading
// that one would take the running copy for ended (a restart in place
// "failed" while it runs, and another host is activated beside it). A live
// pod beside an ended one is the newer (creation times have whole seconds
// only); taking it for the current copy is the safe reading either way.
func preferNewerLivePod(v *hostView) {
	if v.pod == nil || v.live {
		return
	}
	for i, p := range v.stale {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed &&
			!ofEarlierBoot(p, v.bootID) {
			v.stale[i] = v.pod
			v.pod, v.live = p, true
			return
		}
	}
}

// ofEarlierBoot says p was created for another boot of its host than the
// current one (bootID, as the host's agent reports it). Pods without the
// annotation (made by an older hamon) and hosts without a reported boot
// ID say nothing.
func ofEarlierBoot(p *corev1.Pod, bootID string) bool {
	made := p.Annotations[hav1alpha1.AnnotationBootID]
	return made != "" && bootID != "" && made != bootID
}

// newestRequest is the id of the newest agent request of action asked of
// node, 0 when none.
func newestRequest(s *hav1alpha1.HAServer, node string, action hav1alpha1.AgentAction) int64 {
	var id int64
	for _, rq := range s.Status.AgentRequests {
		if rq.Node == node && rq.Action == action && rq.ID > id {
			id = rq.ID
		}
	}
	return id
}

// recordedPod is the server's pod on node as the status records it.
func recordedPod(s *hav1alpha1.HAServer, node string) string {
	for _, h := range s.Status.Hosts {
		if h.Node == node {
			return h.Pod
		}
	}
	return ""
}

// recordedAlive is what s's status last said of node's liveness.
func recordedAlive(s *hav1alpha1.HAServer, node string) bool {
	for _, h := range s.Status.Hosts {
		if h.Node == node {
			return h.Alive
		}
	}
	return false
}

func metav1IsControlledBy(p *corev1.Pod, s *hav1alpha1.HAServer) bool {
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.UID == s.UID {
			return true
		}
	}
	return false
}

// leaseExpiry is when a Lease runs out: its last renewal plus its duration.
func leaseExpiry(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
}

// deriveEvents compares what was observed with what the machine remembers
// and returns the events that tell the difference, in a fixed order: hosts,
// agent reports, servers, the operator request, then time. The machine
// ignores the ones that no longer matter, so deriving them again on the
// next reconcile is harmless.
func deriveEvents(s *hav1alpha1.HAServer, st *hotstandby.State, views map[string]*hostView) []hotstandby.Event {
	var evs []hotstandby.Event
	booted := map[string]string{}
	for _, h := range s.Status.Hosts {
		booted[h.Node] = h.BootID
	}
	for _, h := range st.Hosts {
		v := views[h.Node]
		if v == nil {
			continue
		}
		switch {
		case v.alive && !h.Alive:
			rebooted := booted[h.Node] != "" && v.bootID != "" && v.bootID != booted[h.Node]
			evs = append(evs, hotstandby.HostBack{Node: h.Node, Rebooted: rebooted})
		case v.alive && h.State == hotstandby.Fenced && v.bootID != "" && booted[h.Node] != "" && v.bootID != booted[h.Node]:
			evs = append(evs, hotstandby.HostBack{Node: h.Node, Rebooted: true})
		case !v.alive && h.Alive:
			evs = append(evs, hotstandby.HostLost{Node: h.Node, LastRenewal: v.renewed})
		}
	}
	stoppedByAgent := map[string]bool{}
	for _, h := range st.Hosts {
		v := views[h.Node]
		if v == nil || v.report == nil {
			continue
		}
		if ls := v.report.LocalStop; ls != nil && h.Running && ls.Pod != "" && ls.Pod == recordedPod(s, h.Node) {
			// Its end, however the kubelet reports it, is this abnormal termination.
			evs = append(evs, hotstandby.StoppedByAgent{Node: h.Node, Reason: string(ls.Reason) + " while the API server was out of reach"})
			stoppedByAgent[h.Node] = true
		}
		if a := v.report.LastAnswer(hav1alpha1.AgentReserve); a != nil {
			switch a.Result {
			case hav1alpha1.AnswerDone:
				evs = append(evs, hotstandby.ReservationTaken{Node: h.Node, Epoch: a.Epoch})
			case hav1alpha1.AnswerFailed:
				evs = append(evs, hotstandby.ReservationFailed{Node: h.Node, Epoch: a.Epoch, Reason: a.Message})
			}
		}
		a := v.report.LastAnswer(hav1alpha1.AgentClearReservation)
		if a != nil && a.ID == newestRequest(s, h.Node, hav1alpha1.AgentClearReservation) {
			// The answer to the newest clear asked of this host: an older
			// one (an earlier monscsiclr) says nothing of this one.
			evs = append(evs, hotstandby.ReservationCleared{By: h.Node, OK: a.Result == hav1alpha1.AnswerDone, Reason: a.Message})
		}
		if v.report.PatrolFailed && h.State == hotstandby.Online && v.pod != nil && v.report.PatrolPod == v.pod.Name {
			var at time.Time
			if v.report.Time != nil {
				at = v.report.Time.Time
			}
			evs = append(evs, hotstandby.PatrolFailed{Node: h.Node, Reason: "patrol command failed: " + v.report.Message, At: at})
		}
	}
	for _, h := range st.Hosts {
		v := views[h.Node]
		switch {
		case v != nil && h.TermCommand:
			evs = append(evs, termCommandEvents(s, h, v)...)
		case v == nil, stoppedByAgent[h.Node]:
		case v.rebooted:
			// The old boot's pods say nothing of the new one: the reboot
			// ended any server running there (a kubelet would report it
			// lost, exit 137, some time later). But a pod of the old boot
			// that had not started yet starts when the kubelet comes back:
			// the end is news only once every old pod ended or is gone
			// (hamon deletes them).
			if h.Running && h.State != hotstandby.Fenced && !rebootPending(st, h.Node, v) {
				evs = append(evs, hotstandby.ServerExited{Node: h.Node, Normal: false})
			}
		default:
			evs = append(evs, podEvents(s, h, v)...)
		}
	}
	if rq := s.Spec.Request; rq != nil {
		evs = append(evs, hotstandby.Request{ID: rq.ID, Action: hotstandby.Action(rq.Action), Node: rq.Node, Force: rq.Force})
	}
	return append(evs, hotstandby.Tick{})
}

// termCommandEvents reads the pod that runs the termCommand on h after an
// abnormal termination (Table 4-4 #1): its end is news.
func termCommandEvents(s *hav1alpha1.HAServer, h hotstandby.Host, v *hostView) []hotstandby.Event {
	name := termPodName(s, h.Node, h.Since)
	for _, p := range v.termPods {
		if p.Name != name {
			continue
		}
		if cs := serverContainerStatus(p); cs != nil && cs.State.Terminated != nil {
			return []hotstandby.Event{hotstandby.TermCommandEnded{Node: h.Node, ExitCode: cs.State.Terminated.ExitCode}}
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return []hotstandby.Event{hotstandby.TermCommandEnded{Node: h.Node, ExitCode: -1}}
		}
	}
	return nil
}

// podEvents reads the server's pod on one host: started (Ready), exited
// (normal with status 0), failed to start, or failing its patrol
// (the readiness probe that runs spec.patrol).
func podEvents(s *hav1alpha1.HAServer, h hotstandby.Host, v *hostView) []hotstandby.Event {
	recorded := recordedPod(s, h.Node)
	p := v.pod
	if p == nil {
		if h.Running && recorded != "" {
			// The pod is gone: deleted by hamon to stop it, or by a person
			// (a planned termination).
			return []hotstandby.Event{hotstandby.ServerExited{Node: h.Node, Normal: true}}
		}
		return nil
	}
	if !h.Running && h.State != hotstandby.Stopping {
		return nil // a pod on its way out
	}
	cs := serverContainerStatus(p)
	if at, ok := reportedCrash(v, p); ok && h.State != hotstandby.Stopping && !containerEnded(p, cs) {
		// The host's agent saw the container end abnormally (the
		// runtime's event) before the kubelet wrote it: the same
		// termination, known sooner. (Not while hamon stops it: that
		// end is the stop's, and the pod's deletion, which says so, may
		// not be in the cache yet.)
		return []hotstandby.Event{hotstandby.ServerExited{Node: h.Node, Normal: p.DeletionTimestamp != nil, At: at}}
	}
	if exited, normal := podExited(p, cs); exited {
		if normal && p.DeletionTimestamp == nil && h.State == hotstandby.Online && !renewedSince(v, cs) {
			// An exit 0 of the active server is taken as a normal end
			// only once its agent has renewed its Lease since: an agent
			// reports a stop it made on its own (self-fence) before that
			// renewal, and such a stop is no normal end (StoppedByAgent).
			v.awaitAgent = true
			return nil
		}
		// A pod that was being deleted (by hamon to stop it, or by a
		// person: a forced termination, Table 4-3 #1) ended normally,
		// whatever its exit code after SIGTERM.
		var at time.Time
		if cs != nil && cs.State.Terminated != nil {
			at = cs.State.Terminated.FinishedAt.Time // whole seconds
		}
		return []hotstandby.Event{hotstandby.ServerExited{Node: h.Node, Normal: normal || p.DeletionTimestamp != nil, At: at}}
	}
	if p.DeletionTimestamp != nil {
		return nil // on its way out: only its end is news
	}
	if cs != nil && cs.State.Waiting != nil && slices.Contains(startFailureReasons, cs.State.Waiting.Reason) {
		return []hotstandby.Event{hotstandby.StartFailed{Node: h.Node, Reason: cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message}}
	}
	ready := podReady(p)
	switch {
	case ready && h.State == hotstandby.RestartWait && residentPatrolFailed(v, p):
		// Waiting to recover (switchType Restart, or Manual) after its
		// resident patrolCommand failed: the pod's readiness does not
		// say it recovered; the patrol's report does.
		return nil
	case ready && h.State != hotstandby.Online && h.State != hotstandby.Standby:
		return []hotstandby.Event{hotstandby.ServerStarted{Node: h.Node}}
	case ready && h.State == hotstandby.Online && h.FailureLeft && !residentPatrolFailed(v, p):
		// A failure left alone (no standby then) is over: healthy again.
		return []hotstandby.Event{hotstandby.ServerStarted{Node: h.Node}}
	case !ready && h.State == hotstandby.Online && s.Spec.Patrol != nil && cs != nil && cs.State.Running != nil:
		return []hotstandby.Event{hotstandby.PatrolFailed{Node: h.Node, Reason: "patrol (readiness) failed", At: readySince(p)}}
	}
	return nil
}

// reportedCrash says the host's agent reports that the server container of
// p ended with a non-zero exit code, and when. An exit 0 is left to the
// kubelet's word: a normal end waits for the agent's next renewal anyway
// (renewedSince), and is no hurry.
func reportedCrash(v *hostView, p *corev1.Pod) (time.Time, bool) {
	if v.report == nil || v.report.ContainerExit == nil {
		return time.Time{}, false
	}
	e := v.report.ContainerExit
	if e.Pod != p.Name || (e.PodUID != "" && e.PodUID != string(p.UID)) || e.ExitCode == 0 {
		return time.Time{}, false
	}
	var at time.Time
	if e.FinishedAt != nil {
		at = e.FinishedAt.Time
	}
	return at, true
}

// containerEnded says the pod's status already tells the server
// container's end.
func containerEnded(p *corev1.Pod, cs *corev1.ContainerStatus) bool {
	exited, _ := podExited(p, cs)
	return exited
}

// residentPatrolFailed says the agent reports the resident patrolCommand of
// the server in p failed: the pod's readiness then does not say it is well.
func residentPatrolFailed(v *hostView, p *corev1.Pod) bool {
	return v.report != nil && v.report.PatrolFailed && v.report.PatrolPod == p.Name
}

// renewedSince says the host's agent renewed its Lease after the server
// container finished (both times are the host's clock; the finish time is
// kept in whole seconds, so the renewal must be a second later).
func renewedSince(v *hostView, cs *corev1.ContainerStatus) bool {
	if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.FinishedAt.IsZero() {
		return true // nothing to wait for
	}
	return v.renewed.After(cs.State.Terminated.FinishedAt.Add(time.Second))
}

// serverContainerStatus is the status of the pod's first container: the server.
func serverContainerStatus(p *corev1.Pod) *corev1.ContainerStatus {
	if len(p.Spec.Containers) == 0 {
		return nil
	}
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == p.Spec.Containers[0].Name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// podExited says whether the server has ended, and whether normally.
func podExited(p *corev1.Pod, cs *corev1.ContainerStatus) (exited, normal bool) {
	if cs != nil && cs.State.Terminated != nil {
		return true, cs.State.Terminated.ExitCode == 0
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return true, true
	case corev1.PodFailed:
		return true, false
	}
	return false, false
}

// readySince is when the pod's Ready condition last changed (whole
// seconds), zero when it has none.
func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
