//! Events and service output in a real systemd-journald, read back with journalctl:
//! tags, pids and priorities; a journald that comes later, and one restarted midway.

use super::journal::{Journal, DEV_LOG};
use crate::common::*;
use std::path::PathBuf;

fn harness_in(journal: &Journal) -> Harness {
    let mut h = Harness::new();
    h.syslog_socket = Some(PathBuf::from(DEV_LOG));
    h.mount_ns = Some(journal.mount_ns());
    h
}

#[test]
fn events_and_service_lines_reach_journald_with_tags_pids_and_priorities() {
    let mut journal = Journal::new();
    journal.start_journald();
    let mut h = harness_in(&journal);
    h.service(
        "web",
        r#"service "web" {
    cmd "/bin/sh" "-c" "echo hello from web; echo trouble in web >&2; exec sleep 1000"
    starttime 0.2
    stdout "syslog"
    stderr "syslog"
}
service "crash" {
    cmd "/bin/sh" "-c" "sleep 0.5; exit 3"
    starttime 0.2
    autorestart "never"
}
service "guest" {
    cmd "/bin/sh" "-c" "echo hello as nobody; exec sleep 1000"
    user "nobody"
    starttime 0.2
    stdout "syslog"
}"#,
    );
    h.start();
    let daemon = h.daemon_pid();
    h.wait_state("web", "RUNNING");
    let web = h.pid("web").expect("web pid");

    let spawned = journal.wait_entry("taskmaster", &["web spawned with pid"]);
    assert_eq!(spawned.priority, 6, "info: {spawned:?}");
    assert_eq!(spawned.pid, Some(daemon), "{spawned:?}");
    assert_eq!(spawned.sender_pid, Some(daemon), "{spawned:?}");
    let exit = journal.wait_entry("taskmaster", &["crash", "exit code 3", "unexpected"]);
    assert_eq!(exit.priority, 4, "warning: {exit:?}");

    // -p warning shows the unexpected exit, not the spawn.
    let warnings: Vec<String> = journal
        .entries("taskmaster", Some("warning"))
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|m| m.contains("crash") && m.contains("unexpected")),
        "{warnings:?}"
    );
    assert!(
        !warnings.iter().any(|m| m.contains("spawned")),
        "{warnings:?}"
    );

    // The service's own lines, under its own tag and pid; stderr at warning.
    // journald files them under the service's process (the credentials the daemon sent
    // them with), so `journalctl -t web` shows its pid in brackets, not the daemon's.
    let out = journal.wait_entry("web", &["hello from web"]);
    assert_eq!(
        (out.priority, out.pid, out.identifier.as_str()),
        (6, Some(web), "web")
    );
    assert_eq!(out.sender_pid, Some(web), "{out:?}");
    let err = journal.wait_entry("web", &["trouble in web"]);
    assert_eq!(
        (err.priority, err.pid, err.sender_pid),
        (4, Some(web), Some(web))
    );
    // A service running as another user: its lines come with that user's id.
    h.wait_state("guest", "RUNNING");
    let guest = journal.wait_entry("guest", &["hello as nobody"]);
    assert_eq!(
        (guest.sender_pid, guest.sender_uid),
        (h.pid("guest"), Some(65534)),
        "{guest:?}"
    );
    let short = journal.short("web");
    assert!(
        short.contains(&format!("web[{web}]: hello from web")),
        "{short}"
    );
    // Every event of the file is in the journal too, with the same text.
    h.wait_log(&["crash", "EXITED"]);
    journal.wait_entry("taskmaster", &["crash", "EXITED"]);
    // Nothing about syslog trouble: it was there all along.
    assert!(!h.log_text().contains("syslog:"), "{}", h.log_text());
}

#[test]
fn messages_wait_for_a_late_journald_and_survive_its_restart() {
    let mut journal = Journal::new();
    let mut h = harness_in(&journal);
    let counter = h.path("counter");
    h.service(
        "early",
        r#"service "early" {
    cmd "/bin/sh" "-c" "echo early one; echo early two; exec sleep 1000"
    starttime 0
    stdout "syslog"
}"#,
    );
    // The counter is replaced whole (never seen empty, even when `pause` stops the shell
    // halfway); it can lag the last tick written by one.
    h.service(
        "ticker",
        &format!(
            r#"service "ticker" {{
    cmd "/bin/sh" "-c" "i=0; while :; do i=$((i+1)); echo tick $i; echo $i > {0}.new; mv {0}.new {0}; sleep 0.02; done"
    autostart #false
    starttime 0
    stdout "syslog"
}}"#,
            counter.display()
        ),
    );
    // No journald yet: everything is kept, the outage reported once in the file.
    h.start();
    h.wait_state("early", "RUNNING");
    h.wait_log(&["syslog: cannot send to", DEV_LOG]);

    // journald comes: what was kept arrives without any new event (the retry deadline).
    journal.start_journald();
    journal.wait_entry("taskmaster", &["taskmasterd", "started"]);
    journal.wait_entry("taskmaster", &["early spawned with pid"]);
    journal.wait_entry("taskmaster", &["syslog: cannot send to"]);
    journal.wait_entry("early", &["early two"]);
    assert_eq!(journal.messages("early"), ["early one", "early two"]);

    // A live stream, then journald restarts while the ticker keeps writing.
    h.ok(&["start", "ticker"]);
    let read_counter = || {
        std::fs::read_to_string(&counter)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    journal.wait_entry("ticker", &["tick 5"]);
    // Quiet at the moment journald stops, so no datagram is in flight in its socket
    // (what a stopping journald has not read yet is lost with its socket, whoever sent it).
    h.ok(&["pause", "ticker"]);
    journal.wait_entry("taskmaster", &["ticker", "paused"]);
    journal.stop_journald();
    h.ok(&["resume", "ticker"]);
    let resumed_at = read_counter();
    wait_until("the ticker writes on while journald is down", || {
        read_counter() >= resumed_at + 20
    });
    h.ok(&["pause", "ticker"]);
    h.wait_log(&["ticker", "paused: PAUSED"]);
    let last = read_counter();
    journal.start_journald();
    journal.wait_entry("ticker", &[&format!("tick {last}")]);
    let ticks = journal.messages("ticker");
    let written = if ticks.last() == Some(&format!("tick {}", last + 1)) {
        last + 1
    } else {
        last
    };
    let expected: Vec<String> = (1..=written).map(|i| format!("tick {i}")).collect();
    assert_eq!(ticks, expected, "every line once, in order");
    // And the events of the outage, in the journal after it.
    journal.wait_entry("taskmaster", &["ticker", "resumed"]);
    let log = h.log_text();
    assert!(!log.contains("dropped"), "{log}");
    // Two outages, each reported once when it began and once when it ended.
    assert_eq!(log.matches("syslog: cannot send to").count(), 2, "{log}");
    h.wait_log(&["reachable again"]);
    wait_until("the second reconnect in the file", || {
        h.log_text().matches("reachable again").count() == 2
    });
}

#[test]
fn lines_of_a_reaped_process_go_out_as_the_daemons_with_the_services_pid_in_the_text() {
    let mut journal = Journal::new();
    journal.start_journald();
    let mut h = harness_in(&journal);
    let go = h.path("go");
    h.service(
        "oneshot",
        &format!(
            r#"service "oneshot" {{
    cmd "/bin/sh" "-c" "echo from the main process; while [ ! -e {} ]; do sleep 0.05; done; echo its last words; exit 0"
    starttime 0
    autorestart "never"
    stdout "syslog"
}}"#,
            go.display()
        ),
    );
    h.start();
    let daemon = h.daemon_pid();
    let first = journal.wait_entry("oneshot", &["from the main process"]);
    let service = first.pid.expect("SYSLOG_PID");
    assert_eq!(first.sender_pid, Some(service), "{first:?}");
    // The daemon is held while the service writes its last line and exits: once let go, it
    // reaps the process before it reads the pipe, as when a line comes late. Held means
    // stopped, not just sent SIGSTOP: a daemon waiting for a CPU stops only when it gets
    // one, and if the service has exited by then, SIGCHLD (a lower number) is taken first
    // and the poll it was in returns with the pipe ready and the signal pipe not yet.
    kill(daemon, libc::SIGSTOP);
    wait_until("the daemon to be stopped", || {
        proc_state(daemon) == Some('T')
    });
    touch(&go);
    wait_until("the service to have exited", || {
        proc_state(service).is_none_or(|state| state == 'Z')
    });
    kill(daemon, libc::SIGCONT);
    let late = journal.wait_entry("oneshot", &["its last words"]);
    assert_eq!(
        late.pid,
        Some(service),
        "the text still names the service's process"
    );
    assert_eq!(late.sender_pid, Some(daemon), "{late:?}");
    // What journalctl shows in brackets is the sender's pid (_PID), not the text's.
    let short = journal.short("oneshot");
    assert!(
        short.contains(&format!("oneshot[{daemon}]: its last words")),
        "{short}"
    );
    assert!(
        short.contains(&format!("oneshot[{service}]: from the main process")),
        "{short}"
    );
}

/// The state letter of a process (`R`, `S`, `Z`…), `None` once it is gone.
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}
