//! The services by name, and which of them changed: what runs after every event (reconcile,
//! state events) looks at those instead of walking every instance.
//!
//! Reading goes through `Deref` to the map; every way to change a service (and so its
//! instances) goes through a method here that marks it, so the compiler sees to it that no
//! change is missed. A change that could touch any service (`values_mut`) marks them all, and the next look walks everything, as before.

use super::Service;
use std::collections::BTreeMap;
use std::ops::Deref;

/// Services changed since a consumer last looked: their names (each once), or all of them.
#[derive(Default)]
pub(super) struct Changed {
    names: Vec<String>,
    all: bool,
}

/// What a consumer is told by [`Changed::take`].
#[derive(Debug, PartialEq, Eq)]
pub enum Touched {
    /// Every service may have changed.
    All,
    /// Only these, in name order.
    Some(Vec<String>),
}

/// Names noted beyond this are not kept one by one: everything counts as changed (a
/// consumer that does not look for a long while must not make the list grow without end).
const MAX_NAMES: usize = 4096;

impl Changed {
    fn mark(&mut self, name: &str) {
        // An event changes the same service several times in a row: noted once.
        if self.all || self.names.last().is_some_and(|last| last == name) {
            return;
        }
        if self.names.len() >= MAX_NAMES {
            return self.mark_all();
        }
        self.names.push(name.to_string());
    }

    fn mark_all(&mut self) {
        self.all = true;
        self.names = Vec::new();
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty()
    }

    /// What changed since the last call, forgotten here.
    pub(super) fn take(&mut self) -> Touched {
        if std::mem::take(&mut self.all) {
            self.names.clear();
            return Touched::All;
        }
        let mut names = std::mem::take(&mut self.names);
        names.sort_unstable();
        names.dedup();
        Touched::Some(names)
    }
}

/// The four consumers of changes: reconcile's work list, the state events, the timers and
/// the loop's state files.
#[derive(Default)]
pub(super) struct Services {
    map: BTreeMap<String, Service>,
    /// Changed since reconcile last brought its work list up to date.
    pub unreconciled: Changed,
    /// Changed since the state events were last worked out.
    pub unpublished: Changed,
    /// Changed (or gone) since the timers were last brought up to date (timers.rs).
    pub untimed: Changed,
    /// Changed (or gone) since the loop last asked (`Supervisor::take_changed`).
    pub unsynced: Changed,
}

impl Deref for Services {
    type Target = BTreeMap<String, Service>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<'a> IntoIterator for &'a Services {
    type Item = (&'a String, &'a Service);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Service>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl FromIterator<(String, Service)> for Services {
    fn from_iter<I: IntoIterator<Item = (String, Service)>>(iter: I) -> Self {
        let mut services = Services {
            map: iter.into_iter().collect(),
            ..Default::default()
        };
        services.mark_all();
        services
    }
}

impl Services {
    fn mark(&mut self, name: &str) {
        self.unreconciled.mark(name);
        self.unpublished.mark(name);
        self.untimed.mark(name);
        self.unsynced.mark(name);
    }

    fn mark_all(&mut self) {
        self.unreconciled.mark_all();
        self.unpublished.mark_all();
        self.untimed.mark_all();
        self.unsynced.mark_all();
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Service> {
        let service = self.map.get_mut(name)?;
        // Marked only when it exists: a name looked up in vain changes nothing.
        self.unreconciled.mark(name);
        self.unpublished.mark(name);
        self.untimed.mark(name);
        self.unsynced.mark(name);
        Some(service)
    }

    /// A service to change in a way neither consumer needs to know: only the state
    /// events' own record of what they last reported (`Instance::reported`).
    pub fn get_quiet(&mut self, name: &str) -> Option<&mut Service> {
        self.map.get_mut(name)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Service> {
        self.mark_all();
        self.map.values_mut()
    }

    pub fn insert(&mut self, name: String, service: Service) -> Option<Service> {
        self.mark(&name);
        self.map.insert(name, service)
    }

    /// A removed service's instances are gone: only its timers and state files need
    /// dropping.
    pub fn remove(&mut self, name: &str) -> Option<Service> {
        let service = self.map.remove(name)?;
        self.untimed.mark(name);
        self.unsynced.mark(name);
        Some(service)
    }

    /// Drops the services `keep` refuses (it cannot change them).
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &Service) -> bool) {
        let (untimed, unsynced) = (&mut self.untimed, &mut self.unsynced);
        self.map.retain(|name, service| {
            let kept = keep(name, service);
            if !kept {
                untimed.mark(name);
                unsynced.mark(name);
            }
            kept
        });
    }
}
