//! `poweroff`, `reboot`, `halt` and `shutdown`: tmctl called by those names (as the
//! taskmaster-init package links them), against a real taskmasterd as PID 1 of user + pid +
//! mount namespaces, where reboot(2) only ends the namespace (SIGHUP for a restart, SIGINT
//! for power off or halt, as the kernel reports it to the namespace's parent).

use crate::common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

/// tmctl linked under `name` in the harness's dir, as /sbin/poweroff is in the package.
fn power_command(h: &Harness, name: &str) -> PathBuf {
    let link = h.path(name);
    if !link.exists() {
        std::os::unix::fs::symlink(tmctl_bin(), &link).expect("link tmctl");
    }
    link
}

fn run_power(h: &Harness, name: &str, args: &[&str]) -> Output {
    let child = Command::new(power_command(h, name))
        .args(args)
        .env("TASKMASTER_SOCKET", &h.socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the power command");
    wait_output(child, name)
}

/// taskmasterd as PID 1 of fresh namespaces, with one service, its socket answering.
fn start_init(h: &Harness) -> Child {
    h.sleeper("web");
    let mut child = h.pid1_command(&[&"--no-syslog"]).spawn().expect("unshare");
    wait_until("the PID 1 control socket", || {
        std::os::unix::net::UnixStream::connect(&h.socket).is_ok()
            || child.try_wait().ok().flatten().is_some()
    });
    h.wait_state("web", "RUNNING");
    child
}

/// How the namespace ended: unshare's exit code, or 128 + the signal it reports.
fn namespace_end(mut child: Child) -> i32 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the namespace did not end");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn shut_down_by(name: &str, args: &[&str]) -> (i32, String) {
    let h = Harness::new();
    let init = start_init(&h);
    let out = run_power(&h, name, args);
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (namespace_end(init), h.log_text())
}

#[test]
fn poweroff_by_its_own_name_stops_the_services_and_powers_off() {
    let (end, log) = shut_down_by("poweroff", &[]);
    assert_eq!(
        end,
        128 + libc::SIGINT,
        "power off ends the namespace with SIGINT"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("web") && l.contains("STOPPED")),
        "the service was stopped first: {log}"
    );
}

#[test]
fn shutdown_r_now_reboots() {
    let (end, _) = shut_down_by("shutdown", &["-r", "now"]);
    assert_eq!(
        end,
        128 + libc::SIGHUP,
        "a reboot ends the namespace with SIGHUP"
    );
}

#[test]
fn shutdown_h_now_as_vagrant_calls_it_powers_off() {
    let (end, _) = shut_down_by("shutdown", &["-h", "now"]);
    assert_eq!(end, 128 + libc::SIGINT);
}

#[test]
fn reboot_and_halt_by_their_names() {
    let (end, _) = shut_down_by("reboot", &[]);
    assert_eq!(end, 128 + libc::SIGHUP);
    let (end, _) = shut_down_by("halt", &[]);
    assert_eq!(end, 128 + libc::SIGINT);
}

#[test]
fn power_commands_outside_pid_1_are_refused_by_the_daemon_and_bad_words_by_the_parser() {
    let mut h = Harness::running_sleeper();
    let out = run_power(&h, "reboot", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "reboot outside PID 1 must fail");
    assert!(
        stderr.starts_with("reboot: "),
        "named after itself: {stderr}"
    );
    assert!(stderr.contains("PID 1"), "the daemon's refusal: {stderr}");
    assert!(h.daemon_alive(), "the daemon goes on");
    let out = run_power(&h, "shutdown", &["-r", "soon"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("expected now, +MINUTES or HH:MM"),
        "{stderr}"
    );
    // tmctl under its own name is still tmctl.
    assert!(h.ctl(&["status", "a"]).status.success());
}
