//! Carrying out one command on a session and printing the result: the part one-shot mode
//! and the shell share.

use std::io::Write;

use crate::control::client::{ClientError, TableOrLine};
use crate::control::proto::{ErrorKind, Request, Response, TableStyle};

use super::command::Command;
use super::error::CtlError;
use super::render::{failure, render, Format, Printout};
use super::session::Session;
use super::status_table::{colour_wanted, status_table_long, status_table_of_line};

/// Run `command`, print what the daemon answered on `out` (notices on `err`), and fail
/// if the answer says it failed. The failure itself is not printed: the caller says it
/// once, as it sees fit (one line on stderr in one-shot mode).
pub fn execute(
    session: &mut Session,
    command: &Command,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CtlError> {
    if let Command::Attach { name, read_only } = command {
        return super::attach::attach(session, name, *read_only, out, err);
    }
    if let Command::Run(args) = command {
        if !args.detach {
            let code = super::jobs::run_attached(session.socket(), args, format, out, err)?;
            return match code {
                0 => Ok(()),
                code => Err(CtlError::Failed(format!("the job exited with code {code}"))),
            };
        }
    }
    let mut request = super::jobs::request_of(command)?;
    if let (Request::Status { usage, .. }, Format::Json) = (&mut request, format) {
        // The JSON document always carries the accounting fields (SPEC: `--json` adds them).
        *usage = true;
    }
    if let Request::Tail { follow: true, .. } | Request::Events { .. } = request {
        return follow(session, &request, format, out, err, command.word());
    }
    if let Command::Top { .. } = command {
        return top(session, &request, out, err);
    }
    let response = match (command, format) {
        // The table as the daemon wrote it (see `control::table_reply`), else from the
        // reply line (see `status_table_of_line`).
        (Command::Status { long: false, .. }, Format::Human) => {
            let colour = colour_wanted();
            let line = match plain_status(session, &mut request, colour)? {
                TableOrLine::Table(table) => {
                    out.write_all(table.bytes()).map_err(CtlError::Output)?;
                    return out.flush().map_err(CtlError::Output);
                }
                TableOrLine::Line(line) => line,
            };
            if let Some(table) = status_table_of_line(&line, colour) {
                let printout = Printout {
                    out: table,
                    err: String::new(),
                };
                return print(&printout, out, err);
            }
            session.decode(&line)?
        }
        _ => session.request(&request)?,
    };
    let printout = match (command, &response, format) {
        (Command::Status { long: true, .. }, Response::Status { instances }, Format::Human) => {
            Printout {
                out: status_table_long(instances),
                err: String::new(),
            }
        }
        _ => render(&response, format)?,
    };
    print(&printout, out, err)?;
    if let (
        Command::Analyze {
            svg: Some(path), ..
        },
        Response::Analyze { analysis },
    ) = (command, &response)
    {
        std::fs::write(path, super::analyze::timeline_svg(analysis))
            .map_err(|e| CtlError::Failed(format!("cannot write {}: {e}", path.display())))?;
    }
    check(&response, command.word())
}

/// A status for humans, asked for as the table itself. A daemon from before tables refuses
/// the request as a bad one (an unknown field): it is then asked for the JSON list, whose
/// line comes back for tmctl to make the table of.
fn plain_status(
    session: &mut Session,
    request: &mut Request,
    colour: bool,
) -> Result<TableOrLine, CtlError> {
    let Request::Status { table, .. } = request else {
        return Ok(TableOrLine::Line(session.request_line(request)?));
    };
    *table = Some(match colour {
        true => TableStyle::Colour,
        false => TableStyle::Plain,
    });
    let reply = session.request_table(request)?;
    if let TableOrLine::Line(line) = &reply {
        if let Ok(Response::Error {
            kind: ErrorKind::BadRequest,
            ..
        }) = session.decode(line)
        {
            if let Request::Status { table, .. } = request {
                *table = None;
            }
            return Ok(TableOrLine::Line(session.request_line(request)?));
        }
    }
    Ok(reply)
}

/// `top`: the long status, redrawn every second, until Ctrl-C or an error.
fn top(
    session: &mut Session,
    request: &Request,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CtlError> {
    loop {
        let response = match session.request(request) {
            Ok(response) => response,
            Err(ClientError::Interrupted) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        check(&response, "top")?;
        if let Response::Status { instances } = &response {
            // Home, clear the screen, then the table.
            let screen = format!("\x1b[H\x1b[2J{}", status_table_long(instances));
            print(
                &Printout {
                    out: screen,
                    err: String::new(),
                },
                out,
                err,
            )?;
        }
        if session.pause(std::time::Duration::from_secs(1)) {
            return Ok(());
        }
    }
}

/// `tail -f` and `events`: print each chunk or event as it comes, until Ctrl-C or the
/// daemon closes. The connection is not kept: dropping it is how the daemon learns to
/// stop streaming.
fn follow(
    session: &mut Session,
    request: &Request,
    format: Format,
    out: &mut dyn Write,
    err: &mut dyn Write,
    word: &str,
) -> Result<(), CtlError> {
    let mut client = session.send(request)?;
    loop {
        let response = match client.next_response() {
            Ok(Some(response)) => response,
            Ok(None) | Err(ClientError::Interrupted) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let printout = match format {
            // The subscription's acknowledgement is no event: JSON lines hold events only.
            Format::Json if matches!(response, Response::Ok { .. }) => Printout {
                out: String::new(),
                err: String::new(),
            },
            Format::Human => render(&response, format)?,
            // A stream has no single document: one JSON object per line.
            Format::Json => Printout {
                out: serde_json::to_string(&response)? + "\n",
                err: String::new(),
            },
        };
        print(&printout, out, err)?;
        check(&response, word)?;
    }
}

fn print(printout: &Printout, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), CtlError> {
    out.write_all(printout.out.as_bytes())
        .map_err(CtlError::Output)?;
    // Flushed at once so that `tail -f` output and notices appear as they come.
    out.flush().map_err(CtlError::Output)?;
    if !printout.err.is_empty() {
        err.write_all(printout.err.as_bytes())
            .map_err(CtlError::Output)?;
    }
    Ok(())
}

fn check(response: &Response, command: &str) -> Result<(), CtlError> {
    match failure(response, command) {
        Some(reason) => Err(CtlError::Failed(reason)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::fake_daemon::FakeDaemon;
    use crate::ctl::shell_line::{parse_shell_line, ShellInput};

    /// Run a shell-style command line against canned replies; stdout, stderr, result.
    fn run(
        line: &str,
        format: Format,
        replies: Vec<String>,
    ) -> (String, String, Result<(), CtlError>, Vec<String>) {
        let Ok(ShellInput::Run(command)) = parse_shell_line(line) else {
            panic!("bad test line {line}")
        };
        let daemon = FakeDaemon::start(vec![replies]);
        let mut session = Session::new(daemon.path());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = execute(&mut session, &command, format, &mut out, &mut err);
        drop(session);
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        (text(out), text(err), result, daemon.requests())
    }

    #[test]
    fn start_prints_each_outcome_and_fails_if_one_failed() {
        let reply = r#"{"result":"outcome","ok":false,"results":[
            {"name":"web:0","ok":true,"message":"RUNNING"},
            {"name":"bad","ok":false,"message":"FATAL: exec /nope: No such file or directory"}]}"#
            .replace('\n', "");
        let (out, err, result, requests) = run("start web bad", Format::Human, vec![reply]);
        assert_eq!(
            out,
            "web:0: RUNNING\nbad: FATAL: exec /nope: No such file or directory\n"
        );
        assert_eq!(err, "");
        assert_eq!(
            result.map_err(|e| e.to_string()),
            Err("start failed for bad".into())
        );
        assert_eq!(requests, vec![r#"{"cmd":"start","names":["web","bad"]}"#]);
    }

    #[test]
    fn an_unknown_service_fails_with_the_daemons_message() {
        let reply = r#"{"result":"error","message":"unknown service: nope"}"#.to_string();
        let (out, _, result, _) = run("status nope", Format::Human, vec![reply]);
        assert_eq!(out, "");
        assert_eq!(
            result.map_err(|e| e.to_string()),
            Err("unknown service: nope".into())
        );
    }

    #[test]
    fn only_status_l_and_json_ask_for_cgroup_accounting() {
        // The daemon reads five cgroup files per instance for it: a plain status must not
        // ask (and its request stays the one an older daemon understands).
        let reply = || vec![r#"{"result":"status","instances":[]}"#.to_string()];
        let (_, _, _, plain) = run("status", Format::Human, reply());
        assert_eq!(
            plain,
            vec![r#"{"cmd":"status","names":[],"table":"plain"}"#]
        );
        let (_, _, _, long) = run("status -l web", Format::Human, reply());
        assert_eq!(
            long,
            vec![r#"{"cmd":"status","names":["web"],"usage":true}"#]
        );
        let (_, _, _, json) = run("status", Format::Json, reply());
        assert_eq!(json, vec![r#"{"cmd":"status","names":[],"usage":true}"#]);
    }

    #[test]
    fn a_plain_status_prints_the_daemons_table_as_it_came() {
        let table = "web:0  RUNNING  42  uptime 0:00:01\nbad    FATAL    -   exit 1\n";
        let mut reply = Vec::new();
        let header = crate::control::table_reply::Header::begin(&mut reply);
        reply.extend_from_slice(table.as_bytes());
        header.finish(&mut reply);
        let reply = String::from_utf8(reply).expect("utf-8");
        // The fake daemon adds the last newline itself.
        let reply = reply.strip_suffix('\n').expect("newline").to_string();
        let (out, err, result, requests) = run("status web bad", Format::Human, vec![reply]);
        assert_eq!(out, table);
        assert_eq!(err, "");
        assert!(result.is_ok());
        assert_eq!(
            requests,
            vec![r#"{"cmd":"status","names":["web","bad"],"table":"plain"}"#]
        );
    }

    #[test]
    fn a_daemon_without_tables_is_asked_for_the_list() {
        // What a taskmasterd from before tables answers to the field it does not know.
        let refused = r#"{"result":"error","kind":"bad_request","message":"bad request: unknown field `table`"}"#;
        let list = r#"{"result":"status","instances":[{"name":"web","service":"web","state":"RUNNING","restarts":0,"pid":42,"uptime_secs":1}]}"#;
        let (out, err, result, requests) = run(
            "status",
            Format::Human,
            vec![refused.to_string(), list.to_string()],
        );
        assert_eq!(out, "web  RUNNING  42  uptime 0:00:01\n");
        assert_eq!(err, "");
        assert!(result.is_ok());
        assert_eq!(
            requests,
            vec![
                r#"{"cmd":"status","names":[],"table":"plain"}"#,
                r#"{"cmd":"status","names":[]}"#
            ]
        );
    }

    #[test]
    fn json_error_still_prints_the_document_and_fails() {
        let reply = r#"{"result":"error","message":"PID 1 only"}"#.to_string();
        let (out, _, result, _) = run("reboot", Format::Json, vec![reply]);
        assert!(out.contains(r#""message": "PID 1 only""#), "{out}");
        assert!(result.is_err());
    }

    #[test]
    fn tail_follow_streams_chunks_raw_and_reports_missed_bytes() {
        let chunks = [
            r#"{"result":"output","data":"one\ntw","missed":0}"#,
            r#"{"result":"output","data":"o\n","missed":0}"#,
            r#"{"result":"output","data":"three\n","missed":512}"#,
        ];
        let (out, err, result, requests) =
            run("tail -f web", Format::Human, vec![chunks.join("\n")]);
        assert_eq!(out, "one\ntwo\nthree\n");
        assert_eq!(err, "[tmctl: missed 512 bytes]\n");
        assert!(result.is_ok());
        assert_eq!(
            requests,
            vec![r#"{"cmd":"tail","name":"web","stderr":false,"follow":true}"#]
        );
    }

    #[test]
    fn tail_follow_in_json_is_one_object_per_line() {
        let chunk = r#"{"result":"output","data":"x","missed":0}"#;
        let (out, _, result, _) = run(
            "tail -f --stderr web",
            Format::Json,
            vec![format!("{chunk}\n{chunk}")],
        );
        assert_eq!(out, format!("{chunk}\n{chunk}\n"));
        assert!(result.is_ok());
    }

    #[test]
    fn tail_follow_ending_in_an_error_fails() {
        let reply =
            r#"{"result":"error","message":"web has 2 instances: say web:0 or web:1"}"#.to_string();
        let (_, _, result, _) = run("tail -f web", Format::Human, vec![reply]);
        assert_eq!(
            result.map_err(|e| e.to_string()),
            Err("web has 2 instances: say web:0 or web:1".into())
        );
    }
}
