package v1alpha1

// Labels and annotations on the pods hamon runs, and the defaults the
// controller, the node agents, the kubectl plugin and the chart share.
const (
	// LabelServer names the HAServer a pod belongs to.
	LabelServer = "ha.hamon.io/server"
	// LabelRole is active or standby: a Service selecting role=active
	// follows the active server, as HA Monitor moves an alias IP.
	LabelRole = "ha.hamon.io/role"
	// AnnotationNode names the node the pod is pinned to.
	AnnotationNode = "ha.hamon.io/node"
	// AnnotationBootID is the node's boot ID (as its agent reports it)
	// when hamon created the pod. A pod made for an earlier boot is never
	// taken for the server's current copy on the node: what it ran went
	// with that boot, and if it had not started yet it must not start now.
	AnnotationBootID = "ha.hamon.io/boot-id"
	// RoleActiveLabel and RoleStandbyLabel are the values of LabelRole.
	RoleActiveLabel  = "active"
	RoleStandbyLabel = "standby"
	// RoleTermCommandLabel marks the pod that runs spec.termCommand after
	// the server ended abnormally (Monitor mode, Table 4-4 #1): not a copy
	// of the server.
	RoleTermCommandLabel = "termcommand"

	// DefaultAgentNamespace is where the node agents run and keep their
	// Leases (one per node, named after the node); the chart's default
	// namespace.
	DefaultAgentNamespace = "hamon-system"
)
