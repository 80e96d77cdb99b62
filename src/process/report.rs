//! The child's failure report: six bytes over a close-on-exec pipe.
//!
//! The parent keeps the read end; the child gets the write end. A successful execve closes the
//! write end (close-on-exec), so the parent reads EOF and nothing else. A failed step writes
//! `[step, index, errno as 4 native-endian bytes]` and exits. Six bytes are far below
//! PIPE_BUF, so the write is atomic: the parent never sees half a report from a live child.

use nix::errno::Errno;

use super::error::Step;

/// Length of one report in bytes.
pub(super) const LEN: usize = 6;

/// A step that failed in the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Failure {
    pub step: Step,
    /// Which item of the step failed (the n-th rlimit, capability or signal), else 0.
    pub index: u8,
    pub errno: Errno,
}

impl Failure {
    /// The step failed on its `index`-th item with `errno`.
    pub fn new(step: Step, index: usize, errno: i32) -> Failure {
        Failure {
            step,
            // Items are limits (≤ 10), capabilities (< 64) and signals (< 65).
            index: u8::try_from(index).unwrap_or(u8::MAX),
            errno: Errno::from_raw(errno),
        }
    }

    pub fn encode(&self) -> [u8; LEN] {
        let errno = (self.errno as i32).to_ne_bytes();
        [
            self.step as u8,
            self.index,
            errno[0],
            errno[1],
            errno[2],
            errno[3],
        ]
    }

    /// `None` unless `bytes` is exactly one well-formed report.
    pub fn decode(bytes: &[u8]) -> Option<Failure> {
        let &[step, index, e0, e1, e2, e3] = bytes else {
            return None;
        };
        Some(Failure {
            step: Step::from_u8(step)?,
            index,
            errno: Errno::from_raw(i32::from_ne_bytes([e0, e1, e2, e3])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips() {
        let failure = Failure {
            step: Step::Setrlimit,
            index: 3,
            errno: Errno::EPERM,
        };
        assert_eq!(Failure::decode(&failure.encode()), Some(failure));
    }

    #[test]
    fn short_long_and_unknown_reports_are_rejected() {
        assert_eq!(Failure::decode(&[]), None);
        assert_eq!(Failure::decode(&[Step::Exec as u8, 0, 2, 0, 0]), None);
        assert_eq!(Failure::decode(&[Step::Exec as u8, 0, 2, 0, 0, 0, 0]), None);
        assert_eq!(Failure::decode(&[0, 0, 2, 0, 0, 0]), None);
    }
}
