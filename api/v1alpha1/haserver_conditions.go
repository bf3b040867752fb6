package v1alpha1

// Condition types of an HAServer. The controller sets every one of them on
// every reconcile, Unknown when it cannot tell (while the spec is refused,
// every one but Valid).
const (
	// ConditionAvailable surfaces when one host is Online and, for a server
	// with shared disks, holds their reservation.
	ConditionAvailable = "Available"
	// ConditionSwitchoverInProgress surfaces while a switchover (automatic or
	// planned) runs, from detection until the new host is Online or the
	// switchover failed.
	ConditionSwitchoverInProgress = "SwitchoverInProgress"
	// ConditionFenced surfaces while a host of the server is fenced: cut off
	// from the shared disks until it reboots and is admitted back.
	ConditionFenced = "Fenced"
	// ConditionReservationHeld surfaces when the active host's agent reports
	// the reservation of every shared disk taken for the current epoch.
	ConditionReservationHeld = "ReservationHeld"
	// ConditionDegraded surfaces when the server runs but fewer standbys are
	// ready than hosts configured, or a wait state needs an operator.
	ConditionDegraded = "Degraded"
	// ConditionValid surfaces False when the spec names something that does
	// not exist or is not allowed (a missing node, a disk used elsewhere); the
	// controller then does nothing, and fences nothing.
	ConditionValid = "Valid"
)

// Condition reasons. Each is CamelCase and says why a condition has its status.
const (
	ReasonOnline             = "Online"
	ReasonNoActive           = "NoActiveHost"
	ReasonSwitching          = "Switching"
	ReasonIdle               = "Idle"
	ReasonWaitingForOperator = "WaitingForOperator"
	ReasonStandbyMissing     = "StandbyMissing"
	ReasonAllStandbysReady   = "AllStandbysReady"
	ReasonHostFenced         = "HostFenced"
	ReasonNotFenced          = "NoHostFenced"
	ReasonReservationTaken   = "ReservationTaken"
	ReasonReservationPending = "ReservationPending"
	ReasonNoSharedDisks      = "NoSharedDisks"
	ReasonSpecValid          = "SpecValid"
	ReasonNodeNotFound       = "NodeNotFound"
	// ReasonSpecRefused is the reason of every condition but Valid while the
	// spec is refused: their status is Unknown.
	ReasonSpecRefused = "SpecRefused"
)
