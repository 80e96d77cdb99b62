//! Integration tests: the real binaries with real processes.

// Every unsafe block says why it is sound (a `// SAFETY:` comment), checked by clippy.
#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

mod bad_input;
mod check;
mod commands;
mod console;
mod dependencies;
mod event_log;
mod events;
mod fields;
mod import;
mod insight;
mod jobs;
mod lifecycle;
mod limits;
mod logging;
mod outliving;
mod packages;
mod pid1;
mod polish;
mod power_commands;
mod privileges;
mod readiness;
mod reaping;
mod reload;
mod reload_truth;
mod robustness;
mod shell;
mod socket;
mod sockets;
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
mod static_tmctl;
mod strict_mode;
mod watch;
