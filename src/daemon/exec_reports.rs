//! The exec reports of spawned processes: loop fds like any other. A spawn returns as soon
//! as the child is forked (the core learns its pid at once); whether execve succeeded comes
//! later on the report pipe, and a failure becomes [`Event::ExecFailed`] for the core.
//!
//! The child writes its report before it exits, so when its exit is reaped the report is
//! complete: the loop reads it then (without waiting) and hands the core the failure before
//! the exit, which the core then knows is not an exit of a running service.

use super::{output, Daemon};
use crate::process::{ExecOutcome, ExecReport};
use crate::supervisor::{Event, InstanceId};
use std::os::fd::BorrowedFd;

pub struct PendingExec {
    pub pid: i32,
    pub id: InstanceId,
    pub report: ExecReport,
    /// The how-many-th spawn of a service's process it was (`Daemon::spawns`).
    pub seq: u64,
}

impl Daemon {
    /// The report fds to poll, in the order of `self.exec_reports`.
    pub(super) fn exec_report_fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.exec_reports.iter().map(|p| p.report.as_fd())
    }

    /// Reads the report at `index` (it is readable); a settled one is forgotten.
    pub(super) fn read_exec_report(&mut self, index: usize) {
        let Some(pending) = self.exec_reports.get_mut(index) else {
            return;
        };
        match pending.report.read() {
            ExecOutcome::Pending => {}
            ExecOutcome::Executed => {
                self.exec_reports.swap_remove(index);
            }
            ExecOutcome::Failed(error) => {
                let pending = self.exec_reports.swap_remove(index);
                self.exec_failed(pending, error);
            }
        }
    }

    /// Looks at one report, the next in turn, at each spawn: a boot spawns every service
    /// in one turn, and the reports of the children that have exec'd meanwhile are closed
    /// then instead of at the next poll. Each clone copies the daemon's fd table and each
    /// child's execve closes its copies again: with every report of a 1,000-service boot
    /// left open to the end of the turn, the n-th child copied and closed n of them.
    /// A child not yet past execve is passed over (the cursor moves on); a failure is left
    /// for the poll (the report keeps what it read, and a pipe at EOF stays readable), so it
    /// reaches the core where every failure does.
    pub(super) fn settle_one_exec_report(&mut self) {
        if self.exec_reports.is_empty() {
            return;
        }
        let index = self.exec_report_cursor % self.exec_reports.len();
        match self.exec_reports[index].report.read() {
            ExecOutcome::Executed => {
                self.exec_reports.swap_remove(index);
                self.exec_report_cursor = index;
            }
            ExecOutcome::Pending | ExecOutcome::Failed(_) => self.exec_report_cursor = index + 1,
        }
    }

    /// Before the exit of `pid` goes to the core: if its report was still unread, read it
    /// now (the child is gone, so it is complete) and pass on a failure first.
    pub(super) fn settle_exec_report(&mut self, pid: i32) {
        let Some(index) = self.exec_reports.iter().position(|p| p.pid == pid) else {
            return;
        };
        let mut pending = self.exec_reports.swap_remove(index);
        if let ExecOutcome::Failed(error) = pending.report.read() {
            self.exec_failed(pending, error);
        }
    }

    fn exec_failed(&mut self, pending: PendingExec, error: crate::process::SpawnError) {
        let failure = output::failure(error.to_string(), Some(error.errno as i32));
        if error.step == crate::process::Step::Report {
            // Whether execve happened is unknown: the process must not run on unsupervised.
            let _ = crate::process::signal_process(
                nix::unistd::Pid::from_raw(pending.pid),
                libc::SIGKILL,
            );
        }
        self.dispatch(Event::ExecFailed {
            id: pending.id,
            pid: pending.pid,
            failure,
        });
    }
}
