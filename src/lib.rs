//! taskmaster: a process supervisor that can boot a Linux machine as its init.
//!
//! The shape (see DESIGN.md): a pure core ([`supervisor`]) that decides, and a thin shell
//! ([`daemon`], [`process`]) that performs system calls.

// Every unsafe block says why it is sound (a `// SAFETY:` comment), checked by clippy.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod cli;
pub mod client;
pub mod config;
pub mod control;
pub mod ctl;
pub mod daemon;
pub mod graph;
pub mod import;
pub mod init;
pub mod log;
pub mod process;
pub mod signals;
pub mod supervisor;
