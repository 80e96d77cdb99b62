//! Requests the loop answers itself (they touch files, pipes or the config directory);
//! everything else goes to the core.

use super::clients::{Follow, Incoming};
use super::Daemon;
use crate::config::{FileStamp, FileStamps, KnownFile, KnownFiles, Output};
use crate::control::proto::{ErrorKind, Request, Response, TableStyle};
use crate::ctl::status_table::{write_lines, Widths};
use crate::init::PowerAction;
use crate::log::Level;
use crate::supervisor::{ClientId, Event};
use std::io::{Read, Seek, SeekFrom};

/// How much of a file's end `tail` shows.
const FILE_TAIL_BYTES: u64 = 64 * 1024;

impl Daemon {
    pub(super) fn serve_client(&mut self, index: usize) {
        let Some(client) = self.clients.get_mut(index) else {
            return;
        };
        client.flush();
        let id = client.id;
        for incoming in client.read_requests(std::time::Instant::now()) {
            match incoming {
                Incoming::Request(request) => self.answer(id, request),
                Incoming::Invalid(message) => {
                    self.reply(id, Response::error(ErrorKind::BadRequest, message))
                }
            }
        }
    }

    /// The one instance `name` names (for tail and attach); `None` once the client has been
    /// told why not (no such name, or a service with several instances).
    pub(super) fn one_instance(
        &mut self,
        client: ClientId,
        name: &str,
    ) -> Option<crate::supervisor::InstanceId> {
        let ids = match self.core.resolve(&[name.to_string()]) {
            Ok(ids) => ids,
            Err(message) => {
                self.reply(client, Response::error(ErrorKind::UnknownName, message));
                return None;
            }
        };
        if let [id] = ids.as_slice() {
            return Some(id.clone());
        }
        let message = format!(
            "{name} has {} instances: name one, e.g. {name}:0",
            ids.len()
        );
        self.reply(client, Response::error(ErrorKind::BadRequest, message));
        None
    }

    pub(super) fn reply(&mut self, client: ClientId, response: Response) {
        self.log.flush();
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
            c.send(&response);
        }
    }

    /// A plain `tmctl status` (every instance, no cgroup accounting): a read of the core,
    /// written into the client's outbox from views borrowed from it, instance by instance:
    /// as the table itself when `table` (see `control::table_reply`), else as the JSON
    /// list. Not an event for the core: it changes nothing, and made a list of 1,000 owned
    /// statuses (212 KB, mapped afresh at each request) only for the loop to encode it.
    fn status_of_all(&mut self, client: ClientId, table: Option<TableStyle>) {
        let now = std::time::Instant::now();
        // Only for showing when a scheduled start is due, as for the core's own replies.
        self.core.set_wall_clock(now, std::time::SystemTime::now());
        // What the log says happened is there before the client hears of it.
        self.log.flush();
        let Some(c) = self.clients.iter_mut().find(|c| c.id == client) else {
            return;
        };
        let core = &self.core;
        match table {
            Some(style) => {
                // ~40 bytes a running instance's line: room at once rather than by
                // doubling (see `reserve`).
                c.reserve(core.status_count() * 64);
                // The widths from the instances' cells, then the lines from their views:
                // each view is made once.
                let mut widths = Widths::default();
                for (name, state, pid) in core.status_cells() {
                    widths.add(name, state, pid);
                }
                c.send_table(|out| {
                    let colour = style == TableStyle::Colour;
                    write_lines(core.status_views(now), &widths, colour, out)
                });
            }
            None => {
                // ~100 bytes an instance.
                c.reserve(core.status_count() * 128);
                c.send(&crate::control::wire_status::StatusLine(
                    core.status_views(now),
                ));
            }
        }
    }

    fn answer(&mut self, client: ClientId, request: Request) {
        if let Request::Status { usage, table, .. } = request {
            if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
                c.status_usage = usage;
                c.status_table = table;
            }
        }
        match request {
            // A table shows no accounting: none is read for it.
            Request::Status {
                names,
                usage,
                table,
            } if names.is_empty() && (!usage || table.is_some()) => {
                self.status_of_all(client, table)
            }
            Request::Reload => self.reload(Some(client)),
            Request::Upgrade { path } => self.upgrade(client, path),
            Request::Tail {
                name,
                stderr,
                follow,
            } => self.tail(client, &name, stderr, follow),
            Request::Events { names } => self.subscribe(client, names),
            Request::Attach { name, read_only } => self.attach(client, &name, read_only),
            Request::Input { data } => self.console_input(client, &data),
            Request::Resize { rows, cols } => self.console_resize(client, rows, cols),
            Request::Metrics => {
                let text = self.metrics_text();
                self.reply(client, Response::Metrics { text });
            }
            Request::Reopen => {
                let lines = vec![self.reopen_logs()];
                self.reply(client, Response::Ok { lines });
            }
            Request::Graph { dot } => {
                let text = if dot {
                    self.graph.to_dot()
                } else {
                    self.graph.render()
                };
                self.reply(client, Response::Graph { text });
            }
            Request::Reboot | Request::Poweroff | Request::Halt if !self.pid1 => {
                let message =
                    "reboot, poweroff and halt are for taskmasterd running as PID 1; use shutdown"
                        .to_string();
                self.reply(client, Response::error(ErrorKind::Unsupported, message));
            }
            Request::Reboot | Request::Poweroff | Request::Halt | Request::Shutdown => {
                let action = match request {
                    Request::Reboot => PowerAction::Reboot,
                    Request::Halt => PowerAction::Halt,
                    _ => PowerAction::Poweroff,
                };
                let line = if self.pid1 {
                    format!("shutting down: {}", action.word())
                } else {
                    "shutting down".to_string()
                };
                self.reply(client, Response::Ok { lines: vec![line] });
                self.shut_down(action);
            }
            Request::Run(run) => self.run_job(client, run),
            Request::Adopt { pid, name } => self.adopt(client, pid, name),
            request => match crate::control::from_core::command(request) {
                Ok(command) => self.dispatch(Event::Request {
                    client,
                    request: command,
                }),
                // Every request is either answered above or the core's; reaching here is a
                // wiring mistake, not the user's.
                Err(other) => {
                    let message = format!("internal: request answered by no one: {other:?}");
                    self.reply(client, Response::error(ErrorKind::Failed, message));
                }
            },
        }
    }

    /// Re-reads the config dir; a config with any error is rejected whole and nothing changes.
    pub(super) fn reload(&mut self, client: Option<ClientId>) {
        if self.listener.is_none() {
            // As PID 1 the socket may have failed at boot (e.g. no writable /run yet).
            match super::listener::bind(&self.opts.socket) {
                Ok(listener) => {
                    self.socket_inode = super::listener::inode(&self.opts.socket);
                    self.listener = Some(listener);
                    self.log.write(Level::Info, "control socket bound");
                }
                Err(e) => self.log.write(Level::Error, &e.to_string()),
            }
        }
        self.log.write(
            Level::Info,
            &format!("reload: reading {}", self.opts.config_dir.display()),
        );
        let dir = self.opts.config_dir.clone();
        let known = self.known_files();
        if let Some((client, loaded)) = self.loader.request(client, &dir, self.child_nofile, known)
        {
            self.apply_reload(client, loaded);
        }
    }

    /// Each stamped file with the specs its services run now, for a reload to take instead
    /// of parsing the file again if its bytes are the same.
    fn known_files(&self) -> KnownFiles {
        let specs = |stamp: &FileStamp| -> Option<Vec<_>> {
            (stamp.names.iter())
                .map(|name| self.core.loaded_spec(name).cloned())
                .collect()
        };
        (self.file_stamps.iter())
            .filter_map(|(path, stamp)| {
                let specs = specs(stamp)?;
                let stamp = stamp.clone();
                Some((path.clone(), KnownFile { stamp, specs }))
            })
            .collect()
    }

    /// Keeps the stamps of a load just applied, for the files whose services all took the
    /// loaded spec (one waiting for its `pre-start` check may yet keep its old one).
    pub(super) fn keep_file_stamps(&mut self, stamps: FileStamps) {
        let core = &self.core;
        self.file_stamps = stamps
            .into_iter()
            .filter(|(_, stamp)| stamp.names.iter().all(|n| core.loaded_spec(n).is_some()))
            .collect();
    }

    /// A load the loader thread finished: applied, or rejected whole.
    pub(super) fn reload_finished(&mut self) {
        let dir = self.opts.config_dir.clone();
        for (client, loaded) in self.loader.finished(&dir, self.child_nofile) {
            self.apply_reload(client, loaded);
        }
    }

    fn apply_reload(&mut self, client: Option<ClientId>, loaded: super::loader::Loaded) {
        // The `listen` sockets are bound here, in the loop that owns them: a port in use
        // rejects the load like any other error in it.
        let dir = self.opts.config_dir.clone();
        let loaded =
            loaded.and_then(
                |(config, graph, stamps)| match self.sockets.prepare(&config) {
                    Ok(prepared) => {
                        self.sockets.commit(prepared);
                        Ok((config, graph, stamps))
                    }
                    Err(problems) => Err(super::sockets::as_config_errors(&dir, problems)),
                },
            );
        match loaded {
            Ok(parts) => {
                let core = &self.core;
                let (config, graph, stamps) = super::heap::load_owned_here(parts, |name| {
                    core.loaded_spec(name).map(|spec| spec.process.clone())
                });
                self.heap_churn.add_load(config.services.len());
                self.graph = graph;
                self.dispatch(Event::Reload { client, config });
                self.keep_file_stamps(stamps);
                self.update_watches();
                let core = &self.core;
                self.outputs.forget_rings(|id| core.has_instance(id));
                self.consoles.retain(|id| core.has_instance(id));
            }
            Err(errors) => {
                for error in &errors {
                    self.log
                        .write(Level::Error, &format!("reload rejected: {error}"));
                }
                let mut message = format!(
                    "reload rejected, {} error(s); the running config stays:",
                    errors.len()
                );
                for error in &errors {
                    message.push_str(&format!("\n  {error}"));
                }
                if let Some(client) = client {
                    self.reply(client, Response::error(ErrorKind::ConfigRejected, message));
                }
            }
        }
    }

    fn tail(&mut self, client: ClientId, name: &str, stderr: bool, follow: bool) {
        let Some(id) = self.one_instance(client, name) else {
            return;
        };
        let id = &id;
        let stream = if stderr { "stderr" } else { "stdout" };
        let instance = self.core.instance_name(id);
        let output = match self.core.process_spec(&id.service) {
            Some(spec) if stderr => spec.stderr.clone(),
            Some(spec) => spec.stdout.clone(),
            None => return,
        };
        let response = match output {
            Output::Capture => Response::Output {
                data: String::from_utf8_lossy(&self.outputs.captured(id, stderr)).into_owned(),
                missed: 0,
            },
            Output::File(path) if !follow => match read_end(&path) {
                Ok(data) => Response::Output { data, missed: 0 },
                Err(e) => Response::error(
                    ErrorKind::Failed,
                    format!("{instance}: cannot read {}: {e}", path.display()),
                ),
            },
            Output::File(path) => Response::error(
                ErrorKind::Unsupported,
                format!(
                    "{instance}: {stream} goes to {}; follow it with tail -f {0}",
                    path.display()
                ),
            ),
            Output::Stdout => Response::Ok {
                lines: vec![format!(
                    "{instance}: stderr goes with stdout (stderr \"stdout\"): tmctl tail {instance}"
                )],
            },
            Output::Discard => Response::Ok {
                lines: vec![format!("{instance}: {stream} is discarded")],
            },
            Output::Syslog => Response::Ok {
                lines: vec![format!(
                    "{instance}: {stream} goes to syslog (journalctl -t {instance})"
                )],
            },
            Output::Inherit => Response::Ok {
                lines: vec![format!(
                    "{instance}: {stream} goes to taskmasterd's own {stream}"
                )],
            },
            Output::EventLog => Response::Ok {
                lines: vec![format!(
                    "{instance}: an on-event hook; its output goes to the event log \
                     (taskmasterd --log-file), each line under {instance}"
                )],
            },
        };
        let streams = matches!(response, Response::Output { .. }) && follow;
        self.reply(client, response);
        if streams {
            if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
                c.follow = Some(Follow {
                    id: id.clone(),
                    stderr,
                });
            }
        }
    }
}

/// The last [`FILE_TAIL_BYTES`] of a regular file. The open never blocks (O_NONBLOCK: a
/// FIFO with no writer would otherwise hold the whole loop in open), anything but a regular
/// file is refused (a device like /dev/zero never ends), and the read is bounded even if the
/// file grows meanwhile.
fn read_end(path: &std::path::Path) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other(
            "not a regular file; tail shows only regular files",
        ));
    }
    let mut file = file;
    file.seek(SeekFrom::Start(
        metadata.len().saturating_sub(FILE_TAIL_BYTES),
    ))?;
    let mut data = Vec::new();
    file.take(FILE_TAIL_BYTES).read_to_end(&mut data)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}
