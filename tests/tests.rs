//! Integration tests: the real binaries with real processes.

mod common;

mod bad_input;
mod check;
mod commands;
mod dependencies;
mod event_log;
mod fields;
mod lifecycle;
mod logging;
mod pid1;
mod privileges;
mod readiness;
mod reaping;
mod reload;
mod reload_truth;
mod robustness;
mod shell;
mod socket;
mod strict_mode;
