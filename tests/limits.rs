//! Every resource a client, a file or a fault can make the daemon spend is bounded, and
//! reaching a bound ends in a clear error, never a wedged or bloated daemon (README "Limits").

use crate::common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;

/// The daemon's command with both open-files limits set to `n` (as `prlimit --nofile=n:n`).
fn daemon_with_nofile(h: &Harness, n: u64) -> std::process::Command {
    let mut cmd = h.daemon_command();
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's own limits.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn running_out_of_descriptors_pauses_accepting_only_for_a_while() {
    let mut h = Harness::new();
    h.sleeper("a");
    let cmd = daemon_with_nofile(&h, 16);
    h.start_command(cmd);
    h.wait_state("a", "RUNNING");
    // More connections than the daemon has descriptors: it accepts what it can, then
    // runs out and pauses accepting.
    let flood: Vec<UnixStream> = (0..40)
        .filter_map(|_| UnixStream::connect(&h.socket).ok())
        .collect();
    h.wait_log(&["out of file descriptors"]);
    drop(flood);
    // The closed connections free the daemon's descriptors; the pause must end by itself.
    wait_until("tmctl status to answer again", || {
        h.ctl(&["status"]).status.success()
    });
    assert!(h.daemon_alive());
}

#[test]
fn tail_of_a_fifo_or_a_device_is_refused_without_blocking_or_reading_forever() {
    let mut h = Harness::new();
    let out = h.path("out.log");
    h.service(
        "fifo",
        &format!(
            "service \"fifo\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    stdout \"{}\"\n}}\n",
            out.display()
        ),
    );
    h.service(
        "zero",
        "service \"zero\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    stdout \"/dev/zero\"\n}\n",
    );
    h.start();
    h.wait_state("fifo", "RUNNING");
    h.wait_state("zero", "RUNNING");
    // The output path becomes a FIFO nobody writes to: opening it to read would wait for
    // a writer forever.
    std::fs::remove_file(&out).expect("remove");
    nix::unistd::mkfifo(&out, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let err = h.fails(&["tail", "fifo"]);
    assert!(err.contains("not a regular file"), "{err}");
    // /dev/zero never ends: reading it to the end would grow the daemon without bound.
    let err = h.fails(&["tail", "zero"]);
    assert!(err.contains("not a regular file"), "{err}");
    h.ok(&["status"]);
}
