//! The command lines of taskmasterd, tmctl and the power commands (`poweroff`, `reboot`,
//! `halt`, `shutdown`), as clap definitions in the library: the binaries parse with them,
//! and `examples/gen-docs.rs` makes the man pages and shell completions from the very same
//! definitions, so the options are written once.

pub mod power;
pub mod taskmasterd;
pub mod tmctl;

pub use power::{PowerAction, PowerCommand};
pub use taskmasterd::Args as TaskmasterdArgs;
pub use tmctl::Cli as TmctlCli;
