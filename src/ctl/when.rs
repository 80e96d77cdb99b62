//! The times and durations tmctl reads: `run --timeout`, `start --in`, `start --at`.
//! Pure functions of their text (and, for `--at`, of the time now), tested below.

use chrono::{DateTime, Duration as ChronoDuration, Local, NaiveTime, TimeZone};
use std::time::Duration;

/// A time or duration tmctl could not read; the option and the text as given come first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    #[error("--timeout {0:?}: expected a number of seconds more than 0, such as 30 or 2.5")]
    Timeout(String),
    #[error("--in {0:?}: expected a duration such as 30s, 5m or 2h")]
    Delay(String),
    #[error("--at {0:?}: that time has passed")]
    Passed(String),
    #[error(
        "--at {0:?}: expected HH:MM, HH:MM:SS or an RFC 3339 time such as 2026-12-24T18:00:00Z"
    )]
    At(String),
}

/// `--timeout SECONDS`: a number of seconds (`2`, `0.5`) or a duration (`30s`, `5m`);
/// more than zero.
pub fn timeout(text: &str) -> Result<Duration, WhenError> {
    let parsed = match text.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds < 1e9 => {
            Some(Duration::from_secs_f64(seconds))
        }
        Ok(_) => None,
        Err(_) => humantime::parse_duration(text.trim()).ok(),
    };
    match parsed {
        Some(d) if d.as_millis() >= 1 => Ok(d),
        _ => Err(WhenError::Timeout(text.to_string())),
    }
}

/// `--in DURATION`: `30s`, `5m`, `2h`, `1h30m` (a bare number is seconds).
pub fn delay(text: &str) -> Result<Duration, WhenError> {
    let trimmed = text.trim();
    let parsed = match trimmed.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(trimmed).ok(),
    };
    parsed.ok_or_else(|| WhenError::Delay(text.to_string()))
}

/// `--at TIME`: `HH:MM[:SS]` (local time, today, or tomorrow if that has passed) or an
/// RFC 3339 time (`2026-12-24T18:00:00+01:00`), which must be in the future. The delay
/// from `now` until then.
pub fn until<Tz: TimeZone>(text: &str, now: DateTime<Tz>) -> Result<Duration, WhenError> {
    let trimmed = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(trimmed) {
        let now = now.fixed_offset();
        if at <= now {
            return Err(WhenError::Passed(text.to_string()));
        }
        return (at - now)
            .to_std()
            .map_err(|_| WhenError::Passed(text.to_string()));
    }
    let time = NaiveTime::parse_from_str(trimmed, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(trimmed, "%H:%M"))
        .map_err(|_| WhenError::At(text.to_string()))?;
    let tz = now.timezone();
    for days in 0..=2 {
        let date = now.date_naive() + ChronoDuration::days(days);
        // A time that does not exist that day (a DST gap) is tried the next day.
        let Some(at) = tz.from_local_datetime(&date.and_time(time)).earliest() else {
            continue;
        };
        if at > now {
            return (at - now.clone())
                .to_std()
                .map_err(|_| WhenError::At(text.to_string()));
        }
    }
    Err(WhenError::At(text.to_string()))
}

/// [`until`] from the local time now.
pub fn until_local(text: &str) -> Result<Duration, WhenError> {
    until(text, Local::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).expect("test time")
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(timeout("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(timeout("5m"), Ok(Duration::from_secs(300)));
        for bad in ["0", "-1", "nan", "soon", "", "0s"] {
            let error = timeout(bad).expect_err(bad);
            assert!(error.to_string().contains("more than 0"), "{error}");
        }
    }

    #[test]
    fn delays_read_units() {
        assert_eq!(delay("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(delay("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(delay("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(delay("45"), Ok(Duration::from_secs(45)));
        assert!(delay("later").is_err());
        assert!(delay("-5s").is_err());
    }

    #[test]
    fn a_clock_time_is_today_or_tomorrow() {
        let now = at("2026-12-06T14:00:00+00:00");
        assert_eq!(until("14:05", now), Ok(Duration::from_secs(300)));
        assert_eq!(until("14:00:30", now), Ok(Duration::from_secs(30)));
        // Passed today: tomorrow.
        assert_eq!(until("13:00", now), Ok(Duration::from_secs(23 * 3600)));
        assert_eq!(until("14:00", now), Ok(Duration::from_secs(24 * 3600)));
    }

    #[test]
    fn rfc3339_must_be_ahead() {
        let now = at("2026-12-06T14:00:00+00:00");
        assert_eq!(
            until("2026-12-06T15:00:00+01:00", now),
            Err(WhenError::Passed("2026-12-06T15:00:00+01:00".to_string()))
        );
        assert_eq!(
            until("2026-12-06T16:00:00+01:00", now),
            Ok(Duration::from_secs(3600))
        );
        assert!(until("25:00", now)
            .unwrap_err()
            .to_string()
            .contains("expected HH:MM"));
        assert!(until("tomorrow", Utc::now()).is_err());
    }
}
