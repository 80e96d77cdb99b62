//! `schedule "*/5 * * * *"`: a cron string of five fields (minute, hour, day of month,
//! month, day of week), in local time. The `croner` crate parses it and finds the next
//! matching minute; this module only makes its errors say which field is wrong and why.

use std::time::SystemTime;

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use super::fields::Field;
use super::ConfigError;

/// The five fields, in order, as a message names them.
const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];

const EXPECTED: &str =
    "expected a cron string of 5 fields (minute hour day-of-month month day-of-week), \
     e.g. \"*/5 * * * *\"";

/// A parsed `schedule`. Two are equal when their text is: a reload compares them so.
///
/// One pointer, behind which the text and croner's `Cron` (about 300 bytes) live: every
/// service's policy holds an `Option` of it, and most services have no schedule
/// (bench/PROFILES.md, memory: inline, it was 40 % of each service in the core's map).
#[derive(Debug, Clone)]
pub struct CronSchedule(Box<Parsed>);

#[derive(Debug, Clone)]
struct Parsed {
    text: String,
    cron: Cron,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.0.text == other.0.text
    }
}

/// Why a `schedule` string is not one: the field that is wrong and why, when it is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "{EXPECTED}; got {count} field{}{}",
        if *count == 1 { "" } else { "s" },
        if *count == 6 {
            " (a seconds field is not supported: the finest step is a minute)"
        } else {
            ""
        }
    )]
    FieldCount { count: usize },
    #[error("{nickname:?}: {reason}")]
    Nickname { nickname: String, reason: String },
    #[error("field {number} ({name}) {value:?}: {reason}")]
    Field {
        number: usize,
        name: &'static str,
        value: String,
        reason: String,
    },
    /// The parser refused the whole string, and no single field alone.
    #[error("{0}")]
    Pattern(String),
}

impl CronSchedule {
    /// Parses a 5-field cron string; the error names the field that is wrong and why.
    pub fn parse(text: &str) -> Result<CronSchedule, ScheduleError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        // `@daily` and the other nicknames stand for five fields.
        let nickname = fields.len() == 1 && fields[0].starts_with('@');
        if !nickname && fields.len() != 5 {
            return Err(ScheduleError::FieldCount {
                count: fields.len(),
            });
        }
        match parser().parse(text) {
            Ok(cron) => Ok(CronSchedule(Box::new(Parsed {
                text: text.to_string(),
                cron,
            }))),
            Err(error) if nickname => Err(ScheduleError::Nickname {
                nickname: fields[0].to_string(),
                reason: error.to_string(),
            }),
            Err(error) => {
                Err(culprit(&fields).unwrap_or(ScheduleError::Pattern(error.to_string())))
            }
        }
    }

    /// The string as written in the file.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// The first matching minute strictly after `wall`, in local time; `None` when the
    /// string matches no date at all (`0 0 31 2 *`).
    pub fn next_after(&self, wall: SystemTime) -> Option<SystemTime> {
        let local = chrono::DateTime::<chrono::Local>::from(wall);
        self.0
            .cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(SystemTime::from)
    }
}

/// Minutes only: no seconds field, no year field.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

/// Which field makes the whole string fail, found by parsing each alone (the others `*`):
/// "field 2 (hour) \"25\": …".
fn culprit(fields: &[&str]) -> Option<ScheduleError> {
    (0..fields.len()).find_map(|n| {
        let alone: Vec<&str> = (0..fields.len())
            .map(|i| if i == n { fields[i] } else { "*" })
            .collect();
        let error = parser().parse(&alone.join(" ")).err()?;
        Some(ScheduleError::Field {
            number: n + 1,
            name: FIELD_NAMES[n],
            value: fields[n].to_string(),
            reason: reason(&error),
        })
    })
}

/// croner's message without its type prefix ("Component error: ").
fn reason(error: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    match error {
        CronError::ComponentError(message)
        | CronError::InvalidPattern(message)
        | CronError::IllegalCharacters(message) => message.clone(),
        other => other.to_string(),
    }
}

/// The `schedule` field: one string.
pub(crate) fn read(field: &Field<'_>) -> Result<CronSchedule, ConfigError> {
    field.word(EXPECTED, CronSchedule::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_parse_and_find_the_next_matching_minute() {
        let every_five = CronSchedule::parse("*/5 * * * *").expect("valid");
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let next = every_five.next_after(start).expect("a next minute");
        let ahead = next.duration_since(start).expect("later");
        assert!(ahead.as_secs() > 0 && ahead.as_secs() <= 300, "{ahead:?}");
        let local = chrono::DateTime::<chrono::Local>::from(next);
        use chrono::Timelike;
        assert_eq!((local.minute() % 5, local.second()), (0, 0));
        assert!(CronSchedule::parse("@hourly").is_ok());
    }

    #[test]
    fn a_bad_string_names_the_field_and_why() {
        let error = |text: &str| CronSchedule::parse(text).unwrap_err().to_string();
        let six = error("0 */5 * * * *");
        assert!(
            six.contains("got 6 fields") && six.contains("seconds"),
            "{six}"
        );
        let hour = error("0 25 * * *");
        assert!(hour.starts_with("field 2 (hour) \"25\": "), "{hour}");
        let month = error("0 0 1 13 *");
        assert!(month.starts_with("field 4 (month) \"13\": "), "{month}");
        let letters = error("x * * * *");
        assert!(letters.starts_with("field 1 (minute) \"x\": "), "{letters}");
        assert!(error("").contains("got 0 fields"));
    }
}
