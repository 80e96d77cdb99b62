//! taskmaster: a process supervisor that can boot a Linux machine as its init.
//!
//! The shape (see DESIGN.md): a pure core ([`supervisor`]) that decides, and a thin shell
//! ([`daemon`], [`process`]) that performs system calls.

pub mod config;
pub mod control;
pub mod graph;
