//! How a response is shown: for humans, or as one JSON document (`--json`). Rendering is
//! driven by the response alone, so one-shot mode and the shell print the same thing.

use crate::control::proto::{EventRecord, InstanceOutcome, Response};

use super::status_table::{colour_wanted, status_table_in};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// What to print for one response: `out` for stdout, `err` for notices on stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Printout {
    pub out: String,
    pub err: String,
}

pub fn render(response: &Response, format: Format) -> Result<Printout, serde_json::Error> {
    match format {
        Format::Human => Ok(human(response)),
        Format::Json => Ok(Printout {
            out: json_document(response)?,
            err: String::new(),
        }),
    }
}

/// `--json`: for status the bare array of instances (what scripts iterate over), for
/// everything else the response object itself.
fn json_document(response: &Response) -> Result<String, serde_json::Error> {
    let mut document = match response {
        Response::Status { instances } => serde_json::to_string_pretty(instances)?,
        Response::Ps { instances } => serde_json::to_string_pretty(&process_trees(instances))?,
        other => serde_json::to_string_pretty(other)?,
    };
    document.push('\n');
    Ok(document)
}

fn human(response: &Response) -> Printout {
    let out = match response {
        Response::Ok { lines } => lines_of(lines.iter()),
        Response::Status { instances } => status_table_in(instances, colour_wanted()),
        Response::Outcome { results, .. } => lines_of(results.iter().map(outcome_line)),
        Response::Reload { results, .. } if results.is_empty() => "no changes\n".to_string(),
        Response::Reload { results, .. } => lines_of(results.iter().map(outcome_line)),
        Response::Output { data, missed } => {
            return Printout {
                out: data.clone(),
                err: missed_notice(*missed),
            };
        }
        Response::Graph { text } => with_final_newline(text),
        Response::Job { name } => with_final_newline(name),
        Response::JobOutput {
            stderr: false,
            data,
        } => data.clone(),
        Response::JobOutput { stderr: true, data } => {
            return Printout {
                out: String::new(),
                err: data.clone(),
            };
        }
        Response::JobEnded { name, message, .. } => format!("{name}: {message}\n"),
        Response::Event(record) => {
            return Printout {
                out: event_line(record),
                err: missed_events_notice(record.missed),
            }
        }
        Response::Names {
            services,
            instances,
        } => {
            let mut names: Vec<&String> = services.iter().chain(instances).collect();
            names.sort();
            names.dedup();
            lines_of(names.into_iter())
        }
        Response::Why { steps } => lines_of(
            steps
                .iter()
                .map(|s| format!("{} is {}: {}", s.name, s.state, s.reason)),
        ),
        Response::Analyze { analysis } => super::analyze::timeline_text(analysis),
        Response::Metrics { text } => text.clone(),
        Response::Config { text } => with_final_newline(text),
        Response::Ps { instances } => super::ps::text(&process_trees(instances)),
        // Said once, on stderr, by whoever reports the failure.
        Response::Error { .. } => String::new(),
    };
    Printout {
        out,
        err: String::new(),
    }
}

/// `ps`: the instances' process trees, read from this machine's /proc now.
fn process_trees(instances: &[crate::control::proto::PsInstance]) -> Vec<super::ps::Tree> {
    let procs = super::ps::snapshot(std::path::Path::new("/proc"));
    super::ps::trees(instances, &procs)
}

/// `web: RUNNING`, `nginx: restarted: RUNNING`, `web: changed in place`.
fn outcome_line(result: &InstanceOutcome) -> String {
    let mut line = result.name.clone();
    for part in [result.action.as_deref(), Some(result.message.as_str())]
        .into_iter()
        .flatten()
        .filter(|part| !part.is_empty())
    {
        line.push_str(": ");
        line.push_str(part);
    }
    line
}

/// Why a response means the command failed, in one line, or `None` if it succeeded.
/// `command` is the word the user typed, for "start failed for bad".
pub fn failure(response: &Response, command: &str) -> Option<String> {
    match response {
        Response::Error { message, .. } => Some(message.clone()),
        Response::Outcome { ok: false, results } | Response::Reload { ok: false, results } => {
            let failed: Vec<&str> = results
                .iter()
                .filter(|r| !r.ok)
                .map(|r| r.name.as_str())
                .collect();
            Some(match failed.is_empty() {
                true => format!("{command} failed"),
                false => format!("{command} failed for {}", failed.join(", ")),
            })
        }
        _ => None,
    }
}

/// `2026-12-06T18:00:00.000Z web:0 FATAL (was BACKOFF) exit code 1`.
fn event_line(record: &EventRecord) -> String {
    let mut line = format!("{} {} {}", record.time, record.name, record.event);
    if record.event != "exit" {
        line.push_str(&format!(" (was {})", record.prev_state));
    }
    if let Some(pid) = record.pid {
        line.push_str(&format!(" pid {pid}"));
    }
    match (record.exit_code, &record.exit_signal) {
        (Some(code), _) => line.push_str(&format!(" exit code {code}")),
        (None, Some(signal)) => line.push_str(&format!(" signal {signal}")),
        _ => {}
    }
    line.push('\n');
    line
}

fn missed_events_notice(missed: u64) -> String {
    match missed {
        0 => String::new(),
        n => format!("[tmctl: missed {n} events]\n"),
    }
}

/// Told on stderr when a lagging `tail -f` lost output, so the gap is never silent.
pub fn missed_notice(missed: u64) -> String {
    match missed {
        0 => String::new(),
        n => format!("[tmctl: missed {n} bytes]\n"),
    }
}

fn lines_of<S: AsRef<str>>(lines: impl Iterator<Item = S>) -> String {
    lines
        .map(|line| with_final_newline(line.as_ref()))
        .collect()
}

fn with_final_newline(text: &str) -> String {
    match text.is_empty() || text.ends_with('\n') {
        true => text.to_string(),
        false => format!("{text}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::{ErrorKind, InstanceOutcome};
    use crate::ctl::status_table::tests::instance;

    fn human_out(response: Response) -> String {
        human(&response).out
    }

    fn outcome(name: &str, ok: bool, message: &str) -> InstanceOutcome {
        InstanceOutcome {
            name: name.into(),
            action: None,
            ok,
            message: message.into(),
        }
    }

    #[test]
    fn outcome_lines_name_each_instance() {
        let response = Response::Outcome {
            ok: false,
            results: vec![
                outcome("web:0", true, "RUNNING"),
                outcome("bad", false, "FATAL: exec /nope: No such file or directory"),
            ],
        };
        assert_eq!(
            human_out(response.clone()),
            "web:0: RUNNING\nbad: FATAL: exec /nope: No such file or directory\n"
        );
        assert_eq!(
            failure(&response, "start").as_deref(),
            Some("start failed for bad")
        );
    }

    #[test]
    fn a_successful_outcome_is_no_failure() {
        let response = Response::Outcome {
            ok: true,
            results: vec![outcome("web", true, "stopped")],
        };
        assert_eq!(failure(&response, "stop"), None);
    }

    #[test]
    fn an_error_is_a_failure_with_its_message_and_no_stdout() {
        let response = Response::error(ErrorKind::UnknownName, "unknown service: nope");
        assert_eq!(human_out(response.clone()), "");
        assert_eq!(
            failure(&response, "status").as_deref(),
            Some("unknown service: nope")
        );
    }

    #[test]
    fn reload_lists_what_happened_or_says_nothing_changed() {
        let acted = |name: &str, action: &str, ok: bool, message: &str| InstanceOutcome {
            action: Some(action.into()),
            ..outcome(name, ok, message)
        };
        let response = Response::Reload {
            ok: false,
            results: vec![
                acted("new", "added", true, "RUNNING"),
                acted("web", "changed in place", true, ""),
                acted(
                    "nginx",
                    "restart failed",
                    false,
                    "FATAL: exited with exit code 1",
                ),
                acted(
                    "app",
                    "stopped with nginx",
                    false,
                    "PENDING: dependency nginx is FATAL",
                ),
                acted("old", "removed", true, "STOPPED"),
            ],
        };
        assert_eq!(
            human_out(response.clone()),
            "new: added: RUNNING\nweb: changed in place\n\
             nginx: restart failed: FATAL: exited with exit code 1\n\
             app: stopped with nginx: PENDING: dependency nginx is FATAL\nold: removed: STOPPED\n"
        );
        assert_eq!(
            failure(&response, "reload").as_deref(),
            Some("reload failed for nginx, app")
        );
        let nothing = Response::Reload {
            ok: true,
            results: vec![],
        };
        assert_eq!(human_out(nothing.clone()), "no changes\n");
        assert_eq!(failure(&nothing, "reload"), None);
    }

    #[test]
    fn ok_lines_and_graph_text_end_with_a_newline() {
        assert_eq!(
            human_out(Response::Ok {
                lines: vec!["a".into(), "b".into()]
            }),
            "a\nb\n"
        );
        assert_eq!(human_out(Response::Ok { lines: vec![] }), "");
        assert_eq!(
            human_out(Response::Graph {
                text: "db\nweb".into()
            }),
            "db\nweb\n"
        );
    }

    #[test]
    fn output_is_raw_and_missed_bytes_go_to_stderr() {
        let printout = human(&Response::Output {
            data: "partial line".into(),
            missed: 12,
        });
        assert_eq!(printout.out, "partial line");
        assert_eq!(printout.err, "[tmctl: missed 12 bytes]\n");
        assert_eq!(
            human(&Response::Output {
                data: "x\n".into(),
                missed: 0
            })
            .err,
            ""
        );
    }

    #[test]
    fn json_status_is_the_array_of_instances() {
        let mut web = instance("web", "RUNNING", Some(42));
        web.uptime_secs = Some(10);
        let mut bad = instance("bad", "EXITED", None);
        bad.exit_signal = Some("KILL".into());
        let response = Response::Status {
            instances: vec![web, bad],
        };
        let out = render(&response, Format::Json)
            .map(|p| p.out)
            .unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(
            value,
            serde_json::json!([
                {"name": "web", "service": "web", "state": "RUNNING", "pid": 42, "uptime_secs": 10,
                 "restarts": 0, "exit_code": null, "exit_signal": null, "detail": null,
                 "last_stderr": null, "transient": false, "memory_bytes": null,
                 "memory_peak_bytes": null, "cpu_usec": null, "tasks": null},
                {"name": "bad", "service": "bad", "state": "EXITED", "pid": null, "uptime_secs": null,
                 "restarts": 0, "exit_code": null, "exit_signal": "KILL", "detail": null,
                 "last_stderr": null, "transient": false, "memory_bytes": null,
                 "memory_peak_bytes": null, "cpu_usec": null, "tasks": null},
            ])
        );
    }

    #[test]
    fn json_of_other_responses_is_the_response_object() {
        let response = Response::Outcome {
            ok: true,
            results: vec![outcome("web", true, "RUNNING")],
        };
        let out = render(&response, Format::Json)
            .map(|p| p.out)
            .unwrap_or_default();
        assert!(out.ends_with("}\n"), "{out}");
        let value: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(
            value,
            serde_json::json!({"result": "outcome", "ok": true,
                               "results": [{"name": "web", "ok": true, "message": "RUNNING"}]})
        );
    }
}
