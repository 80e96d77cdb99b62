//! The core's vocabulary on the wire: a [`Request`] the core answers becomes a core
//! [`Command`], and each core [`Reply`] a [`Response`]. The core decides; this only
//! translates, so the protocol's encoding can change without touching a decision.

use super::proto::{self, ErrorKind, Request, Response};
use crate::supervisor::{self as core, Command, Refusal, Reply};
use std::time::Duration;

/// The core's command for a request it answers, or the request handed back: the loop
/// answers it itself (tail, reload, shutdown, run, …). Boxed: a `run` request is large,
/// and this is the rare path.
pub fn command(request: Request) -> Result<Command, Box<Request>> {
    Ok(match request {
        Request::Status { names, .. } => Command::Status { names },
        Request::Start { names } => Command::Start { names },
        Request::Schedule { names, delay_ms } => Command::Schedule {
            names,
            delay: Duration::from_millis(delay_ms),
        },
        Request::Cancel { names } => Command::Cancel { names },
        Request::Stop { names } => Command::Stop { names },
        Request::Kill { names } => Command::Kill { names },
        Request::Restart { names } => Command::Restart { names },
        Request::Pause { names } => Command::Pause { names },
        Request::Resume { names } => Command::Resume { names },
        Request::Signal { signal, names } => Command::Signal { signal, names },
        Request::Names => Command::Names,
        Request::Why { name } => Command::Why { name },
        Request::Analyze { names } => Command::Analyze { names },
        Request::Wait { name } => Command::Wait { name },
        Request::Remove { name } => Command::Remove { name },
        Request::Show { name } => Command::Show { name },
        Request::Ps { names } => Command::Ps { names },
        other => return Err(Box::new(other)),
    })
}

impl From<Refusal> for ErrorKind {
    fn from(refusal: Refusal) -> ErrorKind {
        match refusal {
            Refusal::UnknownName => ErrorKind::UnknownName,
            Refusal::BadRequest => ErrorKind::BadRequest,
            Refusal::Busy => ErrorKind::Busy,
            Refusal::ShuttingDown => ErrorKind::ShuttingDown,
            Refusal::NotRunning => ErrorKind::NotRunning,
        }
    }
}

impl From<Reply> for Response {
    fn from(reply: Reply) -> Response {
        let outcomes = |results: Vec<core::InstanceOutcome>| {
            results
                .into_iter()
                .map(proto::InstanceOutcome::from)
                .collect()
        };
        match reply {
            Reply::Ok { lines } => Response::Ok { lines },
            Reply::Status { instances } => Response::Status {
                instances: instances
                    .into_iter()
                    .map(proto::InstanceStatus::from)
                    .collect(),
            },
            Reply::Outcome { ok, results } => Response::Outcome {
                ok,
                results: outcomes(results),
            },
            Reply::Reload { ok, results } => Response::Reload {
                ok,
                results: outcomes(results),
            },
            Reply::Job { name } => Response::Job { name },
            Reply::JobEnded {
                name,
                code,
                exit_code,
                exit_signal,
                message,
            } => Response::JobEnded {
                name,
                code,
                exit_code,
                exit_signal,
                message,
            },
            Reply::Names {
                services,
                instances,
            } => Response::Names {
                services,
                instances,
            },
            Reply::Why { steps } => Response::Why {
                steps: steps
                    .into_iter()
                    .map(|step| proto::WhyStep {
                        name: step.name,
                        state: step.state.word().to_string(),
                        reason: step.reason,
                    })
                    .collect(),
            },
            Reply::Analyze { analysis } => Response::Analyze {
                analysis: analysis.into(),
            },
            Reply::Config { text } => Response::Config { text },
            Reply::Ps { instances } => Response::Ps {
                instances: instances
                    .into_iter()
                    .map(|i| proto::PsInstance {
                        name: i.name,
                        state: i.state,
                        pid: i.pid,
                        group: i.group,
                        cgroup: None,
                        service: i.service,
                        index: i.index,
                    })
                    .collect(),
            },
            Reply::Refused { kind, message } => Response::Error {
                kind: kind.into(),
                message,
            },
        }
    }
}

/// Without what the cgroup uses: the loop adds that (`memory_bytes`, `cpu_usec`, …).
impl From<core::InstanceStatus> for proto::InstanceStatus {
    fn from(status: core::InstanceStatus) -> proto::InstanceStatus {
        let core::InstanceStatus {
            name,
            service,
            state,
            pid,
            uptime_secs,
            restarts,
            exit_code,
            exit_signal,
            detail,
            last_stderr,
            transient,
            owner,
            next_run,
        } = status;
        proto::InstanceStatus {
            name,
            service,
            state,
            pid,
            uptime_secs,
            restarts,
            exit_code,
            exit_signal,
            detail,
            last_stderr,
            transient,
            owner,
            memory_bytes: None,
            memory_peak_bytes: None,
            cpu_usec: None,
            tasks: None,
            next_run,
        }
    }
}

impl From<core::InstanceOutcome> for proto::InstanceOutcome {
    fn from(outcome: core::InstanceOutcome) -> proto::InstanceOutcome {
        let core::InstanceOutcome {
            name,
            action,
            ok,
            message,
        } = outcome;
        proto::InstanceOutcome {
            name,
            action,
            ok,
            message,
        }
    }
}

impl From<core::Analysis> for proto::Analysis {
    fn from(analysis: core::Analysis) -> proto::Analysis {
        let core::Analysis {
            elapsed_ms,
            entries,
            chain,
        } = analysis;
        proto::Analysis {
            elapsed_ms,
            entries: entries
                .into_iter()
                .map(|e| proto::AnalyzeEntry {
                    name: e.name,
                    service: e.service,
                    state: e.state,
                    spawned_ms: e.spawned_ms,
                    ready_ms: e.ready_ms,
                    failed: e.failed,
                    after: e.after,
                })
                .collect(),
            chain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_keeps_what_it_answers_itself() {
        for request in [
            Request::Reload,
            Request::Shutdown,
            Request::Metrics,
            Request::Tail {
                name: "web".into(),
                stderr: false,
                follow: true,
            },
        ] {
            assert_eq!(command(request.clone()), Err(Box::new(request)));
        }
    }

    #[test]
    fn a_schedule_delay_becomes_a_duration() {
        let request = Request::Schedule {
            names: vec!["web".into()],
            delay_ms: 1500,
        };
        assert_eq!(
            command(request),
            Ok(Command::Schedule {
                names: vec!["web".into()],
                delay: Duration::from_millis(1500),
            })
        );
    }

    #[test]
    fn a_refusal_keeps_its_kind_and_message_on_the_wire() {
        let wire = Response::from(Reply::refused(Refusal::NotRunning, "not running: web"));
        let json = serde_json::to_string(&wire).unwrap();
        assert_eq!(
            json,
            r#"{"result":"error","kind":"not_running","message":"not running: web"}"#
        );
    }
}
