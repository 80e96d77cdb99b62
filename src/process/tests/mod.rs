//! spawn with real processes; these run as root (privilege drop and capabilities are real).
//!
//! The test harness runs tests on several threads, and spawn forks. That is fine here only
//! because the child uses data prepared before fork and async-signal-safe calls (see
//! `child.rs`); taskmasterd itself is single-threaded. Tests that spawn also take
//! `support::serial()`, so a check for zombies sees only its own children.

mod privileges;
mod resources;
mod spawning;
mod support;
