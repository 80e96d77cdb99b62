//! Performing what the core decided, and the shutdown that follows.

use super::exec_reports::PendingExec;
use super::{output, ready_pipes, reaper, start_env, Daemon};
use crate::config::{Output, ProcessSpec, Readiness};
use crate::control::proto::Response;
use crate::init::{FinalShutdown, PowerAction, Progress};
use crate::log::Level;
use crate::supervisor::{Action, Event, InstanceId, Purpose, SpawnFailure};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

impl Daemon {
    /// Runs the PID 1 shutdown plan as far as it goes without waiting.
    pub(super) fn advance_final_shutdown(&mut self) {
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
                // reboot(2) may not return: every line from here on is written at once.
                self.log.batch(false);
                // Every file open for writing must be closed before `/` goes read-only (the
                // remount fails with EBUSY otherwise), and the last output written first.
                self.outputs.drain_all(&mut self.log);
                let closed = self.outputs.close_files();
                self.log.write(
                    Level::Info,
                    &format!("shutdown: {closed} output file(s) written out and closed"),
                );
                self.log.close_file();
                // reboot(2) does not return when it works (in a pid namespace it ends the
                // namespace): the sockets go now, not at an exit that never comes.
                super::listener::remove(&self.opts.socket, self.socket_inode);
                if let Some(notify) = &self.notify {
                    notify.remove();
                }
                let log = &mut self.log;
                plan.finish(&mut |level, text| log.write(level, &text));
                // Still here: reboot(2) was refused.
                self.final_wait = None;
                match after_refused_reboot(crate::init::in_container()) {
                    AfterRefusedReboot::Exit => self.done = true,
                    AfterRefusedReboot::ReapForever => {
                        self.log.write(
                            Level::Error,
                            "shutdown: reboot(2) refused on a machine; init stays, reaping",
                        );
                        crate::init::reap_forever();
                    }
                }
            }
        }
    }

    /// Stops every service in reverse dependency order; as PID 1, then `action`.
    pub(super) fn shut_down(&mut self, action: PowerAction) {
        self.console_for_shutdown();
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

    /// Feeds one event to the core and performs what it decides. A spawn's result is fed
    /// straight back, so the core sees every pid before any exit of it can be reaped.
    pub(super) fn dispatch(&mut self, event: Event) {
        self.dispatch_all(vec![event]);
    }

    /// Several events to the core at once (what one turn reaped): see
    /// [`crate::supervisor::Supervisor::handle_all`].
    pub(super) fn dispatch_all(&mut self, events: Vec<Event>) {
        // Only for showing when a scheduled start is due; every timer is monotonic.
        self.core
            .set_wall_clock(Instant::now(), std::time::SystemTime::now());
        if events.iter().any(|e| matches!(e, Event::Shutdown)) {
            self.console_for_shutdown();
        }
        let actions = self.core.handle_all(events, Instant::now());
        self.perform_all(actions);
    }

    /// Performs what the core asked for, and what the core asks in answer to that.
    pub(super) fn perform_all(&mut self, actions: Vec<Action>) {
        self.core_touched = true;
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let follow_up = self.perform(action);
            if let Some(event) = follow_up {
                queue.extend(self.core.handle(event, Instant::now()));
            }
        }
    }

    pub(super) fn perform(&mut self, action: Action) -> Option<Event> {
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
            // An adopted process is signalled through its pidfd, and alone: its group is
            // not ours, and its pid may be reused once it has gone.
            Action::Signal { pid, signal, .. } if self.pidfds.has(pid) => {
                self.pidfds.signal(pid, signal);
                None
            }
            Action::Signal { pid, signal, group } => {
                let target = nix::unistd::Pid::from_raw(pid);
                // SIGCONT before the thaw: it drops a SIGSTOP still pending in a frozen task.
                let reaped = self.reaped_now.binary_search(&pid).is_ok()
                    || self.reaped_early.has_reaped(pid);
                let _ = if group && reaped {
                    // The SIGKILL that ends the leftovers of a process reaped this turn: its
                    // pid is free for reuse, only its group (reserved while a member is
                    // left) may still be there. Without it, every service of a stop cost a
                    // second, useless kill(2) (and one that could hit a new process).
                    crate::process::signal_group_only(target, signal)
                } else if reaped {
                    // Gone, and its pid free for another process: nothing to signal.
                    Ok(())
                } else if group {
                    crate::process::signal_group(target, signal)
                } else {
                    crate::process::signal_process(target, signal)
                };
                // With cgroups a group signal reaches the whole cgroup: SIGKILL through
                // cgroup.kill, pause and resume by freezing and thawing it.
                if group {
                    self.cgroups.group_signal(pid, signal);
                }
                self.reaped_early.step();
                None
            }
            Action::SignalCgroup { id, signal } => {
                if let Err(e) = self.cgroups.signal_cgroup(&id, signal) {
                    self.log.write(Level::Warning, &e.to_string());
                }
                None
            }
            Action::Log { level, text } => {
                self.log.write(level.into(), &text);
                None
            }
            Action::Attach { client, id } => {
                self.attach_job(client, id);
                None
            }
            Action::Forget { id } => {
                self.outputs.forget_instance(&id);
                self.cgroups
                    .forget_instance(&id, self.core.shared_name(&id.service));
                None
            }
            // A plain status of names (no cgroup accounting asked for): the table or the
            // line is written from the core's statuses themselves (see `StatusLine`; a
            // plain status of all does not come here, see `Daemon::status_of_all`).
            Action::Reply {
                client,
                response: crate::supervisor::Reply::Status { instances },
            } if self
                .clients
                .iter()
                .any(|c| c.id == client && (!c.status_usage || c.status_table.is_some())) =>
            {
                self.log.flush();
                if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
                    match c.status_table {
                        Some(style) => c.send_table(|out| {
                            crate::ctl::status_table::write_table(
                                instances
                                    .iter()
                                    .map(crate::supervisor::InstanceStatus::view),
                                style == crate::control::proto::TableStyle::Colour,
                                out,
                            )
                        }),
                        None => {
                            c.reserve(instances.len() * 128);
                            c.send(&crate::control::wire_status::StatusLine(
                                instances
                                    .iter()
                                    .map(crate::supervisor::InstanceStatus::view),
                            ));
                        }
                    }
                }
                None
            }
            Action::Reply { client, response } => {
                let mut response = Response::from(response);
                if matches!(response, Response::JobEnded { .. }) {
                    self.flush_job_output(client);
                }
                // What the log says happened is there before the client hears of it.
                self.log.flush();
                if let crate::control::proto::Response::Ps { instances } = &mut response {
                    self.cgroups.locate(instances);
                }
                if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
                    if let Response::Status { instances } = &mut response {
                        // Five file reads per instance: only when asked for (`status -l`).
                        if c.status_usage {
                            self.cgroups.account(instances);
                        }
                    }
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
            Action::Publish(event) => {
                self.metrics.event();
                self.publish(event);
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

    /// Output pipes and, for `ready "fd:N"`, the readiness pipe; then fork. Returns as soon
    /// as the child exists: whether execve succeeds is read from its report later, by the
    /// loop (see exec_reports.rs).
    fn spawn(
        &mut self,
        id: &InstanceId,
        name: &str,
        spec: &ProcessSpec,
    ) -> Result<i32, SpawnFailure> {
        let service = self.core.shared_name(&id.service);
        let cgroup = self
            .cgroups
            .prepare(id, Arc::clone(&service), &spec.resources)?;
        // A console service writes to its terminal: the master is read as its stdout.
        let mut terminal = None;
        let (stdout, stderr, pipes) = if spec.console {
            let problem = |e: nix::errno::Errno| {
                output::failure(format!("console terminal: {e}"), Some(e as i32))
            };
            let (master, slave) = super::consoles::open_pty().map_err(problem)?;
            let copy = |fd: &std::os::fd::OwnedFd| {
                fd.try_clone().map_err(|e| {
                    output::failure(format!("console terminal: {e}"), e.raw_os_error())
                })
            };
            let reader = std::fs::File::from(copy(&master)?);
            let (out, err) = (copy(&slave)?, copy(&slave)?);
            terminal = Some((master, slave));
            (
                crate::process::ChildFd::Fd(out),
                crate::process::ChildFd::Fd(err),
                vec![output::console_pipe(reader)],
            )
        } else {
            self.outputs.prepare(spec)?
        };
        let (master, slave) = terminal.map_or((None, None), |(m, s)| (Some(m), Some(s)));
        let ready = match spec.ready {
            Readiness::Fd(_) => Some(
                ready_pipes::pipe()
                    .map_err(|e| output::failure(format!("ready pipe: {e}"), e.raw_os_error()))?,
            ),
            _ => None,
        };
        let (ready_read, ready_write) = ready.map_or((None, None), |(r, w)| (Some(r), Some(w)));
        let (listen, listen_names) = self
            .sockets
            .handed(&id.service)
            .map_err(|e| output::failure(format!("listen sockets: {e}"), e.raw_os_error()))?;
        let handed = crate::process::HandedFds {
            listen,
            listen_names,
            terminal: slave,
        };
        let (pid, report) =
            crate::process::start_with(spec, stdout, stderr, ready_write, cgroup, handed)
                .map_err(|e| output::failure(e.to_string(), Some(e.errno as i32)))?;
        let pid = pid.as_raw();
        if spec.stdout == Output::Inherit || spec.stderr == Output::Inherit {
            self.console_taken(name);
        }
        self.heap_churn.add(1);
        self.cgroups.spawned(pid, id, service, &spec.resources);
        self.outputs.attach(id, name, pid, spec, pipes);
        if let Some(master) = master {
            self.consoles.register(id, master);
        }
        self.settle_exec_reports();
        self.spawns += 1;
        self.exec_reports.push_back(PendingExec {
            pid,
            id: id.clone(),
            report,
            seq: self.spawns,
        });
        if let Some(file) = ready_read {
            self.ready_pipes.attach(id.clone(), pid, file);
        }
        Ok(pid)
    }
}

/// What PID 1 does when reboot(2) is refused.
#[derive(Debug, PartialEq, Eq)]
enum AfterRefusedReboot {
    /// In a container (a pid namespace of its own): exiting ends the namespace, which is
    /// what its owner asked for, as reboot(2) would have.
    Exit,
    /// On a machine: init exiting would panic the kernel; the services are down, so it
    /// only reaps, and the machine can still be reset by hand.
    ReapForever,
}

fn after_refused_reboot(in_container: bool) -> AfterRefusedReboot {
    if in_container {
        AfterRefusedReboot::Exit
    } else {
        AfterRefusedReboot::ReapForever
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_reboot_ends_only_a_container() {
        assert_eq!(after_refused_reboot(true), AfterRefusedReboot::Exit);
        assert_eq!(after_refused_reboot(false), AfterRefusedReboot::ReapForever);
    }
}
