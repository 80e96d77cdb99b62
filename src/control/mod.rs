//! The control socket: protocol types shared by `taskmasterd` and `tmctl`, and the client side.

pub mod client;
pub mod from_core;
pub mod proto;
pub mod spare_read;
pub mod table_reply;
pub mod wire_status;

use std::path::PathBuf;

/// The socket both binaries use when none is given: `$TASKMASTER_SOCKET`, else
/// `/run/taskmaster.sock` for root, else `$XDG_RUNTIME_DIR/taskmaster.sock`, else
/// `/tmp/taskmaster-UID.sock` (SPEC.md, "taskmasterd flags").
pub fn default_socket_path() -> PathBuf {
    if let Some(path) = std::env::var_os("TASKMASTER_SOCKET").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let uid = nix::unistd::getuid();
    if uid.is_root() {
        return PathBuf::from("/run/taskmaster.sock");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("taskmaster.sock"),
        None => PathBuf::from(format!("/tmp/taskmaster-{uid}.sock")),
    }
}
