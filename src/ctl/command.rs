//! The tmctl commands, as one clap `Subcommand` enum shared by the command line and the
//! shell, so both accept exactly the same words and print the same help.

use clap::{Args, Subcommand};

use crate::control::proto::Request;

/// One tmctl command. The doc comments are the help text (`tmctl help`, shell `help`).
///
/// `defer`: the arguments of a command are defined only when that command is built, that
/// is when it is the one parsed. Defining all of them for every one-shot command cost
/// about 20 page faults (heap and stack for clap's tree), each a few µs in a VM. So
/// whatever looks at a command's arguments without parsing (Tab completion, `help`, the
/// man pages) calls `clap::Command::build` first.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Show each instance's state, pid, and uptime or last exit (all when no NAME)
    Status {
        /// Also memory, CPU time and tasks of each instance's cgroup
        #[arg(short, long)]
        long: bool,
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Status with memory, CPU time and tasks, refreshed every second until Ctrl-C
    Top {
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Start, and wait until RUNNING (oneshot: success) or failure; --in/--at schedule it
    Start {
        /// Start after this long instead (30s, 5m, 2h): PENDING until then
        #[arg(long = "in", value_name = "DURATION", conflicts_with = "at")]
        after: Option<String>,
        /// Start at this time instead (HH:MM[:SS] today or tomorrow, or RFC 3339)
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Cancel a scheduled start (start --in/--at): back to STOPPED
    Cancel {
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Run a command as a transient job; print its output, exit with its exit code
    Run(RunArgs),
    /// Wait for a job to end; exit with its exit code (128+N for signal N)
    Wait {
        /// The job
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Stop a job (if running) and forget it
    Remove {
        /// The job
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Supervise a process taskmaster did not start (watched through a pidfd)
    Adopt {
        /// Its name (default pid-PID)
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// The process id
        #[arg(value_name = "PID", allow_negative_numbers = true)]
        pid: i32,
    },
    /// Stop gracefully: stopsignal, then SIGKILL after stoptime (--kill: SIGKILL at once)
    Stop {
        /// SIGKILL to the whole process group (and cgroup) at once, no stoptime
        #[arg(long)]
        kill: bool,
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Stop (with what requires it), then start; wait and report each, dependents included
    Restart {
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Re-read the config directory, apply only what changed, wait and report what happened
    Reload,
    /// Stop everything in reverse dependency order, then stop taskmasterd
    Shutdown,
    /// Shut down and reboot the machine (taskmasterd as PID 1 only)
    Reboot,
    /// Shut down and power the machine off (taskmasterd as PID 1 only)
    Poweroff,
    /// Shut down and halt the machine (taskmasterd as PID 1 only)
    Halt,
    /// Show the recent output of one instance; -f keeps following it
    Tail {
        /// Keep printing new output until Ctrl-C
        #[arg(short, long)]
        follow: bool,
        /// Show standard error instead of standard output
        #[arg(long)]
        stderr: bool,
        /// The instance: a service with one instance, or NAME:N
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Suspend with SIGSTOP
    Pause {
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Continue after pause, with SIGCONT
    Resume {
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Send a signal (TERM, SIGTERM or a number)
    Signal {
        /// TERM, SIGTERM, or a number
        #[arg(value_name = "SIG")]
        signal: String,
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Show the dependency graph and the start order
    Graph {
        /// Print Graphviz dot instead of text
        #[arg(long)]
        dot: bool,
    },
    /// Reopen every log file (after logrotate)
    Reopen,
    /// Re-execute taskmasterd (or PATH) in place, keeping every service process, its
    /// output and its counters; nothing is restarted
    Upgrade {
        /// The new taskmasterd binary (default: the one running, as it is on disk now)
        #[arg(value_name = "PATH")]
        path: Option<std::path::PathBuf>,
    },
    /// Connect this terminal to a console service (`console #true`); Ctrl-] detaches
    Attach {
        /// Only watch: nothing typed is sent (stdin need not be a terminal)
        #[arg(long)]
        read_only: bool,
        /// The instance: a service with one instance, or NAME:N
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Print every state change as it happens (--json: one object per line) until Ctrl-C
    Events {
        /// Services or instances (NAME:N) to follow; all when none
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// The last boot (or daemon start) as a timeline, with its critical chain
    Analyze {
        /// Also draw it as an SVG picture into FILE
        #[arg(long, value_name = "FILE")]
        svg: Option<std::path::PathBuf>,
        /// Only these services or instances (all when none)
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Print metrics in the Prometheus text format
    Metrics,
    /// Explain why an instance is in its state, down to the root cause
    Why {
        /// A service (each of its instances), or an instance NAME:N
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Print a service's effective configuration as KDL, every field with its value or default
    Show {
        /// A service
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Each instance's process tree from /proc: pid, state, command line (all when no NAME)
    Ps {
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
}

/// `tmctl run [OPTIONS] -- CMD ARGS...`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RunArgs {
    /// The job's name (default run-N)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Run as this user
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Run with this group
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// KEY=VALUE in its environment (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Its working directory
    #[arg(long, value_name = "DIR")]
    pub workingdir: Option<String>,
    /// always, never (default) or unexpected; with always and --detach, a transient service
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Stop it after this many seconds; it then exits 124, as timeout(1)
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub timeout: Option<String>,
    /// Print its name and return at once
    #[arg(long, short)]
    pub detach: bool,
    /// The command and its arguments, taken literally
    #[arg(value_name = "CMD", required = true, last = true)]
    pub cmd: Vec<String>,
}

impl Command {
    /// The request that carries out this command. `run` and `start --in/--at` are
    /// validated first (see `ctl::jobs`); here they are sent as they are.
    pub fn to_request(&self) -> Request {
        match self.clone() {
            Command::Status { names, long } => Request::Status {
                names,
                usage: long,
                table: None,
            },
            Command::Top { names } => Request::Status {
                names,
                usage: true,
                table: None,
            },
            Command::Start { names, .. } => Request::Start { names },
            Command::Cancel { names } => Request::Cancel { names },
            Command::Run(args) => Request::Run(crate::control::proto::RunRequest {
                cmd: args.cmd,
                name: args.name,
                user: args.user,
                group: args.group,
                env: args.env,
                workingdir: args.workingdir,
                restart: args.restart,
                timeout_ms: None,
                detach: args.detach,
            }),
            Command::Wait { name } => Request::Wait { name },
            Command::Remove { name } => Request::Remove { name },
            Command::Adopt { pid, name } => Request::Adopt { pid, name },
            Command::Stop { names, kill: false } => Request::Stop { names },
            Command::Stop { names, kill: true } => Request::Kill { names },
            Command::Restart { names } => Request::Restart { names },
            Command::Reload => Request::Reload,
            Command::Shutdown => Request::Shutdown,
            Command::Reboot => Request::Reboot,
            Command::Poweroff => Request::Poweroff,
            Command::Halt => Request::Halt,
            Command::Tail {
                follow,
                stderr,
                name,
            } => Request::Tail {
                name,
                stderr,
                follow,
            },
            Command::Pause { names } => Request::Pause { names },
            Command::Resume { names } => Request::Resume { names },
            Command::Signal { signal, names } => Request::Signal { signal, names },
            Command::Graph { dot } => Request::Graph { dot },
            Command::Reopen => Request::Reopen,
            Command::Events { names } => Request::Events { names },
            Command::Attach { name, read_only } => Request::Attach { name, read_only },
            Command::Why { name } => Request::Why { name },
            Command::Show { name } => Request::Show { name },
            Command::Ps { names } => Request::Ps { names },
            Command::Analyze { names, .. } => Request::Analyze { names },
            Command::Metrics => Request::Metrics,
            Command::Upgrade { path } => Request::Upgrade {
                // The daemon's working directory is not ours.
                path: path.map(|p| {
                    std::path::absolute(&p)
                        .unwrap_or(p)
                        .to_string_lossy()
                        .into_owned()
                }),
            },
        }
    }

    /// The command word, for messages such as "start failed for web".
    pub fn word(&self) -> &'static str {
        match self {
            Command::Status { .. } => "status",
            Command::Top { .. } => "top",
            Command::Start { .. } => "start",
            Command::Cancel { .. } => "cancel",
            Command::Run(_) => "run",
            Command::Wait { .. } => "wait",
            Command::Remove { .. } => "remove",
            Command::Adopt { .. } => "adopt",
            Command::Stop { .. } => "stop",
            Command::Restart { .. } => "restart",
            Command::Reload => "reload",
            Command::Shutdown => "shutdown",
            Command::Reboot => "reboot",
            Command::Poweroff => "poweroff",
            Command::Halt => "halt",
            Command::Tail { .. } => "tail",
            Command::Pause { .. } => "pause",
            Command::Resume { .. } => "resume",
            Command::Signal { .. } => "signal",
            Command::Graph { .. } => "graph",
            Command::Reopen => "reopen",
            Command::Events { .. } => "events",
            Command::Attach { .. } => "attach",
            Command::Why { .. } => "why",
            Command::Show { .. } => "show",
            Command::Ps { .. } => "ps",
            Command::Analyze { .. } => "analyze",
            Command::Metrics => "metrics",
            Command::Upgrade { .. } => "upgrade",
        }
    }
}
