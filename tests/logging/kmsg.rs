//! As PID 1 with no syslog yet, event lines also go to the kernel log (`/dev/kmsg`), where
//! `dmesg` shows them and journald imports them once it runs. This writes a few lines to
//! this machine's kernel log, tagged `taskmaster:`.

use crate::common::*;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};

/// Every record in the kernel log, as `/dev/kmsg` gives them (`PRI,SEQ,TIME,-;TEXT`).
fn kernel_log() -> Vec<String> {
    let Ok(mut kmsg) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    else {
        return Vec::new();
    };
    let mut records = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match kmsg.read(&mut buf) {
            Ok(n) if n > 0 => records.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            // EPIPE: a record was overwritten while reading; go on with the next.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            _ => return records,
        }
    }
}

#[test]
fn as_pid1_lines_go_to_the_kernel_log_while_syslog_is_missing() {
    let h = Harness::new();
    let missing = h.path("no-syslog-here.sock");
    let mut init = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount",
            "--mount-proc",
        ])
        .arg(taskmasterd_bin())
        .arg("-c")
        .arg(&h.services)
        .arg("-s")
        .arg(&h.socket)
        .arg("-l")
        .arg(&h.log)
        .arg("--syslog-socket")
        .arg(&missing)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare taskmasterd");
    // One of the first lines (the kernel lets a writer burst 10 lines, then rate-limits):
    // the outage notice, which names this test's own socket path.
    let wanted = format!("taskmaster: syslog: cannot send to {}", missing.display());
    let mut found = None;
    wait_until("the outage notice in the kernel log", || {
        found = kernel_log().into_iter().find(|r| r.contains(&wanted));
        found.is_some()
    });
    // Facility daemon (3), severity warning (4): 3 * 8 + 4.
    let record = found.expect("found");
    assert!(record.starts_with("28,"), "{record}");
    let socket = h.socket.clone();
    wait_until("the control socket", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    h.ok(&["poweroff"]);
    let _ = init.wait();
}
