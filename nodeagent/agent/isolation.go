package agent

import (
	"context"
	"crypto/tls"
	"net"
	"slices"
	"sync"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/nodeagent/lease"
	"github.com/hamon-ha/hamon/nodeagent/peer"
)

// PeerServer is where and how the agent answers its peers.
type PeerServer struct {
	// Listen is the address to listen on (host:port).
	Listen string
	TLS    *tls.Config
}

// isolate runs at every heartbeat. Past the self-fence deadline without a
// renewal, it asks the peers whether they can renew, and starts stopping,
// through the container runtime (the API server may be gone), every
// unprotected server active here that the peers' answers do not cover
// (lease.Timing.Decide): the controller may start it elsewhere.
func (a *Agent) isolate(ctx context.Context) {
	a.mu.Lock()
	last := a.lastRenew
	a.mu.Unlock()
	if !a.Timing.MustSelfFence(a.now(), last) {
		return
	}
	log := ctrl.LoggerFrom(ctx).WithValues("node", a.Node)
	servers, byKey, err := a.unprotected(ctx)
	if err != nil {
		log.Error(err, "Self-fence deadline passed but the servers active here cannot be listed; the watchdog goes unfed")
		return
	}
	if a.askPeers(ctx, servers) && a.heartbeat(ctx) == nil {
		// A peer renews: the API server may just be back (the end of an
		// outage), and this agent's own attempt came a moment too soon.
		// It renewed now: not isolated.
		return
	}
	a.mu.Lock()
	v := a.Timing.Decide(a.now(), last, a.confirmed, servers)
	var start []*hav1alpha1.HAServer
	for _, key := range v.Stop {
		if _, begun := a.selfStops[key]; begun {
			continue
		}
		if a.selfStops == nil {
			a.selfStops = map[string]bool{}
		}
		a.selfStops[key] = false
		start = append(start, byKey[key])
	}
	a.mu.Unlock()
	for _, s := range start {
		log.Info("Lease not renewed before the self-fence deadline, and not every other host of the server "+
			"confirms it cannot renew either: stopping it here",
			"haserver", s.ReportKey(), "deadline", a.Timing.SelfFence)
		go a.selfStop(ctx, s)
	}
}

// selfStop stops one unprotected server and records the stop, to be
// reported when the API server can be reached. A failed stop is tried
// again at the next heartbeat; meanwhile the watchdog goes unfed.
func (a *Agent) selfStop(ctx context.Context, s *hav1alpha1.HAServer) {
	selfFences.WithLabelValues(a.Node).Inc()
	err := a.stopServer(ctx, s)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Self-fencing: stopping the server failed", "haserver", s.ReportKey())
		delete(a.selfStops, s.ReportKey())
		return
	}
	if _, current := a.selfStops[s.ReportKey()]; current {
		a.selfStops[s.ReportKey()] = true
	}
	a.noteLocalStopLocked(s, hav1alpha1.LocalStopSelfFence)
}

// unprotected lists, from the cache (the API server may be away), the
// servers active here that no shared disk protects, with their takers.
func (a *Agent) unprotected(ctx context.Context) ([]lease.Unprotected, map[string]*hav1alpha1.HAServer, error) {
	// Bounded: a cache that has not synced yet (an agent started while
	// the API server is away) would block; it knows nothing.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var list hav1alpha1.HAServerList
	if err := a.Client.List(ctx, &list); err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []lease.Unprotected
	byKey := map[string]*hav1alpha1.HAServer{}
	for i := range list.Items {
		s := &list.Items[i]
		if !mayRunActiveHere(s, a.Node) || len(s.Spec.SharedDisks) > 0 {
			continue
		}
		u := lease.Unprotected{Key: s.ReportKey(), Stopped: a.selfStops[s.ReportKey()]}
		for _, h := range s.Spec.Hosts {
			if h.Node != a.Node {
				u.Takers = append(u.Takers, h.Node)
			}
		}
		out = append(out, u)
		byKey[u.Key] = s
	}
	return out, byKey, nil
}

// mayRunActiveHere says a copy of s that is, or is becoming, the active
// one may run on node: the server is Online there, or the host plays the
// active role (starting, restarting, retrying) or may still run an active
// copy (stopping). Not only Online: a target that loses the API server
// while its copy starts must stop it too.
func mayRunActiveHere(s *hav1alpha1.HAServer, node string) bool {
	if s.Status.ActiveNode == node {
		return true
	}
	for _, h := range s.Status.Hosts {
		if h.Node == node && (h.ActiveCopy || h.Role == hav1alpha1.RoleActive) {
			return true
		}
	}
	return false
}

// askPeers asks, all at once, the agent of every taker of servers whether
// it can renew, and notes each confirmation that it cannot. It says
// whether any peer answered that it renews.
func (a *Agent) askPeers(ctx context.Context, servers []lease.Unprotected) (someRenew bool) {
	if a.Peers == nil {
		return false
	}
	var nodes []string
	for _, s := range servers {
		for _, n := range s.Takers {
			if !slices.Contains(nodes, n) {
				nodes = append(nodes, n)
			}
		}
	}
	if len(nodes) == 0 {
		return false
	}
	addrs := a.peerAddresses(ctx)
	log := ctrl.LoggerFrom(ctx).WithValues("node", a.Node)
	var wg sync.WaitGroup
	for _, n := range nodes {
		addr := addrs[n]
		if addr == "" {
			log.Info("Peer check: the peer's agent published no address", "peer", n)
			continue
		}
		wg.Go(func() {
			st, err := a.Peers.Ask(ctx, n, addr)
			switch {
			case err != nil:
				log.Info("Peer check: no answer", "peer", n, "address", addr, "error", err.Error())
			case st.Renewing:
				log.Info("Peer check: the peer renews its Lease: this host is isolated, or the API server is just back", "peer", n)
				a.mu.Lock()
				someRenew = true
				a.mu.Unlock()
			default:
				a.mu.Lock()
				if a.confirmed == nil {
					a.confirmed = map[string]time.Time{}
				}
				a.confirmed[n] = a.now()
				a.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return someRenew
}

// peerAddresses are the peers' addresses as their HANodes (in the cache)
// last published them.
func (a *Agent) peerAddresses(ctx context.Context) map[string]string {
	var list hav1alpha1.HANodeList
	if err := a.Client.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Peer check: listing the peers' HANodes (their addresses)")
		return nil
	}
	out := map[string]string{}
	for _, n := range list.Items {
		out[n.Name] = n.Status.PeerAddress
	}
	return out
}

// renewing is this agent's answer to a peer: whether its last renewal
// attempt succeeded.
func (a *Agent) renewing() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.renewFailed
}

// ServePeers answers the peers' questions until ctx ends (a manager
// Runnable).
func (a *Agent) ServePeers(srv PeerServer) func(context.Context) error {
	return func(ctx context.Context) error {
		l, err := net.Listen("tcp", srv.Listen)
		if err != nil {
			// Not fatal: an agent that cannot answer is a silent peer, and
			// its peers stop their servers rather than keep them on its
			// word. Crashing would reset a host whose watchdog is armed.
			ctrl.LoggerFrom(ctx).Error(err, "Cannot answer peers: the peer check of the other hosts will treat this one as silent",
				"listen", srv.Listen)
			<-ctx.Done()
			return nil
		}
		ctrl.LoggerFrom(ctx).Info("Answering peers", "listen", l.Addr().String(), "published", a.PeerAddress)
		return (&peer.Server{Node: a.Node, Renewing: a.renewing, TLS: srv.TLS}).Serve(ctx, l)
	}
}

// healthy says the watchdog may be fed: the agent renews, or every
// unprotected server still running here is covered by its peers'
// confirmations (lease.Timing.Decide). It reads only memory and the
// cache, so it answers even when the heartbeat is stuck.
func (a *Agent) healthy(ctx context.Context) bool {
	a.mu.Lock()
	last := a.lastRenew
	a.mu.Unlock()
	if !a.Timing.MustSelfFence(a.now(), last) {
		return true
	}
	servers, _, err := a.unprotected(ctx)
	if err != nil {
		return false // it cannot tell what runs here
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Timing.Decide(a.now(), last, a.confirmed, servers).Feed
}

// FeedWatchdog feeds the watchdog, five times per timeout, while the
// agent is healthy, until ctx ends (a manager Runnable). On a clean stop it
// disarms the watchdog only when no unprotected server is active here: if
// one is, the watchdog stays armed and resets the host unless an agent
// opens it again in time (a new agent's start does).
func (a *Agent) FeedWatchdog(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithValues("node", a.Node)
	every := a.Watchdog.Timeout() / 5
	tick := time.NewTicker(max(every, 20*time.Millisecond))
	defer tick.Stop()
	starved := false
	for {
		select {
		case <-ctx.Done():
			if servers, _, err := a.unprotected(context.Background()); err != nil || len(servers) > 0 {
				log.Info("Stopping with unprotected servers active here: the watchdog stays armed", "servers", len(servers))
				return nil
			}
			if err := a.Watchdog.Disarm(); err != nil {
				log.Error(err, "Disarming the watchdog")
			}
			return nil
		case <-tick.C:
		}
		if !a.healthy(ctx) {
			if !starved {
				log.Info("Not feeding the watchdog: the Lease is not renewed and an unprotected server here is "+
					"neither stopped nor covered by its peers; the host resets unless that changes",
					"watchdogTimeout", a.Watchdog.Timeout())
			}
			starved = true
			continue
		}
		if starved {
			log.Info("Feeding the watchdog again")
		}
		starved = false
		if err := a.Watchdog.Feed(); err != nil {
			log.Error(err, "Feeding the watchdog")
		}
	}
}
