package v1alpha1

import "sort"

// DefaultSwitchRetry is the number of start retries when switchError is
// Retry and switchRetry is not set.
const DefaultSwitchRetry int32 = 3

// EffectiveAlias is the server's alias: spec.alias, or the object's name.
func (s *HAServer) EffectiveAlias() string {
	if s.Spec.Alias != "" {
		return s.Spec.Alias
	}
	return s.Name
}

// EffectiveSwitchRetry is the number of start retries allowed: 0 unless
// switchError is Retry, then spec.switchRetry or DefaultSwitchRetry.
func (s *HAServerSpec) EffectiveSwitchRetry() int32 {
	if s.SwitchError != SwitchErrorRetry {
		return 0
	}
	if s.SwitchRetry != nil {
		return *s.SwitchRetry
	}
	return DefaultSwitchRetry
}

// EffectiveMode is spec.mode, Monitor when unset (the API server defaults
// it; this covers objects built in Go).
func (s *HAServerSpec) EffectiveMode() ServerMode {
	if s.Mode == "" {
		return ModeMonitor
	}
	return s.Mode
}

// EffectiveSwitchType is spec.switchType, Switch when unset.
func (s *HAServerSpec) EffectiveSwitchType() SwitchType {
	if s.SwitchType == "" {
		return SwitchTypeSwitch
	}
	return s.SwitchType
}

// GroupExchange reports whether a failure of this server switches its whole
// group (exchange, the default) rather than only this server (no_exchange).
func (s *HAServerSpec) GroupExchange() bool {
	return s.Group != nil && (s.Group.Exchange == nil || *s.Group.Exchange)
}

// PrimaryNode is the first host: where the server starts active.
func (s *HAServerSpec) PrimaryNode() string {
	if len(s.Hosts) == 0 {
		return ""
	}
	return s.Hosts[0].Node
}

// NodesByPriority returns the host nodes ordered by standby priority, the
// highest (lowest number) first. Without standbyPriority the list order is
// the priority.
func (s *HAServerSpec) NodesByPriority() []string {
	type ranked struct {
		node string
		prio int32
	}
	hosts := make([]ranked, len(s.Hosts))
	for i, h := range s.Hosts {
		p := int32(i + 1)
		if h.StandbyPriority != nil {
			p = *h.StandbyPriority
		}
		hosts[i] = ranked{h.Node, p}
	}
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].prio < hosts[j].prio })
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.node
	}
	return out
}
