//! Integration tests: the real binaries with real processes.

mod common;

mod check;
mod commands;
mod fields;
mod lifecycle;
mod reload;
