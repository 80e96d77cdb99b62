//! The event loop: the thin shell around the core. It owns every file descriptor, turns OS
//! events into [`Event`]s, and performs the [`Action`]s the core returns. Single-threaded
//! (which also keeps fork safe) and never blocking: `poll` sleeps until the next fd event
//! or the core's next deadline, so an idle daemon makes no wakeups at all.

mod accept;
mod actions;
mod attach;
mod cgroup_empty;
mod cgroups;
mod clients;
mod code_pages;
mod console_echo;
mod consoles;
mod error;
mod events;
pub use error::{RaiseNofileError, StartError};
mod exec_reports;
mod exits;
mod extra_fds;
mod handover;
mod heap;
mod helpers;
mod jobs;
// Public for the fuzz target of the syslog line splitter (fuzz/targets/syslog_lines.rs).
mod job_specs;
pub mod lines;
mod listener;
mod loader;
mod logging;
mod metrics;
mod notify;
mod output;
mod pidfds;
mod readopt;
mod ready_pipes;
mod reaped_early;
mod reaper;
mod requests;
mod ring;
mod rotation;
mod signal_fd;
mod sockets;
mod start_env;
mod startup;
pub mod state_files;
mod state_swap;
mod threads;
mod turn;
mod upgrade;
mod utf8;
mod watches;

use crate::config::Limit;
use crate::graph::DependencyGraph;
use crate::init::{FinalShutdown, PowerAction};
use crate::log::{EventLog, Level};
use crate::supervisor::{ClientId, Supervisor};
use clients::Client;
use output::Outputs;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use metrics::check_metrics_file;
pub use startup::load_config;
pub use upgrade::check_line as upgrade_check_line;

/// What `taskmasterd` was asked to do (see `src/bin/taskmasterd.rs`).
#[derive(Debug, Clone)]
pub struct Options {
    pub config_dir: PathBuf,
    pub socket: PathBuf,
    pub log_file: PathBuf,
    /// Run the control shell on this terminal; leaving it shuts the daemon down.
    pub shell: bool,
    /// Where syslog messages go; `None` with `--no-syslog`.
    pub syslog_socket: Option<PathBuf>,
    /// As PID 1: how long processes left at shutdown get between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// As PID 1 with a broken config: the shell started on the console.
    pub emergency_shell: PathBuf,
    /// Where each instance's state file goes (`--state-dir`).
    pub state_dir: PathBuf,
    /// `--metrics-file`: Prometheus text kept current for node_exporter.
    pub metrics_file: Option<PathBuf>,
    /// Started by `tmctl upgrade`: the fd of the state the old image handed over.
    pub handover: Option<i32>,
    /// As PID 1: the arguments the kernel passed that are not options (`single`, `S`),
    /// read with /proc/cmdline for rescue mode and `taskmaster.config=`.
    pub boot_words: Vec<String>,
}

/// Runs the daemon until it has shut down; returns the process exit code.
pub fn run(opts: Options) -> i32 {
    match Daemon::start(opts) {
        Ok(mut daemon) => daemon.run(),
        Err(message) => {
            eprintln!("taskmasterd: {message}");
            if crate::init::is_pid1() {
                // Init must never exit (the kernel would panic): at least reap, forever.
                crate::init::reap_forever();
            }
            1
        }
    }
}

struct Daemon {
    opts: Options,
    core: Supervisor,
    /// For `tmctl graph`; rebuilt on every accepted load.
    graph: DependencyGraph,
    log: EventLog,
    /// The control socket; `None` as PID 1 when it could not be bound (retried on reload).
    listener: Option<UnixListener>,
    socket_inode: Option<u64>,
    /// Accepting is paused until then (the process ran out of file descriptors).
    accept_paused: Option<Instant>,
    /// With each signal's sender: a SIGCHLD names the child whose exit it reports.
    signals: signal_fd::LoopSignals,
    clients: Vec<Client>,
    next_client: ClientId,
    outputs: Outputs,
    /// `pre-start` processes and their output.
    helpers: helpers::Helpers,
    /// Spawned processes whose exec report is still to be read, about oldest first (see
    /// `Daemon::settle_exec_reports`).
    exec_reports: std::collections::VecDeque<exec_reports::PendingExec>,
    /// Service processes spawned so far (numbers their `PendingExec`).
    spawns: u64,
    /// The drain of every child (`reaper::reap_all`) that a SIGCHLD turn put off because
    /// it spawned (see `Daemon::handle_signals`).
    drain_due: Option<turn::DeferredDrain>,
    /// Config loads and spawns since the free heap was last given back.
    heap_churn: heap::HeapChurn,
    /// The service files of the running config that loaded clean and whose services all
    /// run the spec the file gave: a reload does not parse them again while unchanged.
    file_stamps: crate::config::FileStamps,
    /// Reloads read the config directory on a thread of their own.
    loader: loader::ConfigLoader,
    /// `tmctl run` requests are read into specs (NSS lookups) on a thread of their own.
    job_specs: job_specs::JobSpecs,
    /// `NOTIFY_SOCKET` of `ready "notify"` services; `None` if it could not be bound.
    notify: Option<notify::NotifySocket>,
    /// The `listen` sockets of every service, bound at load and kept across restarts.
    sockets: sockets::Sockets,
    /// The terminals of `console` services, by instance.
    consoles: consoles::Consoles,
    /// The inotify fd of `watch`; made when a service first watches a file.
    watches: Option<watches::Watches>,
    /// Read ends of the `ready "fd:N"` pipes of starting services.
    ready_pipes: ready_pipes::ReadyPipes,
    /// The open-files limit services get (the daemon's own, before it raised it).
    child_nofile: Option<Limit>,
    /// Adopted processes (`tmctl adopt`): their end is a pidfd turning readable.
    pidfds: pidfds::Pidfds,
    /// The `--shell` child: when it exits, the daemon shuts down.
    shell_pid: Option<i32>,
    /// Rescue mode's shell on the console: when it exits, the rest of the boot starts.
    rescue_shell: Option<i32>,
    /// Running as init: mounts, reaping the whole machine, reboot(2) at the end.
    pid1: bool,
    /// As PID 1 (not under `--shell`): how much of the event log the console shows now.
    console: Option<console_echo::ConsolePhase>,
    /// Each instance's cgroup (as root with cgroup v2), else none and why.
    cgroups: cgroups::ServiceCgroups,
    /// What `tmctl metrics` and `--metrics-file` count.
    metrics: metrics::Metrics,
    /// As PID 1: what the machine does once everything has stopped.
    power: PowerAction,
    /// As PID 1, once the services are down: kill what is left, unmount, reboot.
    final_shutdown: Option<FinalShutdown>,
    /// The plan's next deadline while it waits for processes to die.
    final_wait: Option<Instant>,
    /// `tmctl upgrade` whose new binary is being checked.
    upgrade: Option<upgrade::PendingUpgrade>,
    /// `--state-dir`; `None` when it could not be used (said once at start).
    state_files: Option<state_files::StateFiles>,
    /// The core handled an event this turn: its state files may need writing.
    core_touched: bool,
    /// The pids reaped in the batch the core is deciding about (sorted): a group signal
    /// to one of them reaches what is left of its group, never the pid itself.
    reaped_now: Vec<i32>,
    /// Children reaped while this turn sent signals or collected exits, for the core at the
    /// turn's end (reaped_early.rs).
    reaped_early: reaped_early::ReapedEarly,
    exit_code: i32,
    done: bool,
}

impl Daemon {
    fn run(&mut self) -> i32 {
        self.log.batch(true);
        while !self.done {
            // A panic anywhere in one turn (a request, the core) is logged and the loop goes
            // on: as PID 1, unwinding out of main would panic the kernel. This is why the
            // release profile keeps `panic = "unwind"`.
            let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.turn()));
            if let Err(panic) = turn {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                self.log.write(
                    Level::Error,
                    &format!("internal error caught, going on: {what}"),
                );
            }
            self.log.flush();
        }
        self.log.batch(false);
        self.cgroups.clean_up();
        listener::remove(&self.opts.socket, self.socket_inode);
        self.sockets.close_all();
        if let Some(notify) = &self.notify {
            notify.remove();
        }
        let changed = self.core.take_changed();
        if let Some(files) = &mut self.state_files {
            files.sync(&self.core, changed);
            files.close();
        }
        self.log.write(
            Level::Info,
            &format!("taskmasterd exiting with code {}", self.exit_code),
        );
        self.finish_logging();
        self.exit_code
    }
}
