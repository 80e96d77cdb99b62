//! The boot's marks for `tmctl analyze` (see `analyze`): when each instance was first
//! spawned and first up since the boot.
//!
//! A B-tree keyed by `InstanceId` made each mark at the spawns: a copy of the service's
//! name and, every few marks, a node, among the spawn burst's short-lived blocks; at 1,000
//! services that was about 150 KiB of nodes plus 1,000 small strings that pinned the freed
//! heap around them (bench/PROFILES.md, memory). The marks are a vector sorted by instance
//! instead, with room for every instance made once at the boot's first mark, each holding
//! the service's shared name (`crate::shared_names`), so a spawn allocates nothing here.

use super::InstanceId;
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// When the boot began and each instance's first start after it.
#[derive(Debug, Default)]
pub(super) struct Timeline {
    pub(super) boot: Option<Instant>,
    /// Sorted by service name, then index (as `InstanceId` sorts).
    marks: Vec<Marked>,
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Mark {
    pub(super) spawned: Option<Instant>,
    pub(super) ready: Option<Instant>,
    /// FATAL before it was ever up.
    pub(super) failed: bool,
}

#[derive(Debug)]
struct Marked {
    service: Arc<str>,
    index: u32,
    mark: Mark,
}

impl Marked {
    fn cmp_id(&self, id: &InstanceId) -> Ordering {
        (&*self.service, self.index).cmp(&(id.service.as_str(), id.index))
    }

    fn id(&self) -> InstanceId {
        InstanceId {
            service: self.service.to_string(),
            index: self.index,
        }
    }
}

impl Timeline {
    /// An instance gone for good (an ended job forgotten): its marks go too, so that jobs
    /// coming and going cannot grow the timeline.
    pub(super) fn forget(&mut self, id: &InstanceId) {
        if let Ok(at) = self.find(id) {
            self.marks.remove(at);
        }
    }

    /// How many instances it has marks of.
    #[cfg(test)]
    pub(super) fn marked(&self) -> usize {
        self.marks.len()
    }

    pub(super) fn boot(&mut self, now: Instant) {
        self.boot = Some(now);
        self.marks = Vec::new();
    }

    /// The marks of `id`, if it has any.
    pub(super) fn get(&self, id: &InstanceId) -> Option<Mark> {
        self.find(id).ok().map(|at| self.marks[at].mark)
    }

    /// The marks of `id`, made empty if it has none; `service` is its service's shared
    /// name, `instances` how many instances there are (room for them all is made at the
    /// first mark, so that the spawns that follow allocate nothing here).
    pub(super) fn entry(
        &mut self,
        id: &InstanceId,
        service: Arc<str>,
        instances: impl FnOnce() -> usize,
    ) -> &mut Mark {
        if self.marks.capacity() == 0 {
            self.marks.reserve_exact(instances());
        }
        let at = match self.find(id) {
            Ok(at) => at,
            Err(at) => {
                let marked = Marked {
                    service,
                    index: id.index,
                    mark: Mark::default(),
                };
                self.marks.insert(at, marked);
                at
            }
        };
        &mut self.marks[at].mark
    }

    /// Every instance with marks, in `InstanceId` order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (InstanceId, Mark)> + '_ {
        self.marks.iter().map(|m| (m.id(), m.mark))
    }

    /// The instance that came up last, if any did.
    pub(super) fn last_ready(&self) -> Option<InstanceId> {
        self.marks
            .iter()
            .filter_map(|m| Some((m.mark.ready?, m)))
            .max_by(|(a, m), (b, n)| a.cmp(b).then_with(|| m.cmp_marked(n)))
            .map(|(_, m)| m.id())
    }

    /// Replaces every mark (an upgrade's handover); `marks` in any order.
    pub(super) fn set(&mut self, marks: impl Iterator<Item = (Arc<str>, u32, Mark)>) {
        self.marks = marks
            .map(|(service, index, mark)| Marked {
                service,
                index,
                mark,
            })
            .collect();
        self.marks.sort_by(Marked::cmp_marked);
        self.marks
            .dedup_by(|a, b| a.cmp_marked(b) == Ordering::Equal);
    }

    fn find(&self, id: &InstanceId) -> Result<usize, usize> {
        self.marks.binary_search_by(|m| m.cmp_id(id))
    }
}

impl Marked {
    fn cmp_marked(&self, other: &Marked) -> Ordering {
        (&*self.service, self.index).cmp(&(&*other.service, other.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::supervisor::instance_id as id;

    #[test]
    fn marks_are_found_by_instance_whatever_the_order_they_came_in() {
        let mut timeline = Timeline::default();
        let now = Instant::now();
        for (service, index) in [("web", 1), ("db", 0), ("web", 0)] {
            timeline
                .entry(&id(service, index), service.into(), || 3)
                .spawned = Some(now);
        }
        timeline.entry(&id("db", 0), "db".into(), || 3).failed = true;
        let ids: Vec<InstanceId> = timeline.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [id("db", 0), id("web", 0), id("web", 1)]);
        assert!(timeline.get(&id("db", 0)).is_some_and(|m| m.failed));
        assert!(timeline.get(&id("web", 2)).is_none());
        timeline.forget(&id("web", 0));
        assert_eq!(timeline.marked(), 2);
    }

    #[test]
    fn the_last_instance_up_is_the_one_with_the_latest_ready_mark() {
        let mut timeline = Timeline::default();
        let now = Instant::now();
        let later = now + std::time::Duration::from_millis(5);
        timeline.entry(&id("a", 0), "a".into(), || 3).ready = Some(later);
        timeline.entry(&id("b", 0), "b".into(), || 3).ready = Some(now);
        timeline.entry(&id("c", 0), "c".into(), || 3);
        assert_eq!(timeline.last_ready(), Some(id("a", 0)));
    }
}
