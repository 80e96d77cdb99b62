//! What PID 1's console shows of the event log. The console is where the machine tells how
//! its boot and shutdown go, and also where people log in (a getty, a shell): routine events
//! printed there would bury their prompt. So, as systemd does with its status lines:
//! - while booting, every event: progress, and what failed;
//! - once the boot is over (every service meant to be up is up or as far as it will get),
//!   or as soon as a service is spawned writing to the console itself (`stdout` or `stderr`
//!   `"inherit"`: as PID 1 that is the console), only errors: a FATAL service, a config
//!   error, an essential service failing. Warnings (an unexpected exit, a retry) stay in the
//!   log file and syslog: a service that keeps crashing would otherwise write on the console
//!   again and again, which is what this is about;
//! - from the start of a shutdown, every event again, down to the last unmount.
//!
//! Rescue mode's shell has the console while it runs; leaving it starts the rest of the
//! boot, which the console shows again until it is over.
//!
//! Outside PID 1 (in the foreground, under `--shell`) none of this applies.

use super::Daemon;
use crate::log::Level;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConsolePhase {
    /// Every event, since this instant.
    Booting(Instant),
    /// Errors only.
    InUse,
    /// Every event again.
    ShuttingDown,
}

impl Daemon {
    /// At the end of every turn: while booting, whether the boot is over.
    pub(super) fn check_boot_finished(&mut self) {
        let Some(ConsolePhase::Booting(since)) = self.console else {
            return;
        };
        let Some((up, meant)) = self.core.starts_settled() else {
            return;
        };
        let text = format!(
            "boot finished in {:.1}s: {up} of {meant} instance(s) up; the console shows only errors from now on ({})",
            since.elapsed().as_secs_f64(),
            self.where_events_go()
        );
        self.log.write(Level::Info, &text);
        self.quiet_console();
    }

    /// A service was spawned writing to the console: from now on only errors go there.
    pub(super) fn console_taken(&mut self, name: &str) {
        if !matches!(self.console, Some(ConsolePhase::Booting(_))) {
            return;
        }
        let text = format!(
            "{name} writes to the console: it shows only errors from now on ({})",
            self.where_events_go()
        );
        self.log.write(Level::Info, &text);
        self.quiet_console();
    }

    /// The rescue shell was left and the rest of the boot begins: the console shows it.
    pub(super) fn console_boots_again(&mut self) {
        if self.console == Some(ConsolePhase::InUse) {
            self.console = Some(ConsolePhase::Booting(Instant::now()));
            self.log.echo_from(Some(Level::Info));
        }
    }

    /// A shutdown begins: the console shows its progress.
    pub(super) fn console_for_shutdown(&mut self) {
        if self.console.is_some() {
            self.console = Some(ConsolePhase::ShuttingDown);
            self.log.echo_from(Some(Level::Info));
        }
    }

    fn quiet_console(&mut self) {
        self.console = Some(ConsolePhase::InUse);
        self.log.echo_from(Some(Level::Error));
    }

    fn where_events_go(&self) -> String {
        let file = self.opts.log_file.display();
        match &self.opts.syslog_socket {
            Some(_) => format!("every event is in {file} and syslog"),
            None => format!("every event is in {file}"),
        }
    }
}
