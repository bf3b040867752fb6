package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// runClear is monscsiclr. It names the holder as the controller and each
// host's agent see it, refuses while a host is active or the holder may be
// alive, asks, and then writes the request (which the controller checks
// again).
func runClear(ctx context.Context, o *options) int {
	s, err := o.get(ctx)
	if err != nil {
		return o.abort(err)
	}
	key := s.ReportKey()
	if len(s.Spec.SharedDisks) == 0 {
		return o.abort(fmt.Errorf("%s has no shared disks: there is no reservation to clear", key))
	}
	hv, err := o.readHosts(ctx, s)
	if err != nil {
		return o.abort(err)
	}
	check := clearCheck(s, hv)
	if check.refusal != "" {
		fmt.Fprintf(o.out, "%s\n", paint(o.colour, red, "refused: "+check.refusal))
		return exitRefused
	}
	if !o.yes {
		fmt.Fprint(o.out, check.question)
		line, err := bufio.NewReader(o.in).ReadString('\n')
		answer := strings.TrimSpace(strings.ToLower(line))
		if answer != "y" && answer != "yes" {
			if err == io.EOF && answer == "" {
				fmt.Fprintln(o.out, "\nnot cleared (no answer; --yes clears without asking, after the same checks)")
			} else {
				fmt.Fprintln(o.out, "not cleared")
			}
			return exitRefused
		}
	} else {
		fmt.Fprint(o.out, check.summary)
	}
	return request(ctx, o, hav1alpha1.ActionClearReservation)
}

// clearChecked is the outcome of the checks before monscsiclr: a refusal,
// or the question to ask (and, with --yes, what is about to be done).
type clearChecked struct {
	refusal  string
	question string
	summary  string
}

// clearCheck decides whether the reservation of s may be cleared, and
// words the question naming the holder.
func clearCheck(s *hav1alpha1.HAServer, hv *hostsView) clearChecked {
	key := s.ReportKey()
	for _, h := range s.Status.Hosts {
		if h.Role == hav1alpha1.RoleActive {
			return clearChecked{refusal: fmt.Sprintf("%s plays the active role for %s (%s): clearing would take the disks "+
				"from under it. End or switch the server first (kubectl hamon end|swap %s).", h.Node, key, h.State, s.Name)}
		}
	}
	// Who holds the reservation, and who says so.
	var holders []string
	seenBy := map[string][]string{}
	for _, sg := range hv.holders(s) {
		if _, ok := seenBy[sg.holder]; !ok {
			holders = append(holders, sg.holder)
		}
		by := "the controller"
		if sg.by != "the controller" {
			by = sg.by + "'s agent (" + sg.disk + ")"
		}
		if !slices.Contains(seenBy[sg.holder], by) {
			seenBy[sg.holder] = append(seenBy[sg.holder], by)
		}
	}
	status := map[string]hav1alpha1.HostStatus{}
	for _, h := range s.Status.Hosts {
		status[h.Node] = h
	}
	var facts []string
	for _, holder := range holders {
		if _, known := hv.hanode[holder]; !known && !hasHost(s, holder) {
			facts = append(facts, fmt.Sprintf("key %s belongs to no HANode: a host hamon does not know, or whose agent never "+
				"reported. Make sure no host using that key runs.", holder))
			continue
		}
		a, detail := hv.leaseState(holder)
		h, inStatus := status[holder]
		fenced := h.State == hav1alpha1.HostFenced
		if n := hv.hanode[holder]; n != nil && n.Status.Fencing == hav1alpha1.FencingFenced {
			fenced = true
		}
		if !fenced && (a == aliveYes || (inStatus && h.Alive)) {
			var why []string
			if a == aliveYes {
				why = append(why, "its agent renews its Lease ("+detail+")")
			}
			if inStatus && h.Alive {
				why = append(why, "the controller counts it alive")
			}
			return clearChecked{refusal: fmt.Sprintf("the holder %s may be alive: %s. Clear only a dead host's reservation: "+
				"make sure %s is down and its Lease has expired, then try again.", holder, strings.Join(why, ", and "), holder)}
		}
		fact := holder + ": Lease " + detail
		if detail == "no Lease" {
			fact = holder + ": no Lease"
		}
		if a == aliveUnknown {
			fact = holder + ": Lease unknown (" + detail + ")"
		}
		if inStatus {
			fact += fmt.Sprintf(", state %s", orDash(string(h.State)))
		}
		if fenced {
			fact += ", fenced"
		}
		facts = append(facts, fact)
	}
	var disks []string
	for _, d := range s.Spec.SharedDisks {
		disks = append(disks, diskName(d.Device))
	}
	heldBy := "held by no host, as far as the controller and the agents know"
	if len(holders) > 0 {
		var parts []string
		for _, h := range holders {
			parts = append(parts, fmt.Sprintf("%q (as %s see%s it)", h, joinAnd(seenBy[h]), plural(len(seenBy[h]))))
		}
		heldBy = "held by " + joinAnd(parts)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Clear the reservation of the %d shared disk(s) of %s (%s), %s?\n", len(disks), key, strings.Join(disks, ", "), heldBy)
	for _, f := range facts {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	summary := b.String()
	who := "the holder"
	if len(holders) > 0 {
		who = joinAnd(holders)
	}
	fmt.Fprintf(&b, "Only do this when %s is really down: a live holder would lose its disks while it writes. [y/N] ", who)
	return clearChecked{question: b.String(), summary: summary}
}

// plural is "s" for one, "" for more: "node-b's agent sees" but "the
// controller and node-b's agent see".
func plural(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

// joinAnd joins words as a sentence does: "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
