//! The event loop: the thin shell around the core. It owns every file descriptor, turns OS
//! events into [`Event`]s, and performs the [`Action`]s the core returns. Single-threaded
//! (which also keeps fork safe) and never blocking: `poll` sleeps until the next fd event
//! or the core's next deadline, so an idle daemon makes no wakeups at all.

mod clients;
mod exits;
mod helpers;
mod lines;
mod listener;
mod logging;
mod notify;
mod output;
mod ready_pipes;
mod reaper;
mod requests;
mod ring;
mod rotation;
mod start_env;

use crate::config::{self, Config, ConfigError, Limit, LimitKind, LoadOptions};
use crate::graph::DependencyGraph;
use crate::init::{FinalShutdown, PowerAction, Progress};
use crate::log::{EventLog, Level};
use crate::supervisor::{Action, ClientId, Event, Purpose, Supervisor};
use clients::Client;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use output::{Drained, Outputs};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;
use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long accepting pauses when the daemon is out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

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
}

/// Loads and validates the config directory, with its dependency graph.
pub fn load_config(dir: &std::path::Path) -> Result<(Config, DependencyGraph), Vec<ConfigError>> {
    let opts = LoadOptions {
        strict_permissions: nix::unistd::geteuid().is_root(),
    };
    let config = config::load_dir(dir, &opts)?;
    let graph = DependencyGraph::build(&config)?;
    Ok((config, graph))
}

/// [`load_config`], then every service without its own `nofile` limit gets `nofile`: the
/// limit the daemon was started with, not the one it raised for itself (programs using
/// select(2) break past 1024 descriptors).
fn load_config_for_services(
    dir: &std::path::Path,
    nofile: Option<Limit>,
) -> Result<(Config, DependencyGraph), Vec<ConfigError>> {
    let (mut config, graph) = load_config(dir)?;
    if let Some(limit) = nofile {
        for spec in config.services.values_mut() {
            let limits = &mut spec.process.limits;
            if !limits.iter().any(|l| l.resource == LimitKind::Nofile) {
                limits.push(limit);
            }
        }
    }
    Ok((config, graph))
}

/// Raises the daemon's soft limit on open files to the hard one (each captured service
/// costs it two pipes; running out would fail spawns and stall the socket). Returns the
/// limit it started with, for the services, or a problem to log.
fn raise_nofile_limit() -> Result<Option<Limit>, String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(None);
    };
    if soft >= hard {
        return Ok(None);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
        .map_err(|e| format!("cannot raise the open-files limit from {soft} to {hard}: {e}"))?;
    Ok(Some(Limit {
        resource: LimitKind::Nofile,
        soft,
        hard,
    }))
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
    signals: SignalDelivery<UnixStream, SignalOnly>,
    clients: Vec<Client>,
    next_client: ClientId,
    outputs: Outputs,
    /// `pre-start` processes and their output.
    helpers: helpers::Helpers,
    /// `NOTIFY_SOCKET` of `ready "notify"` services; `None` if it could not be bound.
    notify: Option<notify::NotifySocket>,
    /// Read ends of the `ready "fd:N"` pipes of starting services.
    ready_pipes: ready_pipes::ReadyPipes,
    /// The open-files limit services get (the daemon's own, before it raised it).
    child_nofile: Option<Limit>,
    /// The `--shell` child: when it exits, the daemon shuts down.
    shell_pid: Option<i32>,
    /// Running as init: mounts, reaping the whole machine, reboot(2) at the end.
    pid1: bool,
    /// As PID 1: what the machine does once everything has stopped.
    power: PowerAction,
    /// As PID 1, once the services are down: kill what is left, unmount, reboot.
    final_shutdown: Option<FinalShutdown>,
    /// The plan's next deadline while it waits for processes to die.
    final_wait: Option<Instant>,
    exit_code: i32,
    done: bool,
}

impl Daemon {
    fn start(opts: Options) -> Result<Daemon, String> {
        let pid1 = crate::init::is_pid1();
        if pid1 {
            // Before anything is written: fds 0-2 on the console.
            if let Err(message) = crate::init::attach_console() {
                eprintln!("taskmasterd: {message}");
            }
        }
        let mut log = EventLog::open(&opts.log_file, !opts.shell);
        if let Some(socket) = &opts.syslog_socket {
            log.use_syslog(socket);
        }
        if pid1 {
            log.write(Level::Info, "taskmasterd is PID 1: setting up the machine");
            crate::init::early_setup(&mut log);
        }
        let child_nofile = raise_nofile_limit().unwrap_or_else(|problem| {
            log.write(Level::Warning, &problem);
            None
        });
        let (config, graph) = match load_config_for_services(&opts.config_dir, child_nofile) {
            Ok(loaded) => loaded,
            Err(errors) => {
                for error in &errors {
                    log.write(Level::Error, &format!("config: {error}"));
                }
                let summary = format!(
                    "{} error(s) in {}; nothing started",
                    errors.len(),
                    opts.config_dir.display()
                );
                if !pid1 {
                    return Err(summary);
                }
                // PID 1 must not exit: run with no services, give a person a shell to
                // repair the config, and accept `tmctl reload` once it is fixed.
                log.write(
                    Level::Error,
                    &format!("{summary}; fix it and run tmctl reload"),
                );
                match crate::init::emergency_shell(&opts.emergency_shell) {
                    Ok(pid) => log.write(
                        Level::Warning,
                        &format!("emergency shell started on /dev/console (pid {pid})"),
                    ),
                    Err(message) => log.write(Level::Error, &message),
                }
                let empty = Config::default();
                let graph = DependencyGraph::build(&empty).map_err(|_| summary)?;
                (empty, graph)
            }
        };
        // Orphans of our services are re-parented to us, so SIGCHLD reaps them too.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| format!("cannot become child subreaper: {e}"))?;
        let listener = match listener::bind(&opts.socket) {
            Ok(listener) => Some(listener),
            Err(e) if pid1 => {
                log.write(Level::Error, &format!("{e}; retrying at the next reload"));
                None
            }
            Err(e) => return Err(e.to_string()),
        };
        let socket_inode = listener
            .as_ref()
            .and_then(|_| listener::inode(&opts.socket));
        let notify = match notify::NotifySocket::bind(notify::path_beside(&opts.socket)) {
            Ok(socket) => Some(socket),
            Err(message) => {
                log.write(
                    Level::Error,
                    &format!("{message}; services with ready \"notify\" will not start"),
                );
                None
            }
        };
        let (read, write) = UnixStream::pair().map_err(|e| format!("signal pipe: {e}"))?;
        read.set_nonblocking(true)
            .map_err(|e| format!("signal pipe: {e}"))?;
        let signals = SignalDelivery::with_pipe(
            read,
            write,
            SignalOnly,
            [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2],
        )
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
        log.write(
            Level::Info,
            &format!(
                "taskmasterd {} started (pid {}), config {}, socket {}, {} service(s)",
                env!("CARGO_PKG_VERSION"),
                std::process::id(),
                opts.config_dir.display(),
                opts.socket.display(),
                config.services.len()
            ),
        );
        let mut daemon = Daemon {
            graph,
            core: Supervisor::new(config),
            opts,
            log,
            listener,
            socket_inode,
            accept_paused: None,
            signals,
            clients: Vec::new(),
            next_client: 1,
            outputs: Outputs::default(),
            helpers: helpers::Helpers::default(),
            notify,
            ready_pipes: Default::default(),
            child_nofile,
            shell_pid: None,
            pid1,
            power: PowerAction::Poweroff,
            final_shutdown: None,
            final_wait: None,
            exit_code: 0,
            done: false,
        };
        daemon.dispatch(Event::Boot);
        if daemon.opts.shell {
            daemon.spawn_shell()?;
        }
        Ok(daemon)
    }

    fn run(&mut self) -> i32 {
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
        }
        listener::remove(&self.opts.socket, self.socket_inode);
        if let Some(notify) = &self.notify {
            notify.remove();
        }
        self.log.write(
            Level::Info,
            &format!("taskmasterd exiting with code {}", self.exit_code),
        );
        self.finish_logging();
        self.exit_code
    }

    /// One loop turn: sleep in poll until something happens, then handle all of it.
    fn turn(&mut self) {
        let deadline = [
            self.core.next_deadline(),
            self.final_wait,
            self.log.next_retry(),
        ]
        .into_iter()
        .flatten()
        .min();
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                // Round up: a timeout truncated to 0 ms would spin until the deadline.
                let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let (
            signals_ready,
            listener_ready,
            client_ready,
            pipe_ready,
            syslog_ready,
            notify_ready,
            ready_fds,
        ) = {
            let pipes = self.outputs.polled(&self.log);
            let syslog = self.log.syslog_waiting_fd();
            let mut fds = Vec::with_capacity(2 + self.clients.len() + self.outputs.pipes.len());
            fds.push(PollFd::new(
                self.signals.get_read().as_fd(),
                PollFlags::POLLIN,
            ));
            // The listener's slot stays at index 1; with no socket, or while accepting is
            // paused (out of file descriptors), it asks for no events.
            fds.push(match &self.listener {
                Some(l) if self.accept_paused.is_none() => {
                    PollFd::new(l.as_fd(), PollFlags::POLLIN)
                }
                _ => PollFd::new(self.signals.get_read().as_fd(), PollFlags::empty()),
            });
            for client in &self.clients {
                let mut flags = PollFlags::POLLIN;
                if client.wants_to_write() {
                    flags |= PollFlags::POLLOUT;
                }
                fds.push(PollFd::new(client.stream.as_fd(), flags));
            }
            // The notify socket's slot follows the clients (no events without a socket),
            // then the readiness pipes.
            fds.push(match &self.notify {
                Some(n) => PollFd::new(n.socket.as_fd(), PollFlags::POLLIN),
                None => PollFd::new(self.signals.get_read().as_fd(), PollFlags::empty()),
            });
            for pipe in &self.ready_pipes.pipes {
                fds.push(PollFd::new(pipe.file.as_fd(), PollFlags::POLLIN));
            }
            for (_, fd) in &pipes {
                fds.push(PollFd::new(*fd, PollFlags::POLLIN));
            }
            if let Some(fd) = syslog {
                fds.push(PollFd::new(fd, PollFlags::POLLOUT));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => return,
                Err(e) => {
                    self.log.write(Level::Error, &format!("poll failed: {e}"));
                    return;
                }
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            let clients = ready[2..2 + self.clients.len()].to_vec();
            let notify_at = 2 + self.clients.len();
            let readiness_pipes = self.ready_pipes.pipes.len();
            let notify_ready = ready[notify_at];
            // Highest first: a finished readiness pipe is swap-removed.
            let mut ready_fds: Vec<usize> = (0..readiness_pipes)
                .filter(|i| ready[notify_at + 1 + i])
                .collect();
            ready_fds.reverse();
            let pipe_ready = &ready[notify_at + 1 + readiness_pipes..];
            let syslog_ready = syslog.is_some() && pipe_ready.last() == Some(&true);
            // Indexes of the ready pipes, highest first: a closed pipe is swap-removed.
            let mut ready_pipes: Vec<usize> = (pipes.iter().zip(pipe_ready))
                .filter(|(_, ready)| **ready)
                .map(|((index, _), _)| *index)
                .collect();
            ready_pipes.reverse();
            (
                ready[0],
                ready[1],
                clients,
                ready_pipes,
                syslog_ready,
                notify_ready,
                ready_fds,
            )
        };
        // Readiness before signals: a READY=1 (or fd:N newline) was sent before the exit
        // that SIGCHLD may report in the same turn, and counts first.
        for index in ready_fds {
            if let Some(event) = self.ready_pipes.read(index) {
                self.dispatch(event);
            }
        }
        if notify_ready {
            let events = self
                .notify
                .as_ref()
                .map(|n| n.receive())
                .unwrap_or_default();
            for event in events {
                self.dispatch(event);
            }
        }
        if signals_ready {
            self.handle_signals();
        }
        // Pipes before clients.
        for index in pipe_ready {
            self.read_pipe(index);
        }
        self.after_turn_logging(syslog_ready);
        for (index, ready) in client_ready.iter().enumerate() {
            if *ready {
                self.serve_client(index);
            }
        }
        for gone in self.clients.iter().filter(|c| c.dead) {
            self.core.client_gone(gone.id);
        }
        self.clients.retain(|c| !c.dead);
        if listener_ready {
            self.accept_clients();
        }
        if self
            .core
            .next_deadline()
            .is_some_and(|at| at <= Instant::now())
        {
            self.dispatch(Event::Tick);
        }
        self.advance_final_shutdown();
    }

    /// Runs the PID 1 shutdown plan as far as it goes without waiting.
    fn advance_final_shutdown(&mut self) {
        let Some(plan) = self.final_shutdown.as_mut() else {
            return;
        };
        let log = &mut self.log;
        let progress = plan.advance(Instant::now(), reaper::children_left, &mut |level, text| {
            log.write(level, &text)
        });
        match progress {
            Progress::Waiting(until) => self.final_wait = Some(until),
            Progress::ReadyToFinish => {
                self.log.close_file();
                let log = &mut self.log;
                plan.finish(&mut |level, text| log.write(level, &text));
                // Still here: reboot(2) was refused (a container without CAP_SYS_BOOT).
                self.final_wait = None;
                self.done = true;
            }
        }
    }

    /// Stops every service in reverse dependency order; as PID 1, then `action`.
    fn shut_down(&mut self, action: PowerAction) {
        if self.pid1 && !self.core.is_shutting_down() {
            self.power = action;
            self.log.write(
                Level::Info,
                &format!(
                    "shutdown requested: {} once every service has stopped",
                    action.word()
                ),
            );
        }
        self.dispatch(Event::Shutdown);
    }

    fn handle_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGCHLD => {
                    for event in reaper::reap_all() {
                        if let Event::Exited { pid, .. } = event {
                            if Some(pid) == self.shell_pid {
                                self.shell_pid = None;
                                self.log
                                    .write(Level::Info, "control shell closed: shutdown");
                                self.shut_down(self.power);
                                continue;
                            }
                        }
                        self.dispatch_reaped(event);
                    }
                }
                SIGTERM | SIGINT => {
                    let name = crate::signals::name(signal);
                    self.log
                        .write(Level::Info, &format!("SIG{name} received: shutdown"));
                    self.shut_down(PowerAction::Reboot);
                }
                SIGHUP => self.reload(None),
                SIGUSR1 if self.pid1 => self.shut_down(PowerAction::Halt),
                SIGUSR2 if self.pid1 => self.shut_down(PowerAction::Poweroff),
                SIGUSR1 => {
                    self.log
                        .write(Level::Info, "SIGUSR1 received: reopening log files");
                    self.reopen_logs();
                }
                _ => {}
            }
        }
    }

    pub(super) fn read_pipe(&mut self, index: usize) {
        let (id, stderr) = match self.outputs.pipes.get(index) {
            Some(pipe) => (pipe.id.clone(), pipe.stderr),
            None => return,
        };
        if let Drained::Data(data) = self.outputs.drain(index, &mut self.log) {
            let mut encoded = None;
            for client in &mut self.clients {
                let follows = client
                    .follow
                    .as_ref()
                    .is_some_and(|f| f.id == id && f.stderr == stderr);
                if follows {
                    client.send_output(&data, &mut encoded);
                }
            }
        }
    }

    fn accept_clients(&mut self) {
        let me = nix::unistd::geteuid().as_raw();
        // A bounded number per turn, so a connect flood cannot starve everything else.
        for _ in 0..64 {
            let Some(listener) = &self.listener else {
                return;
            };
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // The pending connection stays readable: polling it again at once would
                    // spin. Stop accepting for a moment; a service exiting frees fds.
                    self.log.write(
                        Level::Warning,
                        "out of file descriptors: not accepting control connections for 100 ms",
                    );
                    self.accept_paused = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let mut client = Client::new(self.next_client, stream);
            self.next_client += 1;
            match client.peer_uid() {
                Some(uid) if uid == 0 || uid == me => self.clients.push(client),
                uid => {
                    let who = uid.map_or("unknown".to_string(), |u| u.to_string());
                    self.log.write(
                        Level::Warning,
                        &format!("refused control connection from uid {who}: permission denied"),
                    );
                    client.closing = true;
                    client.send(&crate::control::proto::Response::Error {
                        message: "permission denied".to_string(),
                    });
                    if !client.dead {
                        self.clients.push(client);
                    }
                }
            }
        }
    }

    /// Feeds one event to the core and performs what it decides. A spawn's result is fed
    /// straight back, so the core sees every pid before any exit of it can be reaped.
    fn dispatch(&mut self, event: Event) {
        let mut queue: VecDeque<Action> = self.core.handle(event, Instant::now()).into();
        while let Some(action) = queue.pop_front() {
            let follow_up = self.perform(action);
            if let Some(event) = follow_up {
                queue.extend(self.core.handle(event, Instant::now()));
            }
        }
    }

    fn perform(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Spawn {
                id,
                name,
                spec,
                purpose: purpose @ (Purpose::PreStart | Purpose::Check),
            } => {
                // The service's environment (env-file, env, TASKMASTER_*, ${VAR} in its
                // command), as its program would get it.
                let result = start_env::for_start(&spec, &id, &name, None)
                    .and_then(|spec| self.helpers.spawn(&spec));
                Some(Event::Spawned {
                    id,
                    purpose,
                    result,
                })
            }
            Action::Spawn {
                id,
                name,
                spec,
                purpose,
            } => {
                let notify_socket = self.notify.as_ref().map(|n| n.path.as_path());
                let result = start_env::for_start(&spec, &id, &name, notify_socket)
                    .and_then(|spec| self.spawn(&id, &name, &spec));
                Some(Event::Spawned {
                    id,
                    purpose,
                    result,
                })
            }
            Action::Signal { pid, signal, group } => {
                let target = nix::unistd::Pid::from_raw(pid);
                let _ = if group {
                    crate::process::signal_group(target, signal)
                } else {
                    crate::process::signal_process(target, signal)
                };
                None
            }
            Action::Log { level, text } => {
                self.log.write(level, &text);
                None
            }
            Action::Reply { client, response } => {
                if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
                    c.send(&response);
                }
                None
            }
            Action::Exit => {
                if self.pid1 {
                    let plan = FinalShutdown::new(self.power, self.opts.kill_grace, Instant::now());
                    self.final_shutdown = Some(plan);
                } else {
                    self.done = true;
                }
                None
            }
            Action::EssentialFailed { name } => {
                self.log.write(
                    Level::Error,
                    &format!("essential service {name} is FATAL: shutting down"),
                );
                self.exit_code = 1;
                self.power = PowerAction::Reboot;
                Some(Event::Shutdown)
            }
        }
    }

    /// Output pipes and, for `ready "fd:N"`, the readiness pipe; then fork/exec.
    fn spawn(
        &mut self,
        id: &crate::supervisor::InstanceId,
        name: &str,
        spec: &crate::config::ProcessSpec,
    ) -> Result<i32, crate::supervisor::SpawnFailure> {
        let (stdout, stderr, pipes) = self.outputs.prepare(spec)?;
        let ready = match spec.ready {
            crate::config::Readiness::Fd(_) => Some(
                ready_pipes::pipe()
                    .map_err(|e| output::failure(format!("ready pipe: {e}"), e.raw_os_error()))?,
            ),
            _ => None,
        };
        let (ready_read, ready_write) = ready.map_or((None, None), |(r, w)| (Some(r), Some(w)));
        let pid = crate::process::spawn_with_ready_fd(spec, stdout, stderr, ready_write)
            .map_err(|e| output::failure(e.to_string(), Some(e.errno as i32)))?
            .as_raw();
        self.outputs.attach(id, name, pid, pipes);
        if let Some(file) = ready_read {
            self.ready_pipes.attach(id.clone(), pid, file);
        }
        Ok(pid)
    }

    fn spawn_shell(&mut self) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| format!("--shell: {e}"))?;
        let child = std::process::Command::new(exe)
            .arg("--shell-client")
            .arg("--socket")
            .arg(&self.opts.socket)
            // Its own process group, which it makes the terminal's foreground group, so
            // that ^C while following output reaches the shell and not the daemon.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("--shell: cannot start the control shell: {e}"))?;
        self.shell_pid = Some(child.id() as i32);
        Ok(())
    }
}
