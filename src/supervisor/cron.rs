//! `schedule "*/5 * * * *"` on a oneshot: started at every matching minute (local time).
//!
//! The next matching minute of each scheduled service is one more deadline of the loop, as
//! a monotonic instant; nothing polls. The wall clock (told by the loop through
//! [`Supervisor::set_wall_clock`], a fake one in tests) is read only to find that minute
//! and, when the deadline comes, to check the minute has really come: if the clock was set
//! back meanwhile, the deadline moves instead of starting early. A run still going when the
//! next is due is not started twice: that run is skipped and the skip logged.

use super::Level;
use super::{log, Actions, Goal, InstanceId, State, Supervisor};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

/// When a scheduled service is next due.
#[derive(Debug)]
struct Due {
    /// The loop's deadline.
    at: Instant,
    /// The matching minute it stands for.
    wall: SystemTime,
    /// The schedule it was computed from: a reload that changes it computes anew, one that
    /// keeps it keeps this.
    text: String,
}

#[derive(Debug)]
pub(super) struct CronTable {
    due: BTreeMap<String, Due>,
    /// The services' schedules changed (boot, reload, upgrade): arm them at the next event,
    /// once the loop has told the wall clock.
    stale: bool,
}

impl Default for CronTable {
    fn default() -> Self {
        CronTable {
            due: BTreeMap::new(),
            stale: true,
        }
    }
}

impl CronTable {
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.values().map(|d| d.at).min()
    }

    /// After a reload: schedules are compared with what is armed at the next event.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// The minute a service is next started at, for `status`.
    pub fn next_run(&self, service: &str) -> Option<SystemTime> {
        self.due.get(service).map(|d| d.wall)
    }
}

impl Supervisor {
    /// Arms every service's schedule that is not armed, or armed from another schedule
    /// string; forgets those of services that no longer have one. An unchanged schedule
    /// keeps its due minute (a reload does not move it).
    fn arm_crons(&mut self, now: Instant, out: &mut Actions) {
        let Some(wall_now) = self.schedules.wall_at(now) else {
            return; // not told yet: armed at the next event
        };
        self.crons.stale = false;
        let wanted: BTreeMap<String, crate::config::CronSchedule> = self
            .services
            .values()
            .filter(|s| !s.removed && s.job.is_none())
            .filter_map(|s| Some((s.spec.name.clone(), s.spec.policy.schedule.clone()?)))
            .collect();
        self.crons.due.retain(|name, due| {
            wanted
                .get(name)
                .is_some_and(|schedule| schedule.text() == due.text)
        });
        for (name, schedule) in wanted {
            if self.crons.due.contains_key(&name) {
                continue;
            }
            match schedule.next_after(wall_now) {
                Some(wall) => {
                    let ahead = wall.duration_since(wall_now).unwrap_or(Duration::ZERO);
                    let due = Due {
                        at: now + ahead,
                        wall,
                        text: schedule.text().to_string(),
                    };
                    self.crons.due.insert(name, due);
                }
                None => out.push(log(
                    Level::Warning,
                    format!(
                        "{name}: schedule {:?} matches no date: never started by it",
                        schedule.text()
                    ),
                )),
            }
        }
    }

    /// Starts the scheduled services whose minute has come (and arms what needs arming).
    pub(super) fn fire_crons(&mut self, now: Instant, out: &mut Actions) {
        if self.shutting_down {
            return;
        }
        if self.crons.stale {
            self.arm_crons(now, out);
        }
        if self.crons.next_deadline().is_none_or(|at| at > now) {
            return;
        }
        let Some(wall_now) = self.schedules.wall_at(now) else {
            return;
        };
        let due: Vec<String> = self
            .crons
            .due
            .iter()
            .filter(|(_, d)| d.at <= now)
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            let Some(entry) = self.crons.due.get_mut(&name) else {
                continue;
            };
            if let Ok(early) = entry.wall.duration_since(wall_now) {
                if !early.is_zero() {
                    // The wall clock was set back (or runs behind the monotonic one): the
                    // minute has not come yet.
                    entry.at = now + early;
                    continue;
                }
            }
            let from = entry.wall.max(wall_now);
            let schedule = self
                .services
                .get(&name)
                .and_then(|s| s.spec.policy.schedule.clone());
            match schedule.as_ref().and_then(|s| s.next_after(from)) {
                Some(next) => {
                    entry.at = now + next.duration_since(wall_now).unwrap_or(Duration::ZERO);
                    entry.wall = next;
                }
                None => {
                    self.crons.due.remove(&name);
                }
            }
            self.run_scheduled(&name, schedule.as_ref().map_or("", |s| s.text()), out);
        }
    }

    /// One scheduled run of every instance of `name`; an instance still going is skipped.
    fn run_scheduled(&mut self, name: &str, text: &str, out: &mut Actions) {
        let Some(service) = self.services.get(name) else {
            return;
        };
        let ids: Vec<InstanceId> = service
            .instances
            .iter()
            .filter(|(_, i)| !i.retiring)
            .map(|(&index, _)| InstanceId {
                service: name.to_string(),
                index,
            })
            .collect();
        for id in ids {
            let instance_name = self.instance_name(&id);
            let Some(i) = self.instance_mut(&id) else {
                continue;
            };
            let done = matches!(i.state, State::Exited | State::Fatal | State::Stopped);
            if i.is_active() || (i.goal == Goal::Up && !done) {
                let state = i.state;
                out.push(log(
                    Level::Warning,
                    format!(
                        "{instance_name}: scheduled run ({text}) skipped: the previous run is \
                         still going ({state})"
                    ),
                ));
                continue;
            }
            // A fresh start, as `tmctl start` gives an ended or failed instance.
            i.goal = Goal::Down;
            self.schedules.take(&id);
            out.push(log(
                Level::Info,
                format!("{instance_name}: scheduled run ({text})"),
            ));
            self.start_instance(&id, out);
        }
    }

    /// `start at 12:05:00` for a scheduled service, for `status`.
    pub(super) fn next_run_text(&self, service: &str) -> Option<String> {
        let wall = self.crons.next_run(service)?;
        Some(self.schedules.describe_wall(wall))
    }
}
