//! Signals as users write them (`TERM`, `SIGTERM`, `term`, `15`, `RTMIN+2`) and as
//! taskmaster shows them (the name without `SIG`). One place for the config, the core,
//! the control socket and the process module.

use nix::sys::signal::Signal;

/// `"TERM"`, `"KILL"`, `"RTMIN+2"`: the name without `SIG`; the number for anything else.
pub fn name(signal: i32) -> String {
    if let Ok(known) = Signal::try_from(signal) {
        return known.as_str().trim_start_matches("SIG").to_owned();
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    match signal {
        s if s == min => "RTMIN".to_owned(),
        s if s == max => "RTMAX".to_owned(),
        s if s > min && s < max => format!("RTMIN+{}", s - min),
        s => s.to_string(),
    }
}

/// A signal as users write it: `"TERM"`, `"SIGTERM"`, `"term"`, `"15"`, `"RTMIN+2"`.
pub fn parse(text: &str) -> Option<i32> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return (1..=libc::SIGRTMAX()).contains(&number).then_some(number);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let name = match name {
        "IOT" => "ABRT",
        "POLL" => "IO",
        "CLD" => "CHLD",
        other => other,
    };
    if let Some(offset) = name.strip_prefix("RTMIN") {
        return realtime(libc::SIGRTMIN(), offset, 1);
    }
    if let Some(offset) = name.strip_prefix("RTMAX") {
        return realtime(libc::SIGRTMAX(), offset, -1);
    }
    Signal::iterator()
        .find(|s| s.as_str().strip_prefix("SIG") == Some(name))
        .map(|s| s as i32)
}

/// `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n`, within the realtime range.
fn realtime(base: i32, offset: &str, direction: i32) -> Option<i32> {
    let n: i32 = if offset.is_empty() {
        0
    } else {
        let digits = offset.strip_prefix(if direction > 0 { '+' } else { '-' })?;
        digits.parse().ok()?
    };
    let signal = base.checked_add(n.checked_mul(direction)?)?;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&signal)
        .then_some(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_no_sig_prefix() {
        assert_eq!(name(libc::SIGTERM), "TERM");
        assert_eq!(name(libc::SIGKILL), "KILL");
        assert_eq!(name(libc::SIGRTMIN() + 2), "RTMIN+2");
        assert_eq!(name(libc::SIGRTMAX()), "RTMAX");
        assert_eq!(name(0), "0");
        assert_eq!(name(200), "200");
    }

    #[test]
    fn users_write_signals_many_ways() {
        for text in ["TERM", "SIGTERM", "term", "sigterm", " TERM ", "15"] {
            assert_eq!(parse(text), Some(libc::SIGTERM), "{text}");
        }
        assert_eq!(parse("HUP"), Some(libc::SIGHUP));
        assert_eq!(parse("usr2"), Some(libc::SIGUSR2));
        assert_eq!(parse("IOT"), Some(libc::SIGABRT));
        assert_eq!(parse("RTMIN"), Some(libc::SIGRTMIN()));
        assert_eq!(parse("SIGRTMIN+3"), Some(libc::SIGRTMIN() + 3));
        assert_eq!(parse("RTMAX-1"), Some(libc::SIGRTMAX() - 1));
    }

    #[test]
    fn nonsense_is_not_a_signal() {
        for text in [
            "", "SIG", "BOGUS", "0", "-9", "65", "RTMIN-1", "RTMAX+1", "RTMIN+x",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn every_name_parses_back() {
        for signal in 1..=libc::SIGRTMAX() {
            assert_eq!(parse(&name(signal)), Some(signal));
        }
    }
}
