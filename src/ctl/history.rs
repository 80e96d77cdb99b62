//! The shell's persistent history: `$XDG_STATE_HOME/taskmaster/history`, else
//! `~/.local/state/taskmaster/history`. Failing to read or save it is worth one warning,
//! never the end of the shell (as PID 1 the root file system may well be read-only).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustyline::{Editor, Helper};

pub struct HistoryFile {
    path: Option<PathBuf>,
    warned: bool,
}

impl HistoryFile {
    /// Find the file, create its directory, and load what earlier sessions saved.
    pub fn open<H: Helper, I: rustyline::history::History>(
        editor: &mut Editor<H, I>,
    ) -> HistoryFile {
        let mut history = HistoryFile {
            path: history_path(),
            warned: false,
        };
        let Some(path) = history.path.clone() else {
            history.warn("no $XDG_STATE_HOME or home directory to keep it in");
            return history;
        };
        if let Some(dir) = path.parent() {
            if let Err(e) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
            {
                history.warn(&format!("cannot create {}: {e}", dir.display()));
                return history;
            }
        }
        if path.exists() {
            if let Err(e) = editor.load_history(&path) {
                history.warn(&format!("cannot read {}: {e}", path.display()));
            }
        }
        history
    }

    /// Remember `line`, and append it to the file at once so that a shell killed by the
    /// daemon's shutdown loses nothing.
    pub fn record<H: Helper, I: rustyline::history::History>(
        &mut self,
        editor: &mut Editor<H, I>,
        line: &str,
    ) {
        if line.trim().is_empty() {
            return;
        }
        if let Err(e) = editor.add_history_entry(line) {
            self.warn(&format!("cannot keep the line: {e}"));
            return;
        }
        if let Some(path) = self.path.clone() {
            if let Err(e) = editor.history_mut().append(&path) {
                self.warn(&format!("cannot save to {}: {e}", path.display()));
            }
        }
    }

    /// One warning per session: the same failure on every line would drown the output.
    fn warn(&mut self, why: &str) {
        if !self.warned {
            self.warned = true;
            let _ = writeln!(
                std::io::stderr(),
                "tmctl: warning: history not saved: {why}"
            );
        }
    }
}

fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .or_else(super::passwd_home::home_of_current_user);
    history_path_from(std::env::var_os("XDG_STATE_HOME"), home)
}

/// The XDG rule: `$XDG_STATE_HOME` counts only when it is an absolute path.
fn history_path_from(state_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let state_home = state_home
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| home.map(|home| Path::new(&home).join(".local/state")))?;
    Some(state_home.join("taskmaster/history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(state: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
        history_path_from(state.map(OsString::from), home.map(OsString::from))
    }

    #[test]
    fn xdg_state_home_wins_when_absolute() {
        assert_eq!(
            path(Some("/s"), Some("/home/u")),
            Some(PathBuf::from("/s/taskmaster/history"))
        );
        assert_eq!(
            path(Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/taskmaster/history"))
        );
        assert_eq!(
            path(None, Some("/root")),
            Some(PathBuf::from("/root/.local/state/taskmaster/history"))
        );
        assert_eq!(path(None, None), None);
    }
}
