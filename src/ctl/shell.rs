//! The interactive shell: `taskmaster> ` prompt, line editing, history, Tab completion.
//! Each line runs like a one-shot command; a bad line or a failed command is reported and
//! the shell goes on. Also what `taskmasterd --shell` runs, in a child process.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::Editor;

use super::command::Command;
use super::ctrl_c::CtrlCPipe;
use super::error::CtlError;
use super::execute::execute;
use super::history::HistoryFile;
use super::render::Format;
use super::session::Session;
use super::shell_helper::ShellHelper;
use super::shell_line::{
    command_help, help_text, parse_shell_line, shell_message, ShellInput, ShellLineError,
};

const PROMPT: &str = "taskmaster> ";
const HISTORY_ENTRIES: usize = 1000;

/// Run the shell on this terminal (or on piped lines) until `exit`, `quit` or end of
/// input. Errors only when the terminal or Ctrl-C handling cannot be set up.
///
/// For its whole duration SIGINT is caught (Ctrl-C at the prompt clears the line; while a
/// command waits it stops waiting, and taskmasterd carries on); afterwards SIGINT stays
/// ignored, see [`CtrlCPipe`].
pub fn run_shell(socket: &Path) -> Result<(), CtlError> {
    let ctrl_c = CtrlCPipe::catch().map_err(CtlError::CtrlC)?;
    let mut session = Session::new(socket).interruptible_by(ctrl_c.fd().map_err(CtlError::CtrlC)?);
    let config = Config::builder()
        .max_history_size(HISTORY_ENTRIES)?
        .history_ignore_dups(true)?
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ShellHelper::new(socket)));
    // Lines piped in (`printf 'status\n' | tmctl`) are a script, not history to keep.
    let mut history = io::stdin()
        .is_terminal()
        .then(|| HistoryFile::open(&mut editor));

    loop {
        let line = match editor.readline(PROMPT) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if let Some(history) = history.as_mut() {
            history.record(&mut editor, &line);
        }
        match parse_shell_line(&line) {
            Ok(ShellInput::Nothing) => {}
            Ok(ShellInput::Leave) => return Ok(()),
            Ok(ShellInput::Help(None)) => say(&help_text()),
            Ok(ShellInput::Help(Some(word))) => match command_help(&word) {
                Some(help) => say(&help),
                None => complain(&format!("no command {word:?}; try help")),
            },
            Ok(ShellInput::Run(command)) => run_command(&mut session, &command, &ctrl_c),
            // Clap's message, with usage and suggestions; `--help` goes to stdout.
            Err(ShellLineError::Clap(e)) => match shell_message(&e) {
                Some(text) => complain_raw(&text),
                None => {
                    let _ = e.print();
                }
            },
            Err(e) => complain(&e.to_string()),
        }
    }
}

fn run_command(session: &mut Session, command: &Command, ctrl_c: &CtrlCPipe) {
    // A Ctrl-C pressed before this command must not cut it short.
    ctrl_c.take();
    let mut out = LineEndTracker {
        inner: io::stdout().lock(),
        mid_line: false,
    };
    let result = execute(
        session,
        command,
        Format::Human,
        &mut out,
        &mut io::stderr().lock(),
    );
    // Raw `tail` output may end mid-line, and the terminal echoes ^C without a newline:
    // either way, start the prompt on a line of its own. (rustyline can ask the terminal
    // where the cursor is, but a slow serial console, as PID 1 has, may answer too late
    // and the answer would land in the input line.)
    if ctrl_c.take() || out.mid_line {
        say("");
    }
    match result {
        Ok(()) => {}
        Err(e) if e.is_interrupted() => {
            complain("interrupted; taskmasterd carries on with the request")
        }
        Err(e) => complain(&e.to_string()),
    }
}

/// Print to stdout; a closed stdout is not the shell's concern (it ends at end of input).
fn say(text: &str) {
    let mut out = io::stdout().lock();
    let _ = match text.ends_with('\n') {
        true => out.write_all(text.as_bytes()),
        false => writeln!(out, "{text}"),
    };
    let _ = out.flush();
}

fn complain(text: &str) {
    let _ = writeln!(io::stderr(), "error: {text}");
}

/// A message that already starts with `error:`.
fn complain_raw(text: &str) {
    let _ = writeln!(io::stderr(), "{text}");
}

/// Remembers whether what was written last left the cursor in the middle of a line.
struct LineEndTracker<W: Write> {
    inner: W,
    mid_line: bool,
}

impl<W: Write> Write for LineEndTracker<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        if let Some(last) = buf[..written].last() {
            self.mid_line = *last != b'\n';
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracker_knows_when_output_stopped_mid_line() {
        let mut out = LineEndTracker {
            inner: Vec::new(),
            mid_line: false,
        };
        assert!(out.write_all(b"one\ntw").is_ok());
        assert!(out.mid_line);
        assert!(out.write_all(b"o\n").is_ok());
        assert!(!out.mid_line);
        assert!(out.write_all(b"").is_ok());
        assert!(!out.mid_line);
        assert_eq!(out.inner, b"one\ntwo\n");
    }
}
