//! Rescue mode: a boot (kernel command line `single`, `taskmaster.rescue`) that starts only
//! the services marked `rescue #true`, with what they require, while a person repairs the
//! machine from the console. Leaving it starts the rest, as a normal boot would have.

use super::{log, Actions, Level, Supervisor};
use crate::config::ServiceSpec;
use std::time::Instant;

impl Supervisor {
    /// Whether `spec` is started without anyone asking (at boot, when a reload or an
    /// upgrade adds it): `autostart`, and in rescue mode also `rescue #true`.
    pub(super) fn starts_by_itself(&self, spec: &ServiceSpec) -> bool {
        spec.policy.autostart && (!self.rescue || spec.policy.rescue)
    }

    /// [`Event::Boot`](super::Event::Boot) and [`Event::RescueBoot`](super::Event::RescueBoot).
    pub(super) fn boot(&mut self, rescue: bool, now: Instant, out: &mut Actions) {
        self.timeline.boot(now);
        self.rescue = rescue;
        let names: Vec<String> = self
            .services
            .values()
            .filter(|s| self.starts_by_itself(&s.spec))
            .map(|s| s.spec.name.clone())
            .collect();
        if rescue {
            let list = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            out.push(log(
                Level::Warning,
                format!(
                    "rescue mode: starting only the services marked rescue #true ({list}) and what they require"
                ),
            ));
        }
        for name in names {
            self.start_service(&name, out);
        }
    }

    /// [`Event::LeaveRescue`](super::Event::LeaveRescue): the rest of the boot.
    pub(super) fn leave_rescue(&mut self, out: &mut Actions) {
        if !self.rescue {
            return;
        }
        self.rescue = false;
        out.push(log(
            Level::Info,
            "rescue mode left: starting the other services",
        ));
        // Those marked `rescue` were started at boot: one the person stopped stays stopped,
        // a oneshot that ran is not run again (nor one pulled in: `start_service` keeps a
        // succeeded oneshot done).
        let names: Vec<String> = self
            .services
            .values()
            .filter(|s| s.spec.policy.autostart && !s.spec.policy.rescue)
            .map(|s| s.spec.name.clone())
            .collect();
        for name in names {
            self.start_service(&name, out);
        }
    }

    pub fn in_rescue(&self) -> bool {
        self.rescue
    }

    /// Before [`take_over`](Supervisor::take_over): the mode the old daemon was in.
    pub fn set_rescue(&mut self, rescue: bool) {
        self.touched();
        self.rescue = rescue;
    }
}
