//! One turn of the loop: sleep in poll until an fd is ready or a deadline passes, then
//! handle everything that is ready, in a fixed order: exec reports and readiness (sent
//! before any exit SIGCHLD may report), signals, a finished config load, output pipes,
//! clients, new connections, timers.

use super::exits::Reaped;
use super::output::Drained;
use super::{reaper, Daemon};
use crate::control::proto::Response;
use crate::init::PowerAction;
use crate::log::Level;
use crate::supervisor::Event;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use std::os::fd::AsFd;
use std::time::Instant;

/// The drain of every child (`waitpid(-1)` until none is ready) put off by a SIGCHLD turn
/// that restarted something. That drain finds only the exits (an orphan's too) whose
/// SIGCHLD was merged into another's (the child each SIGCHLD names is reaped by its pid
/// first, see reaper.rs), but it looks at every child in the kernel: about 0.2 ms of the
/// loop's CPU at 1,000 services, and done at once it ran while the new child, on the same
/// CPU, waited for its turn to exec (the C respawner's `vfork` parent drains only after
/// its child has exec'd). So it runs in the turn that reads the exec reports of the
/// children this turn spawned (they wake the loop), or at `at`, whichever comes first.
/// Nothing is lost: a merged exit is reaped and handled that much later.
pub(super) struct DeferredDrain {
    /// At the latest then (a child that hangs before its execve, in a `chdir` to a dead
    /// NFS server, say, does not hold the others' exits).
    pub at: Instant,
    /// It waits for the children spawned after this many spawns (`Daemon::spawns`).
    pub after: u64,
}

/// How long a drain may be put off at most.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// What one poll found ready. Index lists are highest first: reading an entry may
/// swap-remove it, which moves only the entries above it.
struct Ready {
    signals: bool,
    listener: bool,
    loader: bool,
    notify: bool,
    clients: Vec<bool>,
    output_pipes: Vec<usize>,
    exec_reports: Vec<usize>,
    ready_pipes: Vec<usize>,
    pidfds: Vec<usize>,
    syslog: bool,
    /// The fds of watches, sockets and consoles that are ready (see extra_fds.rs).
    extra: Vec<super::extra_fds::Extra>,
}

/// The indexes (highest first) of the ready entries among `ready`.
fn ready_indexes(ready: &[bool]) -> Vec<usize> {
    let mut indexes: Vec<usize> = (0..ready.len()).filter(|&i| ready[i]).collect();
    indexes.reverse();
    indexes
}

impl Daemon {
    /// Polls every fd of the loop once (until `timeout`); `None` when interrupted.
    ///
    /// Slots: signals, listener, config loader, notify socket (fixed; an empty slot asks for
    /// no events), then the clients, the output pipes, the exec reports, the readiness pipes
    /// and, last, the syslog socket while messages wait for it.
    fn poll_once(&mut self, timeout: PollTimeout) -> Option<Ready> {
        let mut pipes = self.outputs.polled(&self.log);
        // A job whose runner lags is slowed down (its pipe fills) rather than lose output.
        pipes.retain(|(index, _)| {
            self.outputs
                .pipes
                .get(*index)
                .is_none_or(|pipe| !self.job_reader_lags(&pipe.id))
        });
        let syslog = self.log.syslog_waiting_fd();
        let idle = || PollFd::new(self.signals.as_fd(), PollFlags::empty());
        let mut fds = Vec::with_capacity(4 + self.clients.len() + pipes.len());
        fds.push(PollFd::new(self.signals.as_fd(), PollFlags::POLLIN));
        // No socket, or accepting paused (out of file descriptors): no events.
        fds.push(match &self.listener {
            Some(l) if self.accept_paused.is_none() => PollFd::new(l.as_fd(), PollFlags::POLLIN),
            _ => idle(),
        });
        fds.push(match self.loader.polled() {
            Some(fd) => PollFd::new(fd, PollFlags::POLLIN),
            None => idle(),
        });
        fds.push(match &self.notify {
            Some(n) => PollFd::new(n.socket.as_fd(), PollFlags::POLLIN),
            None => idle(),
        });
        for client in &self.clients {
            let mut flags = PollFlags::empty();
            if client.wants_to_read() {
                flags |= PollFlags::POLLIN;
            }
            if client.wants_to_write() {
                flags |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(client.stream.as_fd(), flags));
        }
        for (_, fd) in &pipes {
            fds.push(PollFd::new(*fd, PollFlags::POLLIN));
        }
        for fd in self.exec_report_fds() {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        for pipe in &self.ready_pipes.pipes {
            fds.push(PollFd::new(pipe.file.as_fd(), PollFlags::POLLIN));
        }
        for fd in self.pidfds.fds() {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        if let Some(fd) = syslog {
            fds.push(PollFd::new(fd, PollFlags::POLLOUT));
        }
        let extra = self.extra_fds();
        let extra_at = fds.len();
        for (_, fd, flags) in &extra {
            fds.push(PollFd::new(*fd, *flags));
        }
        let polled = match poll(&mut fds, timeout) {
            // Interrupted (the loop's own signals come through the signalfd, but a stop and
            // continue of the daemon, say, interrupts too): look again at once rather than
            // give up the turn and build it all anew. The deadlines are checked after the
            // poll either way.
            Err(nix::errno::Errno::EINTR) => poll(&mut fds, PollTimeout::ZERO),
            polled => polled,
        };
        match polled {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return None,
            Err(e) => {
                self.log.write(Level::Error, &format!("poll failed: {e}"));
                return None;
            }
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        let clients_at = 4;
        let pipes_at = clients_at + self.clients.len();
        let reports_at = pipes_at + pipes.len();
        let readiness_at = reports_at + self.exec_reports.len();
        let pidfds_at = readiness_at + self.ready_pipes.pipes.len();
        let syslog_at = pidfds_at + self.pidfds.len();
        let output_ready = ready_indexes(&ready[pipes_at..reports_at]);
        Some(Ready {
            signals: ready[0],
            listener: ready[1],
            loader: ready[2],
            notify: ready[3],
            clients: ready[clients_at..pipes_at].to_vec(),
            // Poll slots to the pipes' own indexes.
            output_pipes: output_ready.into_iter().map(|i| pipes[i].0).collect(),
            exec_reports: ready_indexes(&ready[reports_at..readiness_at]),
            ready_pipes: ready_indexes(&ready[readiness_at..pidfds_at]),
            pidfds: ready_indexes(&ready[pidfds_at..syslog_at]),
            syslog: syslog.is_some() && ready.get(syslog_at) == Some(&true),
            extra: extra
                .iter()
                .enumerate()
                .filter(|(i, _)| ready.get(extra_at + i) == Some(&true))
                .map(|(_, (what, _, _))| what.clone())
                .collect(),
        })
    }

    /// One loop turn: sleep in poll until something happens, then handle all of it.
    pub(super) fn turn(&mut self) {
        // Signals sent outside a turn (at start, say) may have reaped children.
        self.handle_reaped_early();
        // What the last turn changed, before sleeping.
        self.write_metrics_file();
        self.resume_accepting(Instant::now());
        let deadline = [
            self.core.next_deadline(),
            self.final_wait,
            self.log.next_retry(),
            // The end of an accept pause wakes the loop even when nothing else happens.
            self.accept_paused,
            self.upgrade.as_ref().map(|u| u.deadline),
            self.drain_due.as_ref().map(|d| d.at),
            self.clients
                .iter()
                .filter_map(|c| c.partial_deadline())
                .min(),
        ]
        .into_iter()
        .flatten()
        .min();
        let queued_requests = self.clients.iter().any(|c| c.has_queued_requests());
        let timeout = match deadline {
            // Requests left over from the last turn: look, then come back at once.
            _ if queued_requests => PollTimeout::ZERO,
            None => PollTimeout::NONE,
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                // Round up: a timeout truncated to 0 ms would spin until the deadline.
                let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let Some(ready) = self.poll_once(timeout) else {
            return;
        };
        for index in ready.exec_reports {
            self.read_exec_report(index);
        }
        // Readiness before signals: a READY=1 (or fd:N newline) was sent before the exit
        // that SIGCHLD may report in the same turn, and counts first.
        for index in ready.ready_pipes {
            if let Some(event) = self.ready_pipes.read(index) {
                self.dispatch(event);
            }
        }
        if ready.notify {
            let events = self
                .notify
                .as_ref()
                .map(|n| n.receive())
                .unwrap_or_default();
            for event in events {
                self.dispatch(event);
            }
        }
        self.handle_extra(&ready.extra);
        if ready.signals {
            self.handle_signals();
        }
        self.drain_if_due();
        // After SIGCHLD: a process we reaped ourselves (as subreaper) was told with its status.
        self.adopted_ended(ready.pidfds);
        if ready.loader {
            self.reload_finished();
        }
        let (pipe_ready, syslog_ready, client_ready, listener_ready) = (
            ready.output_pipes,
            ready.syslog,
            ready.clients,
            ready.listener,
        );
        // Pipes before clients.
        for index in pipe_ready {
            self.read_pipe(index);
        }
        self.after_turn_logging(syslog_ready);
        let now = Instant::now();
        for (index, ready) in client_ready.iter().enumerate() {
            let queued = self
                .clients
                .get(index)
                .is_some_and(|c| c.has_queued_requests());
            if *ready || queued {
                self.serve_client(index);
            }
            if let Some(client) = self.clients.get_mut(index) {
                client.expire_partial(now);
            }
        }
        self.drop_dead_clients();
        if listener_ready {
            let first_new = self.clients.len();
            self.accept_clients();
            // A client sends its request right after connecting (tmctl does), so it is
            // usually there already: answered in this turn, not after one more poll (a
            // sleep and a wake-up of the loop in every one-shot `tmctl` command).
            for index in first_new..self.clients.len() {
                self.serve_client(index);
            }
            self.drop_dead_clients();
        }
        if self
            .core
            .next_deadline()
            .is_some_and(|at| at <= Instant::now())
        {
            self.dispatch(Event::Tick);
        }
        self.handle_reaped_early();
        // Last: whatever this turn settled counts.
        self.check_boot_finished();
        self.advance_final_shutdown();
        self.expire_upgrade_check(Instant::now());
        self.sync_state_files();
        if self.exec_reports.is_empty() {
            crate::process::release_spare_stacks();
        }
        let core = &self.core;
        self.heap_churn
            .trim_if_settled(self.exec_reports.is_empty(), || !core.any_starting());
    }

    /// Forgets the clients that are gone or broken (their fds are closed with them).
    fn drop_dead_clients(&mut self) {
        for gone in self.clients.iter().filter(|c| c.dead) {
            self.core.client_gone(gone.id);
            self.consoles.client_gone(gone.id);
        }
        self.clients.retain(|c| !c.dead);
    }

    /// After a turn that touched the core: the state files of what changed.
    pub(super) fn sync_state_files(&mut self) {
        // Not while a restart's children are still on their way to execve (see
        // `DeferredDrain`): replacing a file on ext4 costs the writer thread 0.3-0.6 ms of
        // CPU (the rename writes the new data out, the old inode's blocks are freed), and
        // woken now it took a CPU from the new child. They go in the turn of the drain.
        if self.drain_due.is_some() {
            return;
        }
        if std::mem::take(&mut self.core_touched) {
            // Taken even without state files, so that the core's list stays short.
            let changed = self.core.take_changed();
            if let Some(files) = &mut self.state_files {
                files.sync(&self.core, changed);
            }
        }
    }

    pub(super) fn handle_signals(&mut self) {
        let pending = self.signals.pending();
        // The children the SIGCHLDs name are reaped (and restarted) before the drain that
        // looks at every child (see reaper.rs); one SIGCHLD in the list does both.
        let named: Vec<i32> = pending
            .iter()
            .filter(|origin| origin.signal == SIGCHLD)
            .filter_map(|origin| origin.pid)
            .collect();
        let mut chld_done = false;
        for signal in pending.iter().map(|origin| origin.signal) {
            match signal {
                SIGCHLD if chld_done => {}
                SIGCHLD => {
                    chld_done = true;
                    let mark = self.spawns;
                    self.handle_reaped(reaper::reap_named(&named));
                    if self.spawns == mark {
                        self.drain();
                    } else if self.drain_due.is_none() {
                        // Restarted: see `DeferredDrain`. One already put off keeps its
                        // deadline and waits for these children too.
                        self.drain_due = Some(DeferredDrain {
                            at: Instant::now() + DRAIN_WAIT,
                            after: mark,
                        });
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

    /// Every child that is ready: exits (an orphan's too) whose SIGCHLD was merged into
    /// another's.
    fn drain(&mut self) {
        self.drain_due = None;
        self.handle_reaped(reaper::reap_all());
    }

    /// The drain a SIGCHLD turn put off, once the children it spawned have all exec'd
    /// (or failed to), or at its deadline.
    fn drain_if_due(&mut self) {
        let Some(due) = &self.drain_due else {
            return;
        };
        let waiting = self.exec_reports.iter().any(|p| p.seq > due.after);
        if !waiting || Instant::now() >= due.at {
            self.drain();
        }
    }

    /// The children reaped while this turn sent signals or collected exits (see
    /// reaped_early.rs), to the core as one batch; what it does in answer may signal, and
    /// reap, again.
    fn handle_reaped_early(&mut self) {
        loop {
            let events = self.reaped_early.take();
            if events.is_empty() {
                return;
            }
            self.handle_reaped(events);
        }
    }

    /// Reaped children to the core, in the order reaped, as one batch, except for the
    /// daemon's own helpers (the rescue or control shell; an upgrade's check, handled after
    /// the whole batch: see `upgrade::check_exit_apart`).
    fn handle_reaped(&mut self, events: Vec<Event>) {
        let (events, check) =
            super::upgrade::check_exit_apart(events, self.upgrade.as_ref().map(|u| u.pid));
        let mut reaped = Reaped::default();
        for event in events {
            if let Event::Exited { pid, .. } = event {
                let special = Some(pid) == self.rescue_shell || Some(pid) == self.shell_pid;
                if special {
                    // What was reaped before it is handled first, in order.
                    self.dispatch_reaped(&mut reaped);
                }
                self.settle_exec_report(pid);
                if Some(pid) == self.rescue_shell {
                    self.rescue_shell_ended();
                    continue;
                }
                if Some(pid) == self.shell_pid {
                    self.shell_pid = None;
                    self.log
                        .write(Level::Info, "control shell closed: shutdown");
                    self.shut_down(self.power);
                    continue;
                }
            }
            self.collect_reaped(event, &mut reaped);
        }
        self.dispatch_reaped(&mut reaped);
        if let Some(status) = check {
            self.upgrade_check_done(status);
        }
    }

    /// Reads one pipe (bounded) and hands captured output to its followers; whether
    /// anything was read.
    pub(super) fn read_pipe(&mut self, index: usize) -> bool {
        let (id, stderr) = match self.outputs.pipes.get(index) {
            Some(pipe) => (pipe.id.clone(), pipe.stderr),
            None => return false,
        };
        let drained = self.outputs.drain(index, &mut self.log);
        let read = matches!(drained, Drained::Data(_) | Drained::Consumed);
        if let Drained::Data(data) = drained {
            let mut encoded = None;
            for client in &mut self.clients {
                if client.job.as_ref() == Some(&id) {
                    client.send(&Response::JobOutput {
                        stderr,
                        data: String::from_utf8_lossy(&data).into_owned(),
                    });
                }
                let follows = client
                    .follow
                    .as_ref()
                    .is_some_and(|f| f.id == id && f.stderr == stderr);
                if follows {
                    client.send_output(&data, &mut encoded);
                }
            }
        }
        read
    }
}
