//! One read(2) into the spare capacity of a vector, which is not zeroed first: both ends of
//! the control socket read into buffers far larger than what usually comes (tmctl: a 64 KiB
//! chunk for a reply of 300 bytes; the daemon: a request of 44 bytes), and zeroing them was
//! a tenth of a one-line `tmctl status`'s instructions on tmctl's side and 16 k
//! instructions twice per request on the daemon's.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Reads once (again when interrupted) into what `buf` has of spare capacity, and makes the
/// bytes read part of it. With no spare capacity the read asks for 0 bytes and returns 0.
pub fn read_into_spare(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let read = loop {
        // SAFETY: `spare` is memory `buf` owns and does not use yet, valid for writes of
        // `spare.len()` bytes; read(2) writes at most that many, and `fd` is borrowed, so
        // open, for the call.
        let read = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
        match usize::try_from(read) {
            Ok(read) => break read,
            Err(_) => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => continue,
                e => return Err(e),
            },
        }
    };
    let len = buf.len() + read;
    // SAFETY: read(2) initialised the first `read` bytes of the spare capacity, and
    // `read <= spare.len()`, so `len` is within the capacity.
    unsafe { buf.set_len(len) };
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn appends_what_was_read_after_what_the_vector_held() {
        let (mut ours, theirs) = UnixStream::pair().expect("socketpair");
        ours.write_all(b"world").expect("write");
        let mut buf = b"hello ".to_vec();
        buf.reserve(64);
        assert_eq!(read_into_spare(theirs.as_fd(), &mut buf).expect("read"), 5);
        assert_eq!(buf, b"hello world");
        drop(ours);
        buf.reserve(64);
        assert_eq!(read_into_spare(theirs.as_fd(), &mut buf).expect("read"), 0);
        assert_eq!(buf, b"hello world");
    }

    #[test]
    fn an_empty_nonblocking_socket_would_block() {
        let (_ours, theirs) = UnixStream::pair().expect("socketpair");
        theirs.set_nonblocking(true).expect("nonblocking");
        let mut buf = Vec::with_capacity(16);
        let e = read_into_spare(theirs.as_fd(), &mut buf).expect_err("nothing to read");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(buf.is_empty());
    }
}
