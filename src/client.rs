//! The daemon from Rust: status, start, stop, restart, tail, and jobs that run a command and
//! yield its output and exit status. `tmctl run` and `tmctl wait` use this too.
//!
//! ```no_run
//! use taskmaster::client::{Client, JobEvent, RunOptions};
//!
//! let client = Client::connect("/run/taskmaster.sock")?;
//! let mut job = client.run(&RunOptions::new(["/bin/echo", "hello"]))?;
//! while let JobEvent::Output { data, .. } = job.next_event()? {
//!     print!("{data}");
//! }
//! println!("exit status: {}", job.exit().map_or(-1, |e| e.code));
//! # Ok::<(), taskmaster::client::Error>(())
//! ```

use crate::control::client::{Client as Connection, ClientError};
use crate::control::proto::{ErrorKind, InstanceOutcome, InstanceStatus, Request, Response};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use crate::control::proto::RunRequest as RunOptions;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection: cannot connect, permission denied, lost, a bad reply.
    #[error(transparent)]
    Connection(#[from] ClientError),
    /// The daemon refused or failed the request.
    #[error("{message}")]
    Daemon { kind: ErrorKind, message: String },
    /// The daemon answered something this request does not answer with.
    #[error("unexpected reply from taskmasterd: {0}")]
    Unexpected(String),
}

/// A connection to taskmasterd. Each job gets a connection of its own (its output streams
/// on it), so one `Client` can start many.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    connection: Connection,
    interrupt: Option<OwnedFd>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobExit {
    pub name: String,
    /// What `tmctl run` exits with: the exit code, 128+N for signal N, 124 after its
    /// timeout, 127 (126) when it could not be executed.
    pub code: i32,
    pub exit_code: Option<i32>,
    /// Signal name without `SIG`.
    pub exit_signal: Option<String>,
    /// In words: `exited with exit code 3`, `killed by signal KILL`, …
    pub message: String,
}

/// What a running job says next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// A chunk of its stdout (`stderr: false`) or stderr, in the order it was written.
    Output { stderr: bool, data: String },
    /// It has ended; nothing follows.
    Ended(JobExit),
}

/// A job started by [`Client::run`]: its output, then its end.
#[derive(Debug)]
pub struct Job {
    name: String,
    connection: Connection,
    exit: Option<JobExit>,
}

impl Client {
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, Error> {
        let path = path.as_ref().to_path_buf();
        let connection = Connection::connect(&path)?;
        Ok(Client {
            path,
            connection,
            interrupt: None,
        })
    }

    /// Every wait (here and in the jobs started from here) ends with
    /// [`ClientError::Interrupted`] as soon as `fd` is readable (a Ctrl-C pipe).
    pub fn with_interrupt(mut self, fd: OwnedFd) -> Result<Client, Error> {
        let copy = fd.try_clone().map_err(ClientError::Receive)?;
        self.connection = Connection::connect(&self.path)?.with_interrupt(copy);
        self.interrupt = Some(fd);
        Ok(self)
    }

    fn request(&mut self, request: &Request) -> Result<Response, Error> {
        match self.connection.request(request)? {
            Response::Error { kind, message } => Err(Error::Daemon { kind, message }),
            response => Ok(response),
        }
    }

    /// Each instance named (every one when `names` is empty), with its cgroup accounting.
    pub fn status(&mut self, names: &[&str]) -> Result<Vec<InstanceStatus>, Error> {
        let names = names.iter().map(|n| n.to_string()).collect();
        let request = Request::Status {
            names,
            usage: true,
            table: None,
        };
        match self.request(&request)? {
            Response::Status { instances } => Ok(instances),
            other => Err(unexpected(other)),
        }
    }

    /// Starts and waits until each is RUNNING or has failed: one outcome each.
    pub fn start(&mut self, names: &[&str]) -> Result<Vec<InstanceOutcome>, Error> {
        let names = names.iter().map(|n| n.to_string()).collect();
        self.outcomes(&Request::Start { names })
    }

    /// Stops and waits until each has stopped.
    pub fn stop(&mut self, names: &[&str]) -> Result<Vec<InstanceOutcome>, Error> {
        let names = names.iter().map(|n| n.to_string()).collect();
        self.outcomes(&Request::Stop { names })
    }

    /// Stops, starts and waits as [`Client::start`] does.
    pub fn restart(&mut self, names: &[&str]) -> Result<Vec<InstanceOutcome>, Error> {
        let names = names.iter().map(|n| n.to_string()).collect();
        self.outcomes(&Request::Restart { names })
    }

    fn outcomes(&mut self, request: &Request) -> Result<Vec<InstanceOutcome>, Error> {
        match self.request(request)? {
            Response::Outcome { results, .. } => Ok(results),
            other => Err(unexpected(other)),
        }
    }

    /// The recent captured output of one instance.
    pub fn tail(&mut self, name: &str, stderr: bool) -> Result<String, Error> {
        let request = Request::Tail {
            name: name.to_string(),
            stderr,
            follow: false,
        };
        match self.request(&request)? {
            Response::Output { data, .. } => Ok(data),
            Response::Ok { lines } => Ok(lines.join("\n")),
            other => Err(unexpected(other)),
        }
    }

    /// Starts a job; unless `options.detach`, the returned [`Job`] yields its output and
    /// its end. The job runs under the daemon: dropping the `Job` leaves it running.
    pub fn run(&self, options: &RunOptions) -> Result<Job, Error> {
        let mut connection = self.new_connection()?;
        match connection.request(&Request::Run(options.clone()))? {
            Response::Job { name } => Ok(Job {
                name,
                connection,
                exit: None,
            }),
            Response::Error { kind, message } => Err(Error::Daemon { kind, message }),
            other => Err(unexpected(other)),
        }
    }

    /// Waits for a job to end (at once if it has).
    pub fn wait(&self, name: &str) -> Result<JobExit, Error> {
        let mut connection = self.new_connection()?;
        let request = Request::Wait {
            name: name.to_string(),
        };
        match connection.request(&request)? {
            Response::JobEnded {
                name,
                code,
                exit_code,
                exit_signal,
                message,
            } => Ok(JobExit {
                name,
                code,
                exit_code,
                exit_signal,
                message,
            }),
            Response::Error { kind, message } => Err(Error::Daemon { kind, message }),
            other => Err(unexpected(other)),
        }
    }

    /// Stops a job if it runs, and forgets it.
    pub fn remove(&mut self, name: &str) -> Result<(), Error> {
        self.request(&Request::Remove {
            name: name.to_string(),
        })
        .map(|_| ())
    }

    fn new_connection(&self) -> Result<Connection, Error> {
        let connection = Connection::connect(&self.path)?;
        Ok(match &self.interrupt {
            Some(fd) => connection.with_interrupt(fd.try_clone().map_err(ClientError::Receive)?),
            None => connection,
        })
    }
}

impl Job {
    /// Its name (`run-N` unless one was given).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next chunk of output, or its end. After the end, the end again.
    pub fn next_event(&mut self) -> Result<JobEvent, Error> {
        if let Some(exit) = &self.exit {
            return Ok(JobEvent::Ended(exit.clone()));
        }
        match self.connection.next_response()? {
            Some(Response::JobOutput { stderr, data }) => Ok(JobEvent::Output { stderr, data }),
            Some(Response::JobEnded {
                name,
                code,
                exit_code,
                exit_signal,
                message,
            }) => {
                let exit = JobExit {
                    name,
                    code,
                    exit_code,
                    exit_signal,
                    message,
                };
                self.exit = Some(exit.clone());
                Ok(JobEvent::Ended(exit))
            }
            Some(Response::Error { kind, message }) => Err(Error::Daemon { kind, message }),
            Some(other) => Err(unexpected(other)),
            None => Err(Error::Connection(ClientError::Closed)),
        }
    }

    /// How it ended, once [`Job::next_event`] has said so.
    pub fn exit(&self) -> Option<&JobExit> {
        self.exit.as_ref()
    }
}

impl RunOptions {
    /// A job running `cmd` (taken literally, never split), with every option at its default.
    pub fn new<S: Into<String>>(cmd: impl IntoIterator<Item = S>) -> RunOptions {
        RunOptions {
            cmd: cmd.into_iter().map(Into::into).collect(),
            ..RunOptions::default()
        }
    }
}

fn unexpected(response: Response) -> Error {
    Error::Unexpected(format!("{response:?}").chars().take(200).collect())
}
