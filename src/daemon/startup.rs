//! Starting the daemon: the config loaded before the loop runs, the daemon's own limits,
//! the control socket, the signalfd and the `--shell` child.

use super::error::{RaiseNofileError, StartError};
use super::handover::Handover;
use super::output::Outputs;
use super::{heap, helpers, listener, notify, state_files, upgrade, Daemon, Options};
use crate::config::{
    self, Config, ConfigError, FileStamps, KnownFiles, Limit, LimitKind, LoadOptions,
};
use crate::graph::DependencyGraph;
use crate::init::PowerAction;
use crate::log::{EventLog, Level};
use crate::supervisor::{Event, Supervisor};
use std::os::unix::process::CommandExt;

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
/// select(2) break past 1024 descriptors). The files of `known` whose bytes are unchanged
/// are not parsed (see `config/reuse.rs`); the stamps of this load's clean files come back.
pub(super) fn load_config_for_services(
    dir: &std::path::Path,
    nofile: Option<Limit>,
    known: KnownFiles,
) -> Result<(Config, DependencyGraph, FileStamps), Vec<ConfigError>> {
    let opts = LoadOptions {
        strict_permissions: nix::unistd::geteuid().is_root(),
    };
    let (mut config, stamps) = config::load_dir_reusing(dir, &opts, known)?;
    let graph = DependencyGraph::build(&config)?;
    if let Some(limit) = nofile {
        for spec in config.services.values_mut() {
            // Known specs have it already: checked first, so that their shared process
            // spec is not copied.
            if !spec
                .process
                .limits
                .iter()
                .any(|l| l.resource == LimitKind::Nofile)
            {
                std::sync::Arc::make_mut(&mut spec.process)
                    .limits
                    .push(limit);
            }
        }
    }
    Ok((config, graph, stamps))
}

/// Raises the daemon's soft limit on open files to the hard one (each captured service
/// costs it two pipes; running out would fail spawns and stall the socket). Returns the
/// limit it started with, for the services, or a problem to log.
fn raise_nofile_limit() -> Result<Option<Limit>, RaiseNofileError> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(None);
    };
    if soft >= hard {
        return Ok(None);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|errno| RaiseNofileError {
        soft,
        hard,
        errno,
    })?;
    Ok(Some(Limit {
        resource: LimitKind::Nofile,
        soft,
        hard,
    }))
}

impl Daemon {
    pub(super) fn start(mut opts: Options) -> Result<Daemon, StartError> {
        let pid1 = crate::init::is_pid1();
        // Started by `tmctl upgrade`: the machine is set up, the sockets are open.
        let handover = opts.handover.map(Handover::read);
        let upgraded = handover.is_some();
        if pid1 && !upgraded {
            // Before anything is written: fds 0-2 on the console.
            if let Err(message) = crate::init::attach_console() {
                eprintln!("taskmasterd: {message}");
            }
        }
        let mut log = EventLog::open(&opts.log_file, !opts.shell);
        if opts.shell {
            // The shell owns the terminal: say once where things are, then only trouble.
            eprintln!(
                "taskmasterd: control socket {}, event log {}; warnings and errors show here too",
                opts.socket.display(),
                opts.log_file.display()
            );
            log.echo_from(Some(Level::Warning));
        }
        if let Some(socket) = &opts.syslog_socket {
            log.use_syslog(socket);
        }
        let (handover, handover_error) = match handover {
            Some(Ok(handover)) => (Some(handover), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        if pid1 && !upgraded {
            log.write(Level::Info, "taskmasterd is PID 1: setting up the machine");
            crate::init::early_setup(&mut log);
        }
        // The kernel command line, once /proc is mounted: rescue mode, another config dir.
        // An upgraded image reads it again for the dir; rescue mode comes with the handover.
        let mut rescue = false;
        if pid1 {
            let request = crate::init::cmdline::read(&opts.boot_words);
            for problem in &request.problems {
                log.write(Level::Warning, problem);
            }
            if let Some(dir) = request.config_dir {
                if !upgraded {
                    log.write(
                        Level::Info,
                        &format!("kernel command line: config dir {}", dir.display()),
                    );
                }
                opts.config_dir = dir;
            }
            rescue = request.rescue && !upgraded;
        }
        let mut child_nofile = raise_nofile_limit().unwrap_or_else(|problem| {
            log.write(Level::Warning, &problem.to_string());
            None
        });
        if let Some((soft, hard)) = handover.as_ref().and_then(|(h, _)| h.child_nofile) {
            // Raised already by the old image: what services get is what it knew.
            child_nofile = Some(Limit {
                resource: LimitKind::Nofile,
                soft,
                hard,
            });
        }
        let mut sockets = super::sockets::Sockets::default();
        if let Some((h, _)) = &handover {
            sockets.inherit(upgrade::inherited_sockets(&h.listen));
        }
        heap::fix_thresholds();
        if pid1 {
            crate::process::never_clone_into_cgroup();
        }
        // Parsed on a thread of its own, so that the parse's garbage is in another arena
        // than what lives on (see heap::owned_here). Not as PID 1: there the first service
        // is pid 2 of its namespace, and a thread would take that number.
        let dir = opts.config_dir.clone();
        let parsed = (!pid1)
            .then(|| {
                super::threads::spawn(
                    std::thread::Builder::new().name("config-loader".into()),
                    move || load_config_for_services(&dir, child_nofile, KnownFiles::new()),
                )
                .ok()
            })
            .flatten()
            .and_then(|thread| thread.join().ok());
        let loaded = parsed
            .unwrap_or_else(|| {
                load_config_for_services(&opts.config_dir, child_nofile, KnownFiles::new())
            })
            .map(|parts| heap::load_owned_here(parts, |_| None))
            .and_then(|(config, graph, stamps)| match sockets.prepare(&config) {
                Ok(prepared) => {
                    sockets.commit(prepared);
                    Ok((config, graph, stamps))
                }
                Err(problems) => Err(super::sockets::as_config_errors(&opts.config_dir, problems)),
            });
        // As PID 1 the console shows every event while booting (see console_echo.rs); after
        // an upgrade the boot is long over, and an emergency shell has the console.
        let mut console = (pid1 && !opts.shell).then(|| match upgraded {
            true => super::console_echo::ConsolePhase::InUse,
            false => super::console_echo::ConsolePhase::Booting(std::time::Instant::now()),
        });
        let mut emergency = false;
        let (config, graph, stamps) = match loaded {
            Ok(loaded) => loaded,
            Err(errors) => {
                emergency = true;
                for error in &errors {
                    log.write(Level::Error, &format!("config: {error}"));
                }
                let refused = StartError::Config {
                    count: errors.len(),
                    dir: opts.config_dir.clone(),
                };
                if !pid1 {
                    return Err(refused);
                }
                // PID 1 must not exit: run with no services, give a person a shell to
                // repair the config, and accept `tmctl reload` once it is fixed.
                log.write(
                    Level::Error,
                    &format!("{refused}; fix it and run tmctl reload"),
                );
                match crate::init::emergency_shell(&opts.emergency_shell) {
                    Ok(pid) => {
                        log.write(
                            Level::Warning,
                            &format!("emergency shell started on /dev/console (pid {pid}); the console shows only errors from now on"),
                        );
                        if console.is_some() {
                            console = Some(super::console_echo::ConsolePhase::InUse);
                            log.echo_from(Some(Level::Error));
                        }
                    }
                    Err(error) => log.write(Level::Error, &error.to_string()),
                }
                let empty = Config::default();
                let graph = DependencyGraph::build(&empty).map_err(|_| refused)?;
                (empty, graph, FileStamps::new())
            }
        };
        // Orphans of our services are re-parented to us, so SIGCHLD reaps them too.
        nix::sys::prctl::set_child_subreaper(true).map_err(StartError::Subreaper)?;
        let inherited = handover
            .as_ref()
            .map(|(h, _)| (h.listener, h.socket_inode, h.notify));
        let listener = match inherited {
            Some((Some(fd), ..)) => Ok(upgrade::inherited_listener(fd)),
            _ => listener::bind(&opts.socket),
        };
        let listener = match listener {
            Ok(listener) => Some(listener),
            Err(e) if pid1 => {
                log.write(Level::Error, &format!("{e}; retrying at the next reload"));
                None
            }
            Err(e) => return Err(e.into()),
        };
        let socket_inode = match inherited {
            Some((Some(_), inode, _)) => inode,
            _ => listener
                .as_ref()
                .and_then(|_| listener::inode(&opts.socket)),
        };
        let notify = match inherited {
            Some((_, _, Some(fd))) => Ok(notify::NotifySocket {
                socket: upgrade::inherited_datagram(fd),
                path: notify::path_beside(&opts.socket),
            }),
            _ => notify::NotifySocket::bind(notify::path_beside(&opts.socket)),
        };
        let notify = match notify {
            Ok(socket) => Some(socket),
            Err(message) => {
                log.write(
                    Level::Error,
                    &format!("{message}; services with ready \"notify\" will not start"),
                );
                None
            }
        };
        let state_files = match state_files::StateFiles::open(&opts.state_dir) {
            Ok(files) => Some(files),
            Err(e) => {
                log.write(Level::Warning, &format!("{e}; no state files"));
                None
            }
        };
        let signals = super::signal_fd::LoopSignals::new().map_err(StartError::Signals)?;
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
        let mut heap_churn = heap::HeapChurn::default();
        heap_churn.add_load(config.services.len());
        let cgroups = super::cgroups::ServiceCgroups::detect(&mut log);
        let metrics = super::metrics::Metrics::new(opts.metrics_file.clone());
        let mut daemon = Daemon {
            cgroups,
            metrics,
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
            exec_reports: std::collections::VecDeque::new(),
            spawns: 0,
            drain_due: None,
            heap_churn,
            file_stamps: FileStamps::new(),
            loader: Default::default(),
            job_specs: Default::default(),
            notify,
            watches: None,
            consoles: Default::default(),
            sockets,
            ready_pipes: Default::default(),
            child_nofile,
            pidfds: Default::default(),
            shell_pid: None,
            rescue_shell: None,
            pid1,
            console,
            power: PowerAction::Poweroff,
            final_shutdown: None,
            final_wait: None,
            upgrade: None,
            state_files,
            core_touched: false,
            reaped_now: Vec::new(),
            reaped_early: Default::default(),
            exit_code: 0,
            done: false,
        };
        daemon.keep_file_stamps(stamps);
        daemon.update_watches();
        if let Some(e) = handover_error {
            // The new binary was checked before the old one let go, so this is rare; the
            // services still run, as our children, but the core does not know them, and
            // starting them again would run each twice.
            daemon.log.write(
                Level::Error,
                &format!("upgrade: could not take over: {e}; nothing was started: check the services and start what is missing with tmctl start"),
            );
            daemon.sync_state_files();
            return Ok(daemon);
        }
        if let Some((handover, rings)) = handover {
            daemon.take_over(handover, rings);
            daemon.sync_state_files();
            return Ok(daemon);
        }
        // What a previous taskmasterd (killed, crashed) left running is adopted, not doubled.
        if !pid1 {
            daemon.adopt_survivors();
        }
        // The shell first: if it cannot start, the daemon exits before it has started any
        // service (which would otherwise run on with no supervisor).
        if daemon.opts.shell {
            daemon.spawn_shell()?;
        }
        if rescue {
            daemon.dispatch(Event::RescueBoot);
            // With a broken config the emergency shell already has the console.
            if !emergency {
                daemon.spawn_rescue_shell();
            }
        } else {
            daemon.dispatch(Event::Boot);
        }
        daemon.sync_state_files();
        Ok(daemon)
    }

    /// Rescue mode's root shell on the console. Leaving it starts the rest of the boot;
    /// without one (no shell program) the boot goes on at once: a machine nobody can reach
    /// from its console must at least come up whole.
    fn spawn_rescue_shell(&mut self) {
        let shell = &self.opts.emergency_shell;
        match crate::process::spawn_on_console(shell, RESCUE_BANNER) {
            Ok(pid) => {
                self.rescue_shell = Some(pid);
                self.log.write(
                    Level::Warning,
                    &format!(
                        "rescue shell {} started on /dev/console (pid {pid}): leave it to continue the boot",
                        shell.display()
                    ),
                );
                self.console_taken("the rescue shell");
            }
            Err(error) => {
                self.log.write(
                    Level::Error,
                    &format!("rescue mode without a shell: {error}; continuing the boot"),
                );
                self.dispatch(Event::LeaveRescue);
            }
        }
    }

    /// The rescue shell ended: the rest of the boot.
    pub(super) fn rescue_shell_ended(&mut self) {
        self.rescue_shell = None;
        self.console_boots_again();
        self.log
            .write(Level::Info, "rescue shell closed: continuing the boot");
        self.dispatch(Event::LeaveRescue);
    }

    pub(super) fn spawn_shell(&mut self) -> Result<(), StartError> {
        let exe = std::env::current_exe().map_err(StartError::Shell)?;
        let child = std::process::Command::new(exe)
            .arg("--shell-client")
            .arg("--socket")
            .arg(&self.opts.socket)
            // Its own process group, which it makes the terminal's foreground group, so
            // that ^C while following output reaches the shell and not the daemon.
            .process_group(0)
            .spawn()
            .map_err(StartError::Shell)?;
        self.shell_pid = Some(child.id() as i32);
        Ok(())
    }
}

/// What the person at the console reads before the rescue shell's prompt.
const RESCUE_BANNER: &str = "\n\
taskmaster: rescue mode: only the services marked `rescue #true` run (tmctl status).\n\
taskmaster: this is a root shell; leave it (exit, Ctrl-D) to continue the boot,\n\
taskmaster: or end with `reboot` or `poweroff`.\n\n";
