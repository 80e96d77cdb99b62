//! Every resource a client, a file or a fault can make the daemon spend is bounded, and
//! reaching a bound ends in a clear error, never a wedged or bloated daemon (README "Limits").

use crate::common::*;
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

/// A service whose block holds `levels` nested blocks: valid KDL, deep enough (at 2,000)
/// to overflow a recursive parser's stack.
pub fn deeply_nested_service(levels: usize) -> String {
    format!(
        "service \"deep\" {{\n    cmd \"/bin/true\"\n    {}{}\n}}\n",
        "x { ".repeat(levels),
        "} ".repeat(levels)
    )
}

#[test]
fn check_refuses_deep_nesting_and_a_huge_file_naming_each() {
    let h = Harness::new();
    h.service("deep", &deeply_nested_service(2000));
    let mut huge = String::from("service \"huge\" {\n    cmd \"/bin/true\"\n}\n");
    huge.push_str(&format!("// {}\n", "x".repeat(1024 * 1024)));
    h.service("huge", &huge);
    let out = h.check();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let deep = h.service_path("deep").display().to_string();
    let big = h.service_path("huge").display().to_string();
    assert!(
        stderr.contains(&format!("{deep}:3:")) && stderr.contains("nested more than 32 levels"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&big) && stderr.contains("larger than 1024 KiB"),
        "{stderr}"
    );
}

#[test]
fn a_reload_of_a_deeply_nested_file_is_rejected_and_the_daemon_goes_on() {
    let mut h = Harness::running_sleeper();
    let pid = h.running_pid("a");
    h.service("deep", &deeply_nested_service(2000));
    let err = h.fails(&["reload"]);
    assert!(
        err.contains("deep.kdl") && err.contains("nested more than 32 levels"),
        "{err}"
    );
    assert!(h.daemon_alive());
    assert_eq!(h.running_pid("a"), pid, "nothing running is lost");
}

#[test]
fn the_loop_answers_while_a_reload_parses_a_large_config() {
    let h = Harness::running_sleeper();
    // Parsing 2 x 200 KiB takes seconds in a debug build.
    let big = "y".repeat(200 * 1024);
    for i in 0..2 {
        h.service(
            &format!("big{i}"),
            &format!(
                "service \"big{i}\" {{\n    cmd \"/bin/true\"\n    autostart #false\n    env {{ BIG \"{big}\" }}\n}}\n"
            ),
        );
    }
    let reload = h
        .ctl_command(&["reload"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tmctl reload");
    h.wait_log(&["reload: reading"]);
    // The loop is not busy parsing: status answers while the reload is still going.
    h.ok(&["status", "a"]);
    let mut reload = reload;
    let still_loading = reload.try_wait().expect("try_wait").is_none();
    let out = wait_output(reload, "tmctl reload");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        still_loading,
        "status was answered only after the reload: {}",
        text(&out)
    );
    assert_eq!(h.state("big1"), "STOPPED");
}
