//! The main processes the core knows, by pid: whose instance each one is. An entry is
//! made at every spawn and shares its service's name, made once at load (see
//! `crate::shared_names`): a spawn leaves nothing behind in the heap that lives on.

use super::InstanceId;
use crate::shared_names::SharedNames;
use std::collections::HashMap;
use std::sync::Arc;

/// Whose main process a pid is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    service: Arc<str>,
    index: u32,
}

impl Owner {
    fn id(&self) -> InstanceId {
        InstanceId {
            service: self.service.to_string(),
            index: self.index,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Pids {
    by_pid: HashMap<i32, Owner>,
    /// The names of the services loaded, each made once, shared by the entries.
    names: SharedNames,
}

impl Pids {
    /// The services now loaded (see [`SharedNames::know`]).
    pub fn know<'a>(&mut self, services: impl Iterator<Item = &'a str> + Clone) {
        self.names.know(services);
    }

    /// The shared name of `service` (see [`SharedNames::get`]), for the core's other
    /// tables with an entry per instance (the boot's timeline).
    pub fn shared_name(&self, service: &str) -> Arc<str> {
        self.names.get(service)
    }

    pub fn insert(&mut self, pid: i32, id: InstanceId) {
        let owner = Owner {
            service: self.names.get(&id.service),
            index: id.index,
        };
        self.by_pid.insert(pid, owner);
    }

    pub fn get(&self, pid: &i32) -> Option<InstanceId> {
        self.by_pid.get(pid).map(Owner::id)
    }

    /// Whether `pid` is the main process of `id`.
    pub fn is(&self, pid: i32, id: &InstanceId) -> bool {
        self.by_pid
            .get(&pid)
            .is_some_and(|o| o.index == id.index && *o.service == *id.service)
    }

    pub fn remove(&mut self, pid: &i32) -> Option<InstanceId> {
        self.by_pid.remove(pid).map(|o| o.id())
    }

    pub fn contains_key(&self, pid: &i32) -> bool {
        self.by_pid.contains_key(pid)
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (i32, InstanceId)> + '_ {
        self.by_pid.iter().map(|(pid, o)| (*pid, o.id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::supervisor::instance_id as id;

    #[test]
    fn entries_share_the_name_made_at_load() {
        let mut pids = Pids::default();
        pids.know(["web", "db"].into_iter());
        pids.insert(10, id("web", 0));
        pids.insert(11, id("web", 1));
        pids.insert(12, id("job", 0));
        assert_eq!(pids.get(&11), Some(id("web", 1)));
        assert!(pids.is(10, &id("web", 0)));
        assert!(!pids.is(10, &id("web", 1)));
        assert!(!pids.is(99, &id("web", 0)));
        let (a, b) = (&pids.by_pid[&10].service, &pids.by_pid[&11].service);
        assert!(Arc::ptr_eq(a, b));
        assert_eq!(pids.remove(&10), Some(id("web", 0)));
        assert_eq!(pids.remove(&10), None);
        assert!(pids.contains_key(&12));
        assert!(!pids.is_empty());
    }
}
