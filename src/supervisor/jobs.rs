//! Jobs: instances whose spec came from a request instead of a file (`tmctl run`), or whose
//! process was started elsewhere (`tmctl adopt`). A job is a service of its own, so that
//! status, stop, tail and shutdown treat it like any other; what is special is decided here:
//! its name, who is waiting for its end and what they are told, its timeout, and that ended
//! jobs are forgotten beyond a bound.

use super::Level;
use super::{log, Action, Actions, ClientId, Goal, InstanceId, Service, State, Supervisor};
use super::{Command, Refusal, Reply};
use crate::config::ServiceSpec;
use crate::supervisor::ExitStatus;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Jobs that have not ended (running, starting, restarting) at most; one more is refused.
pub const MAX_LIVE_JOBS: usize = 1024;
/// Ended jobs kept for `wait` and `status` until removed; the oldest beyond this is forgotten.
pub const MAX_ENDED_JOBS: usize = 256;
/// Clients waiting for jobs to end, at most (each `tmctl run` attached is one).
pub const MAX_JOB_WAITERS: usize = 1024;

/// What the loop made of a `run` request: a validated spec (the same reader and privilege
/// code as a service file), and what is not part of a service's spec.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub spec: ServiceSpec,
    /// The peer uid that asked (SO_PEERCRED).
    pub owner: u32,
    pub timeout: Option<Duration>,
    pub detach: bool,
    /// `--name` was not given: the core picks `run-N`.
    pub unnamed: bool,
}

/// What the loop learned about a process to adopt (its pidfd is open and kept by the loop).
#[derive(Debug, Clone)]
pub struct Adoption {
    pub pid: i32,
    /// Its command line from /proc as `cmd`, never restarted; `name` is `pid-PID` unless
    /// `--name` was given.
    pub spec: ServiceSpec,
    pub unnamed: bool,
    pub owner: u32,
}

/// The job part of a service that is one.
#[derive(Debug, Clone)]
pub(super) struct JobInfo {
    pub owner: u32,
    /// Adopted: not our child; its end comes from a pidfd, its status only if the kernel
    /// tells it; signalled only as a process, never as a group (the group is not ours).
    pub adopted: bool,
    pub timeout: Option<Duration>,
    /// When the current run is stopped for its timeout.
    pub timeout_at: Option<Instant>,
    pub timed_out: bool,
    /// Already counted among the ended jobs.
    pub ended: bool,
    /// The runs of an `on-event` hook (hook_jobs.rs): forgotten as each ends, never kept
    /// among the ended jobs.
    pub hook: bool,
}

/// The jobs' bookkeeping that belongs to no single service.
#[derive(Debug, Default)]
pub(super) struct JobBook {
    /// The N of the last `run-N` handed out.
    last_number: u64,
    /// Ended jobs, oldest first: forgotten beyond [`MAX_ENDED_JOBS`].
    ended: VecDeque<String>,
    /// Clients waiting for a job (by service name) to end.
    waiters: Vec<(ClientId, String)>,
    /// Pids of adopted processes still tracked: never signalled as a group.
    adopted: std::collections::HashSet<i32>,
    /// The services that are jobs, so that what runs after every event looks at them
    /// instead of at every service. Every service given a job is added; a name whose
    /// service is gone (or is no job any more) is dropped when next looked at.
    pub(super) names: std::collections::BTreeSet<String>,
}

impl Supervisor {
    /// Requests about jobs; any other request is handed back for `on_request`.
    pub(super) fn on_job_request(
        &mut self,
        client: ClientId,
        request: Command,
        out: &mut Actions,
    ) -> Option<Command> {
        let reply = |out: &mut Actions, response| out.push(Action::Reply { client, response });
        match request {
            Command::Wait { name } => match self.job_named(&name) {
                Err(response) => reply(out, response),
                Ok(_) if self.jobs.waiters.len() >= MAX_JOB_WAITERS => reply(
                    out,
                    Reply::refused(
                        Refusal::Busy,
                        format!("{MAX_JOB_WAITERS} clients already wait for jobs"),
                    ),
                ),
                Ok(service) => self.jobs.waiters.push((client, service)),
            },
            Command::Remove { name } => match self.job_named(&name) {
                Err(response) => reply(out, response),
                Ok(service) => {
                    self.stop_service(&service);
                    if let Some(s) = self.services.get_mut(&service) {
                        // Forgotten once stopped (see `forget_ended_jobs`).
                        s.removed = true;
                        self.retiring = true;
                        for instance in s.instances.values_mut() {
                            instance.retiring = true;
                        }
                    }
                    out.push(log(Level::Info, format!("job {service} removed")));
                    let lines = vec![format!("{service}: removed")];
                    reply(out, Reply::Ok { lines });
                }
            },
            other => return Some(other),
        }
        None
    }

    /// The service of the job `name` (`NAME` or `NAME:0`), or the error to answer.
    fn job_named(&self, name: &str) -> Result<String, Reply> {
        let service = name.strip_suffix(":0").unwrap_or(name);
        match self.services.get(service) {
            Some(s) if s.job.is_some() && !s.removed => Ok(service.to_string()),
            Some(s) if !s.removed => Err(Reply::refused(
                Refusal::BadRequest,
                format!(
                    "{service} is a service from {}, not a job",
                    s.spec.origin.file.display()
                ),
            )),
            _ => Err(Reply::refused(
                Refusal::UnknownName,
                format!("no such job: {name}"),
            )),
        }
    }

    /// `tmctl run`: add the job as a service of its own and start it.
    pub(super) fn on_run(
        &mut self,
        client: ClientId,
        job: JobRequest,
        now: Instant,
        out: &mut Actions,
    ) {
        let JobRequest {
            mut spec,
            owner,
            timeout,
            detach,
            unnamed,
        } = job;
        if let Err(response) = self.admit_job(client, detach) {
            return out.push(Action::Reply { client, response });
        }
        if unnamed {
            spec.name = self.next_job_name();
        } else if let Err(response) = self.name_is_free(&spec.name) {
            return out.push(Action::Reply { client, response });
        }
        let name = spec.name.clone();
        let mut service = Service::new(spec);
        service.job = Some(Box::new(JobInfo {
            owner,
            adopted: false,
            timeout,
            timeout_at: timeout.map(|t| now + t),
            timed_out: false,
            ended: false,
            hook: false,
        }));
        self.services.insert(name.clone(), service);
        self.jobs.names.insert(name.clone());
        out.push(log(
            Level::Info,
            format!("job {name} created by uid {owner}"),
        ));
        out.push(Action::Reply {
            client,
            response: Reply::Job { name: name.clone() },
        });
        if !detach {
            out.push(Action::Attach {
                client,
                id: InstanceId {
                    service: name.clone(),
                    index: 0,
                },
            });
            self.jobs.waiters.push((client, name.clone()));
        }
        self.start_service(&name, out);
    }

    /// `tmctl adopt`: an instance that is RUNNING from the start, with the pid given.
    pub(super) fn on_adopt(
        &mut self,
        client: ClientId,
        adoption: Adoption,
        now: Instant,
        out: &mut Actions,
    ) {
        let Adoption {
            pid,
            mut spec,
            unnamed,
            owner,
        } = adoption;
        let refused = if let Some(id) = self.pids.get(&pid) {
            Err(Reply::refused(
                Refusal::BadRequest,
                format!(
                    "pid {pid} is already supervised as {}",
                    self.instance_name(&id)
                ),
            ))
        } else {
            self.admit_job(client, true)
        };
        if let Err(response) = refused {
            return out.push(Action::Reply { client, response });
        }
        if unnamed {
            spec.name = format!("pid-{pid}");
        }
        if let Err(response) = self.name_is_free(&spec.name) {
            return out.push(Action::Reply { client, response });
        }
        let name = spec.name.clone();
        let mut service = Service::new(spec);
        service.job = Some(Box::new(JobInfo {
            owner,
            adopted: true,
            timeout: None,
            timeout_at: None,
            timed_out: false,
            ended: false,
            hook: false,
        }));
        if let Some(instance) = service.instances.get_mut(&0) {
            instance.state = State::Running;
            instance.goal = Goal::Up;
            instance.wanted = true;
            instance.pid = Some(pid);
            instance.spawned_at = Some(now);
            instance.running_since = Some(now);
        }
        self.services.insert(name.clone(), service);
        self.jobs.names.insert(name.clone());
        let id = InstanceId {
            service: name.clone(),
            index: 0,
        };
        self.pids.insert(pid, id);
        self.jobs.adopted.insert(pid);
        out.push(log(
            Level::Info,
            format!("{name} (pid {pid}) adopted by uid {owner}: RUNNING"),
        ));
        out.push(Action::Reply {
            client,
            response: Reply::Job { name },
        });
    }

    /// An adopted process ended (its pidfd turned readable). Its status is known only when
    /// the kernel told it (we reaped it, as subreaper or PID 1, or it was reaped and pidfd
    /// info had it); otherwise it is "exited (status unknown)".
    pub(super) fn on_adopted_exit(
        &mut self,
        pid: i32,
        status: Option<ExitStatus>,
        now: Instant,
        out: &mut Actions,
    ) {
        let Some(id) = self.pids.get(&pid) else {
            return; // reaped by us already: the exit was handled with its status
        };
        if status.is_none() {
            let name = self.instance_name(&id);
            out.push(log(
                Level::Info,
                format!("{name} (pid {pid}) exited (status unknown)"),
            ));
        }
        // An end whose status nobody knows is no expected exit: a service adopted from a
        // previous daemon is restarted per its policy, as after a crash (-1 is no exit code
        // a process can have, so no `exitcodes` list holds it).
        self.on_exit(pid, status.unwrap_or(ExitStatus::Code(-1)), now, out);
        if status.is_none() {
            if let Some(instance) = self.instance_mut(&id) {
                instance.last_exit = None;
                instance.detail = Some("exited (status unknown)".to_string());
            }
        }
    }

    /// Whether one more job (and, attached, one more waiter) fits.
    pub(super) fn admit_job(&self, _client: ClientId, detach: bool) -> Result<(), Reply> {
        if self.shutting_down {
            return Err(Reply::refused(
                Refusal::ShuttingDown,
                "taskmasterd is shutting down",
            ));
        }
        let live = self
            .services
            .values()
            .filter(|s| s.job.as_ref().is_some_and(|j| !j.ended))
            .count();
        if live >= MAX_LIVE_JOBS {
            return Err(Reply::refused(
                Refusal::Busy,
                format!("{MAX_LIVE_JOBS} jobs are running already; wait for some or remove them"),
            ));
        }
        if !detach && self.jobs.waiters.len() >= MAX_JOB_WAITERS {
            return Err(Reply::refused(
                Refusal::Busy,
                format!("{MAX_JOB_WAITERS} clients already wait for jobs"),
            ));
        }
        Ok(())
    }

    /// A name a new job may take: not a service's, not another job's.
    pub(super) fn name_is_free(&self, name: &str) -> Result<(), Reply> {
        match self.services.get(name) {
            None => Ok(()),
            Some(s) if s.job.is_some() => Err(Reply::refused(
                Refusal::BadRequest,
                format!("the name {name} is already used by a job"),
            )),
            Some(s) => Err(Reply::refused(
                Refusal::BadRequest,
                format!(
                    "the name {name} is already used by a service from {}",
                    s.spec.origin
                ),
            )),
        }
    }

    /// `run-N`, the first N after the last one handed out that is free.
    fn next_job_name(&mut self) -> String {
        loop {
            self.jobs.last_number += 1;
            let name = format!("run-{}", self.jobs.last_number);
            if !self.services.contains_key(&name) {
                return name;
            }
        }
    }

    /// Whether the job has ended for good: not running, not coming back.
    fn job_has_ended(service: &Service) -> bool {
        service.instances.values().all(|i| {
            !i.is_active()
                && !i.is_waiting_to_start()
                && !i.restart_pending
                && matches!(i.state, State::Exited | State::Fatal | State::Stopped)
                && i.goal == Goal::Down
        })
    }

    /// Before reconcile: jobs whose time is up are stopped (reconcile sends the signal).
    pub(super) fn expire_jobs(&mut self, now: Instant, out: &mut Actions) {
        self.prune_job_names();
        let mut timed_out = Vec::new();
        for name in &self.jobs.names {
            let Some(job) = self.services.get_mut(name).and_then(|s| s.job.as_mut()) else {
                continue;
            };
            if job.timeout_at.is_some_and(|at| at <= now) {
                job.timeout_at = None;
                job.timed_out = true;
                timed_out.push(name.clone());
            }
        }
        for name in timed_out {
            out.push(log(
                Level::Warning,
                format!("job {name} ran past its timeout: stopping it"),
            ));
            self.stop_service(&name);
        }
    }

    /// After every event: answer who waits for a job that has ended, and forget the oldest
    /// ended jobs beyond the bound.
    pub(super) fn settle_jobs(&mut self, now: Instant, out: &mut Actions) {
        self.prune_job_names();
        let mut newly_ended = Vec::new();
        for name in &self.jobs.names {
            let Some(service) = self.services.get_mut(name) else {
                continue;
            };
            if service.job.as_ref().is_none_or(|j| j.hook) {
                continue;
            }
            let ended = Supervisor::job_has_ended(service);
            let Some(job) = service.job.as_mut() else {
                continue;
            };
            if ended && !job.ended {
                job.ended = true;
                job.timeout_at = None;
                newly_ended.push(name.clone());
            } else if !ended && job.ended {
                // Started again (`tmctl start` of an ended job): a new run.
                job.ended = false;
                job.timed_out = false;
                job.timeout_at = job.timeout.map(|t| now + t);
                self.jobs.ended.retain(|n| n != name);
            }
        }
        for name in newly_ended {
            if let Some(end) = self.job_end(&name) {
                out.push(log(
                    Level::Info,
                    format!("job {name} ended: {}", end.message),
                ));
            }
            self.jobs.ended.push_back(name);
        }
        self.answer_job_waiters(out);
        self.forget_ended_jobs(out);
    }

    fn answer_job_waiters(&mut self, out: &mut Actions) {
        let waiters = std::mem::take(&mut self.jobs.waiters);
        for (client, name) in waiters {
            let ended = self
                .services
                .get(&name)
                .is_none_or(|s| s.job.as_ref().is_none_or(|j| j.ended));
            if !ended {
                self.jobs.waiters.push((client, name));
                continue;
            }
            let response = match self.job_end(&name) {
                Some(end) => end.into_response(&name),
                None => Reply::refused(Refusal::UnknownName, format!("no such job: {name}")),
            };
            out.push(Action::Reply { client, response });
        }
    }

    /// Ended jobs that were removed, and the oldest beyond [`MAX_ENDED_JOBS`], are forgotten.
    fn forget_ended_jobs(&mut self, out: &mut Actions) {
        let removed: Vec<String> = self
            .jobs
            .ended
            .iter()
            .filter(|name| self.services.get(*name).is_none_or(|s| s.removed))
            .cloned()
            .collect();
        let excess = self.jobs.ended.len().saturating_sub(MAX_ENDED_JOBS);
        let oldest: Vec<String> = self.jobs.ended.iter().take(excess).cloned().collect();
        for name in removed.into_iter().chain(oldest) {
            self.jobs.ended.retain(|n| n != &name);
            if let Some(service) = self.services.remove(&name) {
                for index in service.instances.keys() {
                    let id = InstanceId {
                        service: name.clone(),
                        index: *index,
                    };
                    self.timeline.forget(&id);
                    out.push(Action::Forget { id });
                }
            }
        }
    }

    /// The group of an adopted process is not ours: what the core would send its group
    /// goes to the process alone. Pids no longer tracked are dropped from the set here.
    pub(super) fn ungroup_adopted(&mut self, out: &mut Actions) {
        if self.jobs.adopted.is_empty() {
            return;
        }
        for action in out.iter_mut() {
            if let Action::Signal { pid, group, .. } = action {
                if self.jobs.adopted.contains(pid) {
                    *group = false;
                }
            }
        }
        let pids = &self.pids;
        self.jobs.adopted.retain(|pid| pids.contains_key(pid));
    }

    /// A client went away: it waits for no job any more (the job itself goes on).
    pub(super) fn job_client_gone(&mut self, client: ClientId) {
        self.jobs.waiters.retain(|(c, _)| *c != client);
    }

    /// A job that has not ended, if any (`upgrade` waits for none to be left).
    pub(super) fn live_job(&self) -> Option<String> {
        self.job_services()
            .find(|s| s.job.as_ref().is_some_and(|j| !j.ended))
            .map(|s| s.spec.name.clone())
    }

    /// The earliest job timeout, for the loop's poll timeout.
    pub(super) fn next_job_deadline(&self) -> Option<Instant> {
        self.job_services()
            .filter_map(|s| s.job.as_ref()?.timeout_at)
            .min()
    }

    /// The services that are jobs, in name order.
    fn job_services(&self) -> impl Iterator<Item = &Service> + '_ {
        self.jobs
            .names
            .iter()
            .filter_map(|name| self.services.get(name))
            .filter(|s| s.job.is_some())
    }

    /// Drops the names of jobs that are gone (forgotten, or replaced by a service from a
    /// file after their removal).
    fn prune_job_names(&mut self) {
        let services = &self.services;
        self.jobs
            .names
            .retain(|name| services.get(name).is_some_and(|s| s.job.is_some()));
    }

    /// How a job ended, as `wait` tells it.
    pub(super) fn job_end(&self, name: &str) -> Option<JobEnd> {
        let service = self.services.get(name)?;
        let job = service.job.as_ref()?;
        let instance = service.instances.get(&0)?;
        let (exit_code, exit_signal) = match instance.last_exit {
            Some(ExitStatus::Code(code)) => (Some(code), None),
            Some(ExitStatus::Signal(sig)) => (None, Some(sig)),
            None => (None, None),
        };
        let (code, message) = if job.timed_out {
            let after = job.timeout.map_or(0.0, |t| t.as_secs_f64());
            (124, format!("timed out after {after}s"))
        } else if let Some(code) = exit_code {
            (code, format!("exited with exit code {code}"))
        } else if let Some(sig) = exit_signal {
            (
                128 + sig,
                format!("killed by signal {}", crate::signals::name(sig)),
            )
        } else if instance.state == State::Fatal {
            let why = instance.detail.clone().unwrap_or_default();
            let code = if why.contains("Permission denied") {
                126
            } else {
                127
            };
            (code, format!("could not be started: {why}"))
        } else if job.adopted && instance.spawned_at.is_some() {
            (0, "exited (status unknown)".to_string())
        } else {
            (0, "never started".to_string())
        };
        Some(JobEnd {
            code,
            exit_code,
            exit_signal: exit_signal.map(crate::signals::name),
            message,
        })
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JobEnd {
    pub code: i32,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<String>,
    pub message: String,
}

impl JobEnd {
    fn into_response(self, name: &str) -> Reply {
        Reply::JobEnded {
            name: name.to_string(),
            code: self.code,
            exit_code: self.exit_code,
            exit_signal: self.exit_signal,
            message: self.message,
        }
    }
}
