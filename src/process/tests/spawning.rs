//! Starting programs: success, each kind of failure, and what the child inherits.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use nix::errno::Errno;
use nix::sys::wait::WaitStatus;

use super::support::{
    assert_status, output_file, serial, spec, stat_fields, wait_until, zombie_children, Child,
};
use crate::process::{spawn, ChildFd, Step};

#[test]
fn true_runs_and_exits_zero() {
    let _serial = serial();
    let child = Child::spawn(&spec(&["/bin/true"]));
    let pid = child.0;
    assert_eq!(child.wait(), WaitStatus::Exited(pid, 0));
}

#[test]
fn a_missing_binary_is_an_exec_error_and_leaves_no_zombie() {
    let _serial = serial();
    let err = spawn(
        &spec(&["/nope/missing"]),
        ChildFd::Inherit,
        ChildFd::Inherit,
    )
    .unwrap_err();
    assert_eq!(err.step, Step::Exec);
    assert_eq!(err.errno, Errno::ENOENT);
    assert_eq!(
        err.to_string(),
        "exec /nope/missing: No such file or directory"
    );
    assert_eq!(zombie_children(), vec![], "the failed child was reaped");
}

#[test]
fn a_program_missing_from_path_fails_with_its_name() {
    let _serial = serial();
    let err = spawn(
        &spec(&["tm-no-such-program"]),
        ChildFd::Inherit,
        ChildFd::Inherit,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec tm-no-such-program: No such file or directory"
    );
}

#[test]
fn a_missing_workingdir_is_a_chdir_error() {
    let _serial = serial();
    let mut spec = spec(&["/bin/true"]);
    spec.workingdir = "/missing-dir".into();
    let err = spawn(&spec, ChildFd::Inherit, ChildFd::Inherit).unwrap_err();
    assert_eq!(
        err.to_string(),
        "chdir /missing-dir: No such file or directory"
    );
    assert_eq!(zombie_children(), vec![]);
}

#[test]
fn a_program_is_found_in_the_services_path() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tm-hello");
    fs::write(&script, "#!/bin/sh\necho hello \"$1\"\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let mut spec = spec(&["tm-hello", "world"]);
    spec.env.insert(
        "PATH".into(),
        format!("{}:/usr/bin:/bin", dir.path().display()),
    );
    let (out, stdout) = output_file(dir.path(), "out");
    let pid = spawn(&spec, stdout, ChildFd::Inherit).unwrap();
    let child = Child(pid);
    assert_eq!(child.wait(), WaitStatus::Exited(pid, 0));
    assert_eq!(fs::read_to_string(out).unwrap(), "hello world\n");
}

#[test]
fn the_environment_is_the_daemons_with_the_services_on_top() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // A variable of ours the service does not override must reach the child as is.
    let (inherited_key, inherited_value) = std::env::vars()
        .find(|(k, v)| k != "HOME" && !v.contains('\n'))
        .expect("the test process has an environment");
    let mut spec = spec(&["/usr/bin/env"]);
    spec.env.insert("TM_ANSWER".into(), "42".into());
    spec.env.insert("HOME".into(), "/override".into());
    let (out, stdout) = output_file(dir.path(), "env");
    let pid = spawn(&spec, stdout, ChildFd::Inherit).unwrap();
    assert_eq!(Child(pid).wait(), WaitStatus::Exited(pid, 0));
    let env = fs::read_to_string(out).unwrap();
    let lines: Vec<&str> = env.lines().collect();
    assert!(lines.contains(&"TM_ANSWER=42"), "{env}");
    assert!(lines.contains(&"HOME=/override"), "{env}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("HOME=")).count(), 1);
    let inherited = format!("{inherited_key}={inherited_value}");
    assert!(lines.contains(&inherited.as_str()), "{inherited} in {env}");
}

#[test]
fn the_umask_is_applied() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(&["/bin/sh", "-c", "umask"]);
    spec.umask = Some(0o027);
    let (out, stdout) = output_file(dir.path(), "umask");
    let pid = spawn(&spec, stdout, ChildFd::Inherit).unwrap();
    assert_eq!(Child(pid).wait(), WaitStatus::Exited(pid, 0));
    assert_eq!(fs::read_to_string(out).unwrap().trim(), "0027");
}

#[test]
fn stdin_is_dev_null_and_stderr_goes_where_asked() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(&[
        "/bin/sh",
        "-c",
        "readlink /proc/self/fd/0; cat; echo oops >&2",
    ]);
    let (out, stdout) = output_file(dir.path(), "out");
    let (err, stderr) = output_file(dir.path(), "err");
    let pid = spawn(&spec, stdout, stderr).unwrap();
    assert_eq!(Child(pid).wait(), WaitStatus::Exited(pid, 0));
    assert_eq!(fs::read_to_string(out).unwrap(), "/dev/null\n");
    assert_eq!(fs::read_to_string(err).unwrap(), "oops\n");
}

#[test]
fn null_output_is_dev_null() {
    let _serial = serial();
    let pid = spawn(&spec(&["/bin/sleep", "30"]), ChildFd::Null, ChildFd::Null).unwrap();
    let _child = Child(pid);
    for fd in [1, 2] {
        let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(target.to_str(), Some("/dev/null"));
    }
}

#[test]
fn it_leads_its_own_session_and_process_group() {
    let _serial = serial();
    let child = Child::spawn(&spec(&["/bin/sleep", "30"]));
    let pid = child.0.to_string();
    // setsid ran before execve, so this holds as soon as spawn returns.
    let fields = stat_fields(child.0).expect("/proc/PID/stat");
    assert_eq!((&fields[2], &fields[3]), (&pid, &pid), "pgrp and session");
}

#[test]
fn signals_are_neither_ignored_nor_blocked() {
    let _serial = serial();
    // The test harness, like every Rust program, ignores SIGPIPE (and under `cargo test`
    // also signal 32, which glibc's sigaction refuses to touch); spawn blocks every signal
    // around fork. None of that may reach the program.
    let child = Child::spawn(&spec(&["/bin/sleep", "30"]));
    wait_for_sleep_exec(&child);
    assert_status(child.0, "SigIgn", "0000000000000000");
    assert_status(child.0, "SigBlk", "0000000000000000");
}

fn wait_for_sleep_exec(child: &Child) {
    wait_until("sleep to be exec'd", || {
        (fs::read_to_string(format!("/proc/{}/comm", child.0))
            .ok()?
            .trim()
            == "sleep")
            .then_some(())
    });
}

#[test]
fn a_signal_ignored_after_the_first_spawn_is_not_inherited_either() {
    let _serial = serial();
    // The child resets what was not at SIG_DFL at the first spawn, plus the signals the
    // crate may set later (`dispositions.rs`): tmctl ignores SIGTTOU around a handover.
    drop(Child::spawn(&spec(&["/bin/true"])));
    // SAFETY: setting a disposition to SIG_IGN and back installs no handler code.
    unsafe { libc::signal(libc::SIGTTOU, libc::SIG_IGN) };
    let child = Child::spawn(&spec(&["/bin/sleep", "30"]));
    // SAFETY: as above.
    unsafe { libc::signal(libc::SIGTTOU, libc::SIG_DFL) };
    wait_for_sleep_exec(&child);
    assert_status(child.0, "SigIgn", "0000000000000000");
}

#[test]
fn an_empty_cmd_or_a_nul_byte_is_refused_before_fork() {
    let err = spawn(&spec(&[]), ChildFd::Inherit, ChildFd::Inherit).unwrap_err();
    assert_eq!(err.to_string(), "argument (cmd is empty): Invalid argument");
    let err = spawn(
        &spec(&["/bin/echo", "a\0b"]),
        ChildFd::Inherit,
        ChildFd::Inherit,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "argument 1 (contains a NUL byte): Invalid argument"
    );
}
