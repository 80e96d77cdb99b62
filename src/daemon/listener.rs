//! The control socket: created mode 0600 with no window where it is wider, never stolen
//! from a live daemon, replaced when stale.

use nix::sys::stat::{umask, Mode};
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "socket {0} is in use by a running taskmasterd; stop it first or choose another with -s"
    )]
    InUse(String),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(String),
    #[error("cannot create socket {path}: {source}")]
    Create { path: String, source: io::Error },
}

/// Binds the control socket at `path`. A socket file left by a dead daemon is replaced; one
/// that answers belongs to a live daemon and is refused.
pub fn bind(path: &Path) -> Result<UnixListener, ListenError> {
    let shown = path.display().to_string();
    let create = |source| ListenError::Create {
        path: shown.clone(),
        source,
    };
    if let Ok(existing) = path.symlink_metadata() {
        // Only a socket is ours to replace: `-s` pointing at any other file is a mistake,
        // not something to delete.
        if !existing.file_type().is_socket() {
            return Err(ListenError::NotASocket(shown));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(shown));
        }
        std::fs::remove_file(path).map_err(create)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // An explicit mode: not whatever the daemon's umask would leave.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o755)
            .create(dir)
            .map_err(create)?;
    }
    // bind(2) creates the file with the umask applied: 0177 leaves exactly 0600.
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(previous);
    let listener = bound.map_err(create)?;
    listener.set_nonblocking(true).map_err(create)?;
    Ok(listener)
}

/// The inode of the socket file we bound, to recognise it at exit.
pub fn inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    path.symlink_metadata().ok().map(|m| m.ino())
}

/// Removes the socket at exit, if it is still the one we bound (same inode): a daemon
/// started since with the same path keeps its socket.
pub fn remove(path: &Path, bound: Option<u64>) {
    if bound.is_some() && inode(path) == bound {
        let _ = std::fs::remove_file(path);
    }
}
