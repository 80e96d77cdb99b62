//! The control socket: created mode 0600 with no window where it is wider, never stolen
//! from a live daemon, replaced when stale.

use nix::sys::stat::{umask, Mode};
use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "socket {0} is in use by a running taskmasterd; stop it first or choose another with -s"
    )]
    InUse(String),
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
    if path.exists() || path.symlink_metadata().is_ok() {
        if UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(shown));
        }
        std::fs::remove_file(path).map_err(create)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(create)?;
    }
    // bind(2) creates the file with the umask applied: 0177 leaves exactly 0600.
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(previous);
    let listener = bound.map_err(create)?;
    listener.set_nonblocking(true).map_err(create)?;
    Ok(listener)
}
