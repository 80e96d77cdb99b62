//! `on-event` hooks: which hook runs when, and how many at once (SPEC.md, "Events").
//!
//! Pure bookkeeping, no system calls: the supervisor offers each [`StateEvent`] to every
//! hook that asked for it; a hook runs at most once at a time per instance (events that
//! come meanwhile are counted and the next run gets the last one), at most
//! [`MAX_RUNNING`] run at once in the whole daemon, and each is stopped after
//! [`HOOK_TIMEOUT`]. A crash loop therefore costs one hook at a time, never a queue that
//! grows, and the loop only forks when a hook is due. Each run is a transient job (see
//! hook_jobs.rs); this file only says when one starts and when it must stop.

use super::state::{ExitStatus, State};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A hook still running this long after it started is stopped (SIGTERM to its group)...
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// ...and killed this long after that (its job's `stoptime`).
pub const HOOK_KILL_AFTER: Duration = Duration::from_secs(5);
/// Hooks running at once in the whole daemon; more wait (one per hook and instance).
pub const MAX_RUNNING: usize = 8;

/// What happened to an instance: it entered a state, or its main process exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEvent {
    /// The state word in capitals (`FATAL`), or `exit`.
    pub event: String,
    /// `web` or `web:1`.
    pub name: String,
    pub service: String,
    pub index: u32,
    pub pid: Option<i32>,
    /// The exit that led here (for `exit`, EXITED, BACKOFF, FATAL, STOPPED), if any.
    pub exit: Option<ExitStatus>,
    /// The state it was in before.
    pub prev_state: State,
}

impl StateEvent {
    /// What a hook gets in its environment (SPEC.md, "Events").
    pub fn environment(&self) -> Vec<(String, String)> {
        let (code, signal) = match self.exit {
            Some(ExitStatus::Code(code)) => (code.to_string(), String::new()),
            Some(ExitStatus::Signal(sig)) => (String::new(), crate::signals::name(sig).to_string()),
            None => (String::new(), String::new()),
        };
        [
            ("TASKMASTER_EVENT", self.event.clone()),
            ("TASKMASTER_NAME", self.name.clone()),
            ("TASKMASTER_SERVICE", self.service.clone()),
            ("TASKMASTER_INSTANCE", self.index.to_string()),
            (
                "TASKMASTER_PID",
                self.pid.map(|p| p.to_string()).unwrap_or_default(),
            ),
            ("TASKMASTER_EXIT_CODE", code),
            ("TASKMASTER_EXIT_SIGNAL", signal),
            ("TASKMASTER_PREV_STATE", self.prev_state.word().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// One hook of one instance: service, the hook's place among its `on-event` fields, and
/// the instance index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HookKey {
    pub service: String,
    pub hook: usize,
    pub index: u32,
}

impl HookKey {
    /// The name its runs carry in the log: `web.on-event-0`.
    pub fn job_name(&self) -> String {
        format!("{}.on-event-{}", self.service, self.hook)
    }
}

/// A run that was started: what it runs for, and when it is to be stopped.
#[derive(Debug, Clone)]
struct Run {
    /// `FATAL of web`, for the log line of its end.
    about: String,
    started: Instant,
    /// Its stop was asked for (it ran out of time).
    stopped: bool,
}

#[derive(Debug, Default)]
struct Slot {
    running: Option<Run>,
    /// The last event that came while it ran (or while too many ran), and how many came.
    pending: Option<(StateEvent, u32)>,
}

/// What the hooks want done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookStep {
    /// Start this hook for this event; `coalesced` events came before it and were folded in.
    Launch {
        key: HookKey,
        event: StateEvent,
        coalesced: u32,
    },
    /// Stop this run: it ran out of time (its job's `stoptime` escalates to SIGKILL).
    Stop { key: HookKey },
}

#[derive(Debug, Default)]
pub struct HookRunner {
    slots: HashMap<HookKey, Slot>,
    /// Keys with a pending event and no run, waiting for a free place, oldest first.
    waiting: VecDeque<HookKey>,
    running: usize,
}

impl HookRunner {
    /// An event for this hook: run it now if it may, else keep it as the slot's pending one.
    pub fn offer(&mut self, key: HookKey, event: StateEvent, now: Instant) -> Option<HookStep> {
        let slot = self.slots.entry(key.clone()).or_default();
        if slot.running.is_none() && self.running < MAX_RUNNING && slot.pending.is_none() {
            return Some(self.launch(key, event, 0, now));
        }
        let count = slot.pending.as_ref().map_or(0, |(_, n)| *n) + 1;
        slot.pending = Some((event, count));
        if slot.running.is_none() && !self.waiting.contains(&key) {
            self.waiting.push_back(key);
        }
        None
    }

    fn launch(
        &mut self,
        key: HookKey,
        event: StateEvent,
        coalesced: u32,
        now: Instant,
    ) -> HookStep {
        let slot = self.slots.entry(key.clone()).or_default();
        slot.running = Some(Run {
            about: format!("{} of {}", event.event, event.name),
            started: now,
            stopped: false,
        });
        self.running += 1;
        HookStep::Launch {
            key,
            event,
            coalesced,
        }
    }

    /// The hooks with a run going on (their jobs are checked for their end).
    pub fn running(&self) -> Vec<HookKey> {
        self.slots
            .iter()
            .filter(|(_, s)| s.running.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// A run ended (or could not be started): what it ran for, and what runs next (its
    /// own next event first: it was waiting for this very run).
    pub fn finished(&mut self, key: &HookKey, now: Instant) -> (String, Vec<HookStep>) {
        let mut about = String::new();
        if let Some(slot) = self.slots.get_mut(key) {
            if let Some(run) = slot.running.take() {
                self.running -= 1;
                about = run.about;
            }
            if slot.pending.is_some() && !self.waiting.contains(key) {
                self.waiting.push_front(key.clone());
            }
        }
        let mut steps = Vec::new();
        while self.running < MAX_RUNNING {
            let Some(next) = self.waiting.pop_front() else {
                break;
            };
            let pending = self.slots.get_mut(&next).and_then(|s| s.pending.take());
            if let Some((event, count)) = pending {
                steps.push(self.launch(next, event, count.saturating_sub(1), now));
            }
        }
        self.slots
            .retain(|_, s| s.running.is_some() || s.pending.is_some());
        (about, steps)
    }

    /// Drops events not yet run for hooks that no longer exist (a reload removed them,
    /// or the service is gone); runs already going end on their own.
    pub fn retain(&mut self, exists: impl Fn(&HookKey) -> bool) {
        for (key, slot) in self.slots.iter_mut() {
            if !exists(key) {
                slot.pending = None;
            }
        }
        self.waiting.retain(|k| exists(k));
        self.slots
            .retain(|_, s| s.running.is_some() || s.pending.is_some());
    }

    /// Drops every event not yet run (at shutdown).
    pub fn drop_pending(&mut self) {
        self.retain(|_| false);
    }

    /// Whether a hook is still running (shutdown waits for it, at most its timeout).
    pub fn any_running(&self) -> bool {
        self.running > 0
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter_map(|s| s.running.as_ref())
            .filter(|r| !r.stopped)
            .map(|r| r.started + HOOK_TIMEOUT)
            .min()
    }

    /// Runs past their time are stopped, once each.
    pub fn on_tick(&mut self, now: Instant) -> Vec<HookStep> {
        let mut steps = Vec::new();
        for (key, slot) in self.slots.iter_mut() {
            let Some(run) = slot.running.as_mut() else {
                continue;
            };
            if !run.stopped && now >= run.started + HOOK_TIMEOUT {
                run.stopped = true;
                steps.push(HookStep::Stop { key: key.clone() });
            }
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(word: &str) -> StateEvent {
        StateEvent {
            event: word.into(),
            name: "web".into(),
            service: "web".into(),
            index: 0,
            pid: Some(7),
            exit: Some(ExitStatus::Code(1)),
            prev_state: State::Running,
        }
    }

    fn key(index: u32) -> HookKey {
        HookKey {
            service: "web".into(),
            hook: 0,
            index,
        }
    }

    #[test]
    fn a_storm_runs_one_hook_at_a_time_and_the_next_run_gets_the_last_event() {
        let mut hooks = HookRunner::default();
        let now = Instant::now();
        assert!(matches!(
            hooks.offer(key(0), event("BACKOFF"), now),
            Some(HookStep::Launch { coalesced: 0, .. })
        ));
        for word in ["BACKOFF", "BACKOFF", "FATAL"] {
            assert_eq!(hooks.offer(key(0), event(word), now), None);
        }
        assert_eq!(hooks.running(), [key(0)]);
        let (ran_for, next) = hooks.finished(&key(0), now);
        assert_eq!(ran_for, "BACKOFF of web");
        match next.as_slice() {
            [HookStep::Launch {
                event, coalesced, ..
            }] => {
                assert_eq!(event.event, "FATAL");
                assert_eq!(*coalesced, 2);
            }
            other => panic!("expected one launch, got {other:?}"),
        }
    }

    #[test]
    fn at_most_max_running_hooks_run_at_once_then_the_waiting_ones_follow() {
        let mut hooks = HookRunner::default();
        let now = Instant::now();
        for index in 0..(MAX_RUNNING as u32 + 3) {
            let step = hooks.offer(key(index), event("FATAL"), now);
            assert_eq!(step.is_some(), (index as usize) < MAX_RUNNING);
        }
        let (_, next) = hooks.finished(&key(0), now);
        assert!(matches!(
            next.as_slice(),
            [HookStep::Launch { key: k, .. }] if *k == key(MAX_RUNNING as u32)
        ));
    }

    #[test]
    fn a_hook_that_hangs_is_stopped_once_at_its_timeout() {
        let mut hooks = HookRunner::default();
        let start = Instant::now();
        hooks.offer(key(0), event("FATAL"), start);
        assert_eq!(hooks.next_deadline(), Some(start + HOOK_TIMEOUT));
        assert!(hooks.on_tick(start + Duration::from_secs(29)).is_empty());
        let stop = hooks.on_tick(start + HOOK_TIMEOUT);
        assert_eq!(stop, [HookStep::Stop { key: key(0) }]);
        assert_eq!(hooks.next_deadline(), None);
        assert!(hooks.on_tick(start + HOOK_TIMEOUT * 2).is_empty());
    }

    #[test]
    fn a_run_that_ends_frees_its_place() {
        let mut hooks = HookRunner::default();
        let now = Instant::now();
        hooks.offer(key(0), event("FATAL"), now);
        assert!(hooks.finished(&key(0), now).1.is_empty());
        assert!(!hooks.any_running());
        assert!(hooks.offer(key(0), event("FATAL"), now).is_some());
    }

    #[test]
    fn the_environment_names_the_event_and_the_exit() {
        let env: HashMap<String, String> = event("FATAL").environment().into_iter().collect();
        assert_eq!(env["TASKMASTER_EVENT"], "FATAL");
        assert_eq!(env["TASKMASTER_EXIT_CODE"], "1");
        assert_eq!(env["TASKMASTER_EXIT_SIGNAL"], "");
        assert_eq!(env["TASKMASTER_PREV_STATE"], "RUNNING");
        assert_eq!(env["TASKMASTER_PID"], "7");
    }
}
