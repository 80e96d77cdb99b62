//! The typed, validated form of one `service "NAME" { ... }` node.
//!
//! Fields are grouped by what a reload does when they change (see SPEC.md, "Reload"):
//! a change in [`ProcessSpec`] restarts the service, a change in [`Policy`] or [`Deps`]
//! applies in place, and `numprocs` adds or removes instances only.

use super::rare::{Empty, Rare};
use super::EnvVars;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where a service was defined, for messages that point the user at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub origin: Origin,
    pub numprocs: u32,
    /// Shared (the core's spawn actions and every instance use this one copy).
    pub process: std::sync::Arc<ProcessSpec>,
    pub policy: Policy,
    /// Boxed only when not empty, as are `triggers` (most services have neither).
    pub deps: Rare<Deps>,
    /// `pre-start`: run to completion (as the service's user, with its environment) before
    /// every start; a non-zero exit is a failed start. At reload it vets a new config before
    /// the running process is stopped. A change to it alone applies in place.
    pub pre_start: Option<Vec<String>>,
    /// `on-event`, `watch`, `listen`, `start-on-demand`: they apply in place on reload
    /// (the sockets are kept, hooks and watches replaced).
    pub triggers: Rare<Triggers>,
}

/// What makes the daemon act on a service besides its own process (SPEC.md, "Events,
/// files, sockets, consoles").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Triggers {
    pub hooks: Vec<EventHook>,
    /// Files whose change restarts the service (or sends `watch_signal`).
    pub watch: Vec<PathBuf>,
    pub watch_signal: Option<i32>,
    /// Sockets the daemon binds and hands over as fds 3, 4, … (`LISTEN_FDS`).
    pub listen: Vec<ListenAddr>,
    /// Started by the first connection to a `listen` socket, not at boot.
    pub start_on_demand: bool,
}

impl Empty for Triggers {
    fn empty() -> &'static Triggers {
        static EMPTY: Triggers = Triggers {
            hooks: Vec::new(),
            watch: Vec::new(),
            watch_signal: None,
            listen: Vec::new(),
            start_on_demand: false,
        };
        &EMPTY
    }
}

/// `on-event "FATAL" "exit" "/usr/local/bin/alert"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHook {
    /// State words in capitals (`FATAL`), or `exit` (any exit of the main process).
    pub events: Vec<String>,
    pub cmd: Vec<String>,
}

/// One `listen` socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ListenAddr {
    Tcp(std::net::SocketAddr),
    Udp(std::net::SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "tcp:{addr}"),
            ListenAddr::Udp(addr) => write!(f, "udp:{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// What it takes to start the process. Any change here restarts the service on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// argv; `cmd[0]` is the program as written (resolved against PATH at spawn time).
    pub cmd: Vec<String>,
    pub kind: ServiceType,
    pub umask: Option<u32>,
    pub workingdir: PathBuf,
    pub stdout: Output,
    pub stderr: Output,
    pub env: EnvVars,
    pub credentials: Rare<Option<Credentials>>,
    /// `None`: the field was not given (root keeps all, another user gets none).
    pub capabilities: Rare<Option<Vec<caps::Capability>>>,
    pub no_new_privs: bool,
    pub limits: Rare<Vec<Limit>>,
    pub stdout_rotation: Rotation,
    pub stderr_rotation: Rotation,
    /// When a process counts as up (SPEC.md, "Readiness"); notify and fd:N change what the
    /// child gets (`NOTIFY_SOCKET`, a pipe on fd N), so a change restarts it.
    pub ready: Readiness,
    /// `notify` only: the longest silence between two `WATCHDOG=1` (`WATCHDOG_USEC`).
    pub watchdog: Option<Duration>,
    /// `KEY=VALUE` files read at each start, in order, below `env`.
    pub env_files: Rare<Vec<EnvFile>>,
    /// cgroup v2 limits (`memory-max`, `cpu-weight`, …); all `None`: none asked for.
    pub resources: Rare<Resources>,
    /// `console #true`: stdin, stdout and stderr are a pseudo-terminal the daemon owns.
    pub console: bool,
}

/// `user`/`group`, `capabilities`, `limits` and `env-file` are `Rare` (boxed only when
/// given): a plain service has none, and every loaded service keeps its process spec.
impl Empty for Option<Credentials> {
    fn empty() -> &'static Option<Credentials> {
        static EMPTY: Option<Credentials> = None;
        &EMPTY
    }
}

impl Empty for Option<Vec<caps::Capability>> {
    fn empty() -> &'static Option<Vec<caps::Capability>> {
        static EMPTY: Option<Vec<caps::Capability>> = None;
        &EMPTY
    }
}

impl Empty for Vec<Limit> {
    fn empty() -> &'static Vec<Limit> {
        static EMPTY: Vec<Limit> = Vec::new();
        &EMPTY
    }
}

impl Empty for Vec<EnvFile> {
    fn empty() -> &'static Vec<EnvFile> {
        static EMPTY: Vec<EnvFile> = Vec::new();
        &EMPTY
    }
}

/// cgroup v2 limits of one instance (SPEC.md, "Resources (cgroup v2)"). Each is written to
/// the file of the same name in the instance's cgroup before its program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// `memory.max`, bytes.
    pub memory_max: Option<u64>,
    /// `memory.high`, bytes.
    pub memory_high: Option<u64>,
    /// `cpu.weight`, 1–10000.
    pub cpu_weight: Option<u32>,
    /// `cpu.max` as a percentage of one CPU (1–100000: 250 = two and a half CPUs).
    pub cpu_max_percent: Option<u32>,
    /// `pids.max`.
    pub pids_max: Option<u64>,
}

impl Empty for Resources {
    fn empty() -> &'static Resources {
        static EMPTY: Resources = Resources {
            memory_max: None,
            memory_high: None,
            cpu_weight: None,
            cpu_max_percent: None,
            pids_max: None,
        };
        &EMPTY
    }
}

impl Resources {
    pub fn any(&self) -> bool {
        *self != Resources::default()
    }
}

/// `ready "started" | "notify" | "fd:N"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readiness {
    /// Up once it has survived `starttime`.
    #[default]
    Started,
    /// Up when a process of the instance sends `READY=1` to `NOTIFY_SOCKET`.
    Notify,
    /// Up when it writes a newline to this file descriptor (≥ 3), a pipe to the daemon.
    Fd(i32),
}

impl Readiness {
    /// Whether the process itself says when it is up (no `starttime` guess).
    pub fn is_reported(self) -> bool {
        self != Readiness::Started
    }
}

/// One `env-file` path; a leading `-` in the file makes it optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub path: PathBuf,
    /// A missing optional file is skipped; a missing required one is a FATAL start.
    pub optional: bool,
}

/// How the supervisor watches the process. Changes apply in place on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub autostart: bool,
    pub autorestart: RestartPolicy,
    pub exitcodes: Vec<i32>,
    pub startretries: u32,
    pub starttime: Duration,
    /// Signal number (validated against the platform's signals).
    pub stopsignal: i32,
    pub stoptime: Duration,
    pub essential: bool,
    /// `notify`/`fd:N`: not ready within this long is a failed start.
    pub ready_timeout: Duration,
    /// At most this many automatic restarts within the window, else FATAL.
    pub restart_limit: Option<RestartLimit>,
    /// `schedule` (oneshot only): started at every matching minute, local time.
    pub schedule: Option<super::CronSchedule>,
    /// Also started at a rescue boot (kernel command line `single`, `taskmaster.rescue`),
    /// when every other service waits until the rescue shell is left.
    pub rescue: bool,
}

/// `restart-limit N SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartLimit {
    pub count: u32,
    pub window: Duration,
}

/// Dependencies by service name (validated to exist and to be acyclic at load).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deps {
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub after: Vec<String>,
    pub before: Vec<String>,
    /// Like `requires`, and bounced whenever that service's process exits.
    pub binds_to: Vec<String>,
}

impl Empty for Deps {
    fn empty() -> &'static Deps {
        static EMPTY: Deps = Deps {
            requires: Vec::new(),
            wants: Vec::new(),
            after: Vec::new(),
            before: Vec::new(),
            binds_to: Vec::new(),
        };
        &EMPTY
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    Simple,
    Oneshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    Never,
    Unexpected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Kept in a bounded ring buffer for `tmctl tail` (the default).
    Capture,
    Discard,
    Syslog,
    Inherit,
    /// Appended to this file.
    File(PathBuf),
    /// `stderr "stdout"`: the same pipe or file as stdout, so both interleave in the order
    /// they were written.
    Stdout,
    /// Not a value of the fields: where an `on-event` hook's run writes, line by line into
    /// the event log under its job's name (bounded per run, see daemon/output.rs).
    EventLog,
}

/// A user resolved at load time (names looked up in the parent, never after fork).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user's name (as written, or from passwd for a numeric id), for messages and
    /// `$USER`-style uses; `None` for a uid with no passwd entry or when only `group` is given.
    pub user: Option<String>,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the user's, from getgrouplist), resolved at load.
    pub groups: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// e.g. `libc::RLIMIT_NOFILE` as written in the file: `nofile`.
    pub resource: LimitKind,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LimitKind {
    Nofile,
    Nproc,
    Core,
    Cpu,
    Fsize,
    Data,
    Stack,
    As,
    Memlock,
    Rss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate past this many bytes; 0 = never.
    pub maxbytes: u64,
    pub backups: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            maxbytes: 0,
            backups: 10,
        }
    }
}

/// A whole, validated config directory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// By name; iteration order is the name order.
    pub services: BTreeMap<String, ServiceSpec>,
}
