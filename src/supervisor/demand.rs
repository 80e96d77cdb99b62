//! `start-on-demand`: which services wait for their first connection, and starting one
//! when it comes. The loop polls the sockets only of the services named here, so a
//! service that is up (or FATAL, waiting for a person) costs no wakeup however many
//! connections wait in its backlog.

use super::instance::Goal;
use super::state::State;
use super::Level;
use super::{log, Actions, Service, Supervisor};

impl Supervisor {
    /// Services whose sockets a connection should start them by: `start-on-demand`, and
    /// every instance down (STOPPED or EXITED) with nobody asking it up.
    pub fn waiting_for_connections(&self) -> Vec<String> {
        if self.shutting_down {
            return Vec::new();
        }
        let waiting = |s: &&Service| {
            !s.removed
                && s.spec.triggers.start_on_demand
                && s.instances.values().all(|i| {
                    i.goal == Goal::Down && matches!(i.state, State::Stopped | State::Exited)
                })
        };
        // The loop asks every turn: from the list kept with the timers, unless something
        // changed since it was brought up to date (then from every service).
        if self.services.untimed.is_empty() {
            self.on_demand
                .iter()
                .filter_map(|name| self.services.get(name))
                .filter(waiting)
                .map(|s| s.spec.name.clone())
                .collect()
        } else {
            self.services
                .values()
                .filter(waiting)
                .map(|s| s.spec.name.clone())
                .collect()
        }
    }

    /// A connection is waiting on a socket of `service`: start it.
    pub(super) fn on_demand(&mut self, service: &str, out: &mut Actions) {
        if !self.waiting_for_connections().iter().any(|s| s == service) {
            return;
        }
        out.push(log(
            Level::Info,
            format!("{service}: a connection is waiting on its socket: starting it"),
        ));
        self.start_service(service, out);
    }
}
