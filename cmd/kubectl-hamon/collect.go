package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// leaderElectionID is the controller's leader election Lease
// (cmd/manager).
const leaderElectionID = "hamon-controller.ha.hamon.io"

// recentWarnings is how many warning events SUMMARY.txt lists.
const recentWarnings = 20

// logTimeout bounds the read of one log.
const logTimeout = 15 * time.Second

// collection is the archive being put together, in memory: SUMMARY.txt,
// written last, goes first.
type collection struct {
	members []member
	// missing says what could not be collected, and why.
	missing []string
}

type member struct {
	name string
	data []byte
}

func (c *collection) add(name string, data []byte) {
	c.members = append(c.members, member{name: name, data: data})
}

// unavailable records that something could not be collected, in a file
// in its place and in the summary.
func (c *collection) unavailable(name, why string) {
	c.add(name, []byte(why+"\n"))
	c.missing = append(c.missing, name+": "+why)
}

func (o *options) addYAML(c *collection, name string, obj client.Object) {
	data, err := yaml.Marshal(o.typed(obj, true))
	if err != nil {
		c.unavailable(name+".txt", "could not encode: "+err.Error())
		return
	}
	c.add(name, data)
}

// runCollect is the error information collection of 7.4.2.
func runCollect(ctx context.Context, o *options) int {
	s, err := o.get(ctx)
	if err != nil {
		return o.abort(err)
	}
	now := o.now().UTC()
	base := fmt.Sprintf("hamon-collect-%s-%s-%s", s.Namespace, s.Name, now.Format("20060102T150405Z"))
	file := o.file
	if file == "" {
		file = base + ".tar.gz"
	}
	var out io.Writer
	var f *os.File
	msgs := o.out
	if file == "-" {
		out, msgs = o.out, o.err
	} else {
		f, err = os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // the user names the file (-o)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return o.abort(fmt.Errorf("-o %s: the file exists; give another name or remove it", file))
			}
			return o.abort(fmt.Errorf("-o %s: %w", file, err))
		}
		out = f
	}
	c := o.gather(ctx, s, now)
	size, err := writeArchive(out, base, now, c)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(file) //nolint:gosec // the file just created, named by the user (-o)
		}
	}
	if err != nil {
		return o.abort(fmt.Errorf("writing %s: %w", file, err))
	}
	fmt.Fprintf(msgs, "Wrote %s: %d files, %d KiB. Read %s/SUMMARY.txt first.\n", file, len(c.members), (size+1023)/1024, base)
	if len(c.missing) > 0 {
		fmt.Fprintf(msgs, "%d things could not be collected (each has a file saying why):\n", len(c.missing))
		for _, m := range c.missing {
			fmt.Fprintf(msgs, "  %s\n", strings.ReplaceAll(m, "\n", " "))
		}
	}
	return exitDone
}

// writeArchive writes the members under the directory base into a tar.gz
// and returns its size.
func writeArchive(w io.Writer, base string, now time.Time, c *collection) (int64, error) {
	cw := &countingWriter{w: w}
	gz := gzip.NewWriter(cw)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: base + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
		return 0, err
	}
	for _, m := range c.members {
		hdr := &tar.Header{Name: base + "/" + m.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(m.data)), ModTime: now}
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, err
		}
		if _, err := tw.Write(m.data); err != nil {
			return 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := gz.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// gather reads everything the archive holds. Only the HAServer itself is
// required; whatever else cannot be read is recorded as unavailable.
func (o *options) gather(ctx context.Context, s *hav1alpha1.HAServer, now time.Time) *collection {
	c := &collection{}
	o.addYAML(c, "haserver.yaml", s)
	if g := s.Spec.Group; g != nil && g.Name != "" {
		var grp hav1alpha1.HAServerGroup
		if err := o.c.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: g.Name}, &grp); err != nil {
			c.unavailable("haservergroup.txt", fmt.Sprintf("HAServerGroup %s: %v", g.Name, err))
		} else {
			o.addYAML(c, "haservergroup.yaml", &grp)
		}
	}

	// The server's pods.
	var pods corev1.PodList
	if err := o.c.List(ctx, &pods, client.InNamespace(s.Namespace), client.MatchingLabels{hav1alpha1.LabelServer: s.Name}); err != nil {
		c.unavailable("pods/UNAVAILABLE.txt", fmt.Sprintf("listing the pods of %s: %v", s.Name, err))
	}
	for i := range pods.Items {
		o.addYAML(c, "pods/"+pods.Items[i].Name+".yaml", &pods.Items[i])
	}

	// Events of the server and of its pods.
	events := o.events(ctx, c, s, pods.Items)
	items := make([]any, len(events))
	for i := range events {
		items[i] = o.typed(&events[i], true)
	}
	if data, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}); err == nil {
		c.add("events.yaml", data)
	}
	c.add("events.txt", []byte(eventsText(events)))

	// The hosts: HANodes, Leases.
	hv, err := o.readHosts(ctx, s)
	if err != nil {
		c.unavailable("hanodes/UNAVAILABLE.txt", err.Error())
		hv = newHostsView(now, s, nil, nil, err)
	}
	for _, node := range hv.nodes {
		if n := hv.hanode[node]; n != nil {
			o.addYAML(c, "hanodes/"+node+".yaml", n)
		} else if err == nil {
			c.unavailable("hanodes/"+node+".txt", "no HANode "+node+": its node agent has never reported")
		}
		switch l := hv.lease[node]; {
		case l != nil:
			o.addYAML(c, "leases/"+node+".yaml", l)
		case hv.leaseErr != nil:
			c.unavailable("leases/"+node+".txt", hv.leaseErr.Error())
		default:
			c.unavailable("leases/"+node+".txt",
				fmt.Sprintf("no Lease %s in %s: its node agent has never renewed one there", node, o.leaseNamespace))
		}
	}
	var leader coordinationv1.Lease
	if err := o.c.Get(ctx, client.ObjectKey{Namespace: o.hamonNamespace, Name: leaderElectionID}, &leader); err == nil {
		o.addYAML(c, "leases/"+leaderElectionID+".yaml", &leader)
	}

	// Logs: the servers', the controller's, the agents' of the hosts.
	for i := range pods.Items {
		o.podLogs(ctx, c, "logs/server/", &pods.Items[i])
	}
	ctrlPods, err := o.hamonPods(ctx, o.controllerSelector)
	switch {
	case err != nil:
		c.unavailable("logs/controller/UNAVAILABLE.txt", err.Error())
	case len(ctrlPods) == 0:
		c.unavailable("logs/controller/NOT-FOUND.txt", fmt.Sprintf("no pod in namespace %s matches --controller-selector %s: "+
			"the controller may run elsewhere (another namespace: --hamon-namespace; as a process outside the cluster: "+
			"collect its log there)", o.hamonNamespace, o.controllerSelector))
	}
	for i := range ctrlPods {
		o.addYAML(c, "hamon-pods/"+ctrlPods[i].Name+".yaml", &ctrlPods[i])
		o.podLogs(ctx, c, "logs/controller/", &ctrlPods[i])
	}
	agentPods, err := o.hamonPods(ctx, o.agentSelector)
	if err != nil {
		c.unavailable("logs/agent/UNAVAILABLE.txt", err.Error())
	}
	for _, node := range hv.nodes {
		found := false
		for i := range agentPods {
			if p := &agentPods[i]; p.Spec.NodeName == node {
				found = true
				o.addYAML(c, "hamon-pods/"+p.Name+".yaml", p)
				o.podLogs(ctx, c, "logs/agent/"+node+"/", p)
			}
		}
		if !found && err == nil {
			c.unavailable("logs/agent/"+node+"/NOT-FOUND.txt", fmt.Sprintf("no pod on node %s in namespace %s matches --agent-selector %s: "+
				"is the node agent running there?", node, o.hamonNamespace, o.agentSelector))
		}
	}

	summary := o.summary(s, hv, events, c, now)
	c.members = append([]member{{name: "SUMMARY.txt", data: []byte(summary)}}, c.members...)
	return c
}

// hamonPods lists the pods of hamon itself that selector picks.
func (o *options) hamonPods(ctx context.Context, selector string) ([]corev1.Pod, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, err
	}
	var pods corev1.PodList
	if err := o.c.List(ctx, &pods, client.InNamespace(o.hamonNamespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing pods in %s with %s: %w", o.hamonNamespace, selector, err)
	}
	return pods.Items, nil
}

// podLogs adds the recent log of each container of p under dir, and the
// log of the previous run of a container that restarted.
func (o *options) podLogs(ctx context.Context, c *collection, dir string, p *corev1.Pod) {
	restarts := map[string]int32{}
	for _, cs := range p.Status.ContainerStatuses {
		restarts[cs.Name] = cs.RestartCount
	}
	for _, ctr := range p.Spec.Containers {
		name := dir + p.Name + "/" + ctr.Name
		o.addLog(ctx, c, name, p, ctr.Name, false)
		if restarts[ctr.Name] > 0 {
			o.addLog(ctx, c, name+".previous", p, ctr.Name, true)
		}
	}
}

func (o *options) addLog(ctx context.Context, c *collection, name string, p *corev1.Pod, container string, previous bool) {
	ctx, cancel := context.WithTimeout(ctx, logTimeout)
	defer cancel()
	tail, limit := o.tail, o.limitBytes
	req := o.cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
		Container: container, Previous: previous, Timestamps: true, TailLines: &tail, LimitBytes: &limit,
	})
	data, err := readLog(ctx, req, limit)
	if err != nil {
		why := fmt.Sprintf("could not read the log of container %s of pod %s/%s", container, p.Namespace, p.Name)
		if previous {
			why += " (previous run)"
		}
		why += ": " + err.Error()
		switch {
		case apierrors.IsForbidden(err):
			why += "\nYour user may not read pods/log in " + p.Namespace + ": ask for get on pods/log there."
		case p.Spec.NodeName != "":
			why += "\nThe API server reads logs from the kubelet of node " + p.Spec.NodeName +
				": it may be down or unreachable, or the container may not have started."
		}
		c.unavailable(name+".UNAVAILABLE.txt", why)
		return
	}
	c.add(name+".log", data)
}

// readLog reads a log, at most limit bytes of it (the API server stops
// near limitBytes; this makes sure).
func readLog(ctx context.Context, req *rest.Request, limit int64) ([]byte, error) {
	rc, err := req.Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// events lists the events of the server and of its pods, oldest first.
func (o *options) events(ctx context.Context, c *collection, s *hav1alpha1.HAServer, pods []corev1.Pod) []corev1.Event {
	type target struct{ kind, name string }
	targets := []target{{"HAServer", s.Name}}
	for _, p := range pods {
		targets = append(targets, target{"Pod", p.Name})
	}
	var out []corev1.Event
	for _, t := range targets {
		var list corev1.EventList
		err := o.c.List(ctx, &list, client.InNamespace(s.Namespace),
			client.MatchingFields{"involvedObject.kind": t.kind, "involvedObject.name": t.name})
		if err != nil {
			c.missing = append(c.missing, fmt.Sprintf("events of %s %s: %v", t.kind, t.name, err))
			continue
		}
		out = append(out, list.Items...)
	}
	slices.SortStableFunc(out, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	return out
}

// eventTime is when an event last happened.
func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// eventLine is one event as kubectl get events shows it, on one line.
func eventLine(e corev1.Event) string {
	count := ""
	switch {
	case e.Series != nil && e.Series.Count > 1:
		count = fmt.Sprintf(" (x%d)", e.Series.Count)
	case e.Count > 1:
		count = fmt.Sprintf(" (x%d)", e.Count)
	}
	return fmt.Sprintf("%s %-7s %s/%s %s: %s%s", eventTime(e).UTC().Format(time.RFC3339), e.Type,
		e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, strings.TrimSpace(e.Message), count)
}

func eventsText(events []corev1.Event) string {
	if len(events) == 0 {
		return "No events (the API server keeps them for an hour by default).\n"
	}
	var b strings.Builder
	for _, e := range events {
		b.WriteString(eventLine(e))
		b.WriteByte('\n')
	}
	return b.String()
}

// pluginVersion is the plugin's module version and VCS revision.
func pluginVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// summary is SUMMARY.txt: what a support engineer reads first.
func (o *options) summary(s *hav1alpha1.HAServer, hv *hostsView, events []corev1.Event, c *collection, now time.Time) string {
	var b strings.Builder
	key := s.ReportKey()
	server := "unknown"
	if v, err := o.cs.Discovery().ServerVersion(); err == nil {
		server = v.GitVersion
	}
	fmt.Fprintf(&b, "hamon error information for HAServer %s (alias %s)\n", key, s.EffectiveAlias())
	fmt.Fprintf(&b, "Collected %s by kubectl-hamon %s; API server %s.\n", now.Format(time.RFC3339), pluginVersion(), server)
	b.WriteString("Read this first; the files are listed at the end.\n")

	b.WriteString("\n== STATE\n")
	st := s.Status
	fmt.Fprintf(&b, "phase %s, active %s, standby %s, fencing epoch %d\n",
		orDash(string(st.Phase)), orDash(st.ActiveNode), orDash(st.StandbyNodes), st.FencingEpoch)
	fmt.Fprintf(&b, "mode %s, switchType %s, switchError %s, generation %d (status observed %d)\n",
		s.Spec.EffectiveMode(), s.Spec.EffectiveSwitchType(), orDash(string(s.Spec.SwitchError)), s.Generation, st.ObservedGeneration)
	if s.Spec.Group != nil {
		fmt.Fprintf(&b, "group %s\n", s.Spec.Group.Name)
	}
	if st.Halted != "" {
		fmt.Fprintf(&b, "halted: %s\n", st.Halted)
	}
	if st.Deadline != nil {
		fmt.Fprintf(&b, "current wait times out at %s\n", st.Deadline.UTC().Format(time.RFC3339))
	}
	for _, cond := range st.Conditions {
		fmt.Fprintf(&b, "condition %s=%s (%s) %s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
	}
	if rq := s.Spec.Request; rq != nil {
		fmt.Fprintf(&b, "spec.request: %s %s node %s force %t\n", rq.ID, rq.Action, orDash(rq.Node), rq.Force)
	}
	for _, ar := range st.AgentRequests {
		when := ""
		if ar.Time != nil {
			when = " at " + ar.Time.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(&b, "agent request %d: %s on %s, epoch %d%s\n", ar.ID, ar.Action, ar.Node, ar.Epoch, when)
	}

	b.WriteString("\n== HOSTS (the controller's view)\n")
	renderServers(&b, []hav1alpha1.HAServer{*s}, style{})
	for _, h := range st.Hosts {
		since := ""
		if h.Since != nil {
			since = " since " + h.Since.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(&b, "%s: %s%s, pod %s, boot %s", h.Node, orDash(string(h.State)), since, orDash(h.Pod), orDash(h.BootID))
		if h.Message != "" {
			fmt.Fprintf(&b, ": %s", h.Message)
		}
		b.WriteByte('\n')
	}

	b.WriteString("\n== SWITCHOVERS (newest last)\n")
	if len(st.Switchovers) == 0 && st.Switchover == nil {
		b.WriteString("none recorded\n")
	}
	for _, sw := range st.Switchovers {
		fmt.Fprintf(&b, "%s; %s\n", switchoverLine(sw), switchoverTimes(sw))
	}
	if sw := st.Switchover; sw != nil {
		fmt.Fprintf(&b, "IN PROGRESS: %s %s -> %s, stage %s; %s\n",
			sw.Cause, orDash(sw.From), sw.To, orDash(string(sw.Stage)), switchoverTimes(*sw))
	}
	if r := st.LastRequest; r != nil {
		fmt.Fprintf(&b, "last request: %s %s: %s (%s) %s\n", r.ID, r.Action, r.Outcome, orDash(r.Reason), r.Message)
	}

	b.WriteString("\n== RESERVATION\n")
	fmt.Fprintf(&b, "as the controller sees it: holder %s, epoch %d, target %s\n",
		orDash(st.ReservationHolder), st.FencingEpoch, orDash(st.TargetNode))
	b.WriteString("as each host sees it (HANode, Lease):\n")
	renderHosts(&b, hv, style{ages: true})
	if len(s.Spec.SharedDisks) > 0 {
		b.WriteString("\npaths (kubectl hamon paths):\n")
		renderPaths(&b, s, hv, style{})
	}

	fmt.Fprintf(&b, "\n== RECENT WARNING EVENTS (newest last, at most %d)\n", recentWarnings)
	var warnings []string
	for _, e := range events {
		if e.Type == corev1.EventTypeWarning {
			warnings = append(warnings, eventLine(e))
		}
	}
	if len(warnings) > recentWarnings {
		warnings = warnings[len(warnings)-recentWarnings:]
	}
	if len(warnings) == 0 {
		b.WriteString("none\n")
	}
	for _, w := range warnings {
		b.WriteString(w + "\n")
	}

	b.WriteString("\n== NOT COLLECTED\n")
	if len(c.missing) == 0 {
		b.WriteString("nothing: everything was read\n")
	}
	for _, m := range c.missing {
		b.WriteString(strings.ReplaceAll(m, "\n", " ") + "\n")
	}

	b.WriteString("\n== FILES\nSUMMARY.txt\n")
	for _, m := range c.members {
		fmt.Fprintf(&b, "%s (%d bytes)\n", m.name, len(m.data))
	}
	return b.String()
}

func switchoverTimes(sw hav1alpha1.Switchover) string {
	var parts []string
	for _, t := range []struct {
		what string
		at   *time.Time
	}{{"started", timeOf(sw.Started)}, {"fenced", timeOf(sw.Fenced)}, {"finished", timeOf(sw.Finished)}} {
		if t.at != nil {
			parts = append(parts, t.what+" "+t.at.UTC().Format(time.RFC3339))
		}
	}
	if sw.RequestID != "" {
		parts = append(parts, "request "+sw.RequestID)
	}
	if len(sw.Tried) > 0 {
		parts = append(parts, "tried "+strings.Join(sw.Tried, ","))
	}
	return orDash(strings.Join(parts, ", "))
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}
