//! Requests the core answers: status, start/stop/restart (which wait for the outcome),
//! pause/resume, signal, names, shutdown.

use super::deps::DepKind;
use super::waiters::{Entry, What};
use super::Level;
use super::{log, Action, Actions, ClientId, Goal, InstanceId, State, Supervisor, Vetted};
use super::{Command, InstanceName, InstanceOutcome, InstanceStatus, Refusal, Reply, StatusView};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

impl Supervisor {
    pub(super) fn on_request(
        &mut self,
        client: ClientId,
        request: Command,
        now: Instant,
        out: &mut Actions,
    ) {
        let reply = |out: &mut Actions, response| out.push(Action::Reply { client, response });
        let resolved = |me: &Supervisor, names: &[String]| {
            if names.is_empty() {
                let message = "name a service, an instance NAME:N, or all";
                Err(Reply::refused(Refusal::BadRequest, message))
            } else {
                me.resolve(names)
                    .map_err(|message| Reply::refused(Refusal::UnknownName, message))
            }
        };
        // Status and ps: no name means every instance.
        let named_or_all = |me: &Supervisor, names: &[String]| {
            if names.is_empty() {
                Ok(me.all_ids())
            } else {
                me.resolve(names)
            }
        };
        match request {
            // Every instance: walked in place, not looked up by name one by one (three
            // map lookups each were a fifth of the daemon's work for 1,000 instances).
            Command::Status { names } if names.is_empty() => {
                let instances = self.statuses(now);
                reply(out, Reply::Status { instances });
            }
            Command::Status { names } => {
                let ids = named_or_all(self, &names);
                match ids {
                    Ok(ids) => {
                        let instances = ids
                            .iter()
                            .filter_map(|id| self.status_of(id, now))
                            .collect();
                        reply(out, Reply::Status { instances });
                    }
                    Err(message) => reply(out, Reply::refused(Refusal::UnknownName, message)),
                }
            }
            Command::Start { names } => match resolved(self, &names) {
                Err(response) => reply(out, response),
                Ok(_) if self.shutting_down => reply(out, shutting_down()),
                Ok(ids) => {
                    // What they require or want is started first, and waited for and named
                    // too.
                    let mut pulled = Vec::new();
                    for id in &ids {
                        let before: HashSet<InstanceId> =
                            self.instances_going_up().into_iter().collect();
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
                        for other in self.instances_going_up() {
                            if other != *id && !before.contains(&other) {
                                pulled.push(Entry {
                                    name: self.instance_name(&other),
                                    what: What::StartFor {
                                        cause: id.service.clone(),
                                        required: self.requires_chain(&id.service, &other.service),
                                    },
                                    id: other,
                                });
                            }
                        }
                    }
                    let mut entries = self.entries(ids, || What::Start);
                    entries.extend(pulled);
                    self.wait(Some(client), false, entries);
                }
            },
            Command::Stop { names } => match resolved(self, &names) {
                Err(response) => reply(out, response),
                Ok(ids) => self.stop_request(client, ids, false, now, out),
            },
            Command::Kill { names } => match resolved(self, &names) {
                Err(response) => reply(out, response),
                Ok(ids) => self.stop_request(client, ids, true, now, out),
            },
            Command::Restart { names } => match resolved(self, &names) {
                Err(response) => reply(out, response),
                Ok(_) if self.shutting_down => reply(out, shutting_down()),
                Ok(ids) => {
                    let (ids, checks) = self.restarts_to_vet(ids);
                    let mut dependents = Vec::new();
                    for id in &ids {
                        dependents.extend(self.restart_instance(id, out));
                    }
                    let mut entries = self.entries(ids, || What::Restart);
                    entries.extend(dependents);
                    for (service, ids) in checks {
                        entries.push(Entry {
                            id: InstanceId {
                                service: service.clone(),
                                index: 0,
                            },
                            name: service.clone(),
                            what: What::Check,
                        });
                        self.begin_check(&service, Vetted::Restart(ids), now, out);
                    }
                    self.wait(Some(client), false, entries);
                }
            },
            Command::Pause { names }
            | Command::Resume { names }
            | Command::Signal { names, .. }
                if names.is_empty() =>
            {
                let message = "name a service, an instance NAME:N, or all";
                reply(out, Reply::refused(Refusal::BadRequest, message));
            }
            Command::Pause { names } => {
                self.signal_running(client, &names, libc::SIGSTOP, true, out)
            }
            Command::Resume { names } => {
                self.signal_running(client, &names, libc::SIGCONT, true, out)
            }
            Command::Signal { signal, names } => match crate::signals::parse(&signal) {
                Some(number) => self.signal_running(client, &names, number, false, out),
                None => reply(
                    out,
                    Reply::refused(Refusal::BadRequest, format!("unknown signal: {signal}")),
                ),
            },
            Command::Names => {
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
                    Reply::Names {
                        services,
                        instances,
                    },
                );
            }
            Command::Why { name } => match self.why(&name, now) {
                Ok(steps) => reply(out, Reply::Why { steps }),
                Err(message) => reply(out, Reply::refused(Refusal::UnknownName, message)),
            },
            Command::Analyze { names } => {
                let ids = if names.is_empty() {
                    Ok(Vec::new())
                } else {
                    self.resolve(&names)
                };
                match ids {
                    Ok(ids) => {
                        let analysis = self.analyze(&ids, now);
                        reply(out, Reply::Analyze { analysis });
                    }
                    Err(message) => reply(out, Reply::refused(Refusal::UnknownName, message)),
                }
            }
            Command::Show { name } => {
                let service = name.rsplit_once(':').map_or(name.as_str(), |(s, _)| s);
                match self.resolve(std::slice::from_ref(&name)) {
                    Ok(_) => match self.services.get(service) {
                        Some(s) => {
                            let text = crate::config::service_kdl(&s.spec);
                            reply(out, Reply::Config { text });
                        }
                        None => reply(
                            out,
                            Reply::refused(
                                Refusal::UnknownName,
                                format!("no such service: {service}"),
                            ),
                        ),
                    },
                    Err(message) => reply(out, Reply::refused(Refusal::UnknownName, message)),
                }
            }
            Command::Ps { names } => {
                let ids = named_or_all(self, &names);
                match ids {
                    Ok(ids) => {
                        let instances = ids
                            .iter()
                            .filter_map(|id| {
                                let i = self.instance(id)?;
                                Some(super::ProcessIds {
                                    name: self.instance_name(id),
                                    state: i.state.word().to_string(),
                                    pid: i.pid,
                                    group: i.group.or(i.pid),
                                    service: id.service.clone(),
                                    index: id.index,
                                })
                            })
                            .collect();
                        reply(out, Reply::Ps { instances });
                    }
                    Err(message) => reply(out, Reply::refused(Refusal::UnknownName, message)),
                }
            }
            // Answered by `on_job_request` and `on_schedule_request`, which see every
            // command first (see `Supervisor::handle`) and never hand these on.
            Command::Wait { .. }
            | Command::Remove { .. }
            | Command::Schedule { .. }
            | Command::Cancel { .. } => {}
        }
    }

    /// Splits a restart: running instances of a service with a `pre-start` are restarted
    /// only once it has passed (the old process runs on meanwhile), by service; the rest
    /// restart at once.
    pub(super) fn restarts_to_vet(
        &self,
        ids: Vec<InstanceId>,
    ) -> (Vec<InstanceId>, BTreeMap<String, Vec<InstanceId>>) {
        let mut now = Vec::new();
        let mut vetted: BTreeMap<String, Vec<InstanceId>> = BTreeMap::new();
        for id in ids {
            let guarded = self
                .services
                .get(&id.service)
                .is_some_and(|s| s.spec.pre_start.is_some() && s.candidate.is_none());
            let running = self.instance(&id).is_some_and(|i| {
                i.pid.is_some() && i.goal == Goal::Up && i.state != State::Stopping
            });
            if guarded && running {
                vetted.entry(id.service.clone()).or_default().push(id);
            } else {
                now.push(id);
            }
        }
        (now, vetted)
    }

    /// Stop then start: the goal stays Up while it stops, so it comes back by itself.
    /// Returns the dependents that restart with it.
    pub(super) fn restart_instance(&mut self, id: &InstanceId, out: &mut Actions) -> Vec<Entry> {
        let Some(instance) = self.instance(id) else {
            return Vec::new();
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
            self.restart_with_dependents(id)
        } else {
            if let Some(i) = self.instance_mut(id) {
                i.goal = Goal::Down;
            }
            self.start_instance(id, out);
            Vec::new()
        }
    }

    /// Every instance whose goal is up, in name order.
    /// Whether `from` requires `to`, directly or through what it requires (a failure of
    /// `to` then holds `from` back; through a `wants` it does not).
    fn requires_chain(&self, from: &str, to: &str) -> bool {
        let mut seen = HashSet::new();
        let mut todo = vec![from];
        while let Some(service) = todo.pop() {
            for (dep, kind) in self.deps.waits_for(service) {
                if *kind == DepKind::Requires && seen.insert(dep.as_str()) {
                    if dep == to {
                        return true;
                    }
                    todo.push(dep);
                }
            }
        }
        false
    }

    fn instances_going_up(&self) -> Vec<InstanceId> {
        self.services
            .iter()
            .flat_map(|(name, s)| {
                s.instances
                    .iter()
                    .filter(|(_, i)| i.goal == Goal::Up)
                    .map(|(index, _)| InstanceId {
                        service: name.clone(),
                        index: *index,
                    })
            })
            .collect()
    }

    /// One entry per instance, named as the user knows it.
    pub(super) fn entries(&self, ids: Vec<InstanceId>, what: impl Fn() -> What) -> Vec<Entry> {
        ids.into_iter()
            .map(|id| Entry {
                name: self.instance_name(&id),
                id,
                what: what(),
            })
            .collect()
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
                    response: Reply::refused(Refusal::UnknownName, message),
                });
                return;
            }
        };
        let mut lines = Vec::new();
        let mut missing = Vec::new();
        // Per instance, for a reply that says what happened to each when only some had a
        // process (`signal TERM pool` with pool:1 stopped signals the other two).
        let mut results = Vec::new();
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
                    results.push(InstanceOutcome {
                        name,
                        action: None,
                        ok: true,
                        message: format!("sent SIG{sig} to pid {pid}"),
                    });
                }
                None => {
                    let state = self
                        .instance(id)
                        .map_or("gone", |i| i.state.word())
                        .to_string();
                    results.push(InstanceOutcome {
                        name: name.clone(),
                        action: None,
                        ok: false,
                        message: format!("not running ({state})"),
                    });
                    missing.push(name);
                }
            }
        }
        let response = if missing.is_empty() {
            Reply::Ok { lines }
        } else if lines.is_empty() {
            Reply::refused(
                Refusal::NotRunning,
                format!("not running: {}", missing.join(", ")),
            )
        } else {
            Reply::Outcome { ok: false, results }
        };
        out.push(Action::Reply { client, response });
    }

    /// `stop` (and `stop --kill`): each instance goes down, what requires it first, and
    /// the client is answered once all have stopped. With `kill`, the named instances get
    /// SIGKILL at once, to the whole process group (and cgroup), without waiting for their
    /// dependents or for `stoptime`.
    fn stop_request(
        &mut self,
        client: ClientId,
        ids: Vec<InstanceId>,
        kill: bool,
        now: Instant,
        out: &mut Actions,
    ) {
        // What requires them stops first, and is waited for and named too.
        let mut dependents = Vec::new();
        for id in &ids {
            let before = self.instances_going_up();
            self.stop_instance(id);
            if kill {
                self.kill_now(id, now, out);
            }
            let now_up = self.instances_going_up();
            dependents.extend(
                before
                    .into_iter()
                    .filter(|other| other != id && !now_up.contains(other))
                    .map(|other| Entry {
                        name: self.instance_name(&other),
                        id: other,
                        what: What::StopWith(id.service.clone()),
                    }),
            );
        }
        let mut entries = self.entries(ids, || What::Stop(None));
        entries.extend(dependents);
        self.wait(Some(client), false, entries);
    }

    /// The instance's detail as of `now`: a pending restart counts down (`restart in 0.15s`)
    /// instead of repeating the delay it was given.
    fn detail_now(i: &super::instance::Instance, now: Instant) -> Option<Cow<'_, str>> {
        match (&i.detail, i.deadline) {
            (Some(detail), Some(at)) if detail.starts_with("restart in") => {
                Some(Cow::Owned(format!(
                    "restart in {}",
                    super::seconds(at.saturating_duration_since(now))
                )))
            }
            (detail, _) => detail.as_deref().map(Cow::Borrowed),
        }
    }

    /// The status line of one instance, as `tmctl status` shows it.
    pub fn status_of(&self, id: &InstanceId, now: Instant) -> Option<InstanceStatus> {
        let service = self.services.get(&id.service)?;
        let i = service.instances.get(&id.index)?;
        Some(self.view_in(service, id.index, i, now).into_owned())
    }

    /// The status of every instance, in the order of [`Supervisor::all_ids`].
    fn statuses(&self, now: Instant) -> Vec<InstanceStatus> {
        // Sized once: grown by doubling, the list of 1,000 was copied eight times over.
        let mut statuses = Vec::with_capacity(self.visible().count());
        statuses.extend(self.status_views(now).map(StatusView::into_owned));
        statuses
    }

    /// The status of every instance as views borrowed from the core, in the order of
    /// [`Supervisor::all_ids`]: what the loop writes a plain status of all from, instance
    /// by instance, without a list of owned statuses (see [`StatusView`]).
    /// How many instances [`Self::status_views`] gives, without making their views.
    pub fn status_count(&self) -> usize {
        self.visible().count()
    }

    /// What the plain table needs to know of each instance before it writes any line (its
    /// columns' widths): name, state word and pid, in the order of [`Self::status_views`],
    /// without making the views (each looks up the service's schedule, and may format a
    /// detail).
    pub fn status_cells(
        &self,
    ) -> impl Iterator<Item = (InstanceName<'_>, &'static str, Option<i32>)> + '_ {
        self.visible()
            .map(|(s, index, i)| (s.name_of(index), i.state.word(), i.pid))
    }

    pub fn status_views(&self, now: Instant) -> impl Iterator<Item = StatusView<'_>> + Clone {
        self.visible()
            .map(move |(s, index, i)| self.view_in(s, index, i, now))
    }

    fn view_in<'a>(
        &'a self,
        service: &'a super::Service,
        index: u32,
        i: &'a super::instance::Instance,
        now: Instant,
    ) -> StatusView<'a> {
        let name = &service.spec.name;
        let (exit_code, exit_signal) = match i.last_exit {
            Some(super::ExitStatus::Code(code)) => (Some(code), None),
            Some(super::ExitStatus::Signal(sig)) => (None, Some(crate::signals::name(sig))),
            None => (None, None),
        };
        let stored = Self::detail_now(i, now)
            .or_else(|| i.seldom.notify_status.as_deref().map(Cow::Borrowed));
        let detail = match (&i.seldom.oom, stored) {
            (Some(oom), Some(detail)) => Some(Cow::Owned(format!("{oom}; {detail}"))),
            (Some(oom), None) => Some(Cow::Borrowed(oom.as_str())),
            (None, detail) => detail,
        };
        let detail = match (detail, self.next_run_text(name)) {
            (Some(detail), Some(next)) => Some(Cow::Owned(format!("{detail}; {next}"))),
            (detail, next) => detail.or(next.map(Cow::Owned)),
        };
        StatusView {
            name: service.name_of(index),
            service: name,
            state: i.state.word(),
            pid: i.pid,
            uptime_secs: i
                .pid
                .and(i.spawned_at)
                .map(|at| now.saturating_duration_since(at).as_secs()),
            restarts: i.restarts,
            exit_code,
            exit_signal,
            detail,
            last_stderr: i
                .seldom
                .last_stderr
                .as_deref()
                .filter(|_| i.state == State::Fatal),
            transient: service.job.is_some(),
            // A hook's run was asked for by nobody: no owner.
            owner: service.job.as_ref().filter(|j| !j.hook).map(|j| j.owner),
            next_run: self.crons.next_run(name).map(|wall| {
                chrono::DateTime::<chrono::Local>::from(wall)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            }),
        }
    }
}

fn shutting_down() -> Reply {
    Reply::refused(Refusal::ShuttingDown, "taskmasterd is shutting down")
}
