//! `poweroff`, `reboot`, `halt` and `shutdown` as sysvinit spells them, for scripts and tools
//! (Vagrant, Debian's own) that call them when taskmasterd is init. They are tmctl itself,
//! installed under those names (a multi-call binary): [`PowerCommand::from_argv0`] picks the
//! command line by the name it was called with.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use clap::{ArgGroup, CommandFactory, FromArgMatches, Parser};

use crate::ctl::Command;

/// The names tmctl answers to besides its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerCommand {
    Poweroff,
    Reboot,
    Halt,
    Shutdown,
}

/// What a power command asks for, once its command line is understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerAction {
    /// `Poweroff`, `Reboot` or `Halt`.
    pub command: Command,
    /// When: at once, or after a wait (shutdown's TIME).
    pub when: When,
    /// Skip taskmasterd: sync and call reboot(2) directly (`-f`), as a last resort.
    pub force: bool,
}

/// shutdown's TIME: `now`, `+M` (minutes from now) or `HH:MM` (local time, today or tomorrow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Now,
    InMinutes(u32),
    At { hour: u32, minute: u32 },
}

/// Power the machine off through taskmasterd: services stop in reverse dependency order,
/// then the remaining processes, sync, unmount, power off.
#[derive(Debug, Parser)]
#[command(version)]
pub struct PowerArgs {
    /// Do not ask taskmasterd: sync and call reboot(2) at once (nothing is stopped cleanly)
    #[arg(short, long)]
    pub force: bool,
    /// halt: power off instead of halting
    #[arg(short = 'p', long = "poweroff")]
    pub poweroff: bool,
    /// Accepted for compatibility with sysvinit and systemd; ignored (taskmasterd always syncs, and writes no wtmp record nor wall message)
    #[arg(short = 'n', long = "no-sync")]
    pub no_sync: bool,
    /// Accepted for compatibility; ignored
    #[arg(short = 'd', long = "no-wtmp")]
    pub no_wtmp: bool,
    /// Accepted for compatibility; ignored
    #[arg(long = "no-wall")]
    pub no_wall: bool,
    /// Accepted for compatibility; ignored
    #[arg(short = 'i')]
    pub interfaces: bool,
}

/// Bring the machine down through taskmasterd, now or at a given time.
///
/// With no option it powers off. A TIME other than `now` waits in the foreground (Ctrl-C
/// cancels) and then asks taskmasterd.
#[derive(Debug, Parser)]
#[command(name = "shutdown", version, disable_help_flag = true)]
#[command(group(ArgGroup::new("mode").args(["reboot", "halt_or_poweroff", "poweroff", "halt"])))]
pub struct ShutdownArgs {
    /// Reboot
    #[arg(short = 'r', long = "reboot")]
    pub reboot: bool,
    /// Power off (as -P)
    #[arg(short = 'h')]
    pub halt_or_poweroff: bool,
    /// Power off (the default)
    #[arg(short = 'P', long = "poweroff")]
    pub poweroff: bool,
    /// Halt: stop everything but leave the power on
    #[arg(short = 'H', long = "halt")]
    pub halt: bool,
    /// Accepted for compatibility; ignored
    #[arg(long = "no-wall")]
    pub no_wall: bool,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// now, +M (in M minutes) or HH:MM (local time)
    #[arg(value_name = "TIME", default_value = "now", value_parser = parse_when)]
    pub time: When,
    /// A message; printed, as there is no wall
    #[arg(value_name = "MESSAGE", trailing_var_arg = true)]
    pub message: Vec<String>,
}

impl PowerCommand {
    /// The command a program called `argv0` (a path or a name) stands for, if any.
    pub fn from_argv0(argv0: &OsStr) -> Option<PowerCommand> {
        match Path::new(argv0).file_name()?.to_str()? {
            "poweroff" => Some(PowerCommand::Poweroff),
            "reboot" => Some(PowerCommand::Reboot),
            "halt" => Some(PowerCommand::Halt),
            "shutdown" => Some(PowerCommand::Shutdown),
            _ => None,
        }
    }

    /// Every power command, for the docs generator.
    pub const ALL: [PowerCommand; 4] = [
        PowerCommand::Poweroff,
        PowerCommand::Reboot,
        PowerCommand::Halt,
        PowerCommand::Shutdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PowerCommand::Poweroff => "poweroff",
            PowerCommand::Reboot => "reboot",
            PowerCommand::Halt => "halt",
            PowerCommand::Shutdown => "shutdown",
        }
    }

    /// The clap command line of this name (also what the man page is made from).
    pub fn clap_command(self) -> clap::Command {
        match self {
            PowerCommand::Shutdown => ShutdownArgs::command(),
            PowerCommand::Poweroff => PowerArgs::command().name("poweroff"),
            PowerCommand::Reboot => PowerArgs::command().name("reboot").about(
                "Reboot the machine through taskmasterd: services stop in reverse dependency \
                 order, then the remaining processes, sync, unmount, reboot.",
            ),
            PowerCommand::Halt => PowerArgs::command().name("halt").about(
                "Halt the machine through taskmasterd (-p: power off): services stop in \
                 reverse dependency order, then the remaining processes, sync, unmount, halt.",
            ),
        }
    }

    /// Parse a whole command line (`args` includes argv[0]).
    pub fn parse<I, T>(self, args: I) -> Result<PowerAction, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = self.clap_command().try_get_matches_from(args)?;
        if self == PowerCommand::Shutdown {
            let args = ShutdownArgs::from_arg_matches(&matches)?;
            let command = if args.reboot {
                Command::Reboot
            } else if args.halt {
                Command::Halt
            } else {
                Command::Poweroff
            };
            if !args.message.is_empty() {
                println!("shutdown: {}", args.message.join(" "));
            }
            return Ok(PowerAction {
                command,
                when: args.time,
                force: false,
            });
        }
        let args = PowerArgs::from_arg_matches(&matches)?;
        let command = match self {
            PowerCommand::Reboot => Command::Reboot,
            PowerCommand::Halt if !args.poweroff => Command::Halt,
            _ => Command::Poweroff,
        };
        Ok(PowerAction {
            command,
            when: When::Now,
            force: args.force,
        })
    }
}

/// `now`, `+M`, `HH:MM`.
fn parse_when(text: &str) -> Result<When, String> {
    let bad = || format!("expected now, +MINUTES or HH:MM, got {text:?}");
    if text == "now" || text == "+0" {
        return Ok(When::Now);
    }
    if let Some(minutes) = text.strip_prefix('+') {
        return minutes.parse().map(When::InMinutes).map_err(|_| bad());
    }
    // Minutes take two digits (`7:05`, not `7:5`), as shutdown(8) writes them.
    let (hour_text, minute_text) = text.split_once(':').ok_or_else(bad)?;
    match (hour_text.parse::<u32>(), minute_text.parse::<u32>()) {
        (Ok(hour), Ok(minute)) if hour < 24 && minute < 60 && minute_text.len() == 2 => {
            Ok(When::At { hour, minute })
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: PowerCommand, args: &[&str]) -> Result<PowerAction, clap::Error> {
        name.parse(std::iter::once(name.name()).chain(args.iter().copied()))
    }

    #[test]
    fn names_are_recognised_by_basename() {
        assert_eq!(
            PowerCommand::from_argv0(OsStr::new("/sbin/poweroff")),
            Some(PowerCommand::Poweroff)
        );
        assert_eq!(
            PowerCommand::from_argv0(OsStr::new("shutdown")),
            Some(PowerCommand::Shutdown)
        );
        assert_eq!(PowerCommand::from_argv0(OsStr::new("/usr/bin/tmctl")), None);
    }

    #[test]
    fn shutdown_modes_and_times() {
        let a = parse(PowerCommand::Shutdown, &["-h", "now"]).unwrap();
        assert_eq!((a.command, a.when), (Command::Poweroff, When::Now));
        let a = parse(PowerCommand::Shutdown, &["-r", "+5"]).unwrap();
        assert_eq!((a.command, a.when), (Command::Reboot, When::InMinutes(5)));
        let a = parse(PowerCommand::Shutdown, &["-H", "07:30"]).unwrap();
        assert_eq!(
            (a.command, a.when),
            (
                Command::Halt,
                When::At {
                    hour: 7,
                    minute: 30
                }
            )
        );
        let a = parse(PowerCommand::Shutdown, &[]).unwrap();
        assert_eq!((a.command, a.when), (Command::Poweroff, When::Now));
    }

    #[test]
    fn shutdown_refuses_bad_times_and_two_modes() {
        for bad in ["soon", "+x", "25:00", "7:5", "12"] {
            let err = parse(PowerCommand::Shutdown, &["-r", bad]).unwrap_err();
            assert!(err.to_string().contains("expected now"), "{bad}: {err}");
        }
        assert!(parse(PowerCommand::Shutdown, &["-r", "-H", "now"]).is_err());
    }

    #[test]
    fn halt_p_powers_off_and_force_is_kept() {
        assert_eq!(
            parse(PowerCommand::Halt, &[]).unwrap().command,
            Command::Halt
        );
        assert_eq!(
            parse(PowerCommand::Halt, &["-p"]).unwrap().command,
            Command::Poweroff
        );
        let a = parse(PowerCommand::Reboot, &["-f"]).unwrap();
        assert_eq!((a.command, a.force), (Command::Reboot, true));
        assert!(parse(PowerCommand::Poweroff, &["--bogus"]).is_err());
    }
}
