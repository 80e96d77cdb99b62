//! Clients waiting for what they asked to settle (start, stop, restart, reload), and what
//! each is told: per instance, and per dependent touched on the way, what actually happened.
//! A reload is also waited for when nobody asked through the socket (SIGHUP): its outcome
//! goes to the event log either way.

use super::Level;
use super::{log, Action, Actions, ClientId, Goal, InstanceId, State, Supervisor};
use super::{InstanceOutcome, Reply};
use std::collections::HashSet;

pub(super) struct Waiter {
    /// `None`: a reload by SIGHUP, or a client that went away (the outcome is only logged).
    pub client: Option<ClientId>,
    /// Answered with [`Reply::Reload`] and logged.
    pub reload: bool,
    pub entries: Vec<Entry>,
}

/// One line of the answer: an instance (or, for service-wide news, a service).
pub(super) struct Entry {
    pub id: InstanceId,
    /// As the user knows it, taken when the entry is made (a removed instance has no name
    /// once it is gone).
    pub name: String,
    pub what: What,
}

pub(super) enum What {
    /// `start`: RUNNING (a oneshot: done), or why not.
    Start,
    /// `stop`; with an action, a reload's removal.
    Stop(Option<&'static str>),
    /// Asked to restart (`tmctl restart`, a reload that changed its process, the fresh
    /// start of a FATAL one): "restarted" or "restart failed".
    Restart,
    /// Added by a reload.
    Added,
    /// Restarted because `cause` was (it requires it): "restarted with" or "stopped with".
    With(String),
    /// Stopped because `cause` was stopped (it requires it): "stopped with".
    StopWith(String),
    /// Started because `cause` was asked to start and requires or wants it: "started for".
    /// Its failure fails the request only when `cause` requires it (else it is news).
    StartFor { cause: String, required: bool },
    /// Settled from the start: this is all there is to say.
    Said {
        action: String,
        ok: bool,
        message: String,
    },
    /// A reload's `pre-start` check of this service's new config is still running; once it
    /// is done, the entry becomes a restart (passed) or a `Said` failure.
    Check,
}

impl Entry {
    pub fn said(id: InstanceId, name: String, action: &str, ok: bool, message: String) -> Entry {
        Entry {
            id,
            name,
            what: What::Said {
                action: action.to_string(),
                ok,
                message,
            },
        }
    }
}

impl Supervisor {
    pub(super) fn wait(&mut self, client: Option<ClientId>, reload: bool, entries: Vec<Entry>) {
        // One line per instance: the first word about it wins (a restarted service that
        // is also a dependent of another is reported as restarted).
        let mut seen = HashSet::new();
        let entries = entries
            .into_iter()
            .filter(|e| seen.insert(e.name.clone()))
            .collect();
        self.waiters.push(Waiter {
            client,
            reload,
            entries,
        });
    }

    /// A client went away: nobody is left to answer. A reload is still logged once settled.
    pub fn client_gone(&mut self, client: ClientId) {
        self.touched();
        self.job_client_gone(client);
        self.waiters
            .retain(|w| w.reload || w.client != Some(client));
        for waiter in &mut self.waiters {
            if waiter.client == Some(client) {
                waiter.client = None;
            }
        }
    }

    /// The `Check` entries for `service` in every waiter become `entries` (the check
    /// passed and the restart began), or `failed` (it did not).
    pub(super) fn resolve_check(&mut self, service: &str, outcome: Result<Vec<Entry>, Entry>) {
        let mut outcome = Some(outcome);
        for waiter in &mut self.waiters {
            let Some(at) = waiter
                .entries
                .iter()
                .position(|e| matches!(e.what, What::Check) && e.id.service == service)
            else {
                continue;
            };
            // Only the latest reload can still hold a check (a new reload supersedes it).
            match outcome.take() {
                Some(Ok(entries)) => {
                    waiter.entries.splice(at..=at, entries);
                }
                Some(Err(failed)) => waiter.entries[at] = failed,
                None => break,
            }
        }
    }

    /// Replies to every waiter whose entries have all settled.
    pub(super) fn answer_waiters(&mut self, out: &mut Actions) {
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters {
            if !waiter.entries.iter().all(|e| self.settled(e)) {
                self.waiters.push(waiter);
                continue;
            }
            let results: Vec<InstanceOutcome> =
                waiter.entries.iter().map(|e| self.outcome(e)).collect();
            let ok = results.iter().all(|r| r.ok);
            let response = if waiter.reload {
                out.push(log(
                    if ok { Level::Info } else { Level::Warning },
                    format!("reload done: {}", summary(&results)),
                ));
                Reply::Reload { ok, results }
            } else {
                Reply::Outcome { ok, results }
            };
            if let Some(client) = waiter.client {
                out.push(Action::Reply { client, response });
            }
        }
    }

    fn settled(&self, entry: &Entry) -> bool {
        match &entry.what {
            What::Said { .. } => true,
            What::Check => false,
            What::Stop(action) => self.instance(&entry.id).is_none_or(|i| {
                // A removed instance that a later reload took back will not stop.
                (action.is_some() && !i.retiring)
                    || (!i.is_active() && !i.is_waiting_to_start())
                    || self.started_again(&entry.id, i)
            }),
            What::StopWith(_) => self.instance(&entry.id).is_none_or(|i| {
                (!i.is_active() && !i.is_waiting_to_start()) || self.started_again(&entry.id, i)
            }),
            What::Start | What::Restart | What::Added | What::With(_) | What::StartFor { .. } => {
                self.settled_start(&entry.id)
            }
        }
    }

    /// Whether every instance meant to be up is up or as far as it will get without someone
    /// doing something (what a boot waits for before it counts as done): `Some((up,
    /// meant))`, or `None` while one is still on its way.
    pub fn starts_settled(&self) -> Option<(usize, usize)> {
        let (mut up, mut meant) = (0, 0);
        for (name, service) in &self.services {
            for (index, instance) in &service.instances {
                if instance.goal != Goal::Up {
                    continue;
                }
                let id = InstanceId {
                    service: name.clone(),
                    index: *index,
                };
                if !self.settled_start(&id) {
                    return None;
                }
                meant += 1;
                if self.is_up(&id) {
                    up += 1;
                }
            }
        }
        Some((up, meant))
    }

    /// Someone started the instance again since it was asked to stop, and that start has
    /// settled: the stop is over, whatever the state (waiting for it to stop would be
    /// waiting for the next stop).
    fn started_again(&self, id: &InstanceId, i: &super::Instance) -> bool {
        i.goal == Goal::Up && self.settled_start(id)
    }

    /// Up, or as far as it will get without someone doing something.
    fn settled_start(&self, id: &InstanceId) -> bool {
        let Some(i) = self.instance(id) else {
            return true; // removed meanwhile
        };
        if i.restart_pending {
            return false;
        }
        match i.state {
            State::Running | State::Exited | State::Fatal | State::Paused => true,
            State::Stopped => i.goal == Goal::Down,
            State::Pending => {
                i.blocked || i.goal == Goal::Down || self.idle_requirement(&id.service).is_some()
            }
            State::Starting | State::Backoff | State::Stopping => false,
        }
    }

    fn outcome(&self, entry: &Entry) -> InstanceOutcome {
        let (action, ok, message) = match &entry.what {
            What::Said {
                action,
                ok,
                message,
            } => (Some(action.clone()), *ok, message.clone()),
            What::Check => (Some("restart".to_string()), false, "unfinished".to_string()),
            What::Stop(action) => {
                let message = match self.instance(&entry.id) {
                    Some(i) if action.is_some() && !i.retiring => {
                        "added back by a later reload".to_string()
                    }
                    Some(i) => self.describe(entry, i),
                    None => State::Stopped.word().to_string(),
                };
                (action.map(str::to_string), true, message)
            }
            What::StopWith(cause) => {
                let message = match self.instance(&entry.id) {
                    Some(i) => self.describe(entry, i),
                    None => State::Stopped.word().to_string(),
                };
                (Some(format!("stopped with {cause}")), true, message)
            }
            What::Start => {
                let (ok, message) = self.start_result(entry);
                (None, ok, message)
            }
            What::StartFor { cause, required } => {
                let (ok, message) = self.start_result(entry);
                (
                    Some(format!("started for {cause}")),
                    ok || !required,
                    message,
                )
            }
            What::Restart => {
                let (ok, message) = self.start_result(entry);
                let action = if ok { "restarted" } else { "restart failed" };
                (Some(action.to_string()), ok, message)
            }
            What::Added => {
                let (ok, message) = self.start_result(entry);
                // Added without autostart: stopped is what was asked for.
                let idle = self
                    .instance(&entry.id)
                    .is_some_and(|i| !i.wanted && i.state == State::Stopped);
                (Some("added".to_string()), ok || idle, message)
            }
            What::With(cause) => {
                let (ok, message) = self.start_result(entry);
                let action = if ok {
                    format!("restarted with {cause}")
                } else {
                    format!("stopped with {cause}")
                };
                (Some(action), ok, message)
            }
        };
        InstanceOutcome {
            name: entry.name.clone(),
            action,
            ok,
            message,
        }
    }

    /// Whether the instance is up (RUNNING, PAUSED, a oneshot done), and its state in words.
    fn start_result(&self, entry: &Entry) -> (bool, String) {
        let Some(i) = self.instance(&entry.id) else {
            return (false, "removed".to_string());
        };
        (self.is_up(&entry.id), self.describe(entry, i))
    }

    /// RUNNING, PAUSED, or a oneshot that is done.
    fn is_up(&self, id: &InstanceId) -> bool {
        let Some(i) = self.instance(id) else {
            return false;
        };
        let oneshot = self
            .services
            .get(&id.service)
            .is_some_and(|s| s.is_oneshot());
        i.state == State::Running
            || (oneshot && i.state == State::Exited)
            || i.state == State::Paused
    }

    /// `RUNNING`, `EXITED (exit code 0)`, `FATAL: <why>; stderr: <its last words>`.
    fn describe(&self, _entry: &Entry, i: &super::Instance) -> String {
        let mut message = i.state.word().to_string();
        if let Some(exit) = i.last_exit.filter(|_| i.state == State::Exited) {
            message = format!("{message} ({exit})");
        }
        if let Some(detail) = i.detail.as_ref().or(i.seldom.notify_status.as_ref()) {
            message = format!("{message}: {detail}");
        }
        if let Some(line) = i
            .seldom
            .last_stderr
            .as_ref()
            .filter(|_| i.state == State::Fatal)
        {
            if !i.detail.as_ref().is_some_and(|d| d.contains(line.as_str())) {
                message = format!("{message}; stderr: {line}");
            }
        }
        message
    }
}

/// `nginx: restarted: RUNNING; app: restarted with nginx: RUNNING`, for the event log.
fn summary(results: &[InstanceOutcome]) -> String {
    if results.is_empty() {
        return "no changes".to_string();
    }
    results
        .iter()
        .map(|r| {
            let mut line = r.name.clone();
            if let Some(action) = &r.action {
                line = format!("{line}: {action}");
            }
            if !r.message.is_empty() {
                // The event log is one line per event.
                line = format!("{line}: {}", r.message.replace('\n', " | "));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("; ")
}
