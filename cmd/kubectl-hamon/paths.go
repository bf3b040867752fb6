package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// runPaths is monpath for the shared disks: every path of every disk of
// the server on every host, as the agents last reported them.
func runPaths(ctx context.Context, o *options) int {
	s, err := o.get(ctx)
	if err != nil {
		return o.abort(err)
	}
	if len(s.Spec.SharedDisks) == 0 {
		fmt.Fprintf(o.out, "%s/%s has no shared disks: no paths to check.\n", s.Namespace, s.Name)
		return exitDone
	}
	hv, err := o.readHosts(ctx, s)
	if err != nil {
		return o.abort(err)
	}
	if renderPaths(o.out, s, hv, style{colour: o.colour}) {
		return exitRefused
	}
	return exitDone
}

// activeNode is the host playing the active role: Online, or becoming so.
func activeNode(s *hav1alpha1.HAServer) string {
	if s.Status.ActiveNode != "" {
		return s.Status.ActiveNode
	}
	for _, h := range s.Status.Hosts {
		if h.Role == hav1alpha1.RoleActive {
			return h.Node
		}
	}
	return ""
}

func pathFailed(st hav1alpha1.PathState) bool {
	return st == hav1alpha1.PathFailed || st == hav1alpha1.PathOffline
}

// renderPaths prints the paths and a verdict on the active host's; it
// says whether a path of a disk on the active host is Failed or Offline.
func renderPaths(w io.Writer, s *hav1alpha1.HAServer, hv *hostsView, st style) bool {
	key := s.ReportKey()
	active := activeNode(s)
	holder := "none"
	if s.Status.ReservationHolder != "" {
		holder = fmt.Sprintf("%s (epoch %d)", s.Status.ReservationHolder, s.Status.FencingEpoch)
	}
	fmt.Fprintf(w, "%s: active %s; reservation holder %s, as the controller sees it\n", key, orDash(active), holder)
	roles := map[string]hav1alpha1.Role{}
	for _, h := range s.Status.Hosts {
		roles[h.Node] = h.Role
	}
	t := &table{}
	t.row("HOST", "ROLE", "ALIVE", "DEVICE", "PATH", "STATE", "HOLDER", "ERROR")
	var verdict []string
	failed := false
	for _, node := range hv.nodes {
		a, alive := hv.alive(node, false)
		alive = paint(st.colour, map[aliveness]colourCode{aliveYes: green, aliveNo: red, aliveUnknown: yellow}[a], alive)
		role := orDash(string(roles[node]))
		n := hv.hanode[node]
		for _, d := range s.Spec.SharedDisks {
			name := diskName(d.Device)
			if n == nil {
				t.row(node, role, alive, name, "-", "-", "-", "no HANode: its agent has not reported")
				if node == active {
					verdict = append(verdict, paint(st.colour, yellow, fmt.Sprintf("%s (active): no HANode: its agent has not reported", node)))
				}
				continue
			}
			dev := findDevice(n.Status.Devices, d.Device)
			if dev == nil {
				t.row(node, role, alive, name, "-", "-", "-", "not reported by the agent")
				if node == active {
					verdict = append(verdict, paint(st.colour, yellow, fmt.Sprintf("%s (active): %s: not reported by its agent", node, name)))
				}
				continue
			}
			held := "none"
			if dev.HolderKey != "" {
				held = hv.keyName(dev.HolderKey)
			}
			var bad []string
			for _, p := range dev.Paths {
				t.row(node, role, alive, dev.Name, p.Name, paint(st.colour, pathColour[p.State], orDash(string(p.State))), held, orDash(p.LastError))
				if pathFailed(p.State) {
					bad = append(bad, p.Name+" "+string(p.State))
				}
			}
			if len(dev.Paths) == 0 {
				t.row(node, role, alive, dev.Name, "-", "-", held, "no paths")
			}
			if node != active {
				continue
			}
			switch {
			case len(bad) == len(dev.Paths) && len(bad) > 0:
				failed = true
				verdict = append(verdict, paint(st.colour, red, fmt.Sprintf("%s (active): %s: all %d paths failed (%s): KAMN726-E",
					node, dev.Name, len(bad), strings.Join(bad, ", "))))
			case len(bad) > 0:
				failed = true
				verdict = append(verdict, paint(st.colour, red, fmt.Sprintf("%s (active): %s: %d of %d paths failed (%s): KAMN725-W",
					node, dev.Name, len(bad), len(dev.Paths), strings.Join(bad, ", "))))
			default:
				verdict = append(verdict, paint(st.colour, green, fmt.Sprintf("%s (active): %s: all %d paths Active", node, dev.Name, len(dev.Paths))))
			}
			if held != node {
				verdict = append(verdict, paint(st.colour, yellow,
					fmt.Sprintf("%s (active): %s: its agent reads the holder as %s, not itself", node, dev.Name, held)))
			}
		}
	}
	t.write(w)
	if active == "" {
		verdict = append(verdict, "no host is active: no path carries the server now")
	}
	for _, v := range verdict {
		fmt.Fprintln(w, v)
	}
	return failed
}
