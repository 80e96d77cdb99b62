//! The last part of a shutdown as PID 1, after every service has stopped: a plan of steps
//! that the event loop advances, so it keeps reaping while it waits.
//!
//! SIGTERM to everything left → wait (grace period) → SIGKILL → wait → sync → unmount or
//! remount read-only → sync → reboot(2). A step the kernel refuses is logged and the plan
//! goes on.

use super::mounts;
use crate::log::Level;
use nix::sys::reboot::RebootMode;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// After SIGKILL, processes die at once unless stuck in the kernel; don't wait forever.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What the machine does at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Reboot,
    Poweroff,
    Halt,
}

impl PowerAction {
    pub fn word(self) -> &'static str {
        match self {
            PowerAction::Reboot => "reboot",
            PowerAction::Poweroff => "power off",
            PowerAction::Halt => "halt",
        }
    }

    fn mode(self) -> RebootMode {
        match self {
            PowerAction::Reboot => RebootMode::RB_AUTOBOOT,
            PowerAction::Poweroff => RebootMode::RB_POWER_OFF,
            PowerAction::Halt => RebootMode::RB_HALT_SYSTEM,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Terminate,
    WaitTerminated,
    Kill,
    WaitKilled,
    Finish,
    Done,
}

impl Step {
    fn describe(self) -> &'static str {
        match self {
            Step::Terminate => "SIGTERM sent to every remaining process",
            Step::WaitTerminated => "waited for them to exit",
            Step::Kill => "SIGKILL sent to what was left",
            Step::WaitKilled => "every process reaped",
            Step::Finish | Step::Done => "finished",
        }
    }
}

pub struct FinalShutdown {
    action: PowerAction,
    grace: Duration,
    step: Step,
    step_started: Instant,
}

/// Where the plan stands after [`FinalShutdown::advance`].
pub enum Progress {
    /// Waiting for processes to die (reaping goes on); advance again by this time.
    Waiting(Instant),
    /// Every process is gone: the caller closes its own files that are open for writing
    /// (or `/` cannot be remounted read-only) and calls [`FinalShutdown::finish`].
    ReadyToFinish,
}

impl FinalShutdown {
    pub fn new(action: PowerAction, grace: Duration, now: Instant) -> FinalShutdown {
        FinalShutdown {
            action,
            grace,
            step: Step::Terminate,
            step_started: now,
        }
    }

    /// Runs every step that can run now. `children_left` says whether any process is
    /// still there to reap (as PID 1, every process on the machine is our descendant).
    pub fn advance(
        &mut self,
        now: Instant,
        children_left: impl Fn() -> bool,
        log: &mut impl FnMut(Level, String),
    ) -> Progress {
        loop {
            match self.step {
                Step::Terminate => {
                    signal_everyone(Signal::SIGTERM, log);
                    // A stopped process cannot act on SIGTERM until continued.
                    let _ = kill(Pid::from_raw(-1), Signal::SIGCONT);
                    self.next(Step::WaitTerminated, now, log);
                }
                Step::WaitTerminated => {
                    let until = self.step_started + self.grace;
                    if children_left() && now < until {
                        return Progress::Waiting(until);
                    }
                    if children_left() {
                        log(
                            Level::Warning,
                            format!(
                                "shutdown: processes left after the {:.1}s grace period",
                                self.grace.as_secs_f64()
                            ),
                        );
                    }
                    self.next(Step::Kill, now, log);
                }
                Step::Kill => {
                    if children_left() {
                        signal_everyone(Signal::SIGKILL, log);
                    }
                    self.next(Step::WaitKilled, now, log);
                }
                Step::WaitKilled => {
                    let until = self.step_started + KILL_WAIT;
                    if children_left() && now < until {
                        return Progress::Waiting(until);
                    }
                    self.next(Step::Finish, now, log);
                }
                Step::Finish | Step::Done => {
                    self.step = Step::Done;
                    return Progress::ReadyToFinish;
                }
            }
        }
    }

    fn next(&mut self, step: Step, now: Instant, log: &mut impl FnMut(Level, String)) {
        let took = now.saturating_duration_since(self.step_started);
        log(
            Level::Info,
            format!(
                "shutdown: {} ({:.3}s)",
                self.step.describe(),
                took.as_secs_f64()
            ),
        );
        self.step = step;
        self.step_started = now;
    }

    /// sync, unmount, sync, reboot: quick system calls with nothing left to reap. Returns
    /// only if reboot(2) was refused (as in a container without CAP_SYS_BOOT).
    pub fn finish(&mut self, log: &mut impl FnMut(Level, String)) {
        let started = Instant::now();
        nix::unistd::sync();
        let mounts = mounts::current_mounts();
        for (ok, message) in mounts::unmount_all(&mounts) {
            let level = if ok { Level::Info } else { Level::Warning };
            log(level, format!("shutdown: {message}"));
        }
        nix::unistd::sync();
        log(
            Level::Info,
            format!(
                "shutdown: sync and unmount done in {:.3}s; {} now",
                started.elapsed().as_secs_f64(),
                self.action.word()
            ),
        );
        let Err(e) = nix::sys::reboot::reboot(self.action.mode());
        log(Level::Error, format!("shutdown: reboot(2) refused: {e}"));
    }
}

fn signal_everyone(signal: Signal, log: &mut impl FnMut(Level, String)) {
    // pid -1: every process but ourselves. Only ever called as PID 1, where "every
    // process" is this machine's or this pid namespace's.
    match kill(Pid::from_raw(-1), signal) {
        Ok(()) => log(
            Level::Info,
            format!("shutdown: sent {signal} to every process"),
        ),
        Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => log(Level::Warning, format!("shutdown: kill(-1, {signal}): {e}")),
    }
}
