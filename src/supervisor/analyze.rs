//! `tmctl analyze`: the last boot (or daemon start) as a timeline. The core notes, for each
//! instance's first start since [`Event::Boot`](super::Event::Boot), when it was spawned
//! and when it became up (RUNNING, or a oneshot that succeeded), and from those and the
//! dependency table works out the critical chain: the path of dependencies that decided
//! when the last instance came up (systemd-analyze's blame and critical-chain).

use super::deps::DepKind;
use super::handover::{ago, back};
use super::hooks::StateEvent;
use super::timeline::Mark;
use super::{Analysis, AnalyzeEntry};
use super::{InstanceId, Service, State, Supervisor};
use std::time::{Duration, Instant};

/// The boot's timeline as `tmctl upgrade` hands it to the new image (times as milliseconds
/// before the handover): `tmctl analyze` still shows the boot after an upgrade.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TimelineHandover {
    boot_ago_ms: u64,
    marks: Vec<MarkHandover>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct MarkHandover {
    service: String,
    index: u32,
    spawned_ago_ms: Option<u64>,
    ready_ago_ms: Option<u64>,
    failed: bool,
}

impl Supervisor {
    /// The timeline to hand over; `None` before the boot.
    pub fn timeline_handover(&self, now: Instant) -> Option<TimelineHandover> {
        let boot = self.timeline.boot?;
        Some(TimelineHandover {
            boot_ago_ms: ago(now, Some(boot)).unwrap_or(0),
            marks: self
                .timeline
                .iter()
                .map(|(id, mark)| MarkHandover {
                    service: id.service,
                    index: id.index,
                    spawned_ago_ms: ago(now, mark.spawned),
                    ready_ago_ms: ago(now, mark.ready),
                    failed: mark.failed,
                })
                .collect(),
        })
    }

    /// In the new image: the timeline the old one handed over.
    pub fn take_over_timeline(&mut self, handover: TimelineHandover, now: Instant) {
        self.touched();
        self.timeline.boot = back(now, Some(handover.boot_ago_ms));
        let marks = handover.marks.into_iter().map(|m| {
            let mark = Mark {
                spawned: back(now, m.spawned_ago_ms),
                ready: back(now, m.ready_ago_ms),
                failed: m.failed,
            };
            (self.pids.shared_name(&m.service), m.index, mark)
        });
        self.timeline.set(marks);
    }
}

impl Supervisor {
    /// Notes, from the state changes just published, the first spawn and the first time
    /// up of each instance.
    pub(super) fn note_timeline(&mut self, events: &[StateEvent], now: Instant) {
        if self.timeline.boot.is_none() {
            return;
        }
        for event in events {
            let id = InstanceId {
                service: event.service.clone(),
                index: event.index,
            };
            // A hook's run is no part of how the system came up.
            let Some(service) = self
                .services
                .get(&id.service)
                .filter(|s| !s.job.as_ref().is_some_and(|j| j.hook))
            else {
                continue;
            };
            let Some(instance) = service.instances.get(&id.index) else {
                continue;
            };
            let up = instance.state == State::Running
                || (service.is_oneshot()
                    && instance.state == State::Exited
                    && instance
                        .last_exit
                        .is_some_and(|e| super::policy::is_expected(&service.spec.policy, e)));
            let spawned_at = instance.spawned_at;
            let state = instance.state;
            let name = self.pids.shared_name(&id.service);
            let services = &self.services;
            let instances = || services.values().map(|s| s.instances.keys().count()).sum();
            let mark = self.timeline.entry(&id, name, instances);
            if mark.ready.is_some() {
                continue;
            }
            match state {
                State::Starting => {
                    mark.spawned.get_or_insert(spawned_at.unwrap_or(now));
                }
                _ if up => {
                    mark.spawned.get_or_insert(spawned_at.unwrap_or(now));
                    mark.ready = Some(now);
                    mark.failed = false;
                }
                State::Fatal => mark.failed = true,
                _ => {}
            }
        }
    }

    /// The timeline of the last boot for `ids` (every instance when empty), sorted by
    /// spawn time, and the critical chain of the instance that came up last.
    pub fn analyze(&self, ids: &[InstanceId], now: Instant) -> Analysis {
        let Some(boot) = self.timeline.boot else {
            return Analysis::default();
        };
        let since = |at: Instant| at.saturating_duration_since(boot).as_millis() as u64;
        let all = self.all_ids();
        let shown = if ids.is_empty() { &all } else { ids };
        let mut entries: Vec<AnalyzeEntry> = shown
            .iter()
            .filter_map(|id| {
                let service = self.services.get(&id.service)?;
                let instance = service.instances.get(&id.index)?;
                let mark = self.timeline.get(id).unwrap_or_default();
                Some(AnalyzeEntry {
                    name: self.instance_name(id),
                    service: id.service.clone(),
                    state: instance.state.word().to_string(),
                    spawned_ms: mark.spawned.map(since),
                    ready_ms: mark.ready.map(since),
                    failed: mark.failed,
                    after: dependencies(self, service),
                })
            })
            .collect();
        entries.sort_by_key(|e| (e.spawned_ms.unwrap_or(u64::MAX), e.name.clone()));
        Analysis {
            elapsed_ms: since(now),
            chain: self.critical_chain(),
            entries,
        }
    }

    /// From the instance that came up last, back through the dependency that came up last
    /// before it was spawned, and so on: `[last, its cause, …, the first]`.
    fn critical_chain(&self) -> Vec<String> {
        let ready = |id: &InstanceId| self.timeline.get(id).and_then(|m| m.ready);
        let Some(mut current) = self.timeline.last_ready() else {
            return Vec::new();
        };
        let mut chain = vec![self.instance_name(&current)];
        while chain.len() < MAX_CHAIN {
            let spawned = self
                .timeline
                .get(&current)
                .and_then(|m| m.spawned)
                .unwrap_or(Instant::now());
            let cause = self
                .deps
                .waits_for(&current.service)
                .iter()
                .filter_map(|(dep, _)| self.services.get(dep))
                .flat_map(|s| {
                    s.instances.keys().map(|index| InstanceId {
                        service: s.spec.name.clone(),
                        index: *index,
                    })
                })
                .filter_map(|id| Some((ready(&id)?, id)))
                .filter(|(at, _)| *at <= spawned)
                .max();
            let Some((_, id)) = cause else {
                break;
            };
            chain.push(self.instance_name(&id));
            current = id;
        }
        chain
    }
}

/// A chain longer than this is cut (a config has no cycles; this only bounds the reply).
const MAX_CHAIN: usize = 64;

/// What a service waits for before it starts (requires, wants, after; binds-to counts as
/// requires), by name.
fn dependencies(core: &Supervisor, service: &Service) -> Vec<String> {
    core.deps
        .waits_for(&service.spec.name)
        .iter()
        .filter(|(_, kind)| matches!(kind, DepKind::Requires | DepKind::Wants | DepKind::After))
        .map(|(dep, _)| dep.clone())
        .collect()
}

/// `1.234s` or `850ms`, as the timeline shows a time since boot.
pub fn millis_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.3}s", Duration::from_millis(ms).as_secs_f64())
    }
}
