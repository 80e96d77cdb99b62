//! Logging: the event log and service output in syslog (a real journald), rotated and
//! byte-exact output files, and followers that cannot slow anyone down.

mod files;
mod followers;
pub mod journal;
mod journald;
mod kmsg;
