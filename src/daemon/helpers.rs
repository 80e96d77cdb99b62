//! `pre-start` processes: spawned like services (same spawn, same privilege dropping), but
//! their stdout and stderr go together into one memory file of bounded size instead of a
//! pipe. The process never blocks on a full pipe and the loop never has to read while it
//! runs: once it has been reaped, the loop reads what it wrote and hands it to the core.
//! Spawning returns at fork, like a service's: whether execve succeeded is read from the
//! exec report when the process is reaped (a failed exec exits 127), so a working directory
//! or program on a hung filesystem never holds the loop.

use super::output::failure;
use crate::config::ProcessSpec;
use crate::process::{ChildFd, ExecOutcome, ExecReport};
use crate::supervisor::SpawnFailure;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;

/// What a pre-start may write; past this its writes fail (EPERM), the file cannot grow.
pub const OUTPUT_BYTES: u64 = 64 * 1024;

#[derive(Default)]
pub struct Helpers {
    /// pid → the memory file its output goes to, and its exec report.
    outputs: HashMap<i32, (File, ExecReport)>,
}

impl Helpers {
    /// Spawns a pre-start; its output is collected by [`Helpers::reaped`].
    pub fn spawn(&mut self, spec: &ProcessSpec) -> Result<i32, SpawnFailure> {
        let problem =
            |e: nix::errno::Errno| failure(format!("pre-start output: {e}"), Some(e as i32));
        let memory = memfd_create(
            c"taskmaster-pre-start",
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )
        .map_err(problem)?;
        // A fixed size, sealed: a chatty command cannot grow the daemon's memory.
        nix::unistd::ftruncate(&memory, OUTPUT_BYTES as i64).map_err(problem)?;
        fcntl(
            &memory,
            FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SHRINK),
        )
        .map_err(problem)?;
        let file = File::from(memory);
        let copy = |file: &File| -> Result<OwnedFd, SpawnFailure> {
            file.try_clone()
                .map(OwnedFd::from)
                .map_err(|e| failure(format!("pre-start output: {e}"), e.raw_os_error()))
        };
        // Both streams share the file's offset, so their lines interleave in order.
        let (stdout, stderr) = (copy(&file)?, copy(&file)?);
        let (pid, report) =
            crate::process::start(spec, ChildFd::Fd(stdout), ChildFd::Fd(stderr), None)
                .map_err(|e| failure(e.to_string(), Some(e.errno as i32)))?;
        let pid = pid.as_raw();
        self.outputs.insert(pid, (file, report));
        Ok(pid)
    }

    /// The output of a pre-start that was reaped, or `None` if `pid` is not one.
    pub fn reaped(&mut self, pid: i32) -> Option<String> {
        let (mut file, mut report) = self.outputs.remove(&pid)?;
        // Reaped, so the report is complete: a failed exec is the reason it ended.
        if let ExecOutcome::Failed(error) = report.read() {
            return Some(error.to_string());
        }
        // The offset the process shared with us is how far it wrote.
        let written = file.stream_position().unwrap_or(0).min(OUTPUT_BYTES);
        let mut bytes = Vec::new();
        let read = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&mut file).take(written).read_to_end(&mut bytes));
        Some(match read {
            Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("(its output could not be read: {e})"),
        })
    }
}
