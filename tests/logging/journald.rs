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
}"#,
    );
    h.start();
    let daemon = h.daemon_pid();
    h.wait_state("web", "RUNNING");
    let web = h.pid("web").expect("web pid");

    let spawned = journal.wait_entry("taskmaster", &["web spawned with pid"]);
    assert_eq!(spawned.priority, 6, "info: {spawned:?}");
    assert_eq!(spawned.pid, Some(daemon), "{spawned:?}");
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
    let out = journal.wait_entry("web", &["hello from web"]);
    assert_eq!(
        (out.priority, out.pid, out.identifier.as_str()),
        (6, Some(web), "web")
    );
    let err = journal.wait_entry("web", &["trouble in web"]);
    assert_eq!((err.priority, err.pid), (4, Some(web)));
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
    h.service(
        "ticker",
        &format!(
            r#"service "ticker" {{
    cmd "/bin/sh" "-c" "i=0; while :; do i=$((i+1)); echo tick $i; echo $i > {}; sleep 0.02; done"
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
    let expected: Vec<String> = (1..=last).map(|i| format!("tick {i}")).collect();
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
