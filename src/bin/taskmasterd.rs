//! `taskmasterd`: parse the command line, then hand over to the library.

// Every unsafe block says why it is sound (a `// SAFETY:` comment), checked by clippy.
#![deny(clippy::undocumented_unsafe_blocks)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use taskmaster::cli::TaskmasterdArgs as Args;
use taskmaster::daemon;

fn main() -> ExitCode {
    // `taskmasterd import …` is a tool of its own, not a daemon option (and never PID 1's).
    if std::process::id() != 1 && std::env::args().nth(1).as_deref() == Some("import") {
        return ExitCode::from(taskmaster::import::cli::main(std::env::args()));
    }
    let args = parse_args();
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(taskmaster::control::default_socket_path);
    if args.shell_client {
        return ExitCode::from(taskmaster::ctl::run_shell_on_terminal(&socket));
    }
    if args.check {
        return ExitCode::from(check(&args.config_dir));
    }
    if args.upgrade_check {
        // The config must load, or the new image would have nothing to take over with.
        let code = match daemon::load_config(&args.config_dir) {
            Ok(_) => {
                println!("{}", daemon::upgrade_check_line());
                0
            }
            Err(errors) => {
                for error in errors.iter().take(5) {
                    println!("{error}");
                }
                1
            }
        };
        return ExitCode::from(code);
    }
    let log_file = args.log_file.clone().unwrap_or_else(|| {
        if nix::unistd::geteuid().is_root() {
            PathBuf::from("/var/log/taskmaster.log")
        } else {
            PathBuf::from("taskmaster.log")
        }
    });
    let mut metrics_file = args.metrics_file.clone();
    if let Some(path) = &args.metrics_file {
        if let Err(message) = daemon::check_metrics_file(path) {
            eprintln!("taskmasterd: {message}");
            if std::process::id() != 1 {
                return ExitCode::from(1);
            }
            // Init goes on without it: a metrics file is not worth a kernel panic.
            metrics_file = None;
        }
    }
    let code = daemon::run(daemon::Options {
        config_dir: args.config_dir,
        socket,
        log_file,
        shell: args.shell,
        syslog_socket: (!args.no_syslog).then_some(args.syslog_socket),
        kill_grace: std::time::Duration::from_secs_f64(args.kill_grace),
        emergency_shell: args.emergency_shell,
        state_dir: args
            .state_dir
            .unwrap_or_else(daemon::state_files::default_dir),
        metrics_file,
        handover: args.handover,
        boot_words: args.stray,
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn check(dir: &std::path::Path) -> u8 {
    match daemon::load_config(dir) {
        Ok((config, graph)) => {
            println!(
                "{}: {} service(s), valid",
                dir.display(),
                config.services.len()
            );
            print!("start order:\n{}", graph.render());
            0
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            eprintln!("{}: {} error(s)", dir.display(), errors.len());
            1
        }
    }
}

/// As PID 1 a bad command line must not end the machine: the kernel may pass words meant
/// for another init, and a typo in a boot entry should still boot with the defaults.
fn parse_args() -> Args {
    let pid1 = std::process::id() == 1;
    match Args::try_parse() {
        // As PID 1 the words are the kernel's (`single`: rescue mode), read by the daemon.
        Ok(args) if pid1 || args.stray.is_empty() => args,
        Ok(args) => {
            eprintln!(
                "taskmasterd: unexpected argument {:?} (see --help)",
                args.stray[0]
            );
            std::process::exit(2);
        }
        Err(err) if pid1 => {
            eprintln!("taskmasterd: {err}\ntaskmasterd: starting with the defaults");
            Args::parse_from(["taskmasterd"])
        }
        Err(err) => err.exit(),
    }
}
