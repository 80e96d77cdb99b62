//! Integration tests: the real binaries with real processes.

mod common;

mod fields;
mod lifecycle;
