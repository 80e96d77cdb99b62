//! `on-event` hooks as transient jobs (SPEC.md, "Events"). A hook's runs are instances of a
//! job service named `NAME.on-event-N` (N: the hook's place among the service's `on-event`
//! fields), one instance per instance of the service the event is about: `web.on-event-0`
//! for `web`, `web.on-event-0:2` for `web:2`. So a run is in `tmctl status` (transient)
//! while it goes, can be stopped with `tmctl stop`, and is spawned, signalled, reaped and
//! escalated to SIGKILL by the same code as every service and `tmctl run` job; its output
//! (stdout and stderr, one stream) goes line by line to the event log.
//!
//! A run's instance exists only while it runs: once it has ended, its end is logged, the
//! instance is forgotten, and the job service too when it has no run left. Ended hook runs
//! are therefore never among the kept ended jobs (`tmctl run`'s, at most 256): a crash loop
//! with a hook cannot push those out, nor grow the daemon.
//!
//! When a hook runs is [`HookRunner`]'s business (hooks.rs): one run per hook and instance,
//! events meanwhile folded into the next run, 8 runs at once, 30 s each.

use super::hooks::{HookKey, HookStep, StateEvent, HOOK_KILL_AFTER, HOOK_TIMEOUT};
use super::instance::Instance;
use super::jobs::JobInfo;
use super::state::State;
use super::Level;
use super::{log, Action, Actions, InstanceId, Service, Supervisor};
use crate::config::{EventHook, RestartPolicy};
use crate::config::{Output, ProcessSpec, Rare, Readiness, Rotation, ServiceSpec, ServiceType};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a hook run could not be started (logged; the run is dropped).
#[derive(Debug, thiserror::Error)]
enum HookRefused {
    #[error("its service was removed")]
    ServiceRemoved,
    #[error("the hook was removed by a reload")]
    HookRemoved,
    #[error("the name {0} is taken by a job")]
    NameTakenByJob(String),
    #[error("the name {name} is taken by the service from {origin}")]
    NameTakenByService { name: String, origin: String },
    #[error("its job could not be made")]
    NoJob,
    #[error("{0} is still running")]
    StillRunning(String),
}

impl Supervisor {
    /// Offers a state change to the hooks of its service that asked for it.
    pub(super) fn trigger_hooks(&mut self, event: &StateEvent, now: Instant, out: &mut Actions) {
        if self.shutting_down {
            return;
        }
        let Some(service) = self.services.get(&event.service) else {
            return;
        };
        let wanted: Vec<usize> = service
            .spec
            .triggers
            .hooks
            .iter()
            .enumerate()
            .filter(|(_, hook)| hook.events.contains(&event.event))
            .map(|(n, _)| n)
            .collect();
        for hook in wanted {
            let key = HookKey {
                service: event.service.clone(),
                hook,
                index: event.index,
            };
            if let Some(step) = self.hooks.offer(key, event.clone(), now) {
                self.hook_step(step, now, out);
            }
        }
    }

    /// Turns what the hooks want into jobs started or stopped.
    pub(super) fn hook_step(&mut self, step: HookStep, now: Instant, out: &mut Actions) {
        match step {
            HookStep::Launch {
                key,
                event,
                coalesced,
            } => {
                if let Err(why) = self.launch_hook(&key, &event, coalesced, out) {
                    out.push(log(
                        Level::Error,
                        format!("{}: cannot run for {}: {why}", key.job_name(), event.event),
                    ));
                    // Nothing runs: its place is free again for what waits.
                    let (_, next) = self.hooks.finished(&key, now);
                    for step in next {
                        self.hook_step(step, now, out);
                    }
                }
            }
            HookStep::Stop { key } => {
                let id = hook_run_id(&key);
                let name = self.instance_name(&id);
                out.push(log(
                    Level::Warning,
                    format!(
                        "{name} still running after {} s: stopping it (killed {} s later)",
                        HOOK_TIMEOUT.as_secs(),
                        HOOK_KILL_AFTER.as_secs()
                    ),
                ));
                self.stop_instance(&id);
                self.hook_reconcile = true;
            }
        }
    }

    /// Adds the run's instance to the hook's job service (made on the first run) and asks
    /// for it to start; the reconcile after the event spawns it.
    fn launch_hook(
        &mut self,
        key: &HookKey,
        event: &StateEvent,
        coalesced: u32,
        out: &mut Actions,
    ) -> Result<(), HookRefused> {
        let owner = self
            .services
            .get(&key.service)
            .filter(|s| !s.removed)
            .ok_or(HookRefused::ServiceRemoved)?;
        let hook = owner
            .spec
            .triggers
            .hooks
            .get(key.hook)
            .ok_or(HookRefused::HookRemoved)?;
        let mut process = hook_process(&owner.spec.process, hook);
        process.env.extend(event.environment());
        let process = Arc::new(process);
        let name = key.job_name();
        let spec = hook_job_spec(&name, &owner.spec, Arc::clone(&process));
        let numprocs = spec.numprocs;
        match self.services.get(&name) {
            None => {
                let mut service = Service::new(spec);
                service.instances.clear();
                service.job = Some(Box::new(JobInfo::hook()));
                self.services.insert(name.clone(), service);
                self.jobs.names.insert(name.clone());
            }
            Some(s) if s.job.as_ref().is_some_and(|j| j.hook) && !s.removed => {}
            Some(s) if s.job.is_some() => {
                return Err(HookRefused::NameTakenByJob(name));
            }
            Some(s) => {
                return Err(HookRefused::NameTakenByService {
                    name,
                    origin: s.spec.origin.to_string(),
                })
            }
        }
        let id = hook_run_id(key);
        let Some(service) = self.services.get_mut(&name) else {
            return Err(HookRefused::NoJob);
        };
        // A reload may have given the service more instances since the job was made.
        service.spec.numprocs = service.spec.numprocs.max(numprocs);
        if service
            .instances
            .get(&key.index)
            .is_some_and(|i| i.is_active())
        {
            return Err(HookRefused::StillRunning(self.instance_name(&id)));
        }
        let mut instance = Instance::new();
        instance.process = Some(process);
        *service.instances.get_or_insert_new(key.index) = instance;
        let folded = if coalesced > 0 {
            format!(" ({coalesced} earlier event(s) folded into this run)")
        } else {
            String::new()
        };
        out.push(log(
            Level::Info,
            format!(
                "{} starting for {} of {}{folded}",
                self.instance_name(&id),
                event.event,
                event.name
            ),
        ));
        self.start_instance(&id, out);
        self.hook_reconcile = true;
        Ok(())
    }

    /// After each event (once its changes were published): runs that have ended are logged
    /// and forgotten, their hooks' next runs start, and the new runs are spawned.
    pub(super) fn settle_hooks(&mut self, now: Instant, out: &mut Actions) {
        for key in self.hooks.running() {
            let id = hook_run_id(&key);
            let ended = match self.instance(&id) {
                None => true,
                Some(i) => {
                    !i.is_active()
                        && !i.is_waiting_to_start()
                        && matches!(i.state, State::Exited | State::Fatal | State::Stopped)
                }
            };
            if !ended {
                continue;
            }
            let end = self.forget_hook_run(&id, out);
            let (about, next) = self.hooks.finished(&key, now);
            if let Some((level, how)) = end {
                out.push(log(
                    level,
                    format!("{} ({about}) ended: {how}", self.name_of_run(&key)),
                ));
            }
            for step in next {
                self.hook_step(step, now, out);
            }
        }
        if std::mem::take(&mut self.hook_reconcile) {
            self.reconcile(now, out);
        }
    }

    /// The display name a run had (`web.on-event-0`, `web.on-event-0:2`), from its owner's
    /// numprocs (its instance is gone by now).
    fn name_of_run(&self, key: &HookKey) -> String {
        let single = self
            .services
            .get(&key.service)
            .is_none_or(|s| s.spec.numprocs == 1);
        if single && key.index == 0 {
            key.job_name()
        } else {
            format!("{}:{}", key.job_name(), key.index)
        }
    }

    /// Removes an ended run's instance (and its job service once it has none): how it
    /// ended, for the log.
    fn forget_hook_run(&mut self, id: &InstanceId, out: &mut Actions) -> Option<(Level, String)> {
        let service = self.services.get_mut(&id.service)?;
        let instance = service.instances.remove(&id.index)?;
        if service.instances.is_empty() {
            self.services.remove(&id.service);
        }
        out.push(Action::Forget { id: id.clone() });
        let how = match (instance.state, instance.last_exit) {
            (State::Fatal, _) => {
                let why = instance.detail.unwrap_or_default();
                return Some((Level::Error, format!("could not start: {why}")));
            }
            (_, Some(status)) => status,
            (_, None) => return Some((Level::Warning, "stopped before it started".into())),
        };
        let level = if how == super::ExitStatus::Code(0) {
            Level::Info
        } else {
            Level::Warning
        };
        Some((level, how.to_string()))
    }
}

/// The instance a hook's run is.
fn hook_run_id(key: &HookKey) -> InstanceId {
    InstanceId {
        service: key.job_name(),
        index: key.index,
    }
}

/// A run's process: the service's user, groups, capabilities, limits, working directory,
/// environment and env files, with the hook's command; plain (no readiness protocol, no
/// terminal, no cgroup limits of the service), its output one stream to the event log.
fn hook_process(service: &ProcessSpec, hook: &EventHook) -> ProcessSpec {
    let mut process = service.clone();
    process.cmd = hook.cmd.clone();
    process.kind = ServiceType::Simple;
    process.ready = Readiness::Started;
    process.watchdog = None;
    process.console = false;
    process.resources = Rare::default();
    process.stdout = Output::EventLog;
    process.stderr = Output::Stdout;
    process.stdout_rotation = Rotation::default();
    process.stderr_rotation = Rotation::default();
    process
}

/// The job service of one hook: started by the hook only, never restarted, up at once,
/// stopped with SIGTERM and killed [`HOOK_KILL_AFTER`] later.
fn hook_job_spec(name: &str, owner: &ServiceSpec, process: Arc<ProcessSpec>) -> ServiceSpec {
    let mut policy = owner.policy.clone();
    policy.autostart = false;
    policy.autorestart = RestartPolicy::Never;
    policy.exitcodes = vec![0];
    policy.startretries = 0;
    policy.starttime = Duration::ZERO;
    policy.stopsignal = libc::SIGTERM;
    policy.stoptime = HOOK_KILL_AFTER;
    policy.essential = false;
    policy.restart_limit = None;
    ServiceSpec {
        name: name.to_string(),
        origin: owner.origin.clone(),
        numprocs: owner.numprocs,
        process,
        policy,
        deps: Rare::default(),
        pre_start: None,
        triggers: Rare::default(),
    }
}

impl JobInfo {
    /// The job part of a hook's job service: nobody's request (`status` shows no owner).
    fn hook() -> JobInfo {
        JobInfo {
            owner: 0,
            adopted: false,
            timeout: None,
            timeout_at: None,
            timed_out: false,
            ended: false,
            hook: true,
        }
    }
}
