//! The instances' timers (`Instance::deadline`) and the reload checks' (`Candidate::deadline`)
//! in deadline order, so that the next deadline and what is due are found without a walk
//! over every instance. Kept up to date from the services that changed (services.rs): a
//! timer is only ever set or cleared by a change to its service.

use super::services::Services;
use super::{InstanceId, Service};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

#[derive(Default)]
pub(super) struct Timers {
    by_time: BTreeSet<(Instant, InstanceId)>,
    /// Each instance's entry in `by_time`, to find it again when its deadline changes.
    of: BTreeMap<InstanceId, Instant>,
    /// The pending reload checks' deadlines, by service (few: only while a check runs).
    checks: BTreeMap<String, Instant>,
}

impl Timers {
    /// Brings the timers of the service `name` in line with `service` (`None`: it is gone).
    pub fn update(&mut self, name: &str, service: Option<&Service>) {
        let first = InstanceId {
            service: name.to_string(),
            index: 0,
        };
        let last = InstanceId {
            service: name.to_string(),
            index: u32::MAX,
        };
        let stale: Vec<(InstanceId, Instant)> = self
            .of
            .range(first..=last)
            .filter(|(id, at)| {
                let deadline = service
                    .and_then(|s| s.instances.get(&id.index))
                    .and_then(|i| i.deadline);
                deadline != Some(**at)
            })
            .map(|(id, at)| (id.clone(), *at))
            .collect();
        for (id, at) in stale {
            self.by_time.remove(&(at, id.clone()));
            self.of.remove(&id);
        }
        let Some(service) = service else {
            self.checks.remove(name);
            return;
        };
        for (index, instance) in &service.instances {
            let Some(at) = instance.deadline else {
                continue;
            };
            let id = InstanceId {
                service: name.to_string(),
                index: *index,
            };
            if self.of.get(&id) != Some(&at) {
                self.of.insert(id.clone(), at);
                self.by_time.insert((at, id));
            }
        }
        match service.candidate.as_ref().and_then(|c| c.deadline) {
            Some(at) => self.checks.insert(name.to_string(), at),
            None => self.checks.remove(name),
        };
    }

    /// Every timer again, from scratch.
    pub fn rebuild(&mut self, services: &Services) {
        *self = Timers::default();
        for (name, service) in services {
            self.update(name, Some(service));
        }
    }

    /// The earliest instance or check deadline.
    pub fn earliest(&self) -> Option<Instant> {
        let instance = self.by_time.first().map(|(at, _)| *at);
        instance
            .into_iter()
            .chain(self.checks.values().copied())
            .min()
    }

    /// The instances whose deadline has come, in name and index order.
    pub fn due(&self, now: Instant) -> Vec<InstanceId> {
        let mut ids: Vec<InstanceId> = self
            .by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| id.clone())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The services whose check's deadline has come, in name order.
    pub fn checks_due(&self, now: Instant) -> Vec<String> {
        self.checks
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(name, _)| name.clone())
            .collect()
    }
}
