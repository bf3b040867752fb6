// Package config holds hamon's deployment manifests: the generated CRDs
// (crd/bases) and ClusterRoles (rbac, rbac/nodeagent), the hand-written
// ClusterRoles for people (rbac/operator_role.yaml, rbac/viewer_role.yaml),
// the ValidatingAdmissionPolicies (policy) and samples.
//
// It has no Go code of its own. Its tests install the manifests in a real
// kube-apiserver (hack/testenv) and check what they promise: a node
// agent writes only its own node's HANode and Lease, an operator request
// needs the verb "request", having the controller run pods (an HAServer's
// template and hosts) needs the right to create them, and each ClusterRole
// grants no more than its component needs.
package config
