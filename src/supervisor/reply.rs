//! What clients ask of the core and what it answers, in the core's own terms. The loop
//! turns a wire request into a [`Command`] (the requests it answers itself, such as tail,
//! reload or shutdown, never reach the core) and each [`Reply`] into a wire response
//! (`src/control/from_core.rs`), so the core does not depend on the protocol's encoding.

use super::WhyStep;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// A request the core answers. Names are as the user wrote them (`all`, `web`, `web:1`);
/// the core resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Every instance when `names` is empty.
    Status {
        names: Vec<String>,
    },
    /// Start and answer once each instance is up (oneshot: exited successfully) or failed.
    Start {
        names: Vec<String>,
    },
    /// `start --in`/`--at`: each instance PENDING until `delay` from now.
    Schedule {
        names: Vec<String>,
        delay: Duration,
    },
    /// Undo a [`Command::Schedule`]: back to STOPPED.
    Cancel {
        names: Vec<String>,
    },
    /// Stop and answer once each instance (and what requires it) has stopped.
    Stop {
        names: Vec<String>,
    },
    /// `stop --kill`: SIGKILL to each instance's whole process group (and cgroup) at once,
    /// no stop signal, no `stoptime`; answered as [`Command::Stop`] once they have stopped.
    Kill {
        names: Vec<String>,
    },
    /// Stop, then start and answer as [`Command::Start`] does.
    Restart {
        names: Vec<String>,
    },
    Pause {
        names: Vec<String>,
    },
    Resume {
        names: Vec<String>,
    },
    /// `signal` as the user wrote it: a name (`TERM`, `SIGTERM`) or a number.
    Signal {
        signal: String,
        names: Vec<String>,
    },
    /// Service and instance names, for completion.
    Names,
    /// The causal chain of an instance's (or each instance of a service's) state.
    Why {
        name: String,
    },
    /// The boot timeline of these instances (all when empty).
    Analyze {
        names: Vec<String>,
    },
    /// Answer once the job has ended.
    Wait {
        name: String,
    },
    /// Stop a job (if running) and forget it.
    Remove {
        name: String,
    },
    /// A service's effective configuration as KDL ([`Reply::Config`]).
    Show {
        name: String,
    },
    /// Where each instance's processes are ([`Reply::Ps`]); all when `names` is empty.
    Ps {
        names: Vec<String>,
    },
}

/// The core's answer to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done; one human-readable line per instance or event.
    Ok {
        lines: Vec<String>,
    },
    Status {
        instances: Vec<InstanceStatus>,
    },
    /// Start/stop/restart (and signal, when only some had a process): per instance; `ok`
    /// is false if any failed.
    Outcome {
        ok: bool,
        results: Vec<InstanceOutcome>,
    },
    /// What a reload did, once settled; no results: nothing changed.
    Reload {
        ok: bool,
        results: Vec<InstanceOutcome>,
    },
    /// A job was started (or a pid adopted) under this name.
    Job {
        name: String,
    },
    /// A job has ended; `code` is what `tmctl run`/`wait` exit with.
    JobEnded {
        name: String,
        code: i32,
        exit_code: Option<i32>,
        /// Signal name without `SIG`.
        exit_signal: Option<String>,
        message: String,
    },
    Names {
        services: Vec<String>,
        instances: Vec<String>,
    },
    /// The instance asked about first, then each dependency it waits on.
    Why {
        steps: Vec<WhyStep>,
    },
    Analyze {
        analysis: Analysis,
    },
    /// `show`: a `service "NAME" { … }` node the loader accepts.
    Config {
        text: String,
    },
    /// `ps`: each instance's main pid and process group.
    Ps {
        instances: Vec<ProcessIds>,
    },
    /// The request was refused; `kind` says why for programs, `message` for people.
    Refused {
        kind: Refusal,
        message: String,
    },
}

impl Reply {
    pub fn refused(kind: Refusal, message: impl Into<String>) -> Reply {
        Reply::Refused {
            kind,
            message: message.into(),
        }
    }
}

/// Why the core refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A name that is no service, instance or job.
    UnknownName,
    /// A request that means nothing here (no names, an unknown signal, a taken name).
    BadRequest,
    /// A limit was reached (jobs, clients waiting for jobs).
    Busy,
    /// Shutting down: nothing more is started.
    ShuttingDown,
    /// No instance named has a process to signal.
    NotRunning,
}

/// One instance as `tmctl status` shows it, as far as the core knows it (the loop adds
/// what its cgroup uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// `web`, or `web:0` when the service has several instances.
    pub name: String,
    pub service: String,
    /// The state word in capitals: RUNNING, STOPPED, ...
    pub state: String,
    pub pid: Option<i32>,
    /// Seconds since the process started, while it runs.
    pub uptime_secs: Option<u64>,
    pub restarts: u32,
    pub exit_code: Option<i32>,
    /// Signal name without `SIG`, e.g. `KILL`.
    pub exit_signal: Option<String>,
    /// Why it is in this state, when there is more to say (FATAL reason, PENDING cause).
    pub detail: Option<String>,
    /// FATAL only: the last line its program (or its `pre-start`) wrote to a captured stderr.
    pub last_stderr: Option<String>,
    /// A job started by `run` or `adopt`, not from a file.
    pub transient: bool,
    /// Jobs: the uid that started it.
    pub owner: Option<u32>,
    /// A service with a `schedule`: the minute it is next started at (RFC 3339, local
    /// offset).
    pub next_run: Option<String>,
}

/// One instance's status borrowed from the core, as [`InstanceStatus`] says it: what a
/// status of every instance is written from. With 1,000 instances a list of owned
/// statuses was 212 KB and 3,000 small strings built for every `tmctl status` (and, being
/// over 128 KiB, mapped afresh and faulted in each time); a view borrows the names and the
/// stored texts and owns only what is computed (a countdown, a scheduled start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView<'a> {
    pub name: InstanceName<'a>,
    pub service: &'a str,
    /// The state word (the core's are static).
    pub state: &'a str,
    pub pid: Option<i32>,
    pub uptime_secs: Option<u64>,
    pub restarts: u32,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<String>,
    pub detail: Option<Cow<'a, str>>,
    pub last_stderr: Option<&'a str>,
    pub transient: bool,
    pub owner: Option<u32>,
    pub next_run: Option<String>,
}

/// An instance's name without making it: `web`, or `web:0` when the service has several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceName<'a> {
    Whole(&'a str),
    Indexed(&'a str, u32),
}

impl fmt::Display for InstanceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceName::Whole(name) => f.write_str(name),
            InstanceName::Indexed(service, index) => write!(f, "{service}:{index}"),
        }
    }
}

impl StatusView<'_> {
    pub fn into_owned(self) -> InstanceStatus {
        // Destructured, so that a field added to one does not compile until the other has it.
        let StatusView {
            name,
            service,
            state,
            pid,
            uptime_secs,
            restarts,
            exit_code,
            exit_signal,
            detail,
            last_stderr,
            transient,
            owner,
            next_run,
        } = self;
        InstanceStatus {
            name: name.to_string(),
            service: service.to_string(),
            state: state.to_string(),
            pid,
            uptime_secs,
            restarts,
            exit_code,
            exit_signal,
            detail: detail.map(Cow::into_owned),
            last_stderr: last_stderr.map(str::to_string),
            transient,
            owner,
            next_run,
        }
    }
}

impl InstanceStatus {
    /// The view of an owned status (for writing it as a status of all is written).
    pub fn view(&self) -> StatusView<'_> {
        StatusView {
            name: InstanceName::Whole(&self.name),
            service: &self.service,
            state: &self.state,
            pid: self.pid,
            uptime_secs: self.uptime_secs,
            restarts: self.restarts,
            exit_code: self.exit_code,
            exit_signal: self.exit_signal.clone(),
            detail: self.detail.as_deref().map(Cow::Borrowed),
            last_stderr: self.last_stderr.as_deref(),
            transient: self.transient,
            owner: self.owner,
            next_run: self.next_run.clone(),
        }
    }
}

/// One instance for `ps`: its main process and the process group (and session) it was
/// spawned in; the loop adds its cgroup, tmctl reads /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIds {
    pub name: String,
    pub state: String,
    pub pid: Option<i32>,
    /// The main pid unless a MAINPID= message moved it.
    pub group: Option<i32>,
    pub service: String,
    pub index: u32,
}

/// What happened to one instance (or service) a start, stop, restart or reload touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceOutcome {
    pub name: String,
    /// For restart and reload: `restarted`, `added`, `removed`, … (none for start, stop).
    pub action: Option<String>,
    pub ok: bool,
    /// e.g. "RUNNING", "stopped", "FATAL: exec /bin/x: No such file or directory".
    pub message: String,
}

/// `analyze`: when each instance was spawned and came up, in milliseconds since the boot
/// (or daemon start), and the critical chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Milliseconds from the boot to the answer.
    pub elapsed_ms: u64,
    /// Sorted by spawn time; those never spawned last.
    pub entries: Vec<AnalyzeEntry>,
    /// The instance that came up last, then the dependency that held it back, and so on.
    pub chain: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyzeEntry {
    pub name: String,
    pub service: String,
    /// Its state now.
    pub state: String,
    /// Its first spawn since the boot (none: never spawned).
    pub spawned_ms: Option<u64>,
    /// When it first was up (RUNNING, or a oneshot that succeeded).
    pub ready_ms: Option<u64>,
    /// It went FATAL before it was ever up.
    pub failed: bool,
    /// The services it waits for (requires, wants, after).
    pub after: Vec<String>,
}
