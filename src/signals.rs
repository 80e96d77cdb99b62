//! Signal names and numbers as users write them (`TERM`, `SIGTERM`, `15`).

use nix::sys::signal::Signal;
use std::str::FromStr;

/// The name without `SIG` (`KILL`), or the number when the platform has no name for it.
pub fn name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(sig) => sig.as_str().trim_start_matches("SIG").to_string(),
        Err(_) => signal.to_string(),
    }
}

/// Accepts `TERM`, `SIGTERM`, `term` and numbers of real signals.
pub fn parse(text: &str) -> Option<i32> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).ok().map(|s| s as i32);
    }
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).ok().map(|s| s as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM"), Some(15));
        assert_eq!(parse("sigkill"), Some(9));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("BOGUS"), None);
        assert_eq!(parse("999"), None);
        assert_eq!(name(9), "KILL");
    }
}
