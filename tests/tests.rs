//! Integration tests: the real binaries with real processes.

mod common;

mod lifecycle;
mod logging;
mod pid1;
