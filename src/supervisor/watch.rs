//! `watch`: what a change to a watched file does (SPEC.md, "Events"). The loop reports
//! each change the kernel tells of; the core waits until the service's files have been
//! quiet for [`QUIET`], then restarts its running instances (as `tmctl restart` does,
//! `pre-start` included) or sends them `watch-signal`.

use super::instance::Goal;
use super::state::State;
use super::Level;
use super::{log, Action, Actions, InstanceId, Supervisor};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a service's watched files must be quiet before it is restarted: an editor's
/// save or a package upgrade is several writes and renames, which make one restart.
pub const QUIET: Duration = Duration::from_millis(500);

/// Services with a change not acted on yet: when it is due, and the last path that changed.
#[derive(Debug, Default)]
pub struct PendingChanges {
    due: BTreeMap<String, (Instant, PathBuf)>,
}

impl PendingChanges {
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.values().map(|(at, _)| *at).min()
    }
}

impl Supervisor {
    /// Every service's watched paths, for the loop's inotify watches.
    pub fn watched_paths(&self) -> Vec<(String, Vec<PathBuf>)> {
        self.services
            .values()
            .filter(|s| !s.removed && !s.spec.triggers.watch.is_empty())
            .map(|s| (s.spec.name.clone(), s.spec.triggers.watch.clone()))
            .collect()
    }

    /// A watched file of `service` changed: act once it has been quiet for [`QUIET`].
    pub(super) fn on_watched_change(&mut self, service: String, path: PathBuf, now: Instant) {
        if self.services.get(&service).is_some_and(|s| !s.removed) {
            self.changes.due.insert(service, (now + QUIET, path));
        }
    }

    /// Acts on the changes whose quiet time has passed.
    pub(super) fn act_on_changes(&mut self, now: Instant, out: &mut Actions) {
        let due: Vec<String> = self
            .changes
            .due
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            let Some((_, path)) = self.changes.due.remove(&name) else {
                continue;
            };
            self.act_on_change(&name, &path, now, out);
        }
    }

    fn act_on_change(
        &mut self,
        name: &str,
        path: &std::path::Path,
        now: Instant,
        out: &mut Actions,
    ) {
        let Some(service) = self.services.get(name).filter(|s| !s.removed) else {
            return;
        };
        let running: Vec<(InstanceId, i32)> = service
            .instances
            .iter()
            .filter(|(_, i)| {
                i.goal == Goal::Up && matches!(i.state, State::Running | State::Starting)
            })
            .filter_map(|(index, i)| {
                let id = InstanceId {
                    service: name.to_string(),
                    index: *index,
                };
                Some((id, i.pid?))
            })
            .collect();
        let what = path.display();
        if running.is_empty() {
            out.push(log(
                Level::Info,
                format!("{name}: watched {what} changed; not running, nothing to do"),
            ));
            return;
        }
        if self.shutting_down {
            return;
        }
        if let Some(signal) = service.spec.triggers.watch_signal {
            let word = crate::signals::name(signal);
            for (id, pid) in running {
                out.push(log(
                    Level::Info,
                    format!(
                        "{} (pid {pid}): watched {what} changed: SIG{word}",
                        self.instance_name(&id)
                    ),
                ));
                out.push(Action::Signal {
                    pid,
                    signal,
                    group: false,
                });
            }
            return;
        }
        out.push(log(
            Level::Info,
            format!("{name}: watched {what} changed: restarting"),
        ));
        let ids = running.into_iter().map(|(id, _)| id).collect();
        let (ids, checks) = self.restarts_to_vet(ids);
        for id in &ids {
            self.restart_instance(id, out);
        }
        for (service, ids) in checks {
            self.begin_check(&service, super::Vetted::Restart(ids), now, out);
        }
    }

    /// Changes waiting for services a reload removed are dropped.
    pub(super) fn forget_removed_watches(&mut self) {
        let services = &self.services;
        self.changes
            .due
            .retain(|name, _| services.get(name).is_some_and(|s| !s.removed));
    }
}
