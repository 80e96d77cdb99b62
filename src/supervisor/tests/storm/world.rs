//! The fake OS a storm runs the core against: processes that live until they exit or are
//! killed, signals that take effect when the OS gets round to it, spawns that fail on
//! demand, clients that wait for answers. Every call into the core is followed by the
//! invariant checks; the first violation ends the storm.

use super::invariants::{self, Before};
use super::ops::{changed_config, Op, Req, SpawnMode, NAMES};
use crate::config::Config;
use crate::supervisor::notify::{NotifyMessage, ProcessFacts};
use crate::supervisor::Command;
use crate::supervisor::{
    Action, ClientId, Event, ExitStatus, InstanceId, Purpose, SpawnFailure, Supervisor,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Main,
    Helper,
}

pub struct Proc {
    pub id: InstanceId,
    pub kind: Kind,
    /// Whether it dies of its stop signal (else only SIGKILL ends it).
    pub obeys: bool,
    /// SIGSTOPped: a stop signal waits until SIGCONT.
    pub stopped: bool,
    pub held_signal: Option<i32>,
}

/// Something the OS owes the core: it happened, waitpid or the report pipe will say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owed {
    Death(i32, ExitStatus),
    Stopped(i32),
    Continued(i32),
    ExecFailed(i32),
}

pub struct World {
    pub sup: Supervisor,
    pub now: Instant,
    t0: Instant,
    next_pid: i32,
    next_client: ClientId,
    pub procs: BTreeMap<i32, Proc>,
    owed: Vec<Owed>,
    modes: HashMap<String, SpawnMode>,
    /// The latest config given to the core (at boot or by a reload).
    pub config: Config,
    /// Clients owed an answer, and how many each got.
    pub waiting: BTreeSet<ClientId>,
    pub replies: HashMap<ClientId, u32>,
    /// Every event fed to the core, for the report of a failure.
    pub trace: Vec<String>,
    pub keep_trace: bool,
    pub events: u64,
    /// Parity for whether a new process obeys its stop signal.
    obey_counter: u32,
}

pub type Verdict = Result<(), String>;

impl World {
    pub fn new(config: Config, keep_trace: bool) -> World {
        World {
            sup: Supervisor::new(config.clone()),
            now: Instant::now(),
            t0: Instant::now() - Duration::from_nanos(0),
            next_pid: 100,
            next_client: 1,
            procs: BTreeMap::new(),
            owed: Vec::new(),
            modes: HashMap::new(),
            config,
            waiting: BTreeSet::new(),
            replies: HashMap::new(),
            trace: Vec::new(),
            keep_trace,
            events: 0,
            obey_counter: 0,
        }
    }

    /// Feeds one event, and the `Spawned` answers to the spawns it asks for, checking the
    /// invariants after each.
    pub fn feed(&mut self, event: Event) -> Verdict {
        let is_tick = matches!(event, Event::Tick);
        let before = Before::take(&self.sup);
        let mut all = Vec::new();
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            if self.keep_trace {
                let at = self.now - self.t0;
                self.trace.push(format!("{at:?} {event:?}"));
            }
            self.events += 1;
            let now = self.now;
            let sup = &mut self.sup;
            let actions =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sup.handle(event, now)))
                    .map_err(|panic| format!("the core panicked: {}", panic_text(&panic)))?;
            for action in &actions {
                if self.keep_trace && !matches!(action, Action::Log { .. }) {
                    self.trace.push(format!("    => {action:?}"));
                }
                self.perform(action, &mut queue)?;
            }
            all.extend(actions);
        }
        // As the loop does, the spawns' results went in at once: judge the whole.
        invariants::check(self, &before, &all, is_tick)
    }

    fn perform(&mut self, action: &Action, queue: &mut VecDeque<Event>) -> Verdict {
        match action {
            Action::Spawn {
                id, purpose, spec, ..
            } => {
                let mode = self
                    .modes
                    .get(&id.service)
                    .copied()
                    .unwrap_or(SpawnMode::Works);
                let failure = |transient| SpawnFailure {
                    reason: format!("exec {}: failed", spec.cmd[0]),
                    transient,
                };
                let result = match mode {
                    SpawnMode::Transient => Err(failure(true)),
                    SpawnMode::Missing => Err(failure(false)),
                    SpawnMode::Works | SpawnMode::ExecFails => {
                        let pid = self.next_pid;
                        self.next_pid += 1;
                        self.obey_counter += 1;
                        let kind = if *purpose == Purpose::Main {
                            Kind::Main
                        } else {
                            Kind::Helper
                        };
                        self.procs.insert(
                            pid,
                            Proc {
                                id: id.clone(),
                                kind,
                                obeys: !self.obey_counter.is_multiple_of(4),
                                stopped: false,
                                held_signal: None,
                            },
                        );
                        if mode == SpawnMode::ExecFails && kind == Kind::Main {
                            self.owed.push(Owed::ExecFailed(pid));
                        }
                        Ok(pid)
                    }
                };
                queue.push_back(Event::Spawned {
                    id: id.clone(),
                    purpose: *purpose,
                    result,
                });
            }
            Action::Signal { pid, signal, .. } => self.signal(*pid, *signal),
            // Jobs are not part of the storm (no run or adopt events are made), nor are
            // cgroups (no leftovers are reported, so no cgroup is signalled).
            Action::Attach { .. } | Action::Forget { .. } | Action::SignalCgroup { .. } => {}
            Action::Reply { client, .. } => {
                *self.replies.entry(*client).or_default() += 1;
                if self.replies[client] > 1 {
                    return Err(format!("client {client} got a second reply: {action:?}"));
                }
                self.waiting.remove(client);
            }
            Action::Log { .. }
            | Action::Exit
            | Action::EssentialFailed { .. }
            | Action::Publish(_) => {}
        }
        Ok(())
    }

    /// What a signal does to a fake process (group or not: a process is its own group).
    fn signal(&mut self, pid: i32, signal: i32) {
        let Some(proc) = self.procs.get_mut(&pid) else {
            return; // already dead: the group kill after an exit, say
        };
        match signal {
            libc::SIGKILL => self.owed.push(Owed::Death(pid, ExitStatus::Signal(signal))),
            libc::SIGSTOP => {
                if proc.kind == Kind::Main && !proc.stopped {
                    proc.stopped = true;
                    self.owed.push(Owed::Stopped(pid));
                }
            }
            libc::SIGCONT => {
                if proc.stopped {
                    proc.stopped = false;
                    self.owed.push(Owed::Continued(pid));
                    if let Some(held) = proc.held_signal.take() {
                        self.owed.push(Owed::Death(pid, ExitStatus::Signal(held)));
                    }
                }
            }
            libc::SIGHUP | libc::SIGUSR1 => {}
            _ if !proc.obeys => {}
            _ if proc.stopped => proc.held_signal = Some(signal),
            _ => self.owed.push(Owed::Death(pid, ExitStatus::Signal(signal))),
        }
    }

    fn nth(&self, kind: Kind, which: u32) -> Option<i32> {
        let pids: Vec<i32> = self
            .procs
            .iter()
            .filter(|(_, p)| p.kind == kind)
            .map(|(pid, _)| *pid)
            .collect();
        (!pids.is_empty()).then(|| pids[which as usize % pids.len()])
    }

    /// The process is gone: tell the core as waitpid would.
    fn die(&mut self, pid: i32, status: ExitStatus) -> Verdict {
        let Some(proc) = self.procs.remove(&pid) else {
            return Ok(());
        };
        self.owed.retain(|o| !matches!(o, Owed::Death(p, _) | Owed::Stopped(p) | Owed::Continued(p) | Owed::ExecFailed(p) if *p == pid));
        match proc.kind {
            Kind::Main => self.feed(Event::Exited { pid, status }),
            Kind::Helper => self.feed(Event::HelperExited {
                pid,
                status,
                output: "checking\nnot ready yet\n".to_string(),
            }),
        }
    }

    fn deliver(&mut self, owed: Owed) -> Verdict {
        match owed {
            Owed::Death(pid, status) => self.die(pid, status),
            Owed::Stopped(pid) => self.feed(Event::Stopped { pid }),
            Owed::Continued(pid) => self.feed(Event::Continued { pid }),
            Owed::ExecFailed(pid) => {
                // The child failed before exec and exits at once (the loop kills it if in
                // doubt): it is as good as dead when the core hears of it.
                let Some(proc) = self.procs.remove(&pid) else {
                    return Ok(());
                };
                self.owed.retain(|o| !matches!(o, Owed::Death(p, _) | Owed::Stopped(p) | Owed::Continued(p) if *p == pid));
                let id = proc.id.clone();
                let transient = pid % 2 == 0;
                self.feed(Event::ExecFailed {
                    id,
                    pid,
                    failure: SpawnFailure {
                        reason: "chdir: No such file or directory".to_string(),
                        transient,
                    },
                })?;
                self.feed(Event::Exited {
                    pid,
                    status: ExitStatus::Code(127),
                })
            }
        }
    }

    fn request(&mut self, request: Command) -> Verdict {
        let client = self.next_client;
        self.next_client += 1;
        self.waiting.insert(client);
        self.feed(Event::Request { client, request })
    }

    /// Ticks at every deadline up to `target`, then sets the clock there.
    fn advance_to(&mut self, target: Instant) -> Verdict {
        let mut ticks = 0;
        while let Some(deadline) = self.sup.next_deadline().filter(|d| *d <= target) {
            ticks += 1;
            if ticks > 10_000 {
                return Err("a deadline does not move on Tick".to_string());
            }
            self.now = self.now.max(deadline);
            self.feed(Event::Tick)?;
        }
        self.now = target;
        Ok(())
    }

    /// Ticks while anything is due now, as the loop does after a late wake-up.
    fn tick_due(&mut self) -> Verdict {
        let mut ticks = 0;
        while self.sup.next_deadline().is_some_and(|d| d <= self.now) {
            ticks += 1;
            if ticks > 100 {
                return Err("a deadline stays due after 100 ticks".to_string());
            }
            self.feed(Event::Tick)?;
        }
        Ok(())
    }

    pub fn apply(&mut self, op: &Op) -> Verdict {
        if self.keep_trace {
            self.trace.push(format!("-- {op:?}"));
        }
        match op {
            Op::Exit { which, status } => match self.nth(Kind::Main, *which) {
                Some(pid) => self.die(pid, *status),
                None => Ok(()),
            },
            Op::HelperExit { which, status } => match self.nth(Kind::Helper, *which) {
                Some(pid) => self.die(pid, *status),
                None => Ok(()),
            },
            Op::Deliver { which } => {
                if self.owed.is_empty() {
                    return Ok(());
                }
                // Any process's news may come first, but one process's in the order it
                // happened (waitpid never reports a continue before the stop).
                let pick = self.owed[*which as usize % self.owed.len()];
                let pid = owed_pid(pick);
                let first = self.owed.iter().position(|o| owed_pid(*o) == pid);
                let owed = self.owed.remove(first.unwrap_or(0));
                self.deliver(owed)
            }
            Op::OutsideStop { which } => {
                if let Some(pid) = self.nth(Kind::Main, *which) {
                    self.signal(pid, libc::SIGSTOP);
                }
                Ok(())
            }
            Op::OutsideCont { which } => {
                if let Some(pid) = self.nth(Kind::Main, *which) {
                    self.signal(pid, libc::SIGCONT);
                }
                Ok(())
            }
            Op::SpawnMode { service, mode } => {
                self.modes
                    .insert(NAMES[*service as usize % NAMES.len()].to_string(), *mode);
                Ok(())
            }
            Op::Request(req) => {
                let request = match req.clone() {
                    Req::Status(names) => Command::Status { names },
                    Req::Start(names) => Command::Start { names },
                    Req::Stop(names) => Command::Stop { names },
                    Req::Restart(names) => Command::Restart { names },
                    Req::Pause(names) => Command::Pause { names },
                    Req::Resume(names) => Command::Resume { names },
                    Req::Signal(signal, names) => Command::Signal {
                        signal: signal.to_string(),
                        names,
                    },
                };
                self.request(request)
            }
            Op::ClientGone { which } => {
                let clients: Vec<ClientId> = self.waiting.iter().copied().collect();
                if clients.is_empty() {
                    return Ok(());
                }
                let client = clients[*which as usize % clients.len()];
                self.waiting.remove(&client);
                self.sup.client_gone(client);
                Ok(())
            }
            Op::Reload { seed, changes } => {
                let config = changed_config(&self.config, *seed, *changes);
                self.config = config.clone();
                let client = self.next_client;
                self.next_client += 1;
                self.waiting.insert(client);
                self.feed(Event::Reload {
                    client: Some(client),
                    config,
                })
            }
            Op::Ready { which, fd } => {
                let Some(pid) = self.nth(Kind::Main, *which) else {
                    return Ok(());
                };
                if *fd {
                    let id = self.procs[&pid].id.clone();
                    self.feed(Event::FdReady { id, pid })
                } else {
                    self.notify(pid, b"READY=1\nSTATUS=serving")
                }
            }
            Op::Watchdog { which, trigger } => {
                let Some(pid) = self.nth(Kind::Main, *which) else {
                    return Ok(());
                };
                let text: &[u8] = if *trigger {
                    b"WATCHDOG=trigger"
                } else {
                    b"WATCHDOG=1\nEXTEND_TIMEOUT_USEC=2000000"
                };
                self.notify(pid, text)
            }
            Op::Advance { ms } => self.advance_to(self.now + Duration::from_millis(*ms)),
            Op::Jump { secs } => {
                self.now += Duration::from_secs(*secs);
                self.tick_due()
            }
            Op::Orphan => {
                let pid = self.next_pid;
                self.next_pid += 1;
                self.feed(Event::Exited {
                    pid,
                    status: ExitStatus::Code(0),
                })
            }
            Op::Shutdown => self.feed(Event::Shutdown),
        }
    }

    fn notify(&mut self, pid: i32, text: &[u8]) -> Verdict {
        let sender = ProcessFacts {
            pid,
            uid: 0,
            pgid: Some(pid),
            sid: Some(pid),
            ancestors: vec![1],
        };
        self.feed(Event::Notify {
            sender,
            message: NotifyMessage::parse(text),
            main_pid: None,
        })
    }

    /// After the storm: everything owed is delivered, stopped processes are continued and
    /// time runs on until nothing is left to happen; then every client still connected must
    /// have had its answer.
    pub fn settle(&mut self) -> Verdict {
        for _ in 0..200 {
            let stopped: Vec<i32> = self
                .procs
                .iter()
                .filter(|(_, p)| p.stopped)
                .map(|(pid, _)| *pid)
                .collect();
            for pid in stopped {
                self.signal(pid, libc::SIGCONT);
            }
            // A oneshot finishes in the end (one that never does keeps its starter waiting,
            // rightly).
            let oneshots: Vec<i32> = self
                .procs
                .iter()
                .filter(|(_, p)| {
                    p.kind == Kind::Main
                        && self
                            .sup
                            .services
                            .get(&p.id.service)
                            .is_some_and(|s| s.is_oneshot())
                })
                .map(|(pid, _)| *pid)
                .collect();
            for pid in oneshots {
                self.die(pid, ExitStatus::Code(0))?;
            }
            while !self.owed.is_empty() {
                let owed = self.owed.remove(0);
                self.deliver(owed)?;
            }
            // Readiness nobody will report and pre-starts that hang end by their timers.
            self.advance_to(self.now + Duration::from_secs(100))?;
            let oneshot_left = self.procs.values().any(|p| {
                p.kind == Kind::Main
                    && self
                        .sup
                        .services
                        .get(&p.id.service)
                        .is_some_and(|s| s.is_oneshot())
            });
            // Done when nothing more will happen, or nobody waits any more (a watchdog
            // ticks forever).
            let quiet = self.sup.next_deadline().is_none() || self.waiting.is_empty();
            if self.owed.is_empty() && quiet && !oneshot_left {
                break;
            }
        }
        if let Some(client) = self.waiting.iter().next() {
            return Err(format!(
                "client {client} never got an answer (waiting: {:?})",
                self.waiting
            ));
        }
        Ok(())
    }
}

impl World {
    /// Every instance as it ended, for the report of a failure.
    pub fn describe(&self) -> String {
        let mut lines = Vec::new();
        for (name, s) in &self.sup.services {
            for (index, i) in &s.instances {
                lines.push(format!(
                    "{name}:{index} {} goal {:?} pid {:?} wanted {} blocked {} restart {} retiring {} detail {:?}",
                    i.state, i.goal, i.pid, i.wanted, i.blocked, i.restart_pending, i.retiring, i.detail
                ));
            }
        }
        lines.join("\n")
    }
}

fn owed_pid(owed: Owed) -> i32 {
    match owed {
        Owed::Death(pid, _) | Owed::Stopped(pid) | Owed::Continued(pid) | Owed::ExecFailed(pid) => {
            pid
        }
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "?".to_string())
}
