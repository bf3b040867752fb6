// Package scsivm holds hamon's tests against a real Linux SCSI stack: the
// node agent's own code (nodeagent/scsipr, pathwatch, fencing, multipath
// and the agent's rules) on a LIO iSCSI target, open-iscsi and
// dm-multipath, inside a QEMU guest running Debian's kernel.
//
// The tests carry the build tag scsivm. make test-scsi (hack/scsi-vm/run.sh)
// builds them as a static binary (CGO_ENABLED=0 go test -c -tags scsivm),
// boots the guest once per scenario, lets hack/scsi-vm/guest/fabric.sh
// build the storage (one LUN; host A reaches it through two iSCSI sessions
// under dm-multipath, host B through two sessions of another initiator
// name, used raw) and runs one test in it. Outside the guest the tests
// skip: they need the environment fabric.sh writes.
//
// Host A and host B live in one kernel. Each is a distinct initiator, so
// the target keeps their registrations apart, and each side runs its own
// agent (nodeagent/agent with a fake API client) or its own scsipr.Client.
package scsivm
