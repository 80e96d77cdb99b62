//! `tmctl status` for humans: one aligned line per instance.
//!
//! ```text
//! web:0  RUNNING  4242  uptime 1:02:03
//! bad    FATAL    -     exit 127, restarts 3, exec /nope: No such file or directory
//! ```

use std::borrow::Cow;
use std::fmt::Write;

use serde::Deserialize;

use crate::control::proto::{is_status_line, status_list, InstanceStatus};
use crate::supervisor::{InstanceName, StatusView};

/// Columns are separated by two spaces (only spaces: see `pad`); the last one is free text.
const GAP: &str = "  ";

/// What a line of the table shows of an instance: read straight from the daemon's reply
/// line, its strings borrowed from it where they have no escapes, or borrowed from an
/// [`InstanceStatus`]. Fields the table does not show are skipped unread.
#[derive(Debug, Deserialize)]
pub struct Row<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    state: Cow<'a, str>,
    #[serde(default)]
    pid: Option<i32>,
    #[serde(default)]
    uptime_secs: Option<u64>,
    #[serde(default)]
    restarts: u32,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    exit_signal: Option<Cow<'a, str>>,
    #[serde(default)]
    detail: Option<Cow<'a, str>>,
    #[serde(default)]
    last_stderr: Option<Cow<'a, str>>,
}

/// What a line of the plain table shows of an instance, borrowed from wherever the
/// instance's status is held: a [`Row`] read from a reply line, an [`InstanceStatus`], or
/// the daemon's own view of it ([`StatusView`], when the daemon writes the table itself,
/// see `control::table_reply`). One writer for all three: the table is the same bytes
/// whichever side makes it.
pub struct Line<'a> {
    pub name: InstanceName<'a>,
    pub state: &'a str,
    pub pid: Option<i32>,
    pub uptime_secs: Option<u64>,
    pub restarts: u32,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub last_stderr: Option<&'a str>,
}

/// Anything a [`Line`] of the table can be borrowed from.
pub trait TableRow {
    fn line(&self) -> Line<'_>;
}

impl TableRow for Row<'_> {
    fn line(&self) -> Line<'_> {
        Line {
            name: InstanceName::Whole(&self.name),
            state: &self.state,
            pid: self.pid,
            uptime_secs: self.uptime_secs,
            restarts: self.restarts,
            exit_code: self.exit_code,
            exit_signal: self.exit_signal.as_deref(),
            detail: self.detail.as_deref(),
            last_stderr: self.last_stderr.as_deref(),
        }
    }
}

impl TableRow for InstanceStatus {
    fn line(&self) -> Line<'_> {
        Line {
            name: InstanceName::Whole(&self.name),
            state: &self.state,
            pid: self.pid,
            uptime_secs: self.uptime_secs,
            restarts: self.restarts,
            exit_code: self.exit_code,
            exit_signal: self.exit_signal.as_deref(),
            detail: self.detail.as_deref(),
            last_stderr: self.last_stderr.as_deref(),
        }
    }
}

impl TableRow for StatusView<'_> {
    fn line(&self) -> Line<'_> {
        Line {
            name: self.name,
            state: self.state,
            pid: self.pid,
            uptime_secs: self.uptime_secs,
            restarts: self.restarts,
            exit_code: self.exit_code,
            exit_signal: self.exit_signal.as_deref(),
            detail: self.detail.as_deref(),
            last_stderr: self.last_stderr,
        }
    }
}

impl<T: TableRow> TableRow for &T {
    fn line(&self) -> Line<'_> {
        (**self).line()
    }
}

/// Where the table is written: tmctl's string, or the daemon's outbox.
pub trait TableOut {
    fn append(&mut self, text: &str);
}

impl TableOut for String {
    fn append(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl TableOut for Vec<u8> {
    fn append(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

pub fn status_table(instances: &[InstanceStatus]) -> String {
    status_table_in(instances, false)
}

/// [`status_table`], with the state words in colour when `colour` (a terminal, and no
/// `NO_COLOR`): green up, red failed, yellow on the way.
pub fn status_table_in(instances: &[InstanceStatus], colour: bool) -> String {
    let mut table = String::new();
    write_table(instances.iter(), colour, &mut table);
    table
}

/// The table of a status reply line, read without making an [`InstanceStatus`] of each
/// instance (three strings each, copied out of the line, and 280 bytes: at 1,000
/// instances, 3,000 allocations and 70 pages touched for nothing); `None` when the line
/// is not a status reply, or not one this reads.
pub fn status_table_of_line(line: &[u8], colour: bool) -> Option<String> {
    if !is_status_line(line) {
        return None;
    }
    let rows: Vec<Row> = status_list(line).ok()?;
    let mut table = String::new();
    write_table(rows.iter(), colour, &mut table);
    Some(table)
}

/// The plain table of `rows` appended to `out`: name, state and pid padded to the widest
/// of each, the info last, no trailing blanks. Two passes over `rows` (the widths, then
/// the lines), so that nothing is kept per row: the daemon walks its instances twice
/// rather than hold 1,000 rows' cells (a list of that size is mapped afresh, and faulted
/// in, at every request).
pub fn write_table<R, I>(rows: I, colour: bool, out: &mut impl TableOut)
where
    R: TableRow,
    I: Iterator<Item = R> + Clone,
{
    let mut widths = Widths::default();
    for row in rows.clone() {
        let line = row.line();
        widths.add(line.name, line.state, line.pid);
    }
    write_lines(rows, &widths, colour, out);
}

/// The widths of the first three columns (name, state, pid).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Widths([usize; 3]);

impl Widths {
    /// Widens the columns to hold a row's name, state and pid: what the daemon knows of an
    /// instance without making its view (`Supervisor::status_cells`).
    pub fn add(&mut self, name: InstanceName, state: &str, pid: Option<i32>) {
        let cells = [
            name_width(name),
            state.chars().count(),
            pid.map_or(1, |pid| decimal_width(pid.into())),
        ];
        for (width, cell) in self.0.iter_mut().zip(cells) {
            *width = (*width).max(cell);
        }
    }
}

/// The lines of the table of `rows`, with the columns `widths` wide (from the same rows:
/// [`write_table`] takes them from the rows themselves).
pub fn write_lines<R: TableRow>(
    rows: impl Iterator<Item = R>,
    widths: &Widths,
    colour: bool,
    out: &mut impl TableOut,
) {
    let Widths(widths) = widths;
    // One line at a time in a buffer kept for all of them, then appended whole.
    let mut text = String::with_capacity(128);
    for row in rows {
        let line = row.line();
        text.clear();
        write_name(&mut text, line.name);
        pad(&mut text, widths[0], name_width(line.name));
        match state_colour(line.state).filter(|_| colour) {
            Some(code) => {
                text.push_str(code);
                text.push_str(line.state);
                text.push_str("\x1b[0m");
            }
            None => text.push_str(line.state),
        }
        pad(&mut text, widths[1], line.state.chars().count());
        let pid_start = text.len();
        write_pid(&mut text, line.pid);
        let pid_width = text.len() - pid_start;
        pad(&mut text, widths[2], pid_width);
        write_info(&mut text, &line);
        // No trailing blanks when the last cells are empty.
        let kept = text.trim_end().len();
        text.truncate(kept);
        text.push('\n');
        out.append(&text);
    }
}

/// Spaces from a cell `width` wide to `column`, then the gap to the next column (spaces
/// too): pushed as slices of spaces, not one `char` at a time (three times a line).
fn pad(text: &mut String, column: usize, width: usize) {
    const SPACES: &str = "                                ";
    let mut missing = column.saturating_sub(width) + GAP.len();
    while missing > 0 {
        let run = missing.min(SPACES.len());
        text.push_str(&SPACES[..run]);
        missing -= run;
    }
}

/// How many characters an instance's name takes, without writing it.
fn name_width(name: InstanceName) -> usize {
    match name {
        InstanceName::Whole(name) => name.chars().count(),
        InstanceName::Indexed(service, index) => {
            service.chars().count() + 1 + decimal_width(index.into())
        }
    }
}

/// The number of characters of `n` written in decimal, its sign included: counted, not
/// written (the widths pass asks it of every pid and index of the table).
fn decimal_width(n: i64) -> usize {
    let digits = n
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |log| log as usize + 1);
    digits + usize::from(n < 0)
}

/// The ANSI colour of a state word, if it gets one.
fn state_colour(state: &str) -> Option<&'static str> {
    match state {
        "RUNNING" | "EXITED" => Some("\x1b[32m"),
        "FATAL" | "BACKOFF" => Some("\x1b[31m"),
        "STARTING" | "STOPPING" | "PENDING" | "PAUSED" => Some("\x1b[33m"),
        _ => None,
    }
}

/// Whether `tmctl` may colour its output: stdout is a terminal and `NO_COLOR` is unset or
/// empty (no-color.org).
pub fn colour_wanted() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

/// `status -l` and `top`: with the memory, CPU time and tasks of each instance's cgroup
/// (`-` where unknown), under a header.
///
/// ```text
/// NAME   STATE    PID   MEM     CPU     TASKS  INFO
/// web:0  RUNNING  4242  52.3M   1.25s   3      uptime 0:01:02
/// ```
pub fn status_table_long(instances: &[InstanceStatus]) -> String {
    let header = ["NAME", "STATE", "PID", "MEM", "CPU", "TASKS", "INFO"];
    let mut rows = vec![header.map(String::from).to_vec()];
    rows.extend(instances.iter().map(|i| {
        vec![
            i.name.clone(),
            i.state.clone(),
            pid_text(i.pid),
            i.memory_bytes.map_or("-".into(), memory_text),
            i.cpu_usec.map_or("-".into(), cpu_text),
            i.tasks.map_or("-".into(), |n| n.to_string()),
            info(i),
        ]
    }));
    aligned(&rows)
}

/// Rows as columns padded to their widest cell; the last column is free text. Written
/// into one string: no string per line or cell.
fn aligned<C: AsRef<str>, R: AsRef<[C]>>(rows: &[R]) -> String {
    let columns = rows.first().map_or(0, |row| row.as_ref().len());
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|row| row.as_ref()[c].as_ref().chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut table = String::with_capacity(rows.len() * (widths.iter().sum::<usize>() + 16));
    for row in rows {
        let start = table.len();
        for (c, cell) in row.as_ref().iter().enumerate() {
            let cell = cell.as_ref();
            table.push_str(cell);
            if c + 1 < columns {
                pad(&mut table, widths[c], cell.chars().count());
            }
        }
        // No trailing blanks when the last cells are empty.
        let line = table[start..].trim_end().len();
        table.truncate(start + line);
        table.push('\n');
    }
    table
}

/// `512.0K`, `52.3M`, `1.2G`.
pub fn memory_text(bytes: u64) -> String {
    const UNITS: [(f64, &str); 3] = [(1073741824.0, "G"), (1048576.0, "M"), (1024.0, "K")];
    for (unit, suffix) in UNITS {
        if bytes as f64 >= unit {
            return format!("{:.1}{suffix}", bytes as f64 / unit);
        }
    }
    format!("{bytes}B")
}

/// CPU time: `0.25s`, `1m 05s`.
pub fn cpu_text(usec: u64) -> String {
    let secs = usec as f64 / 1e6;
    if secs < 60.0 {
        format!("{secs:.2}s")
    } else {
        format!("{}m {:02}s", usec / 60_000_000, usec / 1_000_000 % 60)
    }
}

fn pid_text(pid: Option<i32>) -> String {
    let mut text = String::new();
    write_pid(&mut text, pid);
    text
}

fn write_pid(text: &mut String, pid: Option<i32>) {
    match pid {
        Some(pid) => push_decimal(text, pid),
        None => text.push('-'),
    }
}

fn info(instance: &InstanceStatus) -> String {
    let mut text = String::new();
    write_info(&mut text, &instance.line());
    text
}

/// Uptime while it runs, else the last exit; then restarts and the daemon's detail;
/// appended to `text`.
fn write_info(text: &mut String, instance: &Line) {
    let start = text.len();
    // Each part after the first is set off by a comma.
    let part = |text: &mut String| {
        if text.len() > start {
            text.push_str(", ");
        }
    };
    if let Some(secs) = instance.uptime_secs {
        text.push_str("uptime ");
        write_uptime(text, secs);
    } else if let Some(exit) = last_exit(instance) {
        text.push_str(&exit);
    }
    if instance.restarts > 0 {
        part(text);
        let _ = write!(text, "restarts {}", instance.restarts);
    }
    if let Some(detail) = instance.detail.filter(|d| !d.is_empty()) {
        part(text);
        text.push_str(detail);
    }
    // A failed pre-start's reason already quotes its last line.
    let quoted = |line: &str| instance.detail.is_some_and(|d| d.contains(line));
    if let Some(line) = instance.last_stderr.filter(|l| !quoted(l)) {
        part(text);
        text.push_str("stderr: ");
        text.push_str(line);
    }
}

/// "signal KILL" or "exit 1"; a signal wins, since the exit code then means nothing.
fn last_exit(instance: &Line) -> Option<String> {
    match (instance.exit_signal, instance.exit_code) {
        (Some(signal), _) => Some(format!("signal {signal}")),
        (None, Some(code)) => Some(format!("exit {code}")),
        (None, None) => None,
    }
}

/// `H:MM:SS`, with whole days in front once there are any: `0:00:05`, `1:02:03`, `3d 4:05:06`.
pub fn format_uptime(secs: u64) -> String {
    let mut text = String::new();
    write_uptime(&mut text, secs);
    text
}

fn write_uptime(text: &mut String, secs: u64) {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    if days > 0 {
        push_decimal(text, days);
        text.push_str("d ");
    }
    push_decimal(text, rest / 3600);
    for part in [rest % 3600 / 60, rest % 60] {
        // Two digits each: both are under 60.
        text.push(':');
        text.push(char::from(b'0' + (part / 10) as u8));
        text.push(char::from(b'0' + (part % 10) as u8));
    }
}

/// An instance's name: `web`, or `web:0` for one of several.
fn write_name(text: &mut String, name: InstanceName) {
    match name {
        InstanceName::Whole(name) => text.push_str(name),
        InstanceName::Indexed(service, index) => {
            text.push_str(service);
            text.push(':');
            push_decimal(text, index);
        }
    }
}

/// `n` in decimal, as `Display` writes it, but with `itoa`: through `fmt` (its `Formatter`,
/// padding and dispatch), the three numbers of a line (index, pid, uptime) were a sixth of
/// the daemon's work for a table of 1,000 lines.
fn push_decimal(text: &mut String, n: impl itoa::Integer) {
    text.push_str(itoa::Buffer::new().format(n));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn instance(name: &str, state: &str, pid: Option<i32>) -> InstanceStatus {
        InstanceStatus {
            name: name.into(),
            service: name.split(':').next().unwrap_or(name).into(),
            state: state.into(),
            pid,
            ..Default::default()
        }
    }

    #[test]
    fn padding_reaches_the_column_then_the_gap_even_past_a_run_of_spaces() {
        for (column, width) in [(0, 0), (5, 5), (5, 2), (40, 1), (100, 3), (3, 9)] {
            let mut text = String::new();
            pad(&mut text, column, width);
            let wanted = column.saturating_sub(width) + GAP.len();
            assert_eq!(text, " ".repeat(wanted), "{column} {width}");
        }
    }

    #[test]
    fn uptime_formats() {
        assert_eq!(format_uptime(0), "0:00:00");
        assert_eq!(format_uptime(5), "0:00:05");
        assert_eq!(format_uptime(3723), "1:02:03");
        assert_eq!(format_uptime(86_399), "23:59:59");
        assert_eq!(format_uptime(86_400), "1d 0:00:00");
        assert_eq!(
            format_uptime(3 * 86_400 + 4 * 3600 + 5 * 60 + 6),
            "3d 4:05:06"
        );
    }

    #[test]
    fn columns_line_up_whatever_the_widths() {
        let mut web = instance("web:0", "RUNNING", Some(4242));
        web.uptime_secs = Some(3723);
        let mut db = instance("database", "STOPPED", None);
        db.exit_code = Some(0);
        let mut bad = instance("bad", "FATAL", None);
        bad.exit_code = Some(127);
        bad.restarts = 3;
        bad.detail = Some("exec /nope: No such file or directory".into());
        let mut said = instance("said", "FATAL", None);
        said.exit_code = Some(1);
        said.last_stderr = Some("nginx: [emerg] unknown directive \"bogus\"".into());
        let mut killed = instance("w", "EXITED", Some(7));
        killed.exit_signal = Some("KILL".into());
        killed.exit_code = Some(137);
        assert_eq!(
            status_table(&[web, db, bad, said, killed]),
            "\
web:0     RUNNING  4242  uptime 1:02:03
database  STOPPED  -     exit 0
bad       FATAL    -     exit 127, restarts 3, exec /nope: No such file or directory
said      FATAL    -     exit 1, stderr: nginx: [emerg] unknown directive \"bogus\"
w         EXITED   7     signal KILL
"
        );
    }

    #[test]
    fn nothing_to_say_leaves_no_trailing_spaces() {
        let table = status_table(&[
            instance("web", "STOPPED", None),
            instance("worker", "PENDING", None),
        ]);
        assert_eq!(table, "web     STOPPED  -\nworker  PENDING  -\n");
    }

    #[test]
    fn a_pending_instance_says_why() {
        let mut app = instance("app", "PENDING", None);
        app.detail = Some("waiting for db".into());
        assert_eq!(status_table(&[app]), "app  PENDING  -  waiting for db\n");
    }

    #[test]
    fn no_instances_print_nothing() {
        assert_eq!(status_table(&[]), "");
    }

    #[test]
    fn colour_wraps_the_state_word_and_keeps_the_columns() {
        let web = instance("web:0", "RUNNING", Some(42));
        let bad = instance("bad", "FATAL", None);
        let plain = status_table(&[web.clone(), bad.clone()]);
        let coloured = status_table_in(&[web, bad], true);
        assert!(coloured.contains("\x1b[32mRUNNING\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[31mFATAL\x1b[0m"), "{coloured:?}");
        let stripped = coloured
            .replace("\x1b[32m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[0m", "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn the_daemons_table_of_its_views_is_tmctls_table_of_the_list() {
        // The daemon writes a plain status as the table itself, from its views (names as
        // service and index); tmctl made it from the JSON list of the same views. Both
        // must print the same bytes, colour or not.
        use crate::control::wire_status::StatusLine;
        use crate::supervisor::InstanceStatus as CoreStatus;
        let core = |name: &str, state: &str, pid: Option<i32>| CoreStatus {
            name: name.into(),
            service: name.split(':').next().unwrap_or(name).into(),
            state: state.into(),
            pid,
            uptime_secs: pid.map(|_| 3 * 86_400 + 5),
            restarts: 0,
            exit_code: None,
            exit_signal: None,
            detail: None,
            last_stderr: None,
            transient: false,
            owner: None,
            next_run: None,
        };
        let mut fatal = core("b\u{e9}d", "FATAL", None);
        fatal.exit_code = Some(127);
        fatal.restarts = 3;
        fatal.detail = Some("exec /no\"pe: No such file or directory  ".into());
        fatal.last_stderr = Some("boom \"quoted\" \u{e9}".into());
        let mut killed = core("w:10", "EXITED", None);
        killed.exit_signal = Some("KILL".into());
        let mut pending = core("app", "PENDING", None);
        pending.detail = Some("waiting for db; next run 2026-12-07T00:00:00+00:00".into());
        let statuses = [
            core("web:0", "RUNNING", Some(4242)),
            core("web:1", "RUNNING", Some(-1)),
            fatal,
            killed,
            pending,
            core("idle", "STOPPED", None),
        ];
        let views = || {
            statuses.iter().map(|status| {
                let mut view = status.view();
                if let Some((service, index)) = status.name.rsplit_once(':') {
                    let index = index.parse().expect("index");
                    view.name = InstanceName::Indexed(service, index);
                }
                view
            })
        };
        let line = serde_json::to_vec(&StatusLine(views())).expect("encode");
        for colour in [false, true] {
            let mut daemons = Vec::new();
            write_table(views(), colour, &mut daemons);
            assert_eq!(
                Some(String::from_utf8(daemons).expect("utf-8")),
                status_table_of_line(&line, colour)
            );
        }
        let mut empty = Vec::new();
        write_table(
            statuses[..0].iter().map(CoreStatus::view),
            false,
            &mut empty,
        );
        assert!(empty.is_empty());
    }

    #[test]
    fn decimals_as_display_writes_them() {
        for n in [0, 7, 9, 10, 99, 100, 4242, -1, -10, i32::MAX, i32::MIN] {
            assert_eq!(decimal_width(n.into()), n.to_string().len(), "{n}");
            let mut text = String::from("x");
            write_pid(&mut text, Some(n));
            assert_eq!(text, format!("x{n}"));
        }
        for n in [0, 9, 10, u64::from(u32::MAX), u64::MAX] {
            let mut text = String::new();
            push_decimal(&mut text, n);
            assert_eq!(text, n.to_string());
        }
        assert_eq!(decimal_width(i64::MIN), i64::MIN.to_string().len());
    }

    #[test]
    fn the_table_of_a_reply_line_is_the_table_of_its_instances() {
        use crate::control::proto::{decode_response, Response};
        let mut fatal = instance("bad", "FATAL", None);
        fatal.exit_code = Some(127);
        fatal.restarts = 3;
        fatal.detail = Some("exec /no\"pe: No such file or directory".into());
        fatal.last_stderr = Some("boom \"quoted\" \u{e9}".into());
        let mut killed = instance("w\u{e9}b:1", "EXITED", None);
        killed.exit_signal = Some("KILL".into());
        let mut up = instance("web:0", "RUNNING", Some(4242));
        up.uptime_secs = Some(3 * 86_400 + 5);
        let instances = vec![up, fatal, killed, instance("idle", "STOPPED", None)];
        let line = serde_json::to_vec(&Response::Status { instances }).expect("encode");
        let Ok(Response::Status { instances }) = decode_response(&line) else {
            panic!("not a status reply");
        };
        for colour in [false, true] {
            assert_eq!(
                status_table_of_line(&line, colour).as_deref(),
                Some(status_table_in(&instances, colour).as_str())
            );
        }
        assert_eq!(
            status_table_of_line(br#"{"result":"ok","lines":[]}"#, false),
            None
        );
    }
}
