//! `tmctl attach`: a client connected to a `console` service's terminal. It gets the
//! recent screen, then follows the output like `tail -f` (same lag bound); the one client
//! that types sends `Input` and `Resize` on the same connection.

use super::clients::Follow;
use super::Daemon;
use crate::control::proto::{ErrorKind, Response};
use crate::supervisor::ClientId;

impl Daemon {
    pub(super) fn attach(&mut self, client: ClientId, name: &str, read_only: bool) {
        let Some(id) = self.one_instance(client, name) else {
            return;
        };
        let id = &id;
        let console = self
            .core
            .process_spec(&id.service)
            .is_some_and(|s| s.console);
        if !console {
            let message = format!(
                "{name} has no console: add `console #true` to its service to attach to it"
            );
            return self.reply(client, Response::error(ErrorKind::BadRequest, message));
        }
        let instance = self.core.instance_name(id);
        if !read_only {
            if let Some(console) = self.consoles.get_mut(id) {
                if console.writer.is_some_and(|w| w != client) {
                    let message = format!(
                        "someone else is typing on {instance}'s console; attach --read-only watches"
                    );
                    return self.reply(client, Response::error(ErrorKind::Busy, message));
                }
                console.writer = Some(client);
            } else {
                let message = format!("{instance} has not run yet: start it first");
                return self.reply(client, Response::error(ErrorKind::NotRunning, message));
            }
        }
        let how = if read_only { "watching" } else { "attached to" };
        self.reply(
            client,
            Response::Ok {
                lines: vec![format!("{how} {instance}; Ctrl-] detaches")],
            },
        );
        let screen = String::from_utf8_lossy(&self.outputs.captured(id, false)).into_owned();
        self.reply(
            client,
            Response::Output {
                data: screen,
                missed: 0,
            },
        );
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
            c.follow = Some(Follow {
                id: id.clone(),
                stderr: false,
            });
            c.attached = Some((id.clone(), !read_only));
        }
    }

    /// The instance this client types on, or the error to tell it.
    fn typing_on(&self, client: ClientId) -> Result<crate::supervisor::InstanceId, Response> {
        let attached = self
            .clients
            .iter()
            .find(|c| c.id == client)
            .and_then(|c| c.attached.clone());
        match attached {
            Some((id, true)) => Ok(id),
            Some((_, false)) => Err(Response::error(
                ErrorKind::BadRequest,
                "attached read-only: keystrokes are not sent",
            )),
            None => Err(Response::error(
                ErrorKind::BadRequest,
                "not attached to a console (send attach first)",
            )),
        }
    }

    pub(super) fn console_input(&mut self, client: ClientId, data: &[u8]) {
        let id = match self.typing_on(client) {
            Ok(id) => id,
            Err(response) => return self.reply(client, response),
        };
        let accepted = self.consoles.get_mut(&id).is_none_or(|c| c.input(data));
        if !accepted {
            let message = format!(
                "the console is not reading its input ({} KiB wait); keystrokes dropped",
                super::consoles::MAX_PENDING_INPUT / 1024
            );
            self.reply(client, Response::error(ErrorKind::Busy, message));
        }
    }

    pub(super) fn console_resize(&mut self, client: ClientId, rows: u16, cols: u16) {
        match self.typing_on(client) {
            Ok(id) => {
                if let Some(console) = self.consoles.get_mut(&id) {
                    console.resize(rows, cols);
                }
            }
            Err(response) => self.reply(client, response),
        }
    }
}
