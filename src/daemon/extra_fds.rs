//! The loop's fds for `watch`, `listen` and `console`: polled after the others, each
//! named by what it is, so that adding one does not move the fixed poll slots.

use super::Daemon;
use nix::poll::PollFlags;
use std::os::fd::BorrowedFd;

/// What a ready extra fd is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extra {
    /// The inotify fd of `watch`.
    Watches,
    /// A `listen` socket of a `start-on-demand` service that is down.
    Demand(String),
    /// The inotify fd of `cgroup.events` of instances waiting for their cgroup to be empty.
    CgroupEmpty,
    /// A console's terminal, with keystrokes waiting for room.
    ConsoleInput(crate::supervisor::InstanceId),
    /// The job spec worker has results back.
    JobSpecs,
}

impl Daemon {
    /// Every extra fd to poll now, with the events wanted.
    pub(super) fn extra_fds(&self) -> Vec<(Extra, BorrowedFd<'_>, PollFlags)> {
        let mut fds = Vec::new();
        if let Some(fd) = self.job_specs.polled() {
            fds.push((Extra::JobSpecs, fd, PollFlags::POLLIN));
        }
        if let Some(fd) = self.watches.as_ref().and_then(|w| w.polled()) {
            fds.push((Extra::Watches, fd, PollFlags::POLLIN));
        }
        if let Some(fd) = self.cgroups.empty_fd() {
            fds.push((Extra::CgroupEmpty, fd, PollFlags::POLLIN));
        }
        for (id, fd) in self.consoles.waiting_to_write() {
            fds.push((Extra::ConsoleInput(id), fd, PollFlags::POLLOUT));
        }
        for service in self.core.waiting_for_connections() {
            for fd in self.sockets.of(&service) {
                fds.push((Extra::Demand(service.clone()), fd, PollFlags::POLLIN));
            }
        }
        fds
    }

    /// Handles the extra fds poll found ready.
    pub(super) fn handle_extra(&mut self, ready: &[Extra]) {
        for what in ready {
            match what {
                Extra::Watches => self.read_watches(),
                Extra::JobSpecs => self.job_specs_prepared(),
                Extra::CgroupEmpty => {
                    for id in self.cgroups.read_empty() {
                        self.dispatch(crate::supervisor::Event::CgroupEmpty { id });
                    }
                }
                Extra::ConsoleInput(id) => {
                    if let Some(console) = self.consoles.get_mut(id) {
                        console.flush();
                    }
                }
                Extra::Demand(service) => self.dispatch(crate::supervisor::Event::Demand {
                    service: service.clone(),
                }),
            }
        }
    }

    fn read_watches(&mut self) {
        let Some(watches) = self.watches.as_mut() else {
            return;
        };
        let (events, problems) = watches.read();
        for problem in problems {
            self.log.write(crate::log::Level::Warning, &problem);
        }
        for event in events {
            self.dispatch(event);
        }
    }

    /// Points the watches at what the config asks for now (at start, after a reload).
    pub(super) fn update_watches(&mut self) {
        let watched = self.core.watched_paths();
        if watched.is_empty() && self.watches.is_none() {
            return;
        }
        if self.watches.is_none() {
            match super::watches::Watches::new() {
                Ok(w) => self.watches = Some(w),
                Err(e) => {
                    let text =
                        format!("watch: cannot start inotify: {e}; watched files are not watched");
                    return self.log.write(crate::log::Level::Error, &text);
                }
            }
        }
        if let Some(watches) = self.watches.as_mut() {
            for problem in watches.set(watched) {
                self.log.write(crate::log::Level::Warning, &problem);
            }
        }
    }
}
