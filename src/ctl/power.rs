//! Carrying out `poweroff`, `reboot`, `halt` and `shutdown` (see [`crate::cli::power`]):
//! wait for shutdown's TIME in the foreground, then ask taskmasterd as `tmctl poweroff`
//! would; or, with `-f`, skip it and call reboot(2) directly.

use std::path::Path;
use std::time::Duration;

use nix::sys::reboot::{reboot, RebootMode};

use crate::cli::power::{PowerAction, When};
use crate::ctl::{run, Command, CtlError, Format};

pub fn run_power(socket: &Path, action: &PowerAction) -> Result<(), CtlError> {
    let wait = delay(action.when);
    if !wait.is_zero() {
        println!(
            "{} in {} s (Ctrl-C cancels)",
            action.command.word(),
            wait.as_secs()
        );
        std::thread::sleep(wait);
    }
    if action.force {
        return force(&action.command);
    }
    run(socket, Format::Human, Some(action.command.clone())).map(|_| ())
}

/// `-f`: what sysvinit's does, for a machine whose init no longer answers.
fn force(command: &Command) -> Result<(), CtlError> {
    let mode = match command {
        Command::Reboot => RebootMode::RB_AUTOBOOT,
        Command::Halt => RebootMode::RB_HALT_SYSTEM,
        _ => RebootMode::RB_POWER_OFF,
    };
    nix::unistd::sync();
    match reboot(mode) {
        Err(errno) => Err(CtlError::Failed(format!("reboot(2) refused: {errno}"))),
    }
}

/// How long to wait for `when`, counted in whole minutes of local time as shutdown(8) does
/// (a time that has passed today means tomorrow).
fn delay(when: When) -> Duration {
    match when {
        When::Now => Duration::ZERO,
        When::InMinutes(m) => Duration::from_secs(u64::from(m) * 60),
        When::At { hour, minute } => {
            let (now_minute, now_second) = local_minute_of_day();
            let target = i64::from(hour * 60 + minute);
            let mut minutes = target - now_minute;
            if minutes < 0 {
                minutes += 24 * 60;
            }
            Duration::from_secs(u64::try_from((minutes * 60 - now_second).max(0)).unwrap_or(0))
        }
    }
}

/// (minutes since local midnight, seconds into that minute).
fn local_minute_of_day() -> (i64, i64) {
    // SAFETY: time(NULL) only reads the clock.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: an all-zero `tm` is a valid value of a plain C struct of integers (and a null
    // tm_zone pointer), and localtime_r fills it from `now`, both owned by this frame.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: see above; localtime_r writes only into `tm`.
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return (0, 0);
    }
    (
        i64::from(tm.tm_hour) * 60 + i64::from(tm.tm_min),
        i64::from(tm.tm_sec),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        assert_eq!(delay(When::Now), Duration::ZERO);
        assert_eq!(delay(When::InMinutes(2)), Duration::from_secs(120));
        let day = Duration::from_secs(24 * 3600);
        let (m, _) = local_minute_of_day();
        let at = When::At {
            hour: u32::try_from(m / 60).unwrap(),
            minute: u32::try_from(m % 60).unwrap(),
        };
        // This very minute (unless the clock just turned): at once or within a minute.
        assert!(delay(at) <= Duration::from_secs(60) || delay(at) > day - Duration::from_secs(120));
    }
}
