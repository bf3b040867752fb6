package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// style says how to render: colours, and ages (in words that change
// every second, left out when watching).
type style struct {
	colour bool
	ages   bool
}

// showData is what show renders.
type showData struct {
	servers  []hav1alpha1.HAServer
	hanodes  []hav1alpha1.HANode
	leases   []coordinationv1.Lease
	leaseErr error
}

func runShow(ctx context.Context, o *options) int {
	if o.watch {
		return showWatch(ctx, o)
	}
	var d showData
	if o.name != "" {
		s, err := o.get(ctx)
		if err != nil {
			return o.abort(err)
		}
		d.servers = []hav1alpha1.HAServer{*s}
	} else if !o.hosts {
		var list hav1alpha1.HAServerList
		if err := o.c.List(ctx, &list, o.serverScope()...); err != nil {
			return o.abort(fmt.Errorf("listing HAServers: %w", err))
		}
		d.servers = list.Items
	}
	if o.hosts {
		var nodes hav1alpha1.HANodeList
		if err := o.c.List(ctx, &nodes); err != nil {
			return o.abort(fmt.Errorf("listing HANodes: %w", err))
		}
		d.hanodes = nodes.Items
		var leases coordinationv1.LeaseList
		if err := o.c.List(ctx, &leases, client.InNamespace(o.leaseNamespace)); err != nil {
			d.leaseErr = fmt.Errorf("listing Leases in %s: %w", o.leaseNamespace, err)
		}
		d.leases = leases.Items
	}
	out, err := o.renderShow(d, style{colour: o.colour, ages: true})
	if err != nil {
		return o.abort(err)
	}
	fmt.Fprint(o.out, out)
	return exitDone
}

// serverScope selects the servers show lists: one namespace, or all.
func (o *options) serverScope() []client.ListOption {
	var opts []client.ListOption
	if !o.allNamespaces {
		opts = append(opts, client.InNamespace(o.namespace))
	}
	if o.name != "" {
		opts = append(opts, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", o.name)})
	}
	return opts
}

// renderShow renders d as the flags ask: a table, json or yaml.
func (o *options) renderShow(d showData, st style) (string, error) {
	var b bytes.Buffer
	var server *hav1alpha1.HAServer
	if o.name != "" {
		if len(d.servers) == 0 {
			return "", fmt.Errorf("no HAServer %q in namespace %q", o.name, o.namespace)
		}
		server = &d.servers[0]
	}
	if o.hosts {
		hv := newHostsView(o.now(), server, d.hanodes, d.leases, d.leaseErr)
		if o.output != "" {
			var objs []client.Object
			for _, n := range hv.nodes {
				if hn := hv.hanode[n]; hn != nil {
					objs = append(objs, hn)
				}
			}
			err := o.printObjects(&b, objs, true)
			return b.String(), err
		}
		renderHosts(&b, hv, st)
		return b.String(), nil
	}
	if o.output != "" {
		objs := make([]client.Object, len(d.servers))
		for i := range d.servers {
			objs[i] = &d.servers[i]
		}
		err := o.printObjects(&b, objs, server == nil)
		return b.String(), err
	}
	if len(d.servers) == 0 {
		where := "namespace " + o.namespace
		if o.allNamespaces {
			where = "any namespace"
		}
		fmt.Fprintf(&b, "No HAServers in %s.\n", where)
		return b.String(), nil
	}
	renderServers(&b, d.servers, st)
	if o.history && server != nil {
		renderHistory(&b, server, o.now())
	}
	return b.String(), nil
}

// renderHistory is the failover timeline of one server: each switchover
// the status keeps (the newest last), then the one in progress, with its
// stages: detection (from the failure, as its source tells, to its
// detection: started), fencing (until the old host was known stopped or
// fenced), activation (until the new host was Online). TOTAL counts from
// the detection.
func renderHistory(w io.Writer, s *hav1alpha1.HAServer, now time.Time) {
	sws := slices.Clone(s.Status.Switchovers)
	if sw := s.Status.Switchover; sw != nil {
		sws = append(sws, *sw)
	}
	fmt.Fprintln(w)
	if len(sws) == 0 {
		fmt.Fprintf(w, "%s has no switchover on record.\n", s.ReportKey())
		return
	}
	fmt.Fprintf(w, "Switchovers of %s (the status keeps the last %d):\n", s.ReportKey(), len(s.Status.Switchovers))
	t := &table{}
	t.row("STARTED", "CAUSE", "FROM", "TO", "RESULT", "DETECTION", "FENCING", "ACTIVATION", "TOTAL")
	for _, sw := range sws {
		failed := instant(sw.FailedAt, nil)
		started := instant(sw.StartedAt, sw.Started)
		fenced := instant(sw.FencedAt, sw.Fenced)
		finished := instant(sw.FinishedAt, sw.Finished)
		result, running := string(sw.Result), sw.Result == ""
		if running {
			result = "in progress (" + orDash(string(sw.Stage)) + ")"
			finished = time.Time{}
		}
		t.row(stamp(started), string(sw.Cause), orDash(sw.From), sw.To, result, span(failed, started, now, false),
			span(started, fenced, now, running), span(fenced, finished, now, running && !fenced.IsZero()),
			span(started, finished, now, running))
	}
	t.write(w)
	if len(sws) > 0 && sws[0].StartedAt == nil {
		fmt.Fprintln(w, "(switchovers recorded before hamon kept microseconds are shown to the second)")
	}
}

// instant is a switchover's instant, to the microsecond when recorded so.
func instant(micro *metav1.MicroTime, second *metav1.Time) time.Time {
	if micro != nil {
		return micro.Time
	}
	if second != nil {
		return second.Time
	}
	return time.Time{}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

// span is the time from a to b: "-" when either is unknown, or, for a stage
// still running, the time so far ("…").
func span(a, b, now time.Time, running bool) string {
	switch {
	case a.IsZero():
		return "-"
	case b.IsZero() && running:
		return now.Sub(a).Round(time.Millisecond).String() + "…"
	case b.IsZero():
		return "-"
	}
	return b.Sub(a).Round(time.Millisecond).String()
}

// printObjects prints objects as kubectl get -o json|yaml does: with their
// apiVersion and kind, without managedFields, one object alone or a List.
func (o *options) printObjects(w io.Writer, objs []client.Object, asList bool) error {
	items := make([]any, 0, len(objs))
	for _, obj := range objs {
		items = append(items, o.typed(obj, false))
	}
	var v any = map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
	if !asList && len(items) == 1 {
		v = items[0]
	}
	var data []byte
	var err error
	if o.output == "json" {
		data, err = json.MarshalIndent(v, "", "    ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// typed is a copy of obj with its apiVersion and kind set (the typed
// client leaves them empty), and without managedFields unless managed.
func (o *options) typed(obj client.Object, managed bool) client.Object {
	obj = obj.DeepCopyObject().(client.Object)
	if gvks, _, err := o.scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
	if !managed {
		obj.SetManagedFields(nil)
	}
	return obj
}

// showWatch redraws show's output whenever what it shows changes, from
// watches on the API, until ctx ends (Ctrl-C, or a deadline).
func showWatch(ctx context.Context, o *options) int {
	if o.name != "" {
		if _, err := o.get(ctx); err != nil {
			return o.abort(err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := newFollowers()
	var servers, hanodes, leases *mirror
	if o.name != "" || !o.hosts {
		servers = f.add(wctx, o.c, "HAServers", func() client.ObjectList { return &hav1alpha1.HAServerList{} }, o.serverScope()...)
	}
	var tick <-chan time.Time
	if o.hosts {
		hanodes = f.add(wctx, o.c, "HANodes", func() client.ObjectList { return &hav1alpha1.HANodeList{} })
		leases = f.add(wctx, o.c, "Leases in "+o.leaseNamespace, func() client.ObjectList { return &coordinationv1.LeaseList{} },
			client.InNamespace(o.leaseNamespace))
		// A Lease runs out without an event: look again every second.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	last := ""
	for {
		select {
		case <-ctx.Done():
			return exitDone
		case err := <-f.errs:
			return o.abort(err)
		case <-f.changed:
		case <-tick:
		}
		if !f.ready() {
			continue
		}
		var d showData
		if servers != nil {
			for _, obj := range servers.items() {
				d.servers = append(d.servers, *obj.(*hav1alpha1.HAServer))
			}
		}
		if hanodes != nil {
			for _, obj := range hanodes.items() {
				d.hanodes = append(d.hanodes, *obj.(*hav1alpha1.HANode))
			}
			for _, obj := range leases.items() {
				d.leases = append(d.leases, *obj.(*coordinationv1.Lease))
			}
		}
		out, err := o.renderShow(d, style{colour: o.colour})
		if err != nil {
			out = err.Error() + "\n"
		}
		if out == last {
			continue
		}
		last = out
		fmt.Fprint(o.out, o.watchFrame(out))
	}
}

// watchFrame is one redraw: on a terminal the screen is cleared and the
// output drawn under a header; elsewhere frames follow one another, yaml
// as documents, json as a stream, tables under a time line.
func (o *options) watchFrame(out string) string {
	now := o.now().UTC().Format(time.RFC3339)
	switch {
	case o.tty:
		return "\x1b[H\x1b[2J" + paint(o.colour, cyan, "kubectl hamon show, redrawn on every change; "+now+"; Ctrl-C stops") + "\n\n" + out
	case o.output == "yaml":
		return "---\n" + out
	case o.output == "json":
		return out
	}
	return "=== " + now + "\n" + out
}

var stateColour = map[hav1alpha1.HostState]colourCode{
	hav1alpha1.HostOnline: green, hav1alpha1.HostStandby: cyan, hav1alpha1.HostFailed: red,
	hav1alpha1.HostFenced: red, hav1alpha1.HostRestartWait: yellow, hav1alpha1.HostActiveStartWait: yellow,
	hav1alpha1.HostHotStandbyWait: yellow, hav1alpha1.HostGroupSwitchWait: yellow, hav1alpha1.HostStartRetry: yellow,
	hav1alpha1.HostStarting: yellow, hav1alpha1.HostStopping: yellow,
}

var phaseColour = map[hav1alpha1.Phase]colourCode{
	hav1alpha1.PhaseOnline: green, hav1alpha1.PhaseStarting: yellow, hav1alpha1.PhaseSwitchingOver: yellow,
	hav1alpha1.PhaseWaiting: yellow, hav1alpha1.PhaseFailed: red,
}

// monshowCode is HA Monitor's short code for a state where one is known.
func monshowCode(st hav1alpha1.HostState) string {
	switch st {
	case hav1alpha1.HostOnline:
		return "ONL"
	case hav1alpha1.HostStandby:
		return "SBY"
	case hav1alpha1.HostStartRetry:
		return ">ONL"
	}
	return ""
}

// renderServers is monshow: a row per host of each server, then each
// server's switchover in progress, last switchover and last request.
func renderServers(w io.Writer, items []hav1alpha1.HAServer, st style) {
	t := &table{}
	t.row("SERVER", "ALIAS", "MODE", "PHASE", "HOST", "ROLE", "STATE", "ALIVE", "RESERVATION")
	for _, s := range items {
		name, alias, mode := s.Namespace+"/"+s.Name, s.EffectiveAlias(), string(s.Spec.EffectiveMode())
		phase := paint(st.colour, phaseColour[s.Status.Phase], orDash(string(s.Status.Phase)))
		if len(s.Status.Hosts) == 0 {
			t.row(name, alias, mode, phase, "-")
			continue
		}
		for i, h := range s.Status.Hosts {
			if i > 0 {
				name, alias, mode, phase = "", "", "", ""
			}
			state := orDash(string(h.State))
			if c := monshowCode(h.State); c != "" {
				state += " (" + c + ")"
			}
			alive := "yes"
			if !h.Alive {
				alive = paint(st.colour, red, "no")
			}
			res := ""
			if s.Status.ReservationHolder == h.Node {
				res = fmt.Sprintf("holder (epoch %d)", s.Status.FencingEpoch)
			}
			t.row(name, alias, mode, phase, h.Node, orDash(string(h.Role)), paint(st.colour, stateColour[h.State], state), alive, res)
		}
	}
	t.write(w)
	for _, s := range items {
		key := s.ReportKey()
		if sw := s.Status.Switchover; sw != nil {
			fmt.Fprintf(w, "%s switchover in progress: %s %s -> %s, stage %s\n", key, sw.Cause, orDash(sw.From), sw.To, orDash(string(sw.Stage)))
		}
		if n := len(s.Status.Switchovers); n > 0 {
			fmt.Fprintf(w, "%s last switchover: %s\n", key, switchoverLine(s.Status.Switchovers[n-1]))
		}
		if r := s.Status.LastRequest; r != nil {
			line := fmt.Sprintf("%s last request: %s %s: %s", key, r.ID, r.Action, r.Outcome)
			if r.Reason != "" {
				line += " (" + r.Reason + ")"
			}
			if r.Message != "" {
				line += " " + r.Message
			}
			fmt.Fprintln(w, line)
		}
	}
}

// switchoverLine is one switchover in words.
func switchoverLine(sw hav1alpha1.Switchover) string {
	took := ""
	switch {
	case sw.StartedAt != nil && sw.FinishedAt != nil:
		took = ", " + sw.FinishedAt.Sub(sw.StartedAt.Time).Round(time.Millisecond).String()
	case sw.Started != nil && sw.Finished != nil:
		// Recorded before hamon kept microseconds: whole seconds.
		if d := sw.Finished.Sub(sw.Started.Time); d < time.Second {
			took = ", under 1s"
		} else {
			took = ", " + d.String()
		}
	}
	return fmt.Sprintf("%s %s -> %s, %s%s", sw.Cause, orDash(sw.From), sw.To, orDash(string(sw.Result)), took)
}

var pathColour = map[hav1alpha1.PathState]colourCode{
	hav1alpha1.PathFailed: red, hav1alpha1.PathOffline: red, hav1alpha1.PathUnknown: yellow,
}

// renderHosts is the host half of monshow, from the agents' HANodes and
// Leases: the hosts, the shared disks each sees, and the agents' reports.
func renderHosts(w io.Writer, hv *hostsView, st style) {
	if len(hv.nodes) == 0 {
		fmt.Fprintln(w, "No HANodes: no node agent has reported yet.")
		return
	}
	t := &table{}
	t.row("HOST", "ALIVE", "AGENT", "BOOT", "KEY", "FENCING")
	var notes []string
	for _, node := range hv.nodes {
		a, alive := hv.alive(node, st.ages)
		c := map[aliveness]colourCode{aliveYes: green, aliveNo: red, aliveUnknown: yellow}[a]
		alive = paint(st.colour, c, alive)
		n := hv.hanode[node]
		if n == nil {
			t.row(node, alive, "-", "-", "-", "-")
			notes = append(notes, node+": no HANode: its agent has not reported (does the node agent run there?)")
			continue
		}
		fencing := orDash(string(n.Status.Fencing))
		if n.Status.Fencing != "" && n.Status.Fencing != hav1alpha1.FencingNone {
			fencing = paint(st.colour, red, fencing)
		}
		boot := n.Status.BootID
		if len(boot) > 8 {
			boot = boot[:8]
		}
		t.row(node, alive, orDash(n.Status.AgentVersion), orDash(boot), orDash(n.Status.ReservationKey), fencing)
	}
	t.write(w)
	if hv.leaseErr != nil {
		notes = append(notes, "alive unknown: "+hv.leaseErr.Error())
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}

	d := &table{}
	d.row("HOST", "DEVICE", "PATHS", "REGISTERED", "HOLDER", "TYPE")
	var pathErrs []string
	for _, node := range hv.nodes {
		for _, dev := range hv.devices(node) {
			var paths []string
			for _, p := range dev.Paths {
				paths = append(paths, p.Name+" "+paint(st.colour, pathColour[p.State], orDash(string(p.State))))
				if p.LastError != "" {
					pathErrs = append(pathErrs, fmt.Sprintf("%s %s %s: %s", node, dev.Name, p.Name, p.LastError))
				}
			}
			var regs []string
			for _, k := range dev.RegisteredKeys {
				regs = append(regs, hv.keyName(k))
			}
			holder := "none"
			if dev.HolderKey != "" {
				holder = hv.keyName(dev.HolderKey)
			}
			d.row(node, dev.Name, orDash(strings.Join(paths, ", ")), orDash(strings.Join(regs, ",")), holder, orDash(dev.ReservationType))
		}
	}
	if len(d.rows) > 1 {
		fmt.Fprintln(w)
		d.write(w)
		for _, e := range pathErrs {
			fmt.Fprintln(w, "  "+e)
		}
	}

	r := &table{}
	r.row("HOST", "SERVER", "RESERVATION", "EPOCH", "NOTE")
	for _, node := range hv.nodes {
		for _, rep := range hv.reports(node) {
			var note []string
			if rep.PatrolFailed {
				patrol := "patrol failed"
				if rep.PatrolPod != "" {
					patrol += " (pod " + rep.PatrolPod + ")"
				}
				note = append(note, paint(st.colour, red, patrol))
			}
			if rep.KeyPreempted {
				note = append(note, paint(st.colour, red, "key preempted"))
			}
			if rep.Message != "" {
				note = append(note, rep.Message)
			}
			res := string(rep.Reservation)
			if rep.Reservation == hav1alpha1.ReservationFailed {
				res = paint(st.colour, red, res)
			}
			r.row(node, rep.Key, orDash(res), fmt.Sprint(rep.Epoch), orDash(strings.Join(note, "; ")))
		}
	}
	if len(r.rows) > 1 {
		fmt.Fprintln(w)
		r.write(w)
	}
}
