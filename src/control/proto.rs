//! The control protocol between `tmctl` and `taskmasterd`: newline-delimited JSON over a
//! Unix stream socket. One request per line; the daemon answers each with one response
//! line, except `tail` with `follow`, which streams `Output` responses until the client
//! goes away. Requests larger than [`MAX_REQUEST_BYTES`] close the connection.

use serde::{Deserialize, Serialize};

/// A request line longer than this is refused and the connection closed.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A request line that is no request (said to the client as it is).
#[derive(Debug, thiserror::Error)]
#[error("bad request: {0}")]
pub struct BadRequest(#[from] serde_json::Error);

/// One request line as the daemon reads it, without its newline: `None` for a blank
/// line (skipped), else the request or why it is not one. The caller has already refused a
/// line over [`MAX_REQUEST_BYTES`].
pub fn decode_line(line: &[u8]) -> Option<Result<Request, BadRequest>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(serde_json::from_slice::<Request>(line).map_err(BadRequest))
}

/// How the daemon writes a status table: plain, or with the state words in colour (tmctl
/// writing to a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStyle {
    Plain,
    Colour,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Every instance when `names` is empty.
    Status {
        names: Vec<String>,
        /// Also each instance's cgroup accounting (`status -l`, `--json`, `top`): files read
        /// per instance, so a plain status skips them. Absent means false, so a request from
        /// an older tmctl still parses.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        usage: bool,
        /// Answer with the plain table itself, written by the daemon (tmctl's `status`
        /// for humans; see `table_reply`), not the JSON list. Absent means the list; a
        /// daemon older than this field refuses the request (unknown field), and tmctl
        /// then asks for the list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<TableStyle>,
    },
    /// Start and wait until each instance is RUNNING (oneshot: exited successfully) or failed.
    Start {
        names: Vec<String>,
    },
    /// `start --in`/`--at`: each instance PENDING "start at …" until `delay_ms` from now,
    /// answered at once; `cancel` undoes it.
    Schedule {
        names: Vec<String>,
        delay_ms: u64,
    },
    /// Stop and wait until each instance is stopped.
    Stop {
        names: Vec<String>,
    },
    /// `stop --kill`: SIGKILL to each instance's whole process group (and cgroup) at once,
    /// no stop signal, no `stoptime`; answered as `Stop` once they have stopped.
    Kill {
        names: Vec<String>,
    },
    /// Stop, then start and wait as `Start` does.
    Restart {
        names: Vec<String>,
    },
    /// Re-read the config directory.
    Reload,
    /// Stop everything in reverse dependency order, then exit (as PID 1: power off).
    Shutdown,
    /// PID 1 only.
    Reboot,
    /// PID 1 only.
    Poweroff,
    /// PID 1 only.
    Halt,
    /// Recent output of one instance; with `follow`, then every new chunk.
    Tail {
        name: String,
        stderr: bool,
        follow: bool,
    },
    Pause {
        names: Vec<String>,
    },
    Resume {
        names: Vec<String>,
    },
    /// `signal` is a name (`TERM`, `SIGTERM`) or a number.
    Signal {
        signal: String,
        names: Vec<String>,
    },
    /// The dependency graph; `dot` asks for Graphviz.
    Graph {
        dot: bool,
    },
    /// Reopen every log file (after logrotate).
    Reopen,
    /// Service and instance names, for completion in the shell.
    Names,
    /// Start a transient job (SPEC.md, "Runtime jobs"). Answered with [`Response::Job`];
    /// unless `detach`, then its output ([`Response::JobOutput`]) and its end
    /// ([`Response::JobEnded`]) on the same connection.
    Run(RunRequest),
    /// Wait for a job to end: [`Response::JobEnded`].
    Wait {
        name: String,
    },
    /// Stop a job (if running) and forget it.
    Remove {
        name: String,
    },
    /// Supervise a process taskmaster did not start, through a pidfd.
    Adopt {
        pid: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Cancel a scheduled start (`start --in`/`--at`): back to STOPPED.
    Cancel {
        names: Vec<String>,
    },
    /// Re-execute the daemon (or `path`) in place with its whole state handed over.
    Upgrade {
        #[serde(default)]
        path: Option<String>,
    },
    /// Connect to a `console` service's terminal: an `Ok` reply, then its recent screen
    /// and every new chunk as `Output`, until the client goes. Without `read_only` this
    /// client types (one at a time): it sends `Input` and `Resize` on the same connection.
    Attach {
        name: String,
        #[serde(default)]
        read_only: bool,
    },
    /// Keystrokes for the attached console (no reply unless refused).
    Input {
        data: Vec<u8>,
    },
    /// The attached client's terminal size (no reply unless refused).
    Resize {
        rows: u16,
        cols: u16,
    },
    /// Subscribe to state changes: an `Ok` reply, then one `Event` response per change of
    /// the named services or instances (all when `names` is empty) until the client goes.
    Events {
        #[serde(default)]
        names: Vec<String>,
    },
    /// Why an instance (or each instance of a service) is in its state: a causal chain.
    Why {
        name: String,
    },
    /// The last boot (or daemon start) as a timeline, of these instances (all when empty).
    Analyze {
        #[serde(default)]
        names: Vec<String>,
    },
    /// The Prometheus text exposition format (answered by the loop).
    Metrics,
    /// A service's effective configuration as KDL: [`Response::Config`].
    Show {
        name: String,
    },
    /// Each instance's process ids (main pid, process group, cgroup): [`Response::Ps`];
    /// tmctl reads their process trees from /proc itself.
    Ps {
        names: Vec<String>,
    },
}

/// `tmctl run [OPTIONS] -- CMD ARGS...`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// argv, taken literally (never split); `argv` on the wire (`cmd` names the request).
    #[serde(rename = "argv")]
    pub cmd: Vec<String>,
    /// Default `run-N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `KEY=VALUE` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workingdir: Option<String>,
    /// `always`, `never` (default) or `unexpected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// Stopped after this many milliseconds; it then ends with 124, as `timeout(1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Answer with the name at once; no output on this connection.
    #[serde(default)]
    pub detach: bool,
}

/// Reads one reply line. The largest reply, `status` of every instance, is read straight
/// into its list: through the tagged enum, serde first copies the whole document into a
/// generic tree (half of `tmctl status`'s instructions with 1,000 instances).
pub fn decode_response(line: &[u8]) -> serde_json::Result<Response> {
    if is_status_line(line) {
        if let Ok(instances) = status_list(line) {
            return Ok(Response::Status { instances });
        }
    }
    serde_json::from_slice(line)
}

/// Whether a reply line is a status reply (as the daemon writes it: the tag first).
pub fn is_status_line(line: &[u8]) -> bool {
    line.starts_with(br#"{"result":"status","#)
}

/// The `instances` of a status line, each as a `T` (an [`InstanceStatus`], or what
/// `tmctl status` shows of one, borrowed from the line), in a list allocated once: an
/// instance takes at least
/// [`MIN_INSTANCE_BYTES`] of the line, so its length bounds their number. Grown by doubling
/// instead, the list of 1,000 was copied eight times over into fresh pages. What is
/// reserved and not used is never touched, so costs nothing but address space.
pub fn status_list<'de, T: Deserialize<'de>>(line: &'de [u8]) -> serde_json::Result<Vec<T>> {
    use serde::de::{Deserializer as _, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    /// `{"name":"","service":"","state":"","restarts":0},`
    const MIN_INSTANCE_BYTES: usize = 48;
    /// A hint, not a promise: a longer list still grows.
    const MAX_RESERVED: usize = 16 * 1024;

    struct Reply<T>(usize, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Reply<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a status reply")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut instances = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<str>>()? {
                match key.as_ref() {
                    "instances" => {
                        let list = Instances(self.0, std::marker::PhantomData);
                        instances = Some(map.next_value_seed(list)?);
                    }
                    _ => drop(map.next_value::<IgnoredAny>()?),
                }
            }
            instances.ok_or_else(|| A::Error::missing_field("instances"))
        }
    }
    struct Instances<T>(usize, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::DeserializeSeed<'de> for Instances<T> {
        type Value = Vec<T>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Instances<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of instances")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut instances = Vec::with_capacity(self.0);
            while let Some(instance) = seq.next_element()? {
                instances.push(instance);
            }
            Ok(instances)
        }
    }

    let reserve = (line.len() / MIN_INSTANCE_BYTES).min(MAX_RESERVED);
    let mut de = serde_json::Deserializer::from_slice(line);
    let instances = (&mut de).deserialize_map(Reply(reserve, std::marker::PhantomData))?;
    de.end()?;
    Ok(instances)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// Success; `lines` are human-readable (one per instance or event).
    Ok {
        lines: Vec<String>,
    },
    Status {
        /// Only the fields each instance has (see `wire_status`).
        #[serde(serialize_with = "super::wire_status::instances")]
        instances: Vec<InstanceStatus>,
    },
    /// Start/stop/restart outcome per instance; `ok` is false if any failed.
    Outcome {
        ok: bool,
        results: Vec<InstanceOutcome>,
    },
    /// What a reload did, once it has settled: one result per instance or service it
    /// touched (`action` says what: added, restarted, restart failed, changed in place,
    /// removed, restarted with …), and the dependents that went down with them. `ok` is
    /// false if any failed. No results: nothing changed.
    Reload {
        ok: bool,
        results: Vec<InstanceOutcome>,
    },
    /// A chunk of a service's output (lossily decoded as UTF-8). `missed` counts bytes a
    /// lagging follower did not get.
    Output {
        data: String,
        missed: u64,
    },
    Graph {
        text: String,
    },
    /// A job was started (or a pid adopted) under this name.
    Job {
        name: String,
    },
    /// Output of the job this connection runs, in order, nothing skipped (lossily decoded
    /// as UTF-8).
    JobOutput {
        stderr: bool,
        data: String,
    },
    /// A job has ended. `code` is what `tmctl run`/`wait` exit with: its exit code, 128+N
    /// for signal N, 124 after `--timeout`, 127 when it could not be executed.
    JobEnded {
        name: String,
        code: i32,
        exit_code: Option<i32>,
        /// Signal name without `SIG`.
        exit_signal: Option<String>,
        /// `exited with exit code 3`, `killed by signal KILL`, `timed out after 2s`, …
        message: String,
    },
    /// One state change (after an `Events` request).
    Event(Box<EventRecord>),
    Names {
        services: Vec<String>,
        instances: Vec<String>,
    },
    /// `why`: the instance asked about first, then each dependency it waits on, down to
    /// the root cause.
    Why {
        steps: Vec<WhyStep>,
    },
    Analyze {
        analysis: Analysis,
    },
    /// `metrics`: Prometheus text format, ready to print.
    Metrics {
        text: String,
    },
    /// `show`: a `service "NAME" { … }` node the loader accepts, every field with its value
    /// or (as a comment) its default.
    Config {
        text: String,
    },
    /// `ps`: where to find each instance's processes.
    Ps {
        instances: Vec<PsInstance>,
    },
    /// Something was refused or failed; `kind` says what, for programs (tmctl decides by
    /// it, never by the text), `message` says it for people.
    Error {
        /// Absent in replies of older daemons: then `failed`.
        #[serde(default)]
        kind: ErrorKind,
        message: String,
    },
}

/// What kind of error a [`Response::Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// This peer may not use the daemon (SO_PEERCRED); the connection is closed.
    PermissionDenied,
    /// A name that is no service or instance.
    UnknownName,
    /// A malformed, oversized, incomplete or meaningless request.
    BadRequest,
    /// A limit was reached (too many connections); trying later may work.
    Busy,
    /// The daemon is shutting down and starts nothing more.
    ShuttingDown,
    /// The instance named has no process to signal.
    NotRunning,
    /// A reload found errors; the running config stays.
    ConfigRejected,
    /// Not available here (reboot, poweroff, halt when not PID 1).
    Unsupported,
    /// Anything else that failed (a file that cannot be read, …).
    #[default]
    Failed,
}

impl Response {
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::Error {
            kind,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub last_stderr: Option<String>,
    /// A job started by `run` or `adopt`, not from a file.
    #[serde(default)]
    pub transient: bool,
    /// Jobs: the uid that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
    /// Memory its cgroup uses now (`memory.current`); null without cgroups or the memory
    /// controller, or when it has no process.
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// The most its cgroup has used (`memory.peak`).
    #[serde(default)]
    pub memory_peak_bytes: Option<u64>,
    /// CPU time its cgroup has used, in microseconds (`cpu.stat` `usage_usec`).
    #[serde(default)]
    pub cpu_usec: Option<u64>,
    /// Processes and threads in its cgroup.
    #[serde(default)]
    pub tasks: Option<u64>,
    /// A service with a `schedule`: the minute it is next started at (RFC 3339, local
    /// offset); the same as "start at …" in `detail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
}

/// One instance for `ps`: its main process, the process group (and session) it was
/// spawned in, and its cgroup directory when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsInstance {
    pub name: String,
    pub state: String,
    pub pid: Option<i32>,
    /// The process group (and session) id; the main pid unless MAINPID= moved it.
    pub group: Option<i32>,
    /// `/sys/fs/cgroup/…/taskmaster/SERVICE/INSTANCE` (filled in by the loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Used by the loop to find the cgroup; not sent.
    #[serde(skip)]
    pub service: String,
    #[serde(skip)]
    pub index: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceOutcome {
    pub name: String,
    /// What was done to it, for restart and reload: `restarted`, `restart failed`, `added`,
    /// `changed in place`, `removed`, `restarted with db`, `stopped with db`, `started for
    /// app`, … (absent for the instances a start or stop named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    pub ok: bool,
    /// e.g. "RUNNING", "stopped", "FATAL: exec /bin/x: No such file or directory".
    pub message: String,
}

/// One state change of an instance, as `tmctl events` prints it (one JSON object per line
/// with `--json`). The names match the environment an `on-event` hook gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// RFC 3339, UTC.
    pub time: String,
    /// The state entered, in capitals, or `exit` (the main process exited).
    pub event: String,
    pub name: String,
    pub service: String,
    pub instance: u32,
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
    /// Signal name without `SIG`.
    pub exit_signal: Option<String>,
    pub prev_state: String,
    /// Events this subscriber did not get because it read too slowly.
    #[serde(default)]
    pub missed: u64,
}

/// One link of a `why` chain: `name is STATE: reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhyStep {
    pub name: String,
    pub state: String,
    pub reason: String,
}

/// `analyze`: when each instance was spawned and came up, in milliseconds since the boot
/// (or daemon start), and the critical chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// Milliseconds from the boot to the answer.
    pub elapsed_ms: u64,
    /// Sorted by spawn time; those never spawned last.
    pub entries: Vec<AnalyzeEntry>,
    /// The instance that came up last, then the dependency that held it back, and so on.
    pub chain: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzeEntry {
    pub name: String,
    pub service: String,
    /// Its state now.
    pub state: String,
    /// Its first spawn since the boot (null: never spawned).
    pub spawned_ms: Option<u64>,
    /// When it first was up (RUNNING, or a oneshot that succeeded); null: not yet.
    pub ready_ms: Option<u64>,
    /// It went FATAL before it was ever up.
    pub failed: bool,
    /// The services it waits for (requires, wants, after).
    pub after: Vec<String>,
}
