//! The file `tmctl upgrade` hands to the new binary: one memfd, versioned, holding a JSON
//! header line (the core's instances, the fds that stay open across execve and what each
//! is for) followed by the captured output rings as raw bytes, in the header's order.

use crate::supervisor::InstanceHandover;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The format this binary writes and reads; `--upgrade-check` prints it, and the old
/// daemon refuses to exec a binary that reads another.
pub const HANDOVER_VERSION: u32 = 1;

/// A handover is never read past this (rings are 64 KiB per stream; the header is small).
const MAX_HANDOVER_BYTES: u64 = 1024 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub struct Handover {
    pub version: u32,
    pub instances: Vec<InstanceHandover>,
    pub pipes: Vec<PipeHandover>,
    pub rings: Vec<RingHandover>,
    pub ready_pipes: Vec<ReadyPipeHandover>,
    pub listener: Option<RawFd>,
    pub socket_inode: Option<u64>,
    pub notify: Option<RawFd>,
    /// The client that asked for the upgrade: the new daemon answers it.
    pub client: Option<RawFd>,
    pub next_client: u64,
    pub shell_pid: Option<i32>,
    /// Rescue mode's console shell, while the old image was in rescue mode.
    #[serde(default)]
    pub rescue_shell: Option<i32>,
    /// The old image was in rescue mode (its shell not left yet).
    #[serde(default)]
    pub rescue: bool,
    /// The open-files limit services get (the daemon's own before it raised it).
    pub child_nofile: Option<(u64, u64)>,
    /// The `listen` sockets, each once: connections waiting in their backlogs stay there.
    #[serde(default)]
    pub listen: Vec<ListenHandover>,
    /// The boot's timeline, for `tmctl analyze` after the upgrade.
    #[serde(default)]
    pub timeline: Option<crate::supervisor::TimelineHandover>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ListenHandover {
    pub addr: crate::config::ListenAddr,
    pub fd: RawFd,
}

/// An output pipe the daemon reads, and where its bytes go.
#[derive(Debug, Serialize, Deserialize)]
pub struct PipeHandover {
    pub fd: RawFd,
    pub service: String,
    pub index: u32,
    pub stderr: bool,
    pub sink: SinkHandover,
    /// The start of a UTF-8 character whose other bytes are still in the pipe.
    pub partial_char: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum SinkHandover {
    Capture,
    /// Syslog, tagged with this instance name and pid, sent as `origin` (its process).
    Syslog {
        name: String,
        pid: u32,
        /// Absent from handovers of images that sent every line as their own.
        #[serde(default)]
        origin: Option<crate::log::Origin>,
    },
    File(std::path::PathBuf),
    /// An `on-event` hook's run, logged under this name; `logged` lines so far.
    EventLog {
        name: String,
        logged: usize,
    },
}

/// A captured output ring; its `len` bytes follow the header.
#[derive(Debug, Serialize, Deserialize)]
pub struct RingHandover {
    pub service: String,
    pub index: u32,
    pub stderr: bool,
    /// Bytes ever pushed (marks taken from it stay valid).
    pub total: u64,
    pub len: usize,
    /// For stderr rings: where the current process's output starts.
    pub stderr_mark: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ReadyPipeHandover {
    pub fd: RawFd,
    pub service: String,
    pub index: u32,
    pub pid: i32,
}

/// Why a handover could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("handover file: {0}")]
    Io(#[from] std::io::Error),
    #[error("handover file: {0}")]
    Sys(#[from] nix::Error),
    #[error("handover file: not a handover ({0})")]
    Format(#[from] serde_json::Error),
    #[error("handover file: version {0} (this taskmasterd reads {HANDOVER_VERSION})")]
    Version(u32),
    #[error("handover file: truncated")]
    Truncated,
}

impl Handover {
    /// Every fd that must survive execve.
    pub fn fds(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = self.pipes.iter().map(|p| p.fd).collect();
        fds.extend(self.ready_pipes.iter().map(|p| p.fd));
        fds.extend(self.listener);
        fds.extend(self.notify);
        fds.extend(self.client);
        fds.extend(self.listen.iter().map(|l| l.fd));
        fds
    }

    /// Writes the header and the rings' bytes into a new memfd, rewound for the reader.
    pub fn write(&self, rings: &[Vec<u8>]) -> Result<OwnedFd, HandoverError> {
        let fd = nix::sys::memfd::memfd_create(
            "taskmaster-handover",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )?;
        let mut file = std::fs::File::from(fd);
        let mut header = serde_json::to_vec(self)?;
        header.push(b'\n');
        file.write_all(&header)?;
        for bytes in rings {
            file.write_all(bytes)?;
        }
        file.seek(SeekFrom::Start(0))?;
        Ok(OwnedFd::from(file))
    }

    /// Reads what [`Handover::write`] wrote from the fd number passed on the command line
    /// (taking ownership of it: it is closed here).
    pub fn read(fd: RawFd) -> Result<(Handover, Vec<Vec<u8>>), HandoverError> {
        // SAFETY: the fd was handed to us by the old image for exactly this; nothing else
        // in this process owns it.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut data = Vec::new();
        Read::by_ref(&mut file)
            .take(MAX_HANDOVER_BYTES)
            .read_to_end(&mut data)?;
        let end = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(HandoverError::Truncated)?;
        // The version first, so that a newer format is named as such, not as garbage.
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let version: Version = serde_json::from_slice(&data[..end])?;
        if version.version != HANDOVER_VERSION {
            return Err(HandoverError::Version(version.version));
        }
        let handover: Handover = serde_json::from_slice(&data[..end])?;
        let mut rings = Vec::new();
        let mut at = end + 1;
        for ring in &handover.rings {
            let bytes = data
                .get(at..at + ring.len)
                .ok_or(HandoverError::Truncated)?;
            rings.push(bytes.to_vec());
            at += ring.len;
        }
        Ok((handover, rings))
    }
}

/// Sets or clears close-on-exec on an fd we keep.
pub fn set_cloexec(fd: RawFd, on: bool) {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // SAFETY: a plain fcntl on an fd number; a closed one only makes it fail.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    let _ = fcntl(fd, FcntlArg::F_SETFD(flags));
}
