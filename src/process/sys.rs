//! Raw system calls for the child between clone and execve.
//!
//! On x86_64 and aarch64 the child shares the daemon's memory until execve (CLONE_VM, see
//! `spawn.rs`): it must not write anything the daemon owns. glibc's wrappers write errno on
//! failure, and errno is a thread-local of the daemon's thread (the child runs with the same
//! thread pointer), so the child calls the kernel directly and gets the error as a value.
//! Elsewhere the child is a plain fork with memory of its own, and `libc::syscall` is used.

use libc::c_long;

/// Whether the child may share the daemon's memory: only where the raw calls below exist.
pub(super) const SHARED_MEMORY_CHILD: bool =
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// A system call's result: its return value, or the errno it failed with.
pub(super) type SysResult = Result<usize, i32>;

/// Linux returns -4095..-1 for an error, anything else is a value.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn decode(ret: isize) -> SysResult {
    if (-4095..0).contains(&ret) {
        Err(-ret as i32)
    } else {
        Ok(ret as usize)
    }
}

/// System call `nr` with up to six arguments (unused ones are 0).
///
/// # Safety
/// The arguments must be what the kernel expects for `nr`: any pointer among them must be
/// valid for what the call reads or writes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn call(nr: c_long, a: [usize; 6]) -> SysResult {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; `syscall` clobbers rcx and r11 only,
    // and uses no stack.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    decode(ret)
}

/// System call `nr` with up to six arguments (unused ones are 0).
///
/// # Safety
/// As for the x86_64 version.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub(super) unsafe fn call(nr: c_long, a: [usize; 6]) -> SysResult {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; `svc 0` uses no stack.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") nr as usize,
            inlateout("x0") a[0] => ret,
            in("x1") a[1],
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            in("x5") a[5],
            options(nostack),
        );
    }
    decode(ret)
}

/// System call `nr` with up to six arguments (unused ones are 0).
///
/// # Safety
/// As for the x86_64 version.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) unsafe fn call(nr: c_long, a: [usize; 6]) -> SysResult {
    // SAFETY: the caller vouches for the arguments. This child is a fork: errno is its own.
    let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if ret < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(ret as usize)
    }
}

/// Writes `bytes` to `fd`, then exits with `code`, touching no memory in between: once the
/// parent has read the bytes it may unmap the child's stack (see `spawn.rs`), so the exit
/// must not depend on it. A failed write is ignored (the parent then sees EOF, and the exit
/// status tells the rest); EINTR cannot happen, as no signal has a handler in the child.
///
/// # Safety
/// `bytes` must be valid for reads during the write.
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn write_then_exit(fd: i32, bytes: &[u8], code: i32) -> ! {
    // SAFETY: write(2) reads `bytes` (valid, per the caller); exit_group never returns.
    unsafe {
        core::arch::asm!(
            "syscall",
            "mov edi, r8d",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            exit = const libc::SYS_exit_group,
            // r8 survives the first syscall (which clobbers rax, rcx and r11 only).
            in("r8") code,
            in("rax") libc::SYS_write,
            in("rdi") fd as usize,
            in("rsi") bytes.as_ptr(),
            in("rdx") bytes.len(),
            options(noreturn, nostack),
        );
    }
}

/// As for x86_64.
///
/// # Safety
/// `bytes` must be valid for reads during the write.
#[cfg(target_arch = "aarch64")]
pub(super) unsafe fn write_then_exit(fd: i32, bytes: &[u8], code: i32) -> ! {
    // SAFETY: write(2) reads `bytes` (valid, per the caller); exit_group never returns.
    unsafe {
        core::arch::asm!(
            "svc 0",
            "mov x0, x9",
            "mov x8, {exit}",
            "svc 0",
            "udf #0",
            exit = const libc::SYS_exit_group,
            // x9 survives the first call (which only returns in x0).
            in("x9") code as usize,
            in("x8") libc::SYS_write as usize,
            in("x0") fd as usize,
            in("x1") bytes.as_ptr(),
            in("x2") bytes.len(),
            options(noreturn, nostack),
        );
    }
}

/// As for x86_64 (here the child is a fork with its own memory).
///
/// # Safety
/// `bytes` must be valid for reads during the write.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(super) unsafe fn write_then_exit(fd: i32, bytes: &[u8], code: i32) -> ! {
    // SAFETY: the caller vouches for `bytes`; _exit is async-signal-safe.
    unsafe {
        libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(code)
    }
}
