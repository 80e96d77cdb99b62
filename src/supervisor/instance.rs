//! One running copy of a service (`web`, or `web:0`, `web:1`... with numprocs > 1).

use super::state::{ExitStatus, State};
use crate::config::{Empty, Rare};
use std::collections::VecDeque;
use std::time::Instant;

/// Why the core itself is stopping a process whose goal is still Up: its exit is then a
/// failure to handle by policy, not the end of a requested stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ForcedStop {
    /// `ready-timeout` passed without READY=1 (or the fd:N newline): a failed start.
    ReadyTimeout,
    /// No `WATCHDOG=1` within `watchdog`: a crash, restarted per `autorestart`.
    Watchdog,
}

/// Whether the instance should be running. The core moves every instance towards its goal
/// (see `Supervisor::reconcile`); an instance that ends on its own gets the goal `Down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Goal {
    Up,
    Down,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub state: State,
    /// The state last published as an event (see transitions.rs).
    pub reported: State,
    pub goal: Goal,
    pub pid: Option<i32>,
    /// When the current process was spawned (uptime is counted from here).
    pub spawned_at: Option<Instant>,
    /// When it became RUNNING: a crash soon after counts towards the growing delay.
    pub running_since: Option<Instant>,
    /// The one timer an instance has; what it means depends on the state: STARTING →
    /// RUNNING, BACKOFF/PENDING → retry due, STOPPING → SIGKILL due.
    pub deadline: Option<Instant>,
    /// Consecutive exits before `starttime`.
    pub failed_starts: u32,
    /// Consecutive crashes soon after RUNNING.
    pub crash_streak: u32,
    /// Automatic restarts since the daemon started, for `status`.
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
    /// Why it is in its state, when there is more to say (FATAL reason, PENDING cause).
    pub detail: Option<String>,
    /// The state to go back to on SIGCONT.
    pub paused_from: Option<State>,
    /// A required dependency has failed: this instance cannot start until it recovers.
    pub blocked: bool,
    /// Removed by a reload (numprocs shrank or the service was removed): forget it once stopped.
    pub retiring: bool,
    /// A restart was asked (`tmctl restart`, or a reload that changed its process): it is
    /// stopped once everything that requires it has stopped, then comes back before them.
    pub restart_pending: bool,
    /// Someone asked for it to run (autostart, `tmctl start`/`restart`) and nobody has
    /// stopped it since. Unlike `goal`, this survives FATAL and EXITED: a reload that changes
    /// such an instance's process gives it a fresh start.
    pub wanted: bool,
    /// In the `pre-start` phase of a start (STARTING, no main process yet).
    pub in_pre_start: bool,
    /// That `pre-start` process, once spawned.
    pub pre_start_pid: Option<i32>,
    /// The process group (and session) of the current process: the pid it was spawned with,
    /// which stays its group when a MAINPID= message moves `pid` to another process.
    pub group: Option<i32>,
    pub forced: Option<ForcedStop>,
    /// What this instance runs instead of its service's process: an `on-event` hook's run
    /// carries its own event in its environment (hook_jobs.rs).
    pub process: Option<std::sync::Arc<crate::config::ProcessSpec>>,
    /// What most instances never have (a captured stderr line, a notify status, an OOM
    /// kill, leftovers in the cgroup, restart times under a `restart-limit`): behind one
    /// pointer, boxed once one of them is set. Inline, they were about 170 of the 304 bytes
    /// every instance had (bench/PROFILES.md, memory). Cleared through `boxed_mut`, which
    /// does not box what was never set.
    pub seldom: Rare<Seldom>,
}

/// The seldom used part of an [`Instance`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seldom {
    /// The last line the last process wrote to a captured stderr (or its `pre-start`'s
    /// output), shown while FATAL.
    pub last_stderr: Option<String>,
    /// The last `STATUS=` text of a notify service, shown as its detail.
    pub notify_status: Option<String>,
    /// When the recent automatic restarts happened (`restart-limit`).
    pub restart_times: VecDeque<Instant>,
    /// The last process was killed by the OOM killer (`killed by the OOM killer,
    /// memory-max 512M`); until the next spawn.
    pub oom: Option<String>,
    /// The loop found processes left in the cgroup of the process whose exit comes next.
    pub leftovers: Option<usize>,
    /// Its main process has exited, but its cgroup is not empty yet (see drain.rs).
    pub drain: Option<super::drain::Drain>,
}

impl Empty for Seldom {
    fn empty() -> &'static Seldom {
        static EMPTY: Seldom = Seldom {
            last_stderr: None,
            notify_status: None,
            restart_times: VecDeque::new(),
            oom: None,
            leftovers: None,
            drain: None,
        };
        &EMPTY
    }
}

impl Default for Instance {
    fn default() -> Self {
        Instance::new()
    }
}

impl Instance {
    pub fn new() -> Instance {
        Instance {
            state: State::Stopped,
            reported: State::Stopped,
            goal: Goal::Down,
            pid: None,
            spawned_at: None,
            running_since: None,
            deadline: None,
            failed_starts: 0,
            crash_streak: 0,
            restarts: 0,
            last_exit: None,
            detail: None,
            paused_from: None,
            blocked: false,
            retiring: false,
            restart_pending: false,
            wanted: false,
            in_pre_start: false,
            pre_start_pid: None,
            group: None,
            forced: None,
            process: None,
            seldom: Rare::default(),
        }
    }

    /// Alive, or about to be: a process exists or a spawn is underway.
    pub fn is_active(&self) -> bool {
        self.state.has_process()
    }

    /// Waiting to be (re)spawned: PENDING or BACKOFF with the goal Up.
    pub fn is_waiting_to_start(&self) -> bool {
        self.goal == Goal::Up && matches!(self.state, State::Pending | State::Backoff)
    }
}
