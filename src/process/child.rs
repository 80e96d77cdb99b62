//! The child side of spawn: everything between fork and execve.
//!
//! Rules for this file, because it runs in a forked copy of the daemon:
//! - No allocation and no locks: only reads of the `ExecPlan` prepared before fork, stack
//!   values, and async-signal-safe calls (raw `libc` system calls; no caps-crate or nix
//!   helpers that build a `Vec` or a `String`). The daemon is single-threaded, so this is
//!   belt and braces there; in the multi-threaded test harness it is what makes fork safe.
//! - Never return into the daemon's code: `exec_child` ends in execve or `_exit`.
//! - A failed step is reported as (step, index, errno) on the report pipe (see `report.rs`).

use std::convert::Infallible;
use std::os::fd::{AsRawFd, RawFd};

use libc::c_ulong;

use super::error::Step;
use super::plan::ExecPlan;
use super::privileges::{CapHeader, Privileges, CAP_VERSION_3};
use super::report::Failure;

/// Signals are 1..NSIG: 64 of them on every Linux architecture but MIPS (128; not a
/// target of taskmaster).
const NSIG: libc::c_int = 65;

/// The size of the kernel's sigset_t (64 bits), which rt_sigaction insists on.
const KERNEL_SIGSET_SIZE: usize = 8;

/// Run the plan in the forked child: execve, or report the failed step and `_exit(127)`.
pub(super) fn exec_child(plan: &ExecPlan, report: RawFd) -> ! {
    let mut report = report;
    let failure = match setup_and_exec(plan, &mut report) {
        Ok(never) => match never {},
        Err(failure) => failure,
    };
    failure.send(report);
    // SAFETY: _exit is async-signal-safe. Unlike exit(3) it runs no atexit handlers and
    // flushes no stdio buffers: those belong to the daemon.
    unsafe { libc::_exit(127) }
}

/// The steps, in an order that matters; each comment says why it sits where it is.
fn setup_and_exec(plan: &ExecPlan, report: &mut RawFd) -> Result<Infallible, Failure> {
    // 1. Signals. The parent blocked every signal around fork, so none of the daemon's
    //    handlers can run here. Reset every disposition to SIG_DFL while still blocked:
    //    ignored ones (Rust ignores SIGPIPE) would survive execve, and handled ones must not
    //    run in the child before execve. Then clear the mask, which execve also keeps.
    reset_signal_dispositions()?;
    clear_signal_mask()?;

    // 1b. Into the instance's cgroup, before this process can start anything: "0" means
    //     the writer itself, and its children are born inside.
    if let Some(fd) = &plan.cgroup {
        // SAFETY: write takes a live fd owned by the plan and a static buffer.
        let ret = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
        check(ret as libc::c_long, Step::Cgroup, 0)?;
    }

    // 2. Own session, hence own process group with pgid = pid: the daemon stops the whole
    //    service with killpg, and the daemon's terminal signals no longer reach it.
    // SAFETY: setsid takes no arguments and is async-signal-safe.
    check(unsafe { libc::setsid() }.into(), Step::Setsid, 0)?;

    // 3. stdio. The plan's fds are all ≥ 3, so no dup2 clobbers a source still to be copied;
    //    dup2 clears close-on-exec on the copy.
    match &plan.terminal {
        Some(terminal) => {
            dup_onto(terminal.as_raw_fd(), 0, Step::Stdin)?;
            // The new session's controlling terminal: Ctrl-C typed on it is SIGINT to the
            // foreground group, and the shell in it can do job control.
            // SAFETY: ioctl on fd 0 with an integer argument.
            let ret = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
            check(ret.into(), Step::Terminal, 0)?;
        }
        None => dup_onto(plan.stdin.as_raw_fd(), 0, Step::Stdin)?,
    }
    if let Some(fd) = &plan.stdout {
        dup_onto(fd.as_raw_fd(), 1, Step::Stdout)?;
    }
    if let Some(fd) = &plan.stderr {
        dup_onto(fd.as_raw_fd(), 2, Step::Stderr)?;
    }

    // 4. Every other fd closes at execve, even one the daemon (or a library) opened without
    //    O_CLOEXEC: another service's pipe held open here would hide its EOF. Best effort:
    //    kernels before 5.11 refuse the flag, and then we rely on O_CLOEXEC alone.
    // SAFETY: close_range only changes fd flags; it takes plain integers.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };

    // 4a. `listen`: the sockets on 3, 4, … (systemd's SD_LISTEN_FDS_START). The plan put
    //     every source at or above 3 + their count, so no dup2 overwrites one still to be
    //     placed; the report pipe moves out of the way first if it sits there.
    let count = plan.listen.len() as libc::c_int;
    if count > 0 {
        if (3..3 + count).contains(report) {
            // SAFETY: fcntl with integer arguments only.
            let moved = unsafe { libc::fcntl(*report, libc::F_DUPFD_CLOEXEC, 3 + count) };
            check(moved.into(), Step::ListenFds, 0)?;
            *report = moved;
        }
        for (i, fd) in plan.listen.iter().enumerate() {
            dup_onto(fd.as_raw_fd(), 3 + i as libc::c_int, Step::ListenFds)?;
        }
        if let Some(slot) = &plan.listen_pid {
            // SAFETY: getpid cannot fail and is async-signal-safe.
            slot.fill(unsafe { libc::getpid() });
        }
    }

    // 4b. `ready "fd:N"`: the pipe on fd N, after the close-on-exec sweep above (which
    //     would otherwise close it at execve). If the report pipe happens to sit on N, it
    //     moves away first; if the pipe already sits on N, only its flag is cleared.
    if let Some((fd, target)) = &plan.ready_fd {
        let (fd, target) = (fd.as_raw_fd(), *target);
        if *report == target {
            // SAFETY: fcntl with integer arguments only.
            let moved = unsafe { libc::fcntl(target, libc::F_DUPFD_CLOEXEC, target + 1) };
            check(moved.into(), Step::ReadyFd, 0)?;
            *report = moved;
        }
        let ret = if fd == target {
            // SAFETY: fcntl with integer arguments only.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }
        } else {
            // SAFETY: dup2 takes plain fds; `fd` is owned by the plan and open.
            unsafe { libc::dup2(fd, target) }
        };
        check(ret.into(), Step::ReadyFd, 0)?;
    }
    // 4c. `watchdog`: WATCHDOG_PID is this process, known only now.
    if let Some(slot) = &plan.watchdog_pid {
        // SAFETY: getpid cannot fail and is async-signal-safe.
        slot.fill(unsafe { libc::getpid() });
    }

    // 5. umask, then 6. chdir: both while still privileged, so a workingdir only root can
    //    enter still works (as with supervisord).
    if let Some(mask) = plan.umask {
        // SAFETY: umask cannot fail and is async-signal-safe.
        unsafe { libc::umask(mask) };
    }
    // SAFETY: `workingdir` is a live NUL-terminated string owned by the plan.
    let ret = unsafe { libc::chdir(plan.workingdir.as_ptr()) };
    check(ret.into(), Step::Chdir, 0)?;

    // 7. rlimits before the privilege drop: raising a hard limit needs CAP_SYS_RESOURCE,
    //    which an unprivileged target user does not have (systemd orders it the same way).
    for (i, limit) in plan.limits.iter().enumerate() {
        // SAFETY: `limit.value` is a live rlimit owned by the plan.
        let ret = unsafe { libc::setrlimit(limit.resource, &limit.value) };
        check(ret.into(), Step::Setrlimit, i)?;
    }

    // 8. Who the program runs as, and with which capabilities.
    drop_privileges(&plan.privileges)?;

    // 9. no_new_privs last among the privilege steps: nothing above needs privileges it
    //    would deny, and it binds execve below (setuid bits and file caps are ignored).
    if plan.no_new_privs {
        // SAFETY: prctl with integer arguments only.
        let ret = unsafe {
            libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
            )
        };
        check(ret.into(), Step::NoNewPrivs, 0)?;
    }

    // 10. execve: only returns on failure. The plan's arrays are NULL-terminated and live.
    // SAFETY: program, argv and envp point to NUL-terminated strings and NULL-terminated
    // pointer arrays owned by the plan, which outlives this call.
    unsafe {
        libc::execve(
            plan.program.as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
        )
    };
    Err(Failure::last(Step::Exec, 0))
}

/// The privilege steps. The order is the one verified in notes/crates.md ("caps").
fn drop_privileges(p: &Privileges) -> Result<(), Failure> {
    // a. The bounding set first: PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set,
    //    which the uid switch below clears.
    for (i, cap) in p.bounding_drop.iter().enumerate() {
        let cap = c_ulong::from(cap.index());
        // SAFETY: prctl with integer arguments only.
        let present = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_READ,
                cap,
                0 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
            )
        };
        // Already absent (in a container, or under another supervisor): nothing to do, and
        // dropping it anyway would need CAP_SETPCAP for nothing.
        if present == 0 {
            continue;
        }
        // SAFETY: as above.
        let ret = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                cap,
                0 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
            )
        };
        check(ret.into(), Step::BoundingDrop, i)?;
    }
    // b. Keep the permitted set across the switch away from uid 0, to trim it in d.
    //    The flag is cleared again by execve.
    if p.keepcaps {
        // SAFETY: prctl with integer arguments only.
        let ret = unsafe {
            libc::prctl(
                libc::PR_SET_KEEPCAPS,
                1 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
            )
        };
        check(ret.into(), Step::KeepCaps, 0)?;
    }
    // c. groups, then gid, then uid: each needs the privilege the next one gives up.
    //    glibc's wrappers (as std's Command uses after fork) are fine here: the child has
    //    one thread, and glibc's fork resets the thread list they would signal.
    if let Some(ids) = &p.ids {
        // SAFETY: `groups` is a live slice of gid_t owned by the plan; len matches it.
        let ret = unsafe { libc::setgroups(ids.groups.len(), ids.groups.as_ptr()) };
        check(ret.into(), Step::Setgroups, 0)?;
        // SAFETY: integer arguments only; async-signal-safe.
        let ret = unsafe { libc::setresgid(ids.gid, ids.gid, ids.gid) };
        check(ret.into(), Step::Setresgid, 0)?;
        // SAFETY: integer arguments only; async-signal-safe.
        let ret = unsafe { libc::setresuid(ids.uid, ids.uid, ids.uid) };
        check(ret.into(), Step::Setresuid, 0)?;
    }
    // d. permitted = effective = inheritable = the kept set (ambient needs a capability in
    //    both permitted and inheritable). Only ever lowers the sets, so no privilege needed.
    if let Some(sets) = &p.capsets {
        let mut header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        // SAFETY: the header is a live stack value and `sets.0` two live CapData, the
        // layout capset(2) expects for version 3.
        let ret = unsafe { libc::syscall(libc::SYS_capset, &mut header, sets.0.as_ptr()) };
        check(ret, Step::Capset, 0)?;
    }
    // e. Ambient: what makes the kept capabilities survive execve of an ordinary program
    //    for a non-root user.
    for (i, cap) in p.ambient.iter().enumerate() {
        let cap = c_ulong::from(cap.index());
        // SAFETY: prctl with integer arguments only.
        let ret = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as c_ulong,
                cap,
                0 as c_ulong,
                0 as c_ulong,
            )
        };
        check(ret.into(), Step::AmbientRaise, i)?;
    }
    Ok(())
}

fn reset_signal_dispositions() -> Result<(), Failure> {
    // Every signal, unconditionally: setting SIG_DFL where it already is costs nothing.
    // The raw system call, because glibc's sigaction refuses 32 and 33 (its own), and a
    // daemon can inherit those ignored too (`cargo test` passes signal 32 ignored).
    // An all-zero kernel sigaction is SIG_DFL with no flags and an empty mask on every
    // architecture's layout; the buffer is larger than any of them.
    let default = [0 as c_ulong; 8];
    for signal in (1..NSIG).filter(|s| *s != libc::SIGKILL && *s != libc::SIGSTOP) {
        // SAFETY: `default` is a live stack buffer at least as large as the kernel's
        // struct sigaction; the old action is not wanted (NULL).
        let ret = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                default.as_ptr(),
                std::ptr::null_mut::<c_ulong>(),
                KERNEL_SIGSET_SIZE,
            )
        };
        check(ret, Step::Signals, signal as usize)?;
    }
    Ok(())
}

fn clear_signal_mask() -> Result<(), Failure> {
    // SAFETY: an all-zero sigset_t is a valid value, made empty by sigemptyset below.
    let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `empty` is a live stack value; the old mask is not wanted (NULL).
    let ret = unsafe {
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
    };
    check(ret.into(), Step::SignalMask, 0)
}

fn dup_onto(source: RawFd, target: RawFd, step: Step) -> Result<(), Failure> {
    // SAFETY: dup2 takes plain fds; `source` is owned by the plan and open.
    check(unsafe { libc::dup2(source, target) }.into(), step, 0)
}

/// A system call's return value: negative means the step failed, with errno.
fn check(ret: libc::c_long, step: Step, index: usize) -> Result<(), Failure> {
    if ret < 0 {
        Err(Failure::last(step, index))
    } else {
        Ok(())
    }
}
