package hotstandby

// Messages is the catalogue of the message ids hamon puts in events (the
// event's reason), so `kubectl get events` reads like HA Monitor's syslog
// and each id can be looked up. KAMN ids are HA Monitor's own where the
// manual gives them; HAMN ids are hamon's. The suffix is the severity:
// I information, W warning, E error.
var Messages = map[string]string{
	"HAMN100-I": "The server started as active on a host outside a switchover (a restart in place or a start retry succeeded).",
	"HAMN101-I": "The server started as standby on a host (Server mode).",
	"HAMN102-I": "The server terminated on a host (normal termination, or a stop hamon asked for).",
	"HAMN103-E": "Abnormal termination of the active server (Table 4-3/4-4 row 2). A hot standby, a restart or a wait follows.",
	"HAMN104-W": "Abnormal termination of a standby server, or a standby that could not start (row 4): hamon does nothing.",
	"HAMN105-E": "hamon detected a failure of the active server: the patrol command exited or the periodic patrol failed.",
	"HAMN106-I": "Monitor mode: the termCommand runs on the old host after an abnormal termination, before the standby starts (Table 4-4 #1).",
	"HAMN107-I": "The termCommand run after an abnormal termination ended; the switchover goes on.",
	"HAMN110-E": "Host failure: the host's node agent stopped renewing its Lease.",
	"HAMN111-I": "A host's node agent is heard from again (rebooted or not).",
	"HAMN120-I": "A switchover (or the first activation) started, or went on to the next standby.",
	"HAMN121-I": "The old active host is known stopped or fenced: the new one may take the reservation.",
	"HAMN122-I": "The target's agent took the reservation of every shared disk (registered, other keys preempted).",
	"HAMN123-I": "The switchover ended: the server is active on the new host; the time it took is in the message.",
	"HAMN124-E": "No standby to switch to: the hot standby is not performed (Table 4-3 #3, #5).",
	"HAMN125-W": "The server could not start on the switchover target, or its resource connection (the shared " +
		"disks' reservation) failed there (3.2.7); the next standby is tried, then start retries or a " +
		"hot-standby error.",
	"HAMN126-W": "The server enters start retry (>ONL) on the target (3.2.7).",
	"HAMN127-W": "Start retries (or another wait) on a host were canceled: the server became active elsewhere.",
	"HAMN128-E": "Fencing failed (the old active host did not go down in time): the top-priority standby waits in HotStandbyWait for Act.",
	"HAMN129-E": "Hot-standby error: the server could not start on any host (switchError Stop, or retries exhausted).",
	"HAMN130-W": "The failed active server waits in RestartWait (switchType Restart): a running one is left to " +
		"recover, not terminated; one that ended is restarted in place. No hot standby unless " +
		"spec.restartWaitLimit runs out or an operator asks.",
	"HAMN131-E": "The restart in place failed: hamon switches over.",
	"HAMN132-W": "The server waits for an operator: switchType Manual, or Monitor mode without patrol (Act restarts, Swap switches).",
	"HAMN133-W": "no_exchange group member: its standby waits in GroupSwitchWait for the group to switch.",
	"HAMN134-W": "A server did not stop in time; its host is fenced (reservation preempt, or OS termination without shared disks).",
	"HAMN135-W": "The primary host did not come up in time; the best live host waits in ActiveStartWait for Act (7.5.1).",
	"HAMN136-I": "A start retry is made.",
	"HAMN137-I": "A server without shared disks waits to start on a host that renewed its Lease again only lately (two watchdog timeouts).",
	"HAMN138-W": "The standby copy on the switchover target ended before its promotion (Server mode): activation " +
		"starts the server there instead.",
	"HAMN140-I": "An operator request was accepted.",
	"HAMN141-W": "An operator request was refused; the message says why.",
	"HAMN142-I": "The server was ended (monend).",
	"HAMN150-W": "A host's OS is being terminated (monswap -f, or a server that would not stop).",
	"HAMN151-I": "A fenced host rebooted and rejoins as standby.",
	"HAMN152-W": "A node agent terminates its host's OS as the controller asks (forced fence: monswap -f, or a " +
		"server that would not stop) (node agent).",
	"HAMN153-W": "The agent asked to clear the shared disks' reservation (ClearReservation, monscsiclr) could not: the request failed.",
	"HAMN160-E": "The group policy (HiRDB 26.7.9) refused the system manager's switchover.",
	"HAMN161-I": "The system manager waits for the group's members (reduced activation).",
	"HAMN162-W": "Reduced activation: not every member started within reducedCheckTime.",
	"HAMN163-I": "The system manager is active (HiRDB's KFPS05210-I); the message names the members still stopped.",
	"HAMN171-I": "The active host's node is being drained (cordoned): a planned switchover moves the server off it.",
	"HAMN172-W": "The active host's node is being drained, but no standby on an uncordoned node can take over: the drain waits.",
	"HAMN173-I": "A standby on a node being drained (cordoned) was stopped; it starts again when the node is uncordoned.",
	"HAMN181-W": "A node agent found its host's reservation key preempted on the shared disks while the server " +
		"was active there: it stops the server (node agent).",
	"HAMN180-W": "A node agent stopped the server on its own while it could not reach the API server " +
		"(self-fence, or a failure it could not report): an abnormal termination; the server runs again elsewhere or here.",
	"HAMN170-E": "The controller leaves the server alone: a shared disk is not allowed or used by another server (Valid=False).",
	"KAMN107-I": "Clearing the reservation of the shared disks (monscsiclr).",
	"KAMN725-W": "A SCSI command on a reserved shared disk ended abnormally on a path (node agent).",
	"KAMN726-E": "Every path of a shared disk failed while the active server was terminating: the OS is terminated (node agent).",
}
