//! `tmctl status` for humans: one aligned line per instance.
//!
//! ```text
//! web:0  RUNNING  4242  uptime 1:02:03
//! bad    FATAL    -     exit 127, restarts 3, exec /nope: No such file or directory
//! ```

use crate::control::proto::InstanceStatus;

/// Columns are separated by two spaces; the last one is free text.
const GAP: &str = "  ";

pub fn status_table(instances: &[InstanceStatus]) -> String {
    let rows: Vec<[String; 4]> = instances
        .iter()
        .map(|i| [i.name.clone(), i.state.clone(), pid_text(i.pid), info(i)])
        .collect();
    let width = |column: usize| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (name_width, state_width, pid_width) = (width(0), width(1), width(2));
    let mut table = String::new();
    for [name, state, pid, info] in &rows {
        let line = format!(
            "{name:<name_width$}{GAP}{state:<state_width$}{GAP}{pid:<pid_width$}{GAP}{info}"
        );
        table.push_str(line.trim_end());
        table.push('\n');
    }
    table
}

fn pid_text(pid: Option<i32>) -> String {
    pid.map_or_else(|| "-".to_string(), |pid| pid.to_string())
}

/// Uptime while it runs, else the last exit; then restarts and the daemon's detail.
fn info(instance: &InstanceStatus) -> String {
    let mut parts = Vec::new();
    if let Some(secs) = instance.uptime_secs {
        parts.push(format!("uptime {}", format_uptime(secs)));
    } else if let Some(exit) = last_exit(instance) {
        parts.push(exit);
    }
    if instance.restarts > 0 {
        parts.push(format!("restarts {}", instance.restarts));
    }
    if let Some(detail) = instance.detail.as_deref().filter(|d| !d.is_empty()) {
        parts.push(detail.to_string());
    }
    // A failed pre-start's reason already quotes its last line.
    let quoted = |line: &str| instance.detail.as_deref().is_some_and(|d| d.contains(line));
    if let Some(line) = instance.last_stderr.as_deref().filter(|l| !quoted(l)) {
        parts.push(format!("stderr: {line}"));
    }
    parts.join(", ")
}

/// "signal KILL" or "exit 1"; a signal wins, since the exit code then means nothing.
fn last_exit(instance: &InstanceStatus) -> Option<String> {
    match (&instance.exit_signal, instance.exit_code) {
        (Some(signal), _) => Some(format!("signal {signal}")),
        (None, Some(code)) => Some(format!("exit {code}")),
        (None, None) => None,
    }
}

/// `H:MM:SS`, with whole days in front once there are any: `0:00:05`, `1:02:03`, `3d 4:05:06`.
pub fn format_uptime(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let clock = format!("{}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    match days {
        0 => clock,
        days => format!("{days}d {clock}"),
    }
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
            uptime_secs: None,
            restarts: 0,
            exit_code: None,
            exit_signal: None,
            detail: None,
            last_stderr: None,
            transient: false,
            owner: None,
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
}
