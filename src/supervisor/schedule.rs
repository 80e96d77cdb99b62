//! Scheduled starts (`tmctl start --in 30s NAME`, `--at 14:05`): the instance is PENDING
//! "start at …" until then, and `cancel` takes it back to STOPPED. A schedule is one more
//! deadline of the loop; nothing polls. The wall clock is only for showing the time: the
//! loop tells it with [`Supervisor::set_wall_clock`], the deadline itself is monotonic.

use super::waiters::Entry;
use super::Level;
use super::{log, Action, Actions, ClientId, Goal, InstanceId, State, Supervisor};
use super::{Command, Refusal, Reply};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

/// A start further ahead than this is refused (a typo, not a plan).
pub const MAX_SCHEDULE_DELAY: Duration = Duration::from_secs(366 * 24 * 3600);

#[derive(Debug, Default)]
pub(super) struct Schedules {
    /// When each scheduled instance starts.
    at: BTreeMap<InstanceId, Instant>,
    /// The wall-clock time at an instant, as the loop last told it.
    wall: Option<(Instant, SystemTime)>,
}

impl Schedules {
    pub fn next_deadline(&self) -> Option<Instant> {
        self.at.values().min().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// `start at 14:05:00` (with the date when it is not within a day), or `start in 30s`
    /// when the wall clock is not known.
    fn describe(&self, at: Instant) -> String {
        let Some((then, wall)) = self.wall else {
            return "start scheduled".to_string();
        };
        let when = match at.checked_duration_since(then) {
            Some(ahead) => wall + ahead,
            None => wall,
        };
        self.describe_wall(when)
    }

    /// `start at 14:05:00` for a wall-clock time, with the date when it is not within 20
    /// hours of the wall clock as last told.
    pub(super) fn describe_wall(&self, when: SystemTime) -> String {
        let local = chrono::DateTime::<chrono::Local>::from(when);
        let near = self.wall.is_some_and(|(_, wall)| {
            when.duration_since(wall).unwrap_or(Duration::ZERO) < Duration::from_secs(20 * 3600)
        });
        let format = if near {
            "%H:%M:%S"
        } else {
            "%Y-%m-%d %H:%M:%S"
        };
        format!("start at {}", local.format(format))
    }

    /// The wall-clock time at `now`, from what the loop last told.
    pub(super) fn wall_at(&self, now: Instant) -> Option<SystemTime> {
        let (then, wall) = self.wall?;
        Some(match now.checked_duration_since(then) {
            Some(ahead) => wall + ahead,
            None => wall - then.duration_since(now),
        })
    }

    /// Drops the scheduled start of an instance that is started now anyway.
    pub(super) fn take(&mut self, id: &InstanceId) -> bool {
        self.at.remove(id).is_some()
    }
}

impl Supervisor {
    /// The wall-clock time now, for showing when a scheduled start is due.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.touched();
        self.schedules.wall = Some((now, wall));
    }

    /// `Schedule` and `Cancel`; a `start`, `stop` or `restart` of a scheduled instance
    /// replaces its schedule (and is handed back to be done as usual).
    pub(super) fn on_schedule_request(
        &mut self,
        client: ClientId,
        request: Command,
        now: Instant,
        out: &mut Actions,
    ) -> Option<Command> {
        let reply = |out: &mut Actions, response| out.push(Action::Reply { client, response });
        let ids = match &request {
            Command::Schedule { names, .. } | Command::Cancel { names } if names.is_empty() => {
                let message = "name a service, an instance NAME:N, or all";
                reply(out, Reply::refused(Refusal::BadRequest, message));
                return None;
            }
            Command::Schedule { names, .. }
            | Command::Cancel { names }
            | Command::Start { names }
            | Command::Stop { names }
            | Command::Kill { names }
            | Command::Restart { names } => match self.resolve(names) {
                Ok(ids) => ids,
                Err(message) => {
                    reply(out, Reply::refused(Refusal::UnknownName, message));
                    return None;
                }
            },
            _ => return Some(request),
        };
        match request {
            Command::Schedule { delay, .. } => {
                if self.shutting_down {
                    let message = "taskmasterd is shutting down";
                    reply(out, Reply::refused(Refusal::ShuttingDown, message));
                } else if delay > MAX_SCHEDULE_DELAY {
                    let message = "a start can be scheduled at most 366 days ahead";
                    reply(out, Reply::refused(Refusal::BadRequest, message));
                } else {
                    let entries = ids
                        .into_iter()
                        .map(|id| self.schedule(id, now + delay, out))
                        .collect();
                    self.wait(Some(client), false, entries);
                }
                None
            }
            Command::Cancel { .. } => {
                let entries = ids.into_iter().map(|id| self.cancel(id, out)).collect();
                self.wait(Some(client), false, entries);
                None
            }
            other => {
                for id in ids {
                    if self.schedules.at.remove(&id).is_some() {
                        self.unschedule(&id);
                    }
                }
                Some(other)
            }
        }
    }

    fn schedule(&mut self, id: InstanceId, at: Instant, out: &mut Actions) -> Entry {
        let name = self.instance_name(&id);
        let detail = self.schedules.describe(at);
        let Some(instance) = self.instance_mut(&id) else {
            return Entry::said(id, name, "scheduled", false, "gone".into());
        };
        if instance.is_active() || instance.goal == Goal::Up {
            let message = format!("{}; not scheduled", instance.state.word());
            return Entry::said(id, name, "scheduled", false, message);
        }
        instance.state = State::Pending;
        instance.deadline = None;
        instance.detail = Some(detail.clone());
        self.schedules.at.insert(id.clone(), at);
        out.push(log(Level::Info, format!("{name}: {detail}")));
        Entry::said(id, name, "scheduled", true, format!("PENDING: {detail}"))
    }

    fn cancel(&mut self, id: InstanceId, out: &mut Actions) -> Entry {
        let name = self.instance_name(&id);
        if self.schedules.at.remove(&id).is_none() {
            return Entry::said(id, name, "cancel", false, "no start is scheduled".into());
        }
        self.unschedule(&id);
        out.push(log(
            Level::Info,
            format!("{name}: scheduled start cancelled"),
        ));
        Entry::said(
            id,
            name,
            "cancelled",
            true,
            State::Stopped.word().to_string(),
        )
    }

    /// Back to STOPPED, as before it was scheduled.
    fn unschedule(&mut self, id: &InstanceId) {
        if let Some(instance) = self.instance_mut(id) {
            if instance.state == State::Pending && instance.goal == Goal::Down {
                instance.state = State::Stopped;
                instance.detail = None;
            }
        }
    }

    /// Starts what is due (pulling in what it requires, as `tmctl start` does).
    pub(super) fn fire_schedules(&mut self, now: Instant, out: &mut Actions) {
        let due: Vec<InstanceId> = self
            .schedules
            .at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.schedules.at.remove(&id);
            self.unschedule(&id);
            if self.instance(&id).is_none() || self.shutting_down {
                continue;
            }
            let name = self.instance_name(&id);
            out.push(log(Level::Info, format!("{name}: scheduled start is due")));
            self.start_instance(&id, out);
        }
    }
}
