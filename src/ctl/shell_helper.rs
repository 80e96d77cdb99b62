//! The rustyline side of completion: asks taskmasterd for names (briefly cached, never
//! blocking the prompt for long) and hands the candidates to the line editor.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::control::client::Client;
use crate::control::proto::{Request, Response};

use super::complete::complete_line;

/// Names stay valid this long, so that repeated Tabs do not each ask the daemon, while a
/// service added by `reload` shows up soon after.
const NAMES_FRESH_FOR: Duration = Duration::from_secs(2);
/// A daemon that does not answer within this is treated as unreachable for completion
/// (a busy machine can take a few hundred milliseconds to schedule the daemon and us).
const NAMES_TIMEOUT: Duration = Duration::from_secs(2);

pub struct ShellHelper {
    socket: PathBuf,
    /// When the names were fetched, and what came back (`None`: daemon unreachable).
    names: RefCell<Option<(Instant, Option<Vec<String>>)>>,
}

impl ShellHelper {
    pub fn new(socket: &Path) -> ShellHelper {
        ShellHelper {
            socket: socket.to_path_buf(),
            names: RefCell::new(None),
        }
    }

    fn names(&self) -> Option<Vec<String>> {
        self.names_at(Instant::now())
    }

    /// The names as of `now` (the clock is the caller's, so tests need not race it).
    fn names_at(&self, now: Instant) -> Option<Vec<String>> {
        let mut cache = self.names.borrow_mut();
        if let Some((fetched, names)) = cache.as_ref() {
            if now.saturating_duration_since(*fetched) < NAMES_FRESH_FOR {
                return names.clone();
            }
        }
        let names = fetch_names(&self.socket);
        *cache = Some((now, names.clone()));
        names
    }
}

/// Services and instances, from a connection of its own so that completion never
/// disturbs the session's (which may be waiting on a reply).
fn fetch_names(socket: &Path) -> Option<Vec<String>> {
    let mut client = Client::connect(socket).ok()?.with_timeout(NAMES_TIMEOUT);
    match client.request(&Request::Names).ok()? {
        Response::Names {
            services,
            instances,
        } => Some(services.into_iter().chain(instances).collect()),
        _ => None,
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = complete_line(line, pos, &mut || self.names());
        let pairs = words
            .into_iter()
            // The space lets the next Tab complete the next word straight away.
            .map(|word| Pair {
                replacement: format!("{word} "),
                display: word,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::fake_daemon::FakeDaemon;

    #[test]
    fn names_come_from_the_daemon_and_are_cached() {
        let reply =
            r#"{"result":"names","services":["web","db"],"instances":["web:0","web:1","db"]}"#;
        let daemon = FakeDaemon::start(vec![vec![reply.into()]]);
        let helper = ShellHelper::new(daemon.path());
        let expected = ["web", "db", "web:0", "web:1", "db"]
            .map(String::from)
            .to_vec();
        let now = Instant::now();
        assert_eq!(helper.names_at(now), Some(expected.clone()));
        // A second ask within the cache time makes no second connection (there is none
        // scripted: it would fail and yield None). Its time is given, not read: a test
        // thread held up for the cache time on a loaded machine would ask again.
        assert_eq!(helper.names_at(now + NAMES_FRESH_FOR / 2), Some(expected));
        assert_eq!(daemon.requests(), vec![r#"{"cmd":"names"}"#]);
    }

    #[test]
    fn no_daemon_means_no_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let helper = ShellHelper::new(&dir.path().join("none.sock"));
        assert_eq!(helper.names(), None);
    }
}
