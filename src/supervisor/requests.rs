//! Requests the core answers: status, start/stop/restart (which wait for the outcome),
//! pause/resume, signal, names, shutdown.

use super::{log, Action, Actions, ClientId, Goal, InstanceId, State, Supervisor};
use crate::control::proto::{ErrorKind, InstanceOutcome, InstanceStatus, Request, Response};
use crate::log::Level;
use std::time::Instant;

/// A client waiting for instances to settle after start/stop/restart.
pub(super) struct Waiter {
    client: ClientId,
    kind: WaitKind,
    ids: Vec<InstanceId>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitKind {
    Start,
    Stop,
}

impl Supervisor {
    pub(super) fn on_request(
        &mut self,
        client: ClientId,
        request: Request,
        now: Instant,
        out: &mut Actions,
    ) {
        let reply = |out: &mut Actions, response| out.push(Action::Reply { client, response });
        let resolved = |me: &Supervisor, names: &[String]| {
            if names.is_empty() {
                let message = "name a service, an instance NAME:N, or all";
                Err(Response::error(ErrorKind::BadRequest, message))
            } else {
                me.resolve(names)
                    .map_err(|message| Response::error(ErrorKind::UnknownName, message))
            }
        };
        match request {
            Request::Status { names } => {
                let ids = if names.is_empty() {
                    Ok(self.all_ids())
                } else {
                    self.resolve(&names)
                };
                match ids {
                    Ok(ids) => {
                        let instances = ids
                            .iter()
                            .filter_map(|id| self.status_of(id, now))
                            .collect();
                        reply(out, Response::Status { instances });
                    }
                    Err(message) => reply(out, Response::error(ErrorKind::UnknownName, message)),
                }
            }
            Request::Start { names } => match resolved(self, &names) {
                Err(response) => reply(out, response),
                Ok(_) if self.shutting_down => reply(out, shutting_down()),
                Ok(ids) => {
                    for id in &ids {
                        if let Some(i) = self.instance_mut(id) {
                            // A user's start gives a FATAL or held-back instance a fresh try,
                            // and pulls in again what a waiting one requires.
                            if i.blocked
                                || (i.state == State::Pending && i.deadline.is_none())
                                || matches!(i.state, State::Fatal | State::Exited | State::Stopped)
                            {
                                i.goal = Goal::Down;
                            }
                        }
                        self.start_instance(id, out);
                    }
                    self.wait(client, WaitKind::Start, ids);
                }
            },
            Request::Stop { names } => match resolved(self, &names) {
                Err(response) => reply(out, response),
                Ok(ids) => {
                    for id in &ids {
                        self.stop_instance(id);
                    }
                    self.wait(client, WaitKind::Stop, ids);
                }
            },
            Request::Restart { names } => match resolved(self, &names) {
                Err(response) => reply(out, response),
                Ok(_) if self.shutting_down => reply(out, shutting_down()),
                Ok(ids) => {
                    for id in &ids {
                        self.restart_instance(id, out);
                    }
                    self.wait(client, WaitKind::Start, ids);
                }
            },
            Request::Pause { names }
            | Request::Resume { names }
            | Request::Signal { names, .. }
                if names.is_empty() =>
            {
                let message = "name a service, an instance NAME:N, or all";
                reply(out, Response::error(ErrorKind::BadRequest, message));
            }
            Request::Pause { names } => {
                self.signal_running(client, &names, libc::SIGSTOP, true, out)
            }
            Request::Resume { names } => {
                self.signal_running(client, &names, libc::SIGCONT, true, out)
            }
            Request::Signal { signal, names } => match crate::signals::parse(&signal) {
                Some(number) => self.signal_running(client, &names, number, false, out),
                None => reply(
                    out,
                    Response::error(ErrorKind::BadRequest, format!("unknown signal: {signal}")),
                ),
            },
            Request::Names => {
                let services = self
                    .services
                    .values()
                    .filter(|s| !s.removed)
                    .map(|s| s.spec.name.clone())
                    .collect();
                let instances = self
                    .all_ids()
                    .iter()
                    .map(|id| self.instance_name(id))
                    .collect();
                reply(
                    out,
                    Response::Names {
                        services,
                        instances,
                    },
                );
            }
            Request::Shutdown => {
                self.begin_shutdown(out);
                reply(
                    out,
                    Response::Ok {
                        lines: vec!["shutting down".to_string()],
                    },
                );
            }
            // The loop answers these itself; reaching here is a wiring mistake, not the user's.
            other => reply(
                out,
                Response::error(
                    ErrorKind::Failed,
                    format!("internal: request not handled by the core: {other:?}"),
                ),
            ),
        }
    }

    /// Stop then start: the goal stays Up while it stops, so it comes back by itself.
    fn restart_instance(&mut self, id: &InstanceId, out: &mut Actions) {
        let Some(instance) = self.instance(id) else {
            return;
        };
        let done_oneshot = instance.state == State::Exited
            && self
                .services
                .get(&id.service)
                .is_some_and(|s| s.is_oneshot());
        if instance.is_active() || done_oneshot {
            let name = self.instance_name(id);
            out.push(log(Level::Info, format!("{name} restart requested")));
            if let Some(instance) = self.instance_mut(id) {
                instance.goal = Goal::Up;
                instance.failed_starts = 0;
                instance.crash_streak = 0;
            }
            // Stopped by `reconcile` once what requires it has stopped.
            self.mark_restart(id);
        } else {
            if let Some(i) = self.instance_mut(id) {
                i.goal = Goal::Down;
            }
            self.start_instance(id, out);
        }
    }

    /// Sends `signal` to every named instance that has a process; pause/resume go to the
    /// whole process group, `tmctl signal` to the main process only.
    fn signal_running(
        &mut self,
        client: ClientId,
        names: &[String],
        signal: i32,
        group: bool,
        out: &mut Actions,
    ) {
        let ids = match self.resolve(names) {
            Ok(ids) => ids,
            Err(message) => {
                out.push(Action::Reply {
                    client,
                    response: Response::error(ErrorKind::UnknownName, message),
                });
                return;
            }
        };
        let mut lines = Vec::new();
        let mut missing = Vec::new();
        for id in &ids {
            let name = self.instance_name(id);
            match self.instance(id).and_then(|i| i.pid) {
                Some(pid) => {
                    let sig = crate::signals::name(signal);
                    out.push(log(
                        Level::Info,
                        format!("{name} (pid {pid}) sent SIG{sig}"),
                    ));
                    out.push(Action::Signal { pid, signal, group });
                    lines.push(format!("{name}: sent SIG{sig} to pid {pid}"));
                }
                None => missing.push(name),
            }
        }
        let response = if missing.is_empty() {
            Response::Ok { lines }
        } else {
            Response::error(
                ErrorKind::NotRunning,
                format!("not running: {}", missing.join(", ")),
            )
        };
        out.push(Action::Reply { client, response });
    }

    /// A client went away: nobody is left to answer, so its waits are dropped.
    pub fn client_gone(&mut self, client: ClientId) {
        self.waiters.retain(|w| w.client != client);
    }

    fn wait(&mut self, client: ClientId, kind: WaitKind, ids: Vec<InstanceId>) {
        self.waiters.push(Waiter { client, kind, ids });
    }

    /// Replies to every waiter whose instances have all settled.
    pub(super) fn answer_waiters(&mut self, out: &mut Actions) {
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters {
            if !waiter.ids.iter().all(|id| self.settled(id, waiter.kind)) {
                self.waiters.push(waiter);
                continue;
            }
            let results: Vec<InstanceOutcome> = waiter
                .ids
                .iter()
                .map(|id| self.outcome(id, waiter.kind))
                .collect();
            let ok = results.iter().all(|r| r.ok);
            out.push(Action::Reply {
                client: waiter.client,
                response: Response::Outcome { ok, results },
            });
        }
    }

    fn settled(&self, id: &InstanceId, kind: WaitKind) -> bool {
        let Some(i) = self.instance(id) else {
            return true; // removed meanwhile
        };
        match kind {
            WaitKind::Start if i.restart_pending => false,
            WaitKind::Start => match i.state {
                State::Running | State::Exited | State::Fatal | State::Paused => true,
                State::Stopped => i.goal == Goal::Down,
                State::Pending => {
                    i.blocked
                        || i.goal == Goal::Down
                        || self.idle_requirement(&id.service).is_some()
                }
                State::Starting | State::Backoff | State::Stopping => false,
            },
            WaitKind::Stop => !i.is_active() && !i.is_waiting_to_start(),
        }
    }

    fn outcome(&self, id: &InstanceId, kind: WaitKind) -> InstanceOutcome {
        let name = self.instance_name(id);
        let Some(i) = self.instance(id) else {
            return InstanceOutcome {
                name,
                ok: kind == WaitKind::Stop,
                message: "removed".to_string(),
            };
        };
        let oneshot = self
            .services
            .get(&id.service)
            .is_some_and(|s| s.is_oneshot());
        let ok = match kind {
            WaitKind::Start => {
                i.state == State::Running
                    || (oneshot && i.state == State::Exited)
                    || i.state == State::Paused
            }
            WaitKind::Stop => true,
        };
        let mut message = i.state.word().to_string();
        if let Some(exit) = i.last_exit.filter(|_| i.state == State::Exited) {
            message = format!("{message} ({exit})");
        }
        if let Some(detail) = i.detail.as_ref().or(i.notify_status.as_ref()) {
            message = format!("{message}: {detail}");
        }
        InstanceOutcome { name, ok, message }
    }

    /// The status line of one instance, as `tmctl status` shows it.
    pub fn status_of(&self, id: &InstanceId, now: Instant) -> Option<InstanceStatus> {
        let i = self.instance(id)?;
        let (exit_code, exit_signal) = match i.last_exit {
            Some(super::ExitStatus::Code(code)) => (Some(code), None),
            Some(super::ExitStatus::Signal(sig)) => (None, Some(crate::signals::name(sig))),
            None => (None, None),
        };
        Some(InstanceStatus {
            name: self.instance_name(id),
            service: id.service.clone(),
            state: i.state.word().to_string(),
            pid: i.pid,
            uptime_secs: i
                .pid
                .and(i.spawned_at)
                .map(|at| now.saturating_duration_since(at).as_secs()),
            restarts: i.restarts,
            exit_code,
            exit_signal,
            detail: i.detail.clone().or_else(|| i.notify_status.clone()),
        })
    }
}

fn shutting_down() -> Response {
    Response::error(ErrorKind::ShuttingDown, "taskmasterd is shutting down")
}
