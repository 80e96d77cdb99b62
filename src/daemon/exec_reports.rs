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

    /// Reads the report at `index` (it is readable); a settled one is forgotten, and the
    /// last one takes its place: the ready ones of a poll are read from the highest index
    /// down.
    pub(super) fn read_exec_report(&mut self, index: usize) {
        let Some(pending) = self.exec_reports.get_mut(index) else {
            return;
        };
        match pending.report.read() {
            ExecOutcome::Pending => {}
            ExecOutcome::Executed => {
                self.exec_reports.swap_remove_back(index);
            }
            ExecOutcome::Failed(error) => {
                if let Some(pending) = self.exec_reports.swap_remove_back(index) {
                    self.exec_failed(pending, error);
                }
            }
        }
    }

    /// At each spawn, the reports of the children that have exec'd since are read and
    /// closed, oldest first, up to the first child not yet past execve, which goes to the
    /// back of the queue (a child that is slow to exec does not hold up the ones after it).
    /// A boot spawns every service in one turn, and each clone copies the daemon's fd table
    /// and each child's execve closes its copies again: with the reports left open to the
    /// end of the turn, the n-th child of a 1,000-service boot copied and closed n of them.
    /// Children exec in about the order they were cloned, so this closes each report about
    /// as soon as it can be, for one read that finds nothing per spawn; the fds left open
    /// are those of the children still on their way to execve (about ten in a boot of
    /// 1,000, where one read per spawn with a cursor left hundreds). A failure is left for
    /// the poll (the report keeps what it read, and a pipe at EOF stays readable), so it
    /// reaches the core where every failure does.
    pub(super) fn settle_exec_reports(&mut self) {
        for _ in 0..self.exec_reports.len() {
            let Some(oldest) = self.exec_reports.front_mut() else {
                return;
            };
            match oldest.report.read() {
                ExecOutcome::Executed => {
                    self.exec_reports.pop_front();
                }
                ExecOutcome::Pending | ExecOutcome::Failed(_) => {
                    self.exec_reports.rotate_left(1);
                    return;
                }
            }
        }
    }

    /// Before the exit of `pid` goes to the core: if its report was still unread, read it
    /// now (the child is gone, so it is complete) and pass on a failure first.
    pub(super) fn settle_exec_report(&mut self, pid: i32) {
        let Some(index) = self.exec_reports.iter().position(|p| p.pid == pid) else {
            return;
        };
        let Some(mut pending) = self.exec_reports.swap_remove_back(index) else {
            return;
        };
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
