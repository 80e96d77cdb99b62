//! `tmctl run` attached and `tmctl wait`: the job's output on our stdout and stderr as it
//! comes, and its exit code as ours; Ctrl-C stops the job (a second one kills it).
//! Also the checks made before a request is sent (`--timeout`, `--in`, `--at`).

use std::io::Write;
use std::path::Path;

use crate::client::{Client, Error, JobEvent, JobExit};
use crate::control::client::{Client as Connection, ClientError};
use crate::control::proto::Request;

use super::command::{Command, RunArgs};
use super::ctrl_c::CtrlCPipe;
use super::error::CtlError;
use super::render::Format;
use super::when;

/// The request for `command`, with times and durations read and checked here, so that a
/// bad one is refused before anything is sent.
pub fn request_of(command: &Command) -> Result<Request, CtlError> {
    let mut request = command.to_request();
    match (command, &mut request) {
        (Command::Run(args), Request::Run(run)) => {
            if let Some(text) = &args.timeout {
                let timeout = when::timeout(text)?;
                run.timeout_ms = Some(timeout.as_millis().try_into().unwrap_or(u64::MAX));
            }
        }
        (Command::Start { after, at, names }, _) => {
            let delay = match (after, at) {
                (Some(text), _) => Some(when::delay(text)?),
                (None, Some(text)) => Some(when::until_local(text)?),
                (None, None) => None,
            };
            if let Some(delay) = delay {
                request = Request::Schedule {
                    names: names.clone(),
                    delay_ms: delay.as_millis().try_into().unwrap_or(u64::MAX),
                };
            }
        }
        _ => {}
    }
    Ok(request)
}

/// The exit code of tmctl for a job's end (`code` is 0..=255 already for any real exit).
pub fn exit_code(exit: &JobExit) -> u8 {
    u8::try_from(exit.code).unwrap_or(255)
}

/// Runs the job attached: streams its output, returns its exit code.
pub fn run_attached(
    socket: &Path,
    args: &RunArgs,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CtlError> {
    let Request::Run(options) = request_of(&Command::Run(args.clone()))? else {
        return Err(CtlError::Failed(
            "internal: run without a run request".into(),
        ));
    };
    let ctrl_c = CtrlCPipe::catch().map_err(CtlError::CtrlC)?;
    ctrl_c.take();
    let client = Client::connect(socket)?.with_interrupt(ctrl_c.fd().map_err(CtlError::CtrlC)?)?;
    let mut job = client.run(&options)?;
    // Kept open until the end: the stop (or kill) it carries is answered there.
    let mut stopper: Option<Connection> = None;
    let mut presses = 0;
    loop {
        match job.next_event() {
            Ok(JobEvent::Output {
                stderr: false,
                data,
            }) => {
                out.write_all(data.as_bytes()).map_err(CtlError::Output)?;
                out.flush().map_err(CtlError::Output)?;
            }
            Ok(JobEvent::Output { stderr: true, data }) => {
                err.write_all(data.as_bytes()).map_err(CtlError::Output)?;
                err.flush().map_err(CtlError::Output)?;
            }
            Ok(JobEvent::Ended(exit)) => {
                if format == Format::Json {
                    let document = serde_json::json!({
                        "name": exit.name,
                        "code": exit.code,
                        "exit_code": exit.exit_code,
                        "exit_signal": exit.exit_signal,
                        "message": exit.message,
                    });
                    writeln!(out, "{document}").map_err(CtlError::Output)?;
                }
                return Ok(exit_code(&exit));
            }
            Err(Error::Connection(ClientError::Interrupted)) => {
                ctrl_c.take();
                presses += 1;
                let names = vec![job.name().to_string()];
                let request = if presses == 1 {
                    Request::Stop { names }
                } else {
                    Request::Signal {
                        signal: "KILL".to_string(),
                        names,
                    }
                };
                let mut connection = Connection::connect(socket)?;
                connection.send(&request)?;
                stopper = Some(connection);
            }
            Err(e) => return Err(e.into()),
        }
        let _ = &stopper;
    }
}

/// `tmctl wait NAME`: prints how it ended, returns its exit code.
pub fn wait(
    socket: &Path,
    name: &str,
    format: Format,
    out: &mut dyn Write,
) -> Result<u8, CtlError> {
    let client = Client::connect(socket)?;
    let exit = client.wait(name)?;
    let line = match format {
        Format::Json => serde_json::json!({
            "name": exit.name,
            "code": exit.code,
            "exit_code": exit.exit_code,
            "exit_signal": exit.exit_signal,
            "message": exit.message,
        })
        .to_string(),
        Format::Human => format!("{}: {}", exit.name, exit.message),
    };
    writeln!(out, "{line}").map_err(CtlError::Output)?;
    Ok(exit_code(&exit))
}
