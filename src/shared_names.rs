//! Service names made once and shared by the tables that have an entry per process.
//!
//! A table with an entry per running process (the core's pids, each instance's cgroup)
//! that keeps its own copy of the service's name makes that copy at each spawn. In a burst
//! of spawns the copies land one by one between the burst's short-lived blocks (exec plans,
//! log lines, each turn's actions); once those are freed, one small live block every
//! kilobyte or so keeps nearly every page of that stretch of heap resident: after a boot of
//! 1,000 services, about 1 MiB of free heap that no trim could give back
//! (bench/PROFILES.md, memory). Names made at load instead sit with the config, and a
//! spawn only counts one more reference.

use std::collections::HashSet;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct SharedNames {
    names: HashSet<Arc<str>>,
}

impl SharedNames {
    /// The services now loaded: their names are made here, at load. Names of services gone
    /// are dropped (an entry still holding one keeps its copy alive).
    pub fn know<'a>(&mut self, services: impl Iterator<Item = &'a str> + Clone) {
        let loaded: HashSet<&str> = services.clone().collect();
        self.names.retain(|name| loaded.contains(&**name));
        for name in services {
            if !self.names.contains(name) {
                self.names.insert(Arc::from(name));
            }
        }
    }

    /// The shared copy of `service`, or a copy of its own if it was not loaded through
    /// [`SharedNames::know`] (a job: not kept, so that jobs coming and going by the
    /// thousand do not grow the set).
    pub fn get(&self, service: &str) -> Arc<str> {
        match self.names.get(service) {
            Some(name) => Arc::clone(name),
            None => Arc::from(service),
        }
    }

    #[cfg(test)]
    pub fn contains(&self, service: &str) -> bool {
        self.names.contains(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_made_once_and_shared() {
        let mut names = SharedNames::default();
        names.know(["web", "db"].into_iter());
        let (a, b) = (names.get("web"), names.get("web"));
        assert!(Arc::ptr_eq(&a, &b));
        // Not loaded: a copy of its own, not kept.
        assert_eq!(&*names.get("job"), "job");
        assert!(!names.contains("job"));
    }

    #[test]
    fn a_reload_drops_the_names_of_services_gone() {
        let mut names = SharedNames::default();
        names.know(["web", "db"].into_iter());
        let db = names.get("db");
        names.know(["web"].into_iter());
        assert!(!names.contains("db"));
        assert!(names.contains("web"));
        // A holder keeps its copy.
        assert_eq!(&*db, "db");
    }
}
