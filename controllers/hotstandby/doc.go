// Package hotstandby is hamon's decision logic: the hot-standby state
// machine of one server, with the semantics of HA Monitor. It imports
// nothing from Kubernetes; the controller adapts it to the API and the
// node agents carry out its commands.
//
// # How it is used
//
// The controller keeps a State per HAServer (in the object's status). Each
// time it observes something it turns the observation into an Event and
// calls Step(config, state, event, now), which returns the next state and
// the Commands to carry out, in order. Step never panics and ignores events
// that do not fit (a stale report, a repeated request), so the controller
// can replay what it sees on every reconcile. Time comes in as an argument
// and timers as Tick events at NextDeadline, so tests run in microseconds.
//
// # Host states (monshow)
//
// Each host of a server is in one state:
//
//	Online           ONL: the active server runs here.
//	Standby          SBY: ready to take over. In Server mode a standby copy
//	                 runs; in Monitor mode nothing runs (4.1.2 (2)).
//	Starting         being started as active (a switchover target) or standby.
//	Stopping         being terminated (termCommand, or the pod deleted).
//	StartRetry       >ONL: a failed start is retried (3.2.7): switchRetry times
//	                 at the retry interval, in both modes (a pod's server does
//	                 not restart itself, so hamon makes the restart HA Monitor
//	                 waits for in Server mode); a retry whose host does not
//	                 hold the reservation takes it first (a new epoch).
//	RestartWait      the failed active waits to be restarted here (switchtype
//	                 restart: not terminated; a running one is left to
//	                 recover, one that ended is started again here; no hot
//	                 standby unless Config.RestartWaitLimit runs out, by
//	                 default none; manual, and Monitor mode without patrol:
//	                 an operator's Act or Swap decides)
//	                 (Table 4-3 #3 and footnote 3, Table 4-4 #2).
//	ActiveStartWait  the primary host did not come up; the best other host
//	                 waits for Act (7.5.1).
//	HotStandbyWait   the failed host could not be fenced (it did not go down
//	                 in time); only the top-priority standby waits for Act,
//	                 nothing is activated (4.5.2). A failed resource
//	                 connection on the target is no such case: it is a
//	                 failed start (3.2.7).
//	GroupSwitchWait  no_exchange group member: the standby waits for the group
//	                 to switch (4.4.1).
//	Stopped, Failed  not running: by request or normal end / after a failure.
//	Fenced           cut off from the shared disks (its key preempted, or its
//	                 OS terminated); it rejoins as standby only after a reboot.
//
// # Events
//
// Server events (ServerStarted, ServerExited normal or abnormal,
// StartFailed, PatrolFailed), host events (HostLost, HostBack), agent
// reports (ReservationTaken, ReservationFailed for an epoch), time (Tick),
// operator requests (Request: Swap = monswap [-f], StopStandby = monsbystp,
// End = monend, Begin = monbegin, Act = monact, ClearReservation =
// monscsiclr) and group coordination (GroupSwitch, GroupMemberSwitched,
// MembersReady).
//
// What each server event does is Table 4-3 (Server mode) and Table 4-4
// (Monitor mode) of 4.1.2; the tests are named after their rows. Table 4-4
// footnote 1 (the termcommand runs in the hot standby that follows an
// abnormal termination) is a Terminating stage of its own: the old host is
// Stopping with TermCommand set until TermCommandEnded, and the standby
// starts after it. The manual is silent on a termcommand that does not end;
// hamon treats it as a server that would not stop (the host is fenced), and
// tells its exit code without judging it, the server having ended already.
//
// # Switchover
//
// Every switchover, automatic or planned, runs one pipeline:
//
//	Terminating → Fencing → Reserving → Activating [→ AwaitingMembers]
//
// Terminating stops every host that may run an active copy (the old active,
// or a target that failed while starting); Fencing waits, for a lost host
// without shared disks, until its agent has self-fenced (or, for a forced
// swap, until the host is down); Reserving asks the target's agent to
// register on every path and PREEMPT AND ABORT every other key, for a new
// epoch; Activating starts (Monitor mode) or promotes (Server mode) the
// target. Every stage has a timer, so nothing waits forever: a stop that
// times out is fenced, an old host that does not go down leaves the target
// in HotStandbyWait, and a resource connection (reservation) or a start
// that fails on the target moves on to the next standby by priority
// (multi-standby, 3.2.5) and then to start retries or a hot-standby error
// (3.2.7). A standby copy that was to be promoted and ended before its
// activation is started anew there (HAMN138-W).
//
// # Safety
//
// CheckInvariants states what holds after every step; the property tests
// check it, and that no host is activated while another may still write,
// over hundreds of thousands of random sequences. Groups (PlanGroup,
// PlanGroupSwap) and the system-manager policies of HiRDB 26.7.9
// (DecideManagerSwitchover, Tables 26-41 and 26-42) are pure functions
// beside the machine.
//
// Where 26.7.9 is silent, hamon chooses: a unit "stopped" is one that
// runs in no form (stopped, failed, in a wait state, pending, or in start
// retries), while one starting or switching over is on its way up; reduced
// activation awaits each recognised unit until it is Online, but not a
// stopped unit of only recovery-unnecessary front-end servers (which never
// holds the switchover up); the front-end/back-end/dictionary check runs
// only when the members say which servers they run; under notwait the
// manager's completion is not delayed at all. The manager's completion
// (HAMN163-I) stands for KFPS05210-I and names the units still stopped.
package hotstandby
