//! The child side of spawn: everything between clone and execve.
//!
//! Rules for this file, because it runs in a copy of the daemon that, on x86_64 and
//! aarch64, shares the daemon's memory until execve (CLONE_VM, see `spawn.rs`):
//! - No allocation, no locks and no writes to anything the daemon owns: only reads of the
//!   `ExecPlan` prepared before the clone, values on the child's own stack, and raw system
//!   calls (`sys.rs`, which leave errno alone). The one write to shared memory is the
//!   `WATCHDOG_PID` slot, which the daemon never reads.
//! - Never return into the daemon's code: `exec_child` ends in execve or exit_group.
//! - A failed step is reported as (step, index, errno) on the report pipe (see `report.rs`).

use std::convert::Infallible;
use std::os::fd::RawFd;

use libc::{c_long, c_ulong};

use super::error::Step;
use super::plan::ExecPlan;
use super::privileges::{CapHeader, Privileges, CAP_VERSION_3};
use super::report::Failure;
use super::sys;

use super::dispositions::KERNEL_SIGSET_SIZE;

/// Run the plan in the new child: execve, or report the failed step and exit with 127.
pub(super) fn exec_child(plan: &ExecPlan, report: RawFd) -> ! {
    let mut report = report;
    let failure = match setup_and_exec(plan, &mut report) {
        Ok(never) => match never {},
        Err(failure) => failure,
    };
    let bytes = failure.encode();
    // SAFETY: `bytes` is a live stack buffer. Like _exit(2), this runs no atexit handlers
    // and flushes no stdio buffers: those belong to the daemon.
    unsafe { sys::write_then_exit(report, &bytes, 127) }
}

/// `sys::call` with the step to blame on failure.
///
/// # Safety
/// As for [`sys::call`].
unsafe fn step(nr: c_long, args: [usize; 6], step: Step, index: usize) -> Result<usize, Failure> {
    // SAFETY: passed on from the caller.
    unsafe { sys::call(nr, args) }.map_err(|errno| Failure::new(step, index, errno))
}

/// prctl(option, arg2) with the unused arguments 0, as the kernel wants for every option used
/// here.
fn prctl(
    option: libc::c_int,
    arg2: c_ulong,
    on_error: Step,
    index: usize,
) -> Result<usize, Failure> {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        step(
            libc::SYS_prctl,
            [option as usize, arg2 as usize, 0, 0, 0, 0],
            on_error,
            index,
        )
    }
}

/// The steps, in an order that matters; each comment says why it sits where it is.
fn setup_and_exec(plan: &ExecPlan, report: &mut RawFd) -> Result<Infallible, Failure> {
    // 1. Signals. The parent blocked every signal around the clone, so none of the daemon's
    //    handlers can run here. Reset to SIG_DFL, while still blocked, every disposition the
    //    daemon may have changed (see `dispositions.rs`): ignored ones (Rust ignores
    //    SIGPIPE) would survive execve, and handled ones must not run in the child before
    //    execve. Then clear the mask, which execve also keeps.
    reset_signal_dispositions(plan)?;
    let empty: u64 = 0;
    // SAFETY: `empty` is a live 8-byte kernel sigset; the old mask is not wanted (NULL).
    unsafe {
        step(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_SETMASK as usize,
                &empty as *const u64 as usize,
                0,
                KERNEL_SIGSET_SIZE,
                0,
                0,
            ],
            Step::SignalMask,
            0,
        )
    }?;

    // 1b. Into the instance's cgroup, before this process can start anything: "0" means
    //     the writer itself, and its children are born inside.
    if let Some(fd) = plan.cgroup {
        let zero = b"0";
        // SAFETY: write takes a live fd owned by the plan and a static buffer of 1 byte.
        unsafe {
            step(
                libc::SYS_write,
                [fd as usize, zero.as_ptr() as usize, 1, 0, 0, 0],
                Step::Cgroup,
                0,
            )
        }?;
    }

    // 2. Own session, hence own process group with pgid = pid: the daemon stops the whole
    //    service with killpg, and the daemon's terminal signals no longer reach it.
    // SAFETY: setsid takes no arguments.
    unsafe { step(libc::SYS_setsid, [0; 6], Step::Setsid, 0) }?;

    // 3. stdio. The plan's fds are all ≥ 3, so no dup onto 0–2 clobbers a source still to be
    //    copied; the copy does not have close-on-exec.
    match plan.terminal {
        Some(terminal) => {
            dup_onto(terminal, 0, Step::Stdin)?;
            // The new session's controlling terminal: Ctrl-C typed on it is SIGINT to the
            // foreground group, and a shell in it can do job control.
            // SAFETY: ioctl on fd 0 with integer arguments only.
            unsafe {
                step(
                    libc::SYS_ioctl,
                    [0, libc::TIOCSCTTY as usize, 0, 0, 0, 0],
                    Step::Terminal,
                    0,
                )
            }?;
        }
        None => dup_onto(plan.stdin, 0, Step::Stdin)?,
    }
    if let Some(fd) = plan.stdout {
        dup_onto(fd, 1, Step::Stdout)?;
    }
    if let Some(fd) = plan.stderr {
        dup_onto(fd, 2, Step::Stderr)?;
    }

    // 4. Every other fd closes at execve, even one the daemon (or a library) opened without
    //    O_CLOEXEC: another service's pipe held open here would hide its EOF. Best effort:
    //    kernels before 5.11 refuse the flag, and then we rely on O_CLOEXEC alone.
    // SAFETY: close_range only changes fd flags; it takes plain integers.
    let _ = unsafe {
        sys::call(
            libc::SYS_close_range,
            [
                3,
                libc::c_uint::MAX as usize,
                libc::CLOSE_RANGE_CLOEXEC as usize,
                0,
                0,
                0,
            ],
        )
    };

    // 4a. `listen`: the sockets on 3, 4, … (systemd's SD_LISTEN_FDS_START). The plan put
    //     every source at or above 3 + their count, so no dup overwrites one still to be
    //     placed; the report pipe moves out of the way first if it sits there.
    let count = plan.listen.len() as RawFd;
    if count > 0 {
        if (3..3 + count).contains(&*report) {
            // SAFETY: fcntl with integer arguments only.
            let moved = unsafe {
                step(
                    libc::SYS_fcntl,
                    [
                        *report as usize,
                        libc::F_DUPFD_CLOEXEC as usize,
                        (3 + count) as usize,
                        0,
                        0,
                        0,
                    ],
                    Step::ListenFds,
                    0,
                )
            }?;
            *report = moved as RawFd;
        }
        for (i, fd) in plan.listen.iter().enumerate() {
            dup_onto(*fd, 3 + i as RawFd, Step::ListenFds)?;
        }
        if let Some(slot) = &plan.listen_pid {
            // SAFETY: getpid takes no arguments and cannot fail.
            let pid = unsafe { sys::call(libc::SYS_getpid, [0; 6]) }.unwrap_or(0);
            slot.fill(pid as libc::pid_t);
        }
    }

    // 4b. `ready "fd:N"`: the pipe on fd N, after the close-on-exec sweep above (which
    //     would otherwise close it at execve). If the report pipe happens to sit on N, it
    //     moves away first; if the pipe already sits on N, only its flag is cleared.
    if let Some((fd, target)) = plan.ready_fd {
        if *report == target {
            // SAFETY: fcntl with integer arguments only.
            let moved = unsafe {
                step(
                    libc::SYS_fcntl,
                    [
                        target as usize,
                        libc::F_DUPFD_CLOEXEC as usize,
                        (target + 1) as usize,
                        0,
                        0,
                        0,
                    ],
                    Step::ReadyFd,
                    0,
                )
            }?;
            *report = moved as RawFd;
        }
        if fd == target {
            // SAFETY: fcntl with integer arguments only.
            unsafe {
                step(
                    libc::SYS_fcntl,
                    [fd as usize, libc::F_SETFD as usize, 0, 0, 0, 0],
                    Step::ReadyFd,
                    0,
                )
            }?;
        } else {
            dup_onto(fd, target, Step::ReadyFd)?;
        }
    }
    // 4c. `watchdog`: WATCHDOG_PID is this process, known only now.
    if let Some(slot) = &plan.watchdog_pid {
        // SAFETY: getpid takes no arguments and cannot fail.
        let pid = unsafe { sys::call(libc::SYS_getpid, [0; 6]) }.unwrap_or(0);
        slot.fill(pid as libc::pid_t);
    }

    // 5. umask, then 6. chdir: both while still privileged, so a workingdir only root can
    //    enter still works (as with supervisord).
    if let Some(mask) = plan.umask {
        // SAFETY: umask takes an integer and cannot fail.
        let _ = unsafe { sys::call(libc::SYS_umask, [mask as usize, 0, 0, 0, 0, 0]) };
    }
    // SAFETY: `workingdir` is a live NUL-terminated string owned by the plan.
    unsafe {
        step(
            libc::SYS_chdir,
            [plan.workingdir.as_ptr() as usize, 0, 0, 0, 0, 0],
            Step::Chdir,
            0,
        )
    }?;

    // 7. rlimits before the privilege drop: raising a hard limit needs CAP_SYS_RESOURCE,
    //    which an unprivileged target user does not have (systemd orders it the same way).
    //    prlimit64 on this process (pid 0) is what glibc's setrlimit calls.
    for (i, limit) in plan.limits.iter().enumerate() {
        // SAFETY: `limit.value` is a live rlimit owned by the plan (64-bit fields, the
        // layout of the kernel's rlimit64); the old value is not wanted (NULL).
        unsafe {
            step(
                libc::SYS_prlimit64,
                [
                    0,
                    limit.resource as usize,
                    &limit.value as *const libc::rlimit as usize,
                    0,
                    0,
                    0,
                ],
                Step::Setrlimit,
                i,
            )
        }?;
    }

    // 8. Who the program runs as, and with which capabilities.
    drop_privileges(&plan.privileges)?;

    // 9. no_new_privs last among the privilege steps: nothing above needs privileges it
    //    would deny, and it binds execve below (setuid bits and file caps are ignored).
    if plan.no_new_privs {
        prctl(libc::PR_SET_NO_NEW_PRIVS, 1, Step::NoNewPrivs, 0)?;
    }

    // 10. execve: only returns on failure. The plan's arrays are NULL-terminated and live.
    // SAFETY: program, argv and envp point to NUL-terminated strings and NULL-terminated
    // pointer arrays owned by the plan, which outlives this call.
    let errno = unsafe {
        sys::call(
            libc::SYS_execve,
            [
                plan.program.as_ptr() as usize,
                plan.argv.as_ptr() as usize,
                plan.envp.as_ptr() as usize,
                0,
                0,
                0,
            ],
        )
    }
    .err()
    .unwrap_or(libc::EIO);
    Err(Failure::new(Step::Exec, 0, errno))
}

/// The privilege steps. The order is the one verified in notes/crates.md ("caps"). Raw
/// system calls change this process only; glibc's set*id wrappers would also signal the
/// daemon's other threads (in the tests) to make them follow.
fn drop_privileges(p: &Privileges) -> Result<(), Failure> {
    // a. The bounding set first: PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set,
    //    which the uid switch below clears.
    for (i, cap) in p.bounding_drop.iter().enumerate() {
        let cap = c_ulong::from(cap.index());
        let present = prctl(libc::PR_CAPBSET_READ, cap, Step::BoundingDrop, i)?;
        // Already absent (in a container, or under another supervisor): nothing to do, and
        // dropping it anyway would need CAP_SETPCAP for nothing.
        if present == 0 {
            continue;
        }
        prctl(libc::PR_CAPBSET_DROP, cap, Step::BoundingDrop, i)?;
    }
    // b. Keep the permitted set across the switch away from uid 0, to trim it in d.
    //    The flag is cleared again by execve.
    if p.keepcaps {
        prctl(libc::PR_SET_KEEPCAPS, 1, Step::KeepCaps, 0)?;
    }
    // c. groups, then gid, then uid: each needs the privilege the next one gives up.
    if let Some(ids) = &p.ids {
        // SAFETY: `groups` is a live slice of gid_t owned by the plan; len matches it.
        unsafe {
            step(
                libc::SYS_setgroups,
                [ids.groups.len(), ids.groups.as_ptr() as usize, 0, 0, 0, 0],
                Step::Setgroups,
                0,
            )
        }?;
        let gid = ids.gid as usize;
        // SAFETY: integer arguments only.
        unsafe {
            step(
                libc::SYS_setresgid,
                [gid, gid, gid, 0, 0, 0],
                Step::Setresgid,
                0,
            )
        }?;
        let uid = ids.uid as usize;
        // SAFETY: integer arguments only.
        unsafe {
            step(
                libc::SYS_setresuid,
                [uid, uid, uid, 0, 0, 0],
                Step::Setresuid,
                0,
            )
        }?;
    }
    // d. permitted = effective = inheritable = the kept set (ambient needs a capability in
    //    both permitted and inheritable). Only ever lowers the sets, so no privilege needed.
    if let Some(sets) = &p.capsets {
        let header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        // SAFETY: the header is a live stack value and `sets.0` two live CapData, the
        // layout capset(2) expects for version 3.
        unsafe {
            step(
                libc::SYS_capset,
                [
                    &header as *const CapHeader as usize,
                    sets.0.as_ptr() as usize,
                    0,
                    0,
                    0,
                    0,
                ],
                Step::Capset,
                0,
            )
        }?;
    }
    // e. Ambient: what makes the kept capabilities survive execve of an ordinary program
    //    for a non-root user.
    for (i, cap) in p.ambient.iter().enumerate() {
        let cap = cap.index() as usize;
        // SAFETY: prctl with integer arguments only.
        unsafe {
            step(
                libc::SYS_prctl,
                [
                    libc::PR_CAP_AMBIENT as usize,
                    libc::PR_CAP_AMBIENT_RAISE as usize,
                    cap,
                    0,
                    0,
                    0,
                ],
                Step::AmbientRaise,
                i,
            )
        }?;
    }
    Ok(())
}

fn reset_signal_dispositions(plan: &ExecPlan) -> Result<(), Failure> {
    // The raw system call, because glibc's sigaction refuses 32 and 33 (its own), and a
    // daemon can inherit those ignored too (`cargo test` passes signal 32 ignored).
    // An all-zero kernel sigaction is SIG_DFL with no flags and an empty mask on every
    // architecture's layout; the buffer is larger than any of them.
    let default = [0 as c_ulong; 8];
    for signal in plan.signals_to_reset.iter().map(|signal| signal as usize) {
        // SAFETY: `default` is a live stack buffer at least as large as the kernel's
        // struct sigaction; the old action is not wanted (NULL).
        unsafe {
            step(
                libc::SYS_rt_sigaction,
                [
                    signal,
                    default.as_ptr() as usize,
                    0,
                    KERNEL_SIGSET_SIZE,
                    0,
                    0,
                ],
                Step::Signals,
                signal,
            )
        }?;
    }
    Ok(())
}

/// `target` becomes a copy of `source` (without close-on-exec). dup3, which every
/// architecture has (dup2 is missing on aarch64); the two are never equal here.
fn dup_onto(source: RawFd, target: RawFd, on_error: Step) -> Result<(), Failure> {
    // SAFETY: dup3 takes plain fds; `source` is owned by the plan and open.
    unsafe {
        step(
            libc::SYS_dup3,
            [source as usize, target as usize, 0, 0, 0, 0],
            on_error,
            0,
        )
    }
    .map(drop)
}
