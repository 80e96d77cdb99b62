//! taskmaster: a process supervisor that can boot a Linux machine as its init.
//!
//! The shape (see DESIGN.md): a pure core ([`supervisor`]) that decides, and a thin shell
//! ([`daemon`], [`process`]) that performs system calls.

// Every unsafe block says why it is sound (a `// SAFETY:` comment), checked by clippy.
#![deny(clippy::undocumented_unsafe_blocks)]

// The unwinder (panics unwind: PID 1 catches them) is linked in statically, from GCC's
// libgcc_eh.a, rather than loaded from libgcc_s.so.1: loading that library costs every
// start of a binary an mmap per segment, its relocations and its constructor, which asks
// the CPU for its features with CPUID, a trap to the hypervisor in a virtual machine; in
// all 0.1 ms of a `tmctl status` whose budget is 1 ms (bench/PROFILES.md). The same
// unwinder, in the binary: `ldd` shows no libgcc_s. Only a native library of this crate
// comes after the Rust code of every crate on the link line (std's included), so its
// objects resolve every `_Unwind_*` symbol before `-lgcc_s`, which `--as-needed` then
// drops.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[link(name = "gcc_eh", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}

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
pub mod shared_names;
pub mod signals;
pub mod supervisor;
