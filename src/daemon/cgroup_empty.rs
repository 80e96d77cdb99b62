//! Waiting for an instance's cgroup to become empty, without a timer: the kernel marks a
//! change of `populated` as a modification of the cgroup's `cgroup.events`, which inotify
//! reports on one more fd of the loop. The core keeps the instance STOPPING meanwhile
//! (supervisor/drain.rs); this tells it when the last leftover is gone.

use crate::process::cgroup::Cgroups;
use crate::supervisor::InstanceId;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};

/// Reads of the inotify fd per loop turn; what is left is read in the next turn.
const READS_PER_TURN: usize = 16;

#[derive(Default)]
pub(super) struct EmptyWatch {
    /// Made at the first instance with leftovers.
    inotify: Option<Inotify>,
    watched: HashMap<WatchDescriptor, InstanceId>,
}

impl EmptyWatch {
    /// Starts watching the instance's cgroup if it still has processes; how many it has.
    /// `None`: empty already (or it cannot be watched: then nothing waits for it, as
    /// without cgroups, and `problem` says why).
    pub(super) fn watch(
        &mut self,
        cgroups: &Cgroups,
        id: &InstanceId,
        problem: &mut Option<String>,
    ) -> Option<usize> {
        // Usually it is empty already, and stays so (nothing is spawned into it meanwhile):
        // no watch to add and remove again.
        if !cgroups.populated(&id.service, id.index) {
            return None;
        }
        if self.inotify.is_none() {
            match Inotify::init() {
                Ok(inotify) => self.inotify = Some(inotify),
                Err(e) => {
                    *problem = Some(format!(
                        "cgroups: cannot watch cgroup.events (inotify: {e}); an instance's end does not wait for its leftovers"
                    ));
                    return None;
                }
            }
        }
        let inotify = self.inotify.as_mut()?;
        let file = cgroups.events_file(&id.service, id.index);
        // Watched before it is read again: an empty cgroup seen now, or a modify event later.
        let wd = match inotify.watches().add(&file, WatchMask::MODIFY) {
            Ok(wd) => wd,
            Err(e) => {
                *problem = Some(format!("cgroups: cannot watch {}: {e}", file.display()));
                return None;
            }
        };
        if !cgroups.populated(&id.service, id.index) {
            let _ = inotify.watches().remove(wd);
            return None;
        }
        self.watched.insert(wd, id.clone());
        // At least one: a process may be leaving while we count.
        Some(cgroups.processes(&id.service, id.index).max(1))
    }

    /// The fd to poll, while a cgroup is watched.
    pub(super) fn polled(&self) -> Option<BorrowedFd<'_>> {
        self.inotify
            .as_ref()
            .filter(|_| !self.watched.is_empty())
            .map(|i| i.as_fd())
    }

    /// Reads what the kernel reported; the instances whose cgroup is empty now (no longer
    /// watched).
    pub(super) fn read(&mut self, cgroups: &Cgroups) -> Vec<InstanceId> {
        let Some(inotify) = self.inotify.as_mut() else {
            return Vec::new();
        };
        let mut buffer = [0u8; 4096];
        let mut touched: Vec<WatchDescriptor> = Vec::new();
        let mut overflow = false;
        for _ in 0..READS_PER_TURN {
            let events = match inotify.read_events(&mut buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // WouldBlock: all read. Another error: look at every cgroup below.
                Err(e) => {
                    overflow |= e.kind() != std::io::ErrorKind::WouldBlock;
                    break;
                }
            };
            let mut any = false;
            for event in events {
                any = true;
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    overflow = true;
                } else if !touched.contains(&event.wd) {
                    touched.push(event.wd);
                }
            }
            if !any {
                break;
            }
        }
        let candidates: Vec<WatchDescriptor> = if overflow {
            self.watched.keys().cloned().collect()
        } else {
            touched
        };
        let mut empty = Vec::new();
        for wd in candidates {
            let Some(id) = self.watched.get(&wd) else {
                continue;
            };
            if !cgroups.populated(&id.service, id.index) {
                if let Some(id) = self.watched.remove(&wd) {
                    let _ = inotify.watches().remove(wd);
                    empty.push(id);
                }
            }
        }
        empty
    }
}
