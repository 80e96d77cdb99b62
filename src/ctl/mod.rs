//! tmctl: one-shot commands, the interactive shell, and how replies are shown.

pub mod command;
pub mod shell_line;

#[cfg(test)]
pub(crate) mod fake_daemon;
