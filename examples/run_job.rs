//! Runs a command as a taskmaster job and prints its output and exit status.
//!
//! ```sh
//! cargo run --example run_job -- /bin/sh -c 'echo hello; exit 3'
//! ```
//!
//! The socket is `$TASKMASTER_SOCKET` or the daemon's default.

use std::io::Write;
use std::process::ExitCode;

use taskmaster::client::{Client, JobEvent, RunOptions};
use taskmaster::control::default_socket_path;

fn main() -> ExitCode {
    let cmd: Vec<String> = std::env::args().skip(1).collect();
    if cmd.is_empty() {
        eprintln!("usage: run_job CMD ARGS...");
        return ExitCode::from(2);
    }
    match run(cmd) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("run_job: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Vec<String>) -> Result<u8, taskmaster::client::Error> {
    let client = Client::connect(default_socket_path())?;
    let mut job = client.run(&RunOptions::new(cmd))?;
    println!("job {} started", job.name());
    loop {
        match job.next_event()? {
            JobEvent::Output {
                stderr: false,
                data,
            } => {
                print!("{data}");
                let _ = std::io::stdout().flush();
            }
            JobEvent::Output { stderr: true, data } => eprint!("{data}"),
            JobEvent::Ended(exit) => {
                println!(
                    "job {} ended: {} (exit status {})",
                    exit.name, exit.message, exit.code
                );
                return Ok(u8::try_from(exit.code).unwrap_or(255));
            }
        }
    }
}
