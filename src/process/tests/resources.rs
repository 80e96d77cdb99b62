//! rlimits, and signalling a whole process group.

use std::fs;

use caps::{CapSet, Capability};
use nix::errno::Errno;
use nix::sys::resource::{getrlimit, Resource};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::support::{nobody, output_file, serial, spec, stat_fields, wait_until, Child};
use crate::config::{Limit, LimitKind};
use crate::process::{signal_group, signal_group_only, spawn, ChildFd};

/// (soft, hard) of one line of /proc/PID/limits, e.g. "Max open files".
fn limit(pid: Pid, name: &str) -> Option<(String, String)> {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let mut values = line[name.len()..].split_whitespace();
    Some((values.next()?.to_owned(), values.next()?.to_owned()))
}

fn pair(soft: &str, hard: &str) -> Option<(String, String)> {
    Some((soft.to_owned(), hard.to_owned()))
}

#[test]
fn limits_are_applied() {
    let _serial = serial();
    let mut spec = spec(&["/bin/sleep", "30"]);
    *spec.limits = vec![
        Limit {
            resource: LimitKind::Nofile,
            soft: 1000,
            hard: 2000,
        },
        Limit {
            resource: LimitKind::Core,
            soft: 0,
            hard: 0,
        },
    ];
    let child = Child::spawn(&spec);
    assert_eq!(limit(child.0, "Max open files"), pair("1000", "2000"));
    assert_eq!(limit(child.0, "Max core file size"), pair("0", "0"));
}

#[test]
fn an_unprivileged_user_can_get_a_hard_limit_above_the_daemons() {
    let _serial = serial();
    // Raising a hard limit needs CAP_SYS_RESOURCE, which nobody lacks: this only works
    // because the limits are set before the uid switch, with the daemon's capabilities.
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(hard < nr_open, "the hard nofile limit can be raised");
    let mut spec = spec(&["/bin/sleep", "30"]);
    *spec.credentials = Some(nobody());
    *spec.limits = vec![Limit {
        resource: LimitKind::Nofile,
        soft: hard + 1,
        hard: hard + 1,
    }];
    let raised = (hard + 1).to_string();
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_RESOURCE).unwrap() {
        let child = Child::spawn(&spec);
        assert_eq!(limit(child.0, "Max open files"), pair(&raised, &raised));
    } else {
        // Root without CAP_SYS_RESOURCE (some containers): the step and limit are named.
        let err = spawn(&spec, ChildFd::Inherit, ChildFd::Inherit).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("setrlimit nofile {raised} {raised}: Operation not permitted")
        );
    }
}

#[test]
fn signal_group_of_a_reaped_process_is_esrch() {
    let _serial = serial();
    let child = Child::spawn(&spec(&["/bin/true"]));
    let pid = child.0;
    assert_eq!(child.wait(), WaitStatus::Exited(pid, 0));
    assert_eq!(signal_group(pid, libc::SIGTERM), Err(Errno::ESRCH));
}

#[test]
fn signal_group_reaches_grandchildren() {
    let _serial = serial();
    // Orphans come to us, as they come to taskmasterd: the grandchild can be reaped here and
    // its exit status checked, instead of watching /proc for it to go.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(&["/bin/sh", "-c", "/bin/sleep 30 & echo $!; wait"]);
    let (out, stdout) = output_file(dir.path(), "pid");
    let pid = spawn(&spec, stdout, ChildFd::Inherit).unwrap();
    let child = Child(pid);
    let grandchild = wait_until("the shell to print its child's pid", || {
        let text = fs::read_to_string(&out).ok()?;
        text.lines().next()?.trim().parse().ok().map(Pid::from_raw)
    });
    assert_eq!(
        stat_fields(grandchild).unwrap()[2],
        pid.to_string(),
        "same group"
    );

    signal_group(pid, libc::SIGTERM).unwrap();
    assert_eq!(
        child.wait(),
        WaitStatus::Signaled(pid, Signal::SIGTERM, false)
    );
    // The shell's exit reparented the sleep to us before the shell could be reaped.
    assert_eq!(
        waitpid(grandchild, None),
        Ok(WaitStatus::Signaled(grandchild, Signal::SIGTERM, false))
    );
}

#[test]
fn the_group_of_a_reaped_leader_is_signalled_without_its_pid() {
    let _serial = serial();
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The leader exits at once; its sleep stays in its group.
    let spec = spec(&["/bin/sh", "-c", "/bin/sleep 30 & echo $!"]);
    let (out, stdout) = output_file(dir.path(), "pid");
    let pid = spawn(&spec, stdout, ChildFd::Inherit).unwrap();
    let leftover = wait_until("the shell to print its child's pid", || {
        let text = fs::read_to_string(&out).ok()?;
        text.lines().next()?.trim().parse().ok().map(Pid::from_raw)
    });
    assert_eq!(waitpid(pid, None), Ok(WaitStatus::Exited(pid, 0)));

    signal_group_only(pid, libc::SIGKILL).unwrap();
    assert_eq!(
        waitpid(leftover, None),
        Ok(WaitStatus::Signaled(leftover, Signal::SIGKILL, false))
    );
    // Nothing left: no fallback to the pid itself, which may be another process's now.
    assert_eq!(signal_group_only(pid, libc::SIGKILL), Err(Errno::ESRCH));
}
