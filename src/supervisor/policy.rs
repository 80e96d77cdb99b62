//! Restart policy: whether an exit was expected, whether to restart, and how long to wait.

use super::state::ExitStatus;
use crate::config::{Policy, RestartPolicy};
use std::time::Duration;

/// The first retry waits this long; each further one twice as long as the one before.
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// No retry waits longer than this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A process that stayed up this long after RUNNING is "stable": its next crash starts a
/// new streak, and the growing delay starts again from nothing.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// How long to wait before restarting a process that left RUNNING, given its crash streak
/// (1 = the first crash since it was started or last stable). The first crash is restarted
/// at once, as supervisord and systemd do: one crash of a long-running service is no loop,
/// and waiting only adds downtime. From the second quick crash on, the growing delay
/// (250 ms, 500 ms, ...) keeps a crash loop from spinning.
pub fn restart_delay(crash_streak: u32) -> Option<Duration> {
    (crash_streak > 1).then(|| backoff_delay(crash_streak - 1))
}

/// Delay before the `attempt`-th consecutive retry (1-based): 250 ms, 500 ms, 1 s, ... 30 s.
pub fn backoff_delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    BACKOFF_BASE
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_CAP)
}

/// An exit is expected when it is a normal exit with a code listed in `exitcodes`.
/// Death by a signal is never expected (the supervisor's own stop is handled apart).
pub fn is_expected(policy: &Policy, status: ExitStatus) -> bool {
    match status {
        ExitStatus::Code(code) => policy.exitcodes.contains(&code),
        ExitStatus::Signal(_) => false,
    }
}

/// Whether a process that left RUNNING with `status` is restarted.
pub fn restarts_after_running(policy: &Policy, status: ExitStatus) -> bool {
    match policy.autorestart {
        RestartPolicy::Always => true,
        RestartPolicy::Never => false,
        RestartPolicy::Unexpected => !is_expected(policy, status),
    }
}

/// Whether an exit before `starttime` is a failed start. An exit with an expected code
/// is a clean finish unless the policy restarts everything anyway.
pub fn is_failed_start(policy: &Policy, status: ExitStatus) -> bool {
    policy.autorestart == RestartPolicy::Always || !is_expected(policy, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(autorestart: RestartPolicy, exitcodes: &[i32]) -> Policy {
        Policy {
            autostart: true,
            autorestart,
            exitcodes: exitcodes.to_vec(),
            startretries: 3,
            starttime: Duration::from_secs(1),
            stopsignal: 15,
            stoptime: Duration::from_secs(10),
            essential: false,
            ready_timeout: Duration::from_secs(90),
            restart_limit: None,
            schedule: None,
            rescue: false,
        }
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(backoff_delay(1), Duration::from_millis(250));
        assert_eq!(backoff_delay(2), Duration::from_millis(500));
        assert_eq!(backoff_delay(3), Duration::from_secs(1));
        assert_eq!(backoff_delay(8), BACKOFF_CAP);
        assert_eq!(backoff_delay(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn the_first_crash_restarts_at_once_then_the_delay_grows() {
        assert_eq!(restart_delay(0), None);
        assert_eq!(restart_delay(1), None);
        assert_eq!(restart_delay(2), Some(Duration::from_millis(250)));
        assert_eq!(restart_delay(3), Some(Duration::from_millis(500)));
        assert_eq!(restart_delay(u32::MAX), Some(BACKOFF_CAP));
    }

    #[test]
    fn autorestart_times_exitcodes() {
        use ExitStatus::*;
        use RestartPolicy::*;
        let table = [
            (Always, Code(0), true),
            (Always, Code(1), true),
            (Always, Signal(9), true),
            (Never, Code(0), false),
            (Never, Code(1), false),
            (Never, Signal(9), false),
            (Unexpected, Code(0), false),
            (Unexpected, Code(2), false),
            (Unexpected, Code(1), true),
            (Unexpected, Signal(9), true),
        ];
        for (restart, status, want) in table {
            let p = policy(restart, &[0, 2]);
            assert_eq!(
                restarts_after_running(&p, status),
                want,
                "{restart:?} {status:?}"
            );
        }
    }

    #[test]
    fn expected_code_before_starttime_is_not_a_failed_start() {
        use ExitStatus::*;
        use RestartPolicy::*;
        assert!(!is_failed_start(&policy(Unexpected, &[0]), Code(0)));
        assert!(!is_failed_start(&policy(Never, &[0, 3]), Code(3)));
        assert!(is_failed_start(&policy(Never, &[0]), Code(1)));
        assert!(is_failed_start(&policy(Always, &[0]), Code(0)));
        assert!(is_failed_start(&policy(Unexpected, &[0]), Signal(15)));
    }
}
