//! `run` and `adopt` at the loop's edge: a request becomes a validated spec (read by the same
//! code as a service file, so `--user`, `--group`, `--workingdir` mean what the fields mean),
//! and the output of a job goes to the client that runs it, in order and complete.

use super::job_specs::{Submitted, MAX_PREPARING};
use super::Daemon;
use crate::config::{self, ServiceSpec};
use crate::control::proto::{ErrorKind, Response, RunRequest};
use crate::process::pidfd;
use crate::supervisor::{Adoption, ClientId, Event, InstanceId, JobRequest};
use kdl::{KdlDocument, KdlEntry, KdlNode};
use std::path::Path;
use std::time::Duration;

/// Why a `run` request is refused (one line for the client).
#[derive(Debug, thiserror::Error)]
pub enum RunRefused {
    #[error("run: no command given (tmctl run -- CMD ARGS...)")]
    NoCommand,
    #[error("run: {0} arguments, at most {MAX_JOB_ARGS} are accepted")]
    TooManyArguments(usize),
    #[error("run: argument {0:?} contains a NUL character")]
    NulInArgument(String),
    #[error("run: {0} --env, at most {MAX_JOB_ENV} are accepted")]
    TooManyEnv(usize),
    #[error("run: --timeout must be more than 0 seconds")]
    ZeroTimeout,
    #[error("run: --name {0:?}: a name is letters, digits, '_', '.' and '-'")]
    BadName(String),
    #[error("run: --env wants KEY=VALUE, got {0:?}")]
    EnvWithoutValue(String),
    #[error("run: --env {0:?}: KEY is letters, digits and '_', not starting with a digit")]
    BadEnvName(String),
    /// An option the service-file reader refused (`--user`, `--workingdir`, …).
    #[error("run: {0}")]
    Spec(#[from] SpecRefused),
    /// The worker that reads specs failed (it never does on purpose).
    #[error("run: internal error while reading the job's spec")]
    Internal,
}

/// Why `adopt` is refused.
#[derive(Debug, thiserror::Error)]
pub enum AdoptRefused {
    #[error("{0} is not a process id")]
    NotAProcessId(i32),
    #[error("pid {0} is taskmasterd itself")]
    Itself(i32),
    #[error("pid 1 is init; it cannot be supervised")]
    Init,
    #[error("--name {0:?}: a name is letters, digits, '_', '.' and '-'")]
    BadName(String),
    #[error(transparent)]
    Process(#[from] pidfd::NotAdoptable),
    #[error(transparent)]
    Spec(#[from] SpecRefused),
}

/// What the service-file reader said of a job's spec: each error's message, as a field of
/// a file would get it.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SpecRefused(Vec<String>);

/// Arguments of one `run` command line, at most.
pub const MAX_JOB_ARGS: usize = 4096;
/// `--env` assignments of one `run`, at most.
pub const MAX_JOB_ENV: usize = 1024;

impl Daemon {
    /// `tmctl run`: its spec is read on the job spec worker (`--user` and `--group` are NSS
    /// lookups, which may take long), then [`Daemon::job_spec_ready`] goes on.
    pub(super) fn run_job(&mut self, client: ClientId, run: RunRequest) {
        let owner = self.peer_uid(client);
        match self.job_specs.prepare(client, run, owner) {
            Submitted::Queued => {}
            Submitted::Here(job) => self.job_spec_ready(client, *job),
            Submitted::Busy => {
                let message = format!(
                    "run: {MAX_PREPARING} run requests are waiting for their user lookup; try again shortly"
                );
                self.reply(client, Response::error(ErrorKind::Busy, message));
            }
        }
    }

    /// The job spec worker has answered: each job goes to the core, or is refused with one
    /// clear line. A client that went away meanwhile gets no job: nobody would know its name.
    pub(super) fn job_specs_prepared(&mut self) {
        for (client, job) in self.job_specs.finished() {
            if self.clients.iter().any(|c| c.id == client) {
                self.job_spec_ready(client, job);
            }
        }
    }

    fn job_spec_ready(&mut self, client: ClientId, job: Result<JobRequest, RunRefused>) {
        match job {
            Ok(job) => self.dispatch(Event::Run {
                client,
                job: Box::new(job),
            }),
            Err(refused) => {
                let kind = match refused {
                    RunRefused::Internal => ErrorKind::Failed,
                    _ => ErrorKind::BadRequest,
                };
                self.reply(client, Response::error(kind, refused.to_string()))
            }
        }
    }

    /// `tmctl adopt PID`: a pidfd is opened and kept; the core makes it an instance.
    pub(super) fn adopt(&mut self, client: ClientId, pid: i32, name: Option<String>) {
        let refused = |message: String| Response::error(ErrorKind::BadRequest, message);
        let spec = match self.adoption_spec(pid, name.as_deref()) {
            Ok(spec) => spec,
            Err(message) => return self.reply(client, refused(format!("adopt: {message}"))),
        };
        let fd = match pidfd::open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                let message = format!("adopt: cannot open a pidfd for pid {pid}: {e}");
                return self.reply(client, refused(message));
            }
        };
        let owner = self.peer_uid(client);
        self.dispatch(Event::Adopt {
            client,
            adoption: Box::new(Adoption {
                pid,
                spec,
                unnamed: name.is_none(),
                owner,
            }),
        });
        if self.core.instance_of_pid(pid).is_some() && !self.pidfds.has(pid) {
            self.pidfds.add(pid, fd);
        }
    }

    fn adoption_spec(&self, pid: i32, name: Option<&str>) -> Result<ServiceSpec, AdoptRefused> {
        if pid <= 0 {
            return Err(AdoptRefused::NotAProcessId(pid));
        }
        if pid == std::process::id() as i32 {
            return Err(AdoptRefused::Itself(pid));
        }
        if pid == 1 {
            return Err(AdoptRefused::Init);
        }
        if let Some(name) = name.filter(|n| !config::is_service_name(n)) {
            return Err(AdoptRefused::BadName(name.to_string()));
        }
        let info = pidfd::inspect(pid)?;
        Ok(job_spec(
            name.unwrap_or("pid"),
            &info.cmdline,
            &[("autorestart", Some("never"))],
        )?)
    }

    /// Adopted processes whose pidfd turned readable: they ended. The status goes to the
    /// core when the kernel has it; the pidfd is closed after the core has decided (a stop
    /// signal it sends on the way still goes through the pidfd, never to a reused pid).
    pub(super) fn adopted_ended(&mut self, indexes: Vec<usize>) {
        for index in indexes {
            let Some(pid) = self.pidfds.pid_at(index) else {
                continue;
            };
            let status = self.pidfds.exit_status(index);
            self.dispatch(Event::AdoptedExited { pid, status });
            self.pidfds.remove(index);
        }
    }

    /// The uid of a connected client (u32::MAX if the kernel would not say).
    pub(super) fn peer_uid(&self, client: ClientId) -> u32 {
        self.clients
            .iter()
            .find(|c| c.id == client)
            .and_then(|c| c.peer_uid())
            .unwrap_or(u32::MAX)
    }

    /// The client runs this job: its output goes there, nothing skipped.
    pub(super) fn attach_job(&mut self, client: ClientId, id: InstanceId) {
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
            c.job = Some(id);
        }
    }

    /// Before a job's end is told to the client that runs it: everything its process wrote
    /// is in its pipes by now, and goes out first.
    pub(super) fn flush_job_output(&mut self, client: ClientId) {
        let Some(id) = self
            .clients
            .iter()
            .find(|c| c.id == client)
            .and_then(|c| c.job.clone())
        else {
            return;
        };
        for index in (0..self.outputs.pipes.len()).rev() {
            // Bounded: a pipe holds at most its buffer once the writer has gone; a writer
            // still alive (a child the job left behind) is not waited for.
            for _ in 0..64 {
                let ours = self
                    .outputs
                    .pipes
                    .get(index)
                    .is_some_and(|p| p.id == id && p.is_open());
                if !ours || !self.read_pipe(index) {
                    break;
                }
            }
        }
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
            c.job = None;
        }
    }

    /// Whether a pipe of this instance must wait: the client running it has not read
    /// enough of what it was sent (the job is slowed down instead of losing output).
    pub(super) fn job_reader_lags(&self, id: &InstanceId) -> bool {
        self.clients
            .iter()
            .any(|c| c.job.as_ref() == Some(id) && c.holds_back_job_output())
    }
}

/// Validates a `run` request into a job: the spec is read from a service node built from
/// the options, so every option is checked as the matching field of a file is.
pub fn job_request(run: &RunRequest, owner: u32) -> Result<JobRequest, RunRefused> {
    if run.cmd.is_empty() || run.cmd[0].is_empty() {
        return Err(RunRefused::NoCommand);
    }
    if run.cmd.len() > MAX_JOB_ARGS {
        return Err(RunRefused::TooManyArguments(run.cmd.len()));
    }
    if let Some(arg) = run.cmd.iter().find(|a| a.contains('\0')) {
        return Err(RunRefused::NulInArgument(arg.clone()));
    }
    if run.env.len() > MAX_JOB_ENV {
        return Err(RunRefused::TooManyEnv(run.env.len()));
    }
    let timeout = match run.timeout_ms {
        Some(0) => return Err(RunRefused::ZeroTimeout),
        Some(ms) => Some(Duration::from_millis(ms)),
        None => None,
    };
    if let Some(name) = &run.name {
        if !config::is_service_name(name) {
            return Err(RunRefused::BadName(name.clone()));
        }
    }
    let mut spec = job_spec(
        run.name.as_deref().unwrap_or("run"),
        &run.cmd,
        &[
            ("user", run.user.as_deref()),
            ("group", run.group.as_deref()),
            ("workingdir", run.workingdir.as_deref()),
            (
                "autorestart",
                Some(run.restart.as_deref().unwrap_or("never")),
            ),
        ],
    )?;
    for assignment in &run.env {
        let Some((key, value)) = assignment.split_once('=') else {
            return Err(RunRefused::EnvWithoutValue(assignment.clone()));
        };
        if !config::is_env_name(key) || value.contains('\0') {
            return Err(RunRefused::BadEnvName(assignment.clone()));
        }
        std::sync::Arc::make_mut(&mut spec.process)
            .env
            .insert(key.to_string(), value.to_string());
    }
    Ok(JobRequest {
        spec,
        owner,
        timeout,
        detach: run.detach,
        unnamed: run.name.is_none(),
    })
}

/// A service spec for a job or an adopted process: `cmd` taken literally, started by
/// request only, up at once (`starttime 0`), one try; `fields` as a file would give them.
pub fn job_spec(
    name: &str,
    cmd: &[String],
    fields: &[(&str, Option<&str>)],
) -> Result<ServiceSpec, SpecRefused> {
    let mut body = KdlDocument::new();
    let mut node = |field: &str, value: KdlEntry| {
        let mut n = KdlNode::new(field);
        n.push(value);
        body.nodes_mut().push(n);
    };
    // A placeholder: the real argv is set below, never split like a one-string `cmd`.
    node("cmd", KdlEntry::new("true"));
    node("autostart", KdlEntry::new(false));
    node("starttime", KdlEntry::new(0));
    node("startretries", KdlEntry::new(0));
    for (field, value) in fields {
        if let Some(value) = value {
            node(field, KdlEntry::new(*value));
        }
    }
    let mut service = KdlNode::new("service");
    service.push(KdlEntry::new(name));
    service.set_children(body);
    let mut doc = KdlDocument::new();
    doc.nodes_mut().push(service);
    let text = doc.to_string();
    let mut specs = config::parse_str(Path::new("job"), &text)
        .map_err(|errors| SpecRefused(errors.into_iter().map(|e| e.message).collect()))?;
    let mut spec = specs
        .pop()
        .ok_or_else(|| SpecRefused(vec!["no service read".to_string()]))?;
    // Taken literally: `$` is doubled because a start replaces `${VAR}` and `$$` in `cmd`
    // (a file's feature), and a job's argv must reach the program as it was given.
    std::sync::Arc::make_mut(&mut spec.process).cmd =
        cmd.iter().map(|arg| arg.replace('$', "$$")).collect();
    Ok(spec)
}
