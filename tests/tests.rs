//! Integration tests: the real binaries with real processes.

mod common;

mod commands;
mod fields;
mod lifecycle;
mod reload;
