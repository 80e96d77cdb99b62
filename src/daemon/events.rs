//! State-change events on their way out: to the clients subscribed with `tmctl events`
//! (`on-event` hooks are jobs the core starts: see supervisor/hook_jobs.rs).

use super::Daemon;
use crate::control::proto::{ErrorKind, EventRecord, Response};
use crate::supervisor::hooks::StateEvent;
use crate::supervisor::{ClientId, ExitStatus};
use std::time::SystemTime;

impl Daemon {
    /// `tmctl events [NAME...]`: check the names, then stream every matching change.
    pub(super) fn subscribe(&mut self, client: ClientId, names: Vec<String>) {
        if !names.is_empty() {
            if let Err(message) = self.core.resolve(&names) {
                return self.reply(client, Response::error(ErrorKind::UnknownName, message));
            }
        }
        let line = match names.as_slice() {
            [] => "following the state changes of every instance".to_string(),
            some => format!("following the state changes of {}", some.join(", ")),
        };
        self.reply(client, Response::Ok { lines: vec![line] });
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
            c.events = Some(names);
        }
    }

    /// Sends one change to every subscriber that asked for it; a subscriber that lags
    /// skips events and is told how many with the next one it gets.
    pub(super) fn publish(&mut self, event: StateEvent) {
        let mut record = None;
        for client in &mut self.clients {
            let wanted = client.events.as_ref().is_some_and(|names| {
                names.is_empty()
                    || names
                        .iter()
                        .any(|n| *n == event.name || *n == event.service || n == "all")
            });
            if !wanted {
                continue;
            }
            if client.lags() {
                client.events_missed += 1;
                continue;
            }
            let mut record = record.get_or_insert_with(|| event_record(&event)).clone();
            record.missed = std::mem::take(&mut client.events_missed);
            client.send(&Response::Event(Box::new(record)));
        }
    }
}

fn event_record(event: &StateEvent) -> EventRecord {
    let (exit_code, exit_signal) = match event.exit {
        Some(ExitStatus::Code(code)) => (Some(code), None),
        Some(ExitStatus::Signal(sig)) => (None, Some(crate::signals::name(sig).to_string())),
        None => (None, None),
    };
    EventRecord {
        time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        event: event.event.clone(),
        name: event.name.clone(),
        service: event.service.clone(),
        instance: event.index,
        pid: event.pid,
        exit_code,
        exit_signal,
        prev_state: event.prev_state.word().to_string(),
        missed: 0,
    }
}
