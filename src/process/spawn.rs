//! The parent side of spawn: prepare, clone, and learn whether execve succeeded.
//!
//! [`start`] returns as soon as the child exists: its pid, and an [`ExecReport`] to read
//! later, without blocking, from the daemon's loop (a `workingdir` or a program on a hung
//! network filesystem must not freeze PID 1 while the child waits in chdir or execve).
//! [`spawn`] is the same, waiting for the report (for callers outside the loop).
//!
//! The fast path (x86_64, aarch64): the child is a `clone(CLONE_VM)` that shares the daemon's
//! memory until execve, on a small stack of its own, as posix_spawn does. A fork copies the
//! daemon's page tables and execve then throws the copy away; with 1,000 services that copy
//! was the largest cost of a start (measured with perf, see bench/PROFILES.md). Unlike
//! posix_spawn's CLONE_VFORK, the daemon does not wait for the execve: the report pipe tells
//! it later, as before. Elsewhere it is a plain fork.

use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

use super::child::exec_child;
use super::error::{errno_of, SpawnError, Step};
use super::plan::ExecPlan;
use super::report::{self, Failure};
use super::sys::SHARED_MEMORY_CHILD;
use super::ChildFd;
use crate::config::ProcessSpec;

/// The child's report pipe, read end: EOF alone means execve succeeded, six bytes name the
/// step that failed (see `report.rs`).
pub struct ExecReport {
    reader: std::io::PipeReader,
    /// What the child reads until execve (boxed: it must not move while the child may share
    /// our memory), then kept to name what a failed step acted on.
    plan: Box<ExecPlan>,
    /// The stack of a child that shares our memory (see [`ChildStack`]).
    stack: Option<ChildStack>,
    /// The child is past using our memory: it has exec'd (EOF), or written its failure and
    /// exited (it writes and exits in one go, see `sys::write_then_exit`).
    settled: bool,
    bytes: Vec<u8>,
}

impl Drop for ExecReport {
    fn drop(&mut self) {
        let Some(stack) = self.stack.take() else {
            return;
        };
        if self.settled {
            stack.recycle();
        } else {
            // A child that may still run on its stack keeps it: freeing it under a running
            // process would crash it. A leak of untouched address space, in a rare case
            // (the report dropped before it said anything).
            std::mem::forget(stack);
        }
    }
}

/// What an [`ExecReport`] says so far.
#[derive(Debug)]
pub enum ExecOutcome {
    /// The child is still between fork and execve.
    Pending,
    /// execve succeeded.
    Executed,
    /// A step failed; the child exits with 127 (the caller's reaper collects it).
    Failed(SpawnError),
}

impl ExecReport {
    /// The fd to poll for readability.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Reads what the child reported without blocking (the pipe is non-blocking).
    pub fn read(&mut self) -> ExecOutcome {
        let mut buf = [0u8; report::LEN + 1];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => {
                    self.settled = true;
                    return self.outcome();
                }
                Ok(n) => {
                    // A report is LEN bytes; more is malformed, and never grows unbounded.
                    if self.bytes.len() <= report::LEN {
                        self.bytes.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return ExecOutcome::Pending,
                Err(e) => {
                    return ExecOutcome::Failed(SpawnError::new(Step::Report, "", errno_of(&e)))
                }
            }
        }
    }

    fn outcome(&self) -> ExecOutcome {
        if self.bytes.is_empty() {
            return ExecOutcome::Executed;
        }
        ExecOutcome::Failed(match Failure::decode(&self.bytes) {
            Some(failure) => self.plan.error(failure),
            None => SpawnError::new(Step::Report, "malformed", Errno::EPROTO),
        })
    }
}

/// Start `spec` with the given stdout and stderr; stdin is `/dev/null`. For
/// `ready "fd:N"`, `ready` is the write end of the readiness pipe, which the child gets on
/// fd N.
///
/// Returns once the child is forked: its pid (also its process group and session id) and
/// the report that will say whether execve succeeded. A program missing from PATH fails
/// here, before anything is forked. The parent's copies of `stdout`, `stderr` and `ready`
/// are closed before this returns.
///
/// Designed for the single-threaded daemon; it stays sound in a multi-threaded process
/// (the tests, the config loader thread) because the child only uses what was prepared
/// before fork (see `child.rs`).
pub fn start(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
) -> Result<(Pid, ExecReport), SpawnError> {
    start_in_cgroup(spec, stdout, stderr, ready, None)
}

/// The cgroup a child starts in: its directory, open, and whether the child may be cloned
/// straight into it (`CLONE_INTO_CGROUP`); else the child writes itself into its
/// `cgroup.procs` first.
pub struct CgroupTarget {
    pub dir: OwnedFd,
    /// False after a `cgroup.kill` of this cgroup: this kernel (6.18) kills every child
    /// cloned into a cgroup once killed (its kill sequence number differs from the
    /// parent's), while one that joins by writing lives.
    pub clone_into: bool,
}

/// [`start`], the child in a cgroup from its first instruction. It is cloned into it or,
/// where clone3 cannot do that, writes itself into its `cgroup.procs` first; a failure to
/// join is then the step `join cgroup` with its errno.
pub fn start_in_cgroup(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
    cgroup: Option<CgroupTarget>,
) -> Result<(Pid, ExecReport), SpawnError> {
    start_with(
        spec,
        stdout,
        stderr,
        ready,
        cgroup,
        super::HandedFds::default(),
    )
}

/// [`start_in_cgroup`], handing the child `listen` sockets and a `console` terminal too.
pub fn start_with(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
    cgroup: Option<CgroupTarget>,
    handed: super::HandedFds,
) -> Result<(Pid, ExecReport), SpawnError> {
    let (plan, mut held) = ExecPlan::new(spec, stdout, stderr, ready, None, handed)?;
    let mut plan = Box::new(plan);
    // Close-on-exec on both ends: execve closes the child's write end, which is how the
    // parent learns it succeeded. Non-blocking at birth (one system call, where a pipe then
    // two fcntl were three): the loop reads without waiting, and the child's one write of a
    // report (fewer bytes than PIPE_BUF, into an empty pipe) never has to wait either.
    let (reader, writer) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(|errno| SpawnError::new(Step::Pipe, "", errno))?;
    let reader = std::io::PipeReader::from(reader);
    // Joining by a write to cgroup.procs moves a running process, which waits for an RCU
    // grace period in the kernel (cgroup_threadgroup_rwsem): 10-130 ms measured on a loaded
    // machine, most of a restart. A child cloned into the cgroup never moves.
    let mut join_by_write = |plan: &mut ExecPlan| -> Result<(), SpawnError> {
        if let Some(target) = &cgroup {
            plan.cgroup = Some(held.hold(open_procs(&target.dir)?));
        }
        Ok(())
    };
    let (pid, stack) = if SHARED_MEMORY_CHILD {
        let mut stack = ChildStack::new()?;
        let cloned = match &cgroup {
            Some(target) if target.clone_into => {
                clone_into_cgroup(&plan, writer.as_raw_fd(), &mut stack, &target.dir)
            }
            _ => None,
        };
        let pid = match cloned {
            Some(pid) => pid,
            None => {
                join_by_write(&mut plan)?;
                clone_exec(&plan, writer.as_raw_fd(), &mut stack)?
            }
        };
        (pid, Some(stack))
    } else {
        join_by_write(&mut plan)?;
        (fork_exec(&plan, writer.as_raw_fd())?, None)
    };
    // Only the child's copies may keep the pipes open, or EOF never comes.
    drop(writer);
    drop(held);
    Ok((
        pid,
        ExecReport {
            reader,
            plan,
            stack,
            settled: false,
            bytes: Vec::with_capacity(report::LEN),
        },
    ))
}

/// [`start`], then wait for the report: the pid once execve succeeded, or the failed step
/// (the child reaped). Blocks until execve: for callers outside the event loop.
pub fn spawn(spec: &ProcessSpec, stdout: ChildFd, stderr: ChildFd) -> Result<Pid, SpawnError> {
    spawn_with_ready_fd(spec, stdout, stderr, None)
}

/// [`spawn`], with the write end of a `ready "fd:N"` pipe (see [`start`]).
pub fn spawn_with_ready_fd(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
) -> Result<Pid, SpawnError> {
    let (pid, mut report) = start(spec, stdout, stderr, ready)?;
    loop {
        let outcome = report.read();
        match outcome {
            ExecOutcome::Executed => return Ok(pid),
            ExecOutcome::Failed(error) => {
                if error.step == Step::Report {
                    // We cannot know whether execve happened, and the caller will not learn
                    // this pid from an error: the child must not live on unsupervised.
                    // SAFETY: kill takes plain integers; `pid` is our unreaped child, so
                    // it cannot name another process.
                    unsafe { libc::kill(pid.as_raw(), libc::SIGKILL) };
                }
                reap(pid);
                return Err(error);
            }
            ExecOutcome::Pending => {
                let fd = report.as_fd();
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
            }
        }
    }
}

/// A child's own stack, while it shares our memory: mapped before the clone, free again once
/// the child has exec'd or exited (see [`ExecReport`]); then kept for a later child, up to
/// [`SPARE_STACKS_IN_BURST`] of them (a map, a guard and an unmap per spawn, and the faults
/// of the child's first touches of its stack, were spent again at every spawn), else
/// unmapped; once no child is on its way to execve, [`release_spare_stacks`] keeps only
/// [`SPARE_STACKS`].
/// Untouched pages cost nothing; the lowest page is a guard, so an overflow faults instead of
/// writing over our memory.
struct ChildStack {
    base: NonNull<libc::c_void>,
}

// SAFETY: a ChildStack is only the address of a mapping it owns; no child runs on one that
// is moved between threads (only free stacks are in `SPARE`).
unsafe impl Send for ChildStack {}

/// How many free stacks are kept at rest (each holds the few pages its child touched).
const SPARE_STACKS: usize = 4;

/// How many free stacks are kept while children are being started: during a burst of
/// spawns the reports settle as the next children are cloned (see the daemon's
/// `settle_exec_reports`), but on a busy machine a few dozen children are still on their
/// way to execve at a time, and with only [`SPARE_STACKS`] kept a boot of 1,000 mapped a
/// new stack (map, guard, unmap, faults) for about 420 of its spawns.
const SPARE_STACKS_IN_BURST: usize = 64;

/// Gives back the free stacks kept for a burst of spawns beyond [`SPARE_STACKS`]: for the
/// daemon to call once no child is on its way to execve.
pub fn release_spare_stacks() {
    let extra = match SPARE.lock() {
        Ok(mut spare) if spare.len() > SPARE_STACKS => spare.split_off(SPARE_STACKS),
        _ => return,
    };
    // Unmapped here, outside the lock.
    drop(extra);
}

/// Free stacks, for the next spawns.
static SPARE: std::sync::Mutex<Vec<ChildStack>> = std::sync::Mutex::new(Vec::new());

/// What the child needs to start: placed at the top of its stack (it must outlive the
/// parent's stack frame, which returns at once).
struct ChildStart {
    plan: *const ExecPlan,
    report: RawFd,
}

impl ChildStack {
    /// The child runs a few small frames (`child.rs`); this leaves a wide margin.
    const SIZE: usize = 256 * 1024;
    const GUARD: usize = 4096;

    fn new() -> Result<ChildStack, SpawnError> {
        if let Some(stack) = SPARE.lock().ok().and_then(|mut spare| spare.pop()) {
            return Ok(stack);
        }
        let error = |what| SpawnError::new(Step::Fork, what, Errno::last());
        // SAFETY: an anonymous private mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(error("map a stack"));
        }
        let Some(base) = NonNull::new(base) else {
            return Err(error("map a stack"));
        };
        let stack = ChildStack { base };
        // SAFETY: the lowest page of the mapping made above, which nothing uses yet.
        if unsafe { libc::mprotect(base.as_ptr(), Self::GUARD, libc::PROT_NONE) } != 0 {
            return Err(error("guard a stack"));
        }
        Ok(stack)
    }

    /// Writes `start` at the top of the stack; returns where it is, which is also the
    /// stack pointer to start from (the stack grows down, below it).
    fn place(&mut self, start: ChildStart) -> *mut ChildStart {
        let top = self.base.as_ptr() as usize + Self::SIZE;
        let at = (top - std::mem::size_of::<ChildStart>()) & !15;
        let at = at as *mut ChildStart;
        // SAFETY: `at` is inside the writable part of our mapping, aligned to 16 bytes.
        unsafe { at.write(start) };
        at
    }
}

impl ChildStack {
    /// No child runs on this stack any more: kept for the next one, or unmapped.
    fn recycle(self) {
        if let Ok(mut spare) = SPARE.lock() {
            if spare.len() < SPARE_STACKS_IN_BURST {
                spare.push(self);
            }
        }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, of SIZE bytes; no child runs on it any more (see
        // `ExecReport`'s drop).
        unsafe { libc::munmap(self.base.as_ptr(), Self::SIZE) };
    }
}

/// Where the child starts, on its own stack.
extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the ChildStart placed by `clone_exec` on this child's stack, and its
    // plan is boxed in the ExecReport, which outlives the child's use of it.
    let (plan, report) = unsafe {
        let start = &*(arg as *const ChildStart);
        (&*start.plan, start.report)
    };
    exec_child(plan, report)
}

/// Every signal blocked, so that none of the daemon's handlers runs in the child before
/// it has reset them (the child unblocks after resetting; see `child.rs`). Returns the
/// mask to restore.
fn block_signals() -> Result<SigSet, SpawnError> {
    let mut saved = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut saved),
    )
    .map_err(|errno| SpawnError::new(Step::Fork, "block signals", errno))?;
    Ok(saved)
}

/// Restoring the mask we just read cannot fail (valid `how`, valid set); the signals that
/// arrived meanwhile are delivered now.
fn restore_signals(saved: SigSet) {
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
}

/// clone(CLONE_VM): the child shares our memory and runs `exec_child` on `stack` until
/// execve gives it memory of its own. SIGCHLD at its exit, as for a fork.
fn clone_exec(plan: &ExecPlan, report: RawFd, stack: &mut ChildStack) -> Result<Pid, SpawnError> {
    let start = stack.place(ChildStart { plan, report });
    let saved = block_signals()?;
    // SAFETY: the child runs `child_entry` on its own stack with `start`, which lives on that
    // stack; it only reads the plan (which the parent keeps unchanged and alive, boxed in
    // the ExecReport) and makes raw system calls that write nothing the parent owns (see
    // child.rs and sys.rs), then execve or exit. CLONE_VM without CLONE_VFORK: the parent
    // goes on at once; without CLONE_FILES, CLONE_SIGHAND or CLONE_THREAD, the child has
    // its own fd table, signal handlers and thread group, as after fork.
    let pid = unsafe {
        libc::clone(
            child_entry,
            start.cast(),
            libc::CLONE_VM | libc::SIGCHLD,
            start.cast(),
        )
    };
    let result = if pid < 0 {
        Err(SpawnError::new(Step::Fork, "", Errno::last()))
    } else {
        Ok(Pid::from_raw(pid))
    };
    restore_signals(saved);
    result
}

/// The cgroup's `cgroup.procs`, open for the child to write itself into.
fn open_procs(dir: &OwnedFd) -> Result<OwnedFd, SpawnError> {
    let name = c"cgroup.procs";
    // SAFETY: openat takes a live directory fd we own, a NUL-terminated name and flags.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(SpawnError::new(Step::Cgroup, "cgroup.procs", Errno::last()));
    }
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Set once clone3 has said it cannot clone into a cgroup here (an old kernel, a seccomp
/// filter that refuses clone3): from then on the child joins by writing.
static NO_CLONE_INTO_CGROUP: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Children join their cgroup by writing from now on. As PID 1 the daemon's own cgroup may
/// have been killed before it came in (a container's, a test's): this kernel then kills every
/// child cloned into a cgroup whose kill count differs from the parent's, at birth.
pub fn never_clone_into_cgroup() {
    NO_CLONE_INTO_CGROUP.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3(CLONE_VM | CLONE_INTO_CGROUP): [`clone_exec`] with the child born in the cgroup
/// of `dir`. `None` when clone3 refused (then nothing was started): the caller falls back
/// to [`clone_exec`] and the child's own write, which also reports a real cgroup error
/// (a full `pids.max`, …) as the step it failed at.
#[cfg(target_arch = "x86_64")]
fn clone_into_cgroup(
    plan: &ExecPlan,
    report: RawFd,
    stack: &mut ChildStack,
    dir: &OwnedFd,
) -> Option<Pid> {
    use std::sync::atomic::Ordering;
    if NO_CLONE_INTO_CGROUP.load(Ordering::Relaxed) {
        return None;
    }
    let start = stack.place(ChildStart { plan, report });
    let base = stack.base.as_ptr() as u64;
    let args = CloneArgs {
        flags: libc::CLONE_VM as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        stack: base,
        // The kernel starts the child at stack + stack_size: just below `start`.
        stack_size: start as u64 - base,
        cgroup: dir.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    let saved = block_signals().ok()?;
    let entry: extern "C" fn(*mut libc::c_void) -> libc::c_int = child_entry;
    let ret: i64;
    // SAFETY: as for `clone_exec`: the child shares our memory and runs `child_entry` on
    // its own stack (the kernel switches to it), with `start`, which lives on that stack.
    // The parent only gets the result back in rax; rcx and r11 are clobbered by `syscall`,
    // every other register is kept, in both. The child never returns into Rust code: it
    // calls the entry with r12 (syscall keeps it) and exits with what it returned.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, 60", // SYS_exit
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") start,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    restore_signals(saved);
    if ret > 0 {
        return i32::try_from(ret).ok().map(Pid::from_raw);
    }
    // ENOSYS, EPERM (seccomp), E2BIG, EINVAL (no such flag): never here; anything else
    // (the cgroup refuses, no memory) is left for the fallback to name.
    if matches!(
        -ret as i32,
        libc::ENOSYS | libc::EPERM | libc::E2BIG | libc::EINVAL
    ) {
        NO_CLONE_INTO_CGROUP.store(true, Ordering::Relaxed);
    }
    None
}

#[cfg(not(target_arch = "x86_64"))]
fn clone_into_cgroup(_: &ExecPlan, _: RawFd, _: &mut ChildStack, _: &OwnedFd) -> Option<Pid> {
    None
}

/// fork, with every signal blocked around it (see [`block_signals`]).
fn fork_exec(plan: &ExecPlan, report: RawFd) -> Result<Pid, SpawnError> {
    let saved = block_signals()?;
    // SAFETY: the daemon is single-threaded, so the child is a consistent copy of it. The
    // child runs only `exec_child`, which uses the plan prepared above and async-signal-safe
    // calls, and never returns (execve or _exit). In the multi-threaded test harness, the
    // same no-allocation rule is what keeps the child from deadlocking on another thread's
    // lock.
    let forked = match unsafe { fork() } {
        Ok(ForkResult::Child) => exec_child(plan, report),
        Ok(ForkResult::Parent { child }) => Ok(child),
        Err(errno) => Err(SpawnError::new(Step::Fork, "", errno)),
    };
    restore_signals(saved);
    forked
}

/// Reap a child whose start failed, so it leaves no zombie (the blocking [`spawn`] only:
/// the daemon reaps the children of [`start`] itself).
fn reap(pid: Pid) {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            // Ok: reaped. ECHILD: someone else reaped it; there is nothing more to do.
            _ => return,
        }
    }
}
