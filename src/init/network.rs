//! Bringing up the loopback interface (nobody else will, as init).

use super::InitError;
use std::ffi::CStr;

/// `step` failed with the current errno.
fn failed(step: &'static str) -> InitError {
    InitError::Loopback {
        step,
        source: std::io::Error::last_os_error(),
    }
}

/// Sets IFF_UP on `lo`. Returns a message for the log on failure.
pub fn loopback_up() -> Result<(), InitError> {
    // SAFETY: a plain socket(2) call; the fd is closed below on every path.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(failed("socket"));
    }
    let result = set_up(sock, c"lo");
    // SAFETY: closing the socket we opened above.
    unsafe { libc::close(sock) };
    result
}

fn set_up(sock: i32, name: &CStr) -> Result<(), InitError> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.to_bytes_with_nul()) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads into the ifreq we own, named by a NUL-terminated name.
    if unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(failed("get flags"));
    }
    // SAFETY: after SIOCGIFFLAGS the flags member of the union is the initialized one.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
    if unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(failed("set up"));
    }
    Ok(())
}
