//! The tmctl commands, as one clap `Subcommand` enum shared by the command line and the
//! shell, so both accept exactly the same words and print the same help.

use clap::Subcommand;

use crate::control::proto::Request;

/// One tmctl command. The doc comments are the help text (`tmctl help`, shell `help`).
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
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
    /// Start, and wait until RUNNING (oneshot: success) or failure
    Start {
        /// Services, instances (NAME:N), or all
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Stop gracefully: stopsignal, then SIGKILL after stoptime
    Stop {
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
}

impl Command {
    /// The request that carries out this command.
    pub fn to_request(&self) -> Request {
        match self.clone() {
            Command::Status { names, .. } | Command::Top { names } => Request::Status { names },
            Command::Start { names } => Request::Start { names },
            Command::Stop { names } => Request::Stop { names },
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
            Command::Analyze { .. } => "analyze",
            Command::Metrics => "metrics",
            Command::Upgrade { .. } => "upgrade",
        }
    }
}
