//! The pidfds of adopted processes: polled by the loop (readable = the process ended), and
//! the way such a process is signalled (alone, never its group, never a reused pid).

use crate::process::pidfd;
use crate::supervisor::ExitStatus;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

#[derive(Default)]
pub struct Pidfds {
    entries: Vec<(i32, OwnedFd)>,
}

impl Pidfds {
    pub fn add(&mut self, pid: i32, fd: OwnedFd) {
        self.entries.push((pid, fd));
    }

    pub fn has(&self, pid: i32) -> bool {
        self.entries.iter().any(|(p, _)| *p == pid)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.entries.iter().map(|(_, fd)| fd.as_fd())
    }

    pub fn pid_at(&self, index: usize) -> Option<i32> {
        self.entries.get(index).map(|(pid, _)| *pid)
    }

    /// Signals an adopted process through its pidfd; a process already gone is no error.
    pub fn signal(&self, pid: i32, signal: i32) {
        if let Some((_, fd)) = self.entries.iter().find(|(p, _)| *p == pid) {
            let _ = pidfd::send_signal(fd.as_fd(), signal);
        }
    }

    /// The exit status of the process at `index`, if the kernel knows it yet.
    pub fn exit_status(&self, index: usize) -> Option<ExitStatus> {
        let (_, fd) = self.entries.get(index)?;
        pidfd::exit_status(fd.as_fd())
    }

    /// Closes the pidfd at `index` (swap-remove: go from the highest index down).
    pub fn remove(&mut self, index: usize) {
        if index < self.entries.len() {
            self.entries.swap_remove(index);
        }
    }
}
