//! The control socket: mode 0600, only root and the daemon's user may talk (SO_PEERCRED),
//! a stale socket file is replaced, a live daemon's socket is never stolen.

use crate::common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

fn daemon() -> Harness {
    Harness::running_sleeper()
}

/// `tmctl -s SOCKET ARGS` run as nobody:nogroup with no supplementary groups.
fn tmctl_as_nobody(h: &Harness, args: &[&str]) -> std::process::Output {
    let child = Command::new("setpriv")
        .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
        .arg(tmctl_bin())
        .arg("-s")
        .arg(&h.socket)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("setpriv");
    wait_output(child, "tmctl as nobody")
}

#[test]
fn the_socket_is_created_mode_0600_owned_by_the_daemons_user() {
    let h = daemon();
    let meta = std::fs::symlink_metadata(&h.socket).expect("socket");
    assert!(std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), 0);
}

#[test]
fn another_user_is_refused_by_the_socket_mode() {
    let h = daemon();
    // Reaching the socket is possible; connecting to it is not (mode 0600).
    h.open_to_others();
    let out = tmctl_as_nobody(&h, &["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("permission denied"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}

#[test]
fn another_user_is_refused_by_the_daemon_even_through_a_world_writable_socket() {
    let h = daemon();
    h.open_to_others();
    set_mode(&h.socket, 0o666);
    for args in [&["status"][..], &["stop", "a"], &["shutdown"]] {
        let out = tmctl_as_nobody(&h, args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("permission denied"), "{args:?}: {err}");
    }
    h.wait_log(&["refused", "uid 65534", "permission denied"]);
    // Nothing nobody asked for happened; root is still served.
    assert_eq!(h.state("a"), "RUNNING");
    h.ok(&["status"]);
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let mut h = Harness::new();
    h.sleeper("a");
    // A socket file nobody listens on any more, as a killed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&h.socket).expect("bind"));
    assert!(h.socket.exists());
    h.start();
    h.wait_state("a", "RUNNING");
    let mode = std::fs::metadata(&h.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_live_daemons_socket_is_not_stolen() {
    let mut h = daemon();
    let pid = h.running_pid("a");
    let out = h.run_daemon_to_exit();
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(&h.socket.display().to_string()),
        "names the socket: {said}"
    );
    assert!(said.contains("in use"), "{said}");
    // The first daemon still owns it, and its services were not touched.
    assert!(h.daemon_alive());
    assert_eq!(h.pid("a"), Some(pid));
    assert_eq!(h.status().len(), 1);
}

#[test]
fn tmctl_finds_the_socket_in_taskmaster_socket() {
    let h = daemon();
    let child = Command::new(tmctl_bin())
        .arg("status")
        .env("TASKMASTER_SOCKET", &h.socket)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tmctl");
    let out = wait_output(child, "tmctl status");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("RUNNING"));
}
