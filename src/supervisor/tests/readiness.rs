//! Readiness in the core: notify messages and who may send them, the ready timeout, the
//! watchdog, the restart limit, and what an automatic restart does to dependents.

use super::*;
use crate::config::{Readiness, RestartLimit};
use crate::supervisor::notify::{NotifyMessage, ProcessFacts};

impl Svc {
    fn ready_timeout(mut self, d: Duration) -> Svc {
        self.0.policy.ready_timeout = d;
        self
    }
    fn watchdog(mut self, d: Duration) -> Svc {
        Arc::make_mut(&mut self.0.process).watchdog = Some(d);
        self
    }
    fn restart_limit(mut self, count: u32, window: Duration) -> Svc {
        self.0.policy.restart_limit = Some(RestartLimit { count, window });
        self
    }
    fn fd_ready(mut self) -> Svc {
        Arc::make_mut(&mut self.0.process).ready = Readiness::Fd(3);
        self
    }
}

/// A process as the loop would describe it: its own group and session unless given.
fn facts(pid: i32, uid: u32, group: i32, ancestors: &[i32]) -> ProcessFacts {
    ProcessFacts {
        pid,
        uid,
        pgid: Some(group),
        sid: Some(group),
        ancestors: ancestors.to_vec(),
    }
}

impl Harness {
    fn notify(&mut self, sender: ProcessFacts, text: &str) {
        self.notify_main(sender, text, None);
    }
    fn notify_main(&mut self, sender: ProcessFacts, text: &str, main_pid: Option<ProcessFacts>) {
        self.feed(Event::Notify {
            sender,
            message: NotifyMessage::parse(text.as_bytes()),
            main_pid,
        });
    }
}

#[test]
fn notify_is_starting_until_ready_then_dependents_start_at_once() {
    let mut h = Harness::boot(config([svc("db").notify(), svc("web").requires(&["db"])]));
    h.expect_ops(&["spawn db 100"]);
    // starttime (1 s) does not apply: it waits for its word.
    h.advance(secs(30));
    assert_eq!(h.state_of("db"), State::Starting);
    h.expect_ops(&[]);
    h.notify(facts(100, 0, 100, &[1]), "STATUS=loading tables");
    assert_eq!(h.status("db").detail.as_deref(), Some("loading tables"));
    h.notify(
        facts(100, 0, 100, &[1]),
        "READY=1\nSTATUS=Processing requests...",
    );
    assert_eq!(h.state_of("db"), State::Running);
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(
        h.status("db").detail.as_deref(),
        Some("Processing requests...")
    );
}

#[test]
fn an_empty_status_clears_the_detail_and_boxes_nothing() {
    let mut h = Harness::boot(config([svc("db").notify()]));
    h.take_ops();
    // Nothing to clear: the instance's seldom part stays unallocated.
    h.notify(facts(100, 0, 100, &[1]), "STATUS=");
    assert!(!h.instance("db").seldom.is_boxed());
    h.notify(facts(100, 0, 100, &[1]), "STATUS=loading tables");
    assert_eq!(h.status("db").detail.as_deref(), Some("loading tables"));
    h.notify(facts(100, 0, 100, &[1]), "STATUS=");
    assert_eq!(h.status("db").detail, None);
}

#[test]
fn a_child_in_the_instances_session_may_say_ready_a_stranger_may_not() {
    let mut h = Harness::boot(config([
        svc("db").notify(),
        svc("other").notify(),
        svc("plain"),
    ]));
    h.take_ops();
    // Another service's process (plain, pid 102) and a process of nobody's.
    h.notify(facts(102, 0, 102, &[1]), "READY=1");
    h.notify(facts(555, 65534, 555, &[1]), "READY=1");
    h.notify(facts(555, 65534, 555, &[1]), "READY=1");
    assert_eq!(h.state_of("db"), State::Starting);
    assert_eq!(h.state_of("other"), State::Starting);
    let logs = h.take_logs();
    let ignored: Vec<&String> = logs.iter().filter(|l| l.contains("ignored")).collect();
    assert_eq!(ignored.len(), 2, "logged once per sender: {logs:?}");
    assert!(ignored[1].contains("pid 555 (uid 65534)"), "{ignored:?}");
    // A helper db's main process started (systemd-notify): same session, parent 100.
    h.notify(facts(777, 0, 100, &[100, 1]), "READY=1");
    assert_eq!(h.state_of("db"), State::Running);
    assert_eq!(h.state_of("other"), State::Starting);
}

#[test]
fn mainpid_moves_the_main_process_to_one_of_the_instance() {
    let mut h = Harness::boot(config([svc("d").notify()]));
    h.take_ops();
    // The main process forked 200 in its session, says so, then exits.
    h.notify_main(
        facts(100, 1000, 100, &[1]),
        "MAINPID=200\nREADY=1",
        Some(facts(200, 1000, 100, &[100])),
    );
    assert_eq!(h.pid_of("d"), Some(200));
    assert_eq!(h.state_of("d"), State::Running);
    h.feed(Event::Exited {
        pid: 100,
        status: Code(0),
    });
    assert_eq!(
        h.state_of("d"),
        State::Running,
        "the old main pid is forgotten"
    );
    // A non-root claim on a process outside the instance changes nothing.
    h.notify_main(
        facts(200, 1000, 100, &[1]),
        "MAINPID=999",
        Some(facts(999, 1000, 999, &[1])),
    );
    assert_eq!(h.pid_of("d"), Some(200));
    assert!(h
        .take_logs()
        .iter()
        .any(|l| l.contains("ignored MAINPID=999")));
    // Its exit is the instance's exit.
    h.alive.insert(200, vec![]);
    h.kill(200, Sig(KILL));
    assert_ne!(h.pid_of("d"), Some(200));
    assert!(
        h.take_logs()
            .iter()
            .any(|l| l.contains("(pid 200) exited with signal KILL")),
        "the exit of pid 200 is the instance's"
    );
}

#[test]
fn a_root_daemon_that_left_its_session_is_followed_on_its_word() {
    let mut h = Harness::boot(config([svc("d").notify()]));
    h.take_ops();
    h.notify_main(
        facts(100, 0, 100, &[1]),
        "MAINPID=300",
        Some(facts(300, 0, 300, &[1])),
    );
    assert_eq!(h.pid_of("d"), Some(300));
    // The new main process, in a session of its own, is now the instance's.
    h.notify(facts(300, 0, 300, &[1]), "READY=1");
    assert_eq!(h.state_of("d"), State::Running);
}

#[test]
fn never_ready_is_a_failed_start_with_retries_then_fatal() {
    let mut h = Harness::boot(config([svc("d")
        .notify()
        .ready_timeout(secs(5))
        .startretries(1)]));
    h.expect_ops(&["spawn d 100"]);
    h.advance(secs(5));
    h.expect_ops(&["signal 100 TERM group"]);
    assert_eq!(h.state_of("d"), State::Stopping);
    h.kill(100, Sig(TERM));
    // What is left of its process group goes with it.
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("d"), State::Backoff);
    assert!(h
        .detail_of("d")
        .unwrap()
        .contains("without reporting ready"));
    h.advance(ms(250));
    h.expect_ops(&["spawn d 101"]);
    h.advance(secs(5));
    h.expect_ops(&["signal 101 TERM group"]);
    h.kill(101, Code(0));
    assert_eq!(h.state_of("d"), State::Fatal);
}

#[test]
fn extend_timeout_usec_pushes_the_ready_timeout() {
    let mut h = Harness::boot(config([svc("d").notify().ready_timeout(secs(5))]));
    h.take_ops();
    h.advance(secs(4));
    h.notify(facts(100, 0, 100, &[1]), "EXTEND_TIMEOUT_USEC=10000000");
    h.advance(secs(9));
    h.expect_ops(&[]);
    h.advance(secs(2));
    h.expect_ops(&["signal 100 TERM group"]);
}

#[test]
fn a_silent_watchdog_gets_sigabrt_then_sigkill_and_a_restart() {
    let mut h = Harness::boot(config([svc("d").notify().watchdog(secs(2))]));
    h.take_ops();
    h.notify(facts(100, 0, 100, &[1]), "READY=1");
    for _ in 0..3 {
        h.advance(ms(1500));
        h.notify(facts(100, 0, 100, &[1]), "WATCHDOG=1");
    }
    h.expect_ops(&[]);
    h.advance(secs(2));
    h.expect_ops(&["signal 100 ABRT pid"]);
    assert_eq!(h.state_of("d"), State::Stopping);
    h.advance(secs(10));
    h.expect_ops(&["signal 100 KILL group"]);
    h.kill(100, Sig(KILL));
    // Restarted per autorestart "unexpected" (it ran 14 s: stable, so at once).
    h.expect_ops(&["signal 100 KILL group", "spawn d 101"]);
    assert_eq!(h.status("d").restarts, 1);
}

#[test]
fn the_restart_limit_makes_it_fatal_and_start_resets_it() {
    let mut h = Harness::boot(config([svc("d")
        .autorestart(Always)
        .restart_limit(2, secs(60))]));
    for pid in 100..102 {
        h.advance(secs(11));
        h.kill(pid, Code(1));
    }
    h.advance(secs(11));
    h.take_ops();
    h.take_logs();
    h.kill(102, Code(1));
    assert_eq!(h.state_of("d"), State::Fatal);
    assert_eq!(
        h.detail_of("d").as_deref(),
        Some("restart limit: 2 restarts in 60 s")
    );
    assert!(h
        .take_logs()
        .iter()
        .any(|l| l.contains("FATAL: restart limit: 2 restarts in 60 s")));
    h.expect_ops(&[]);
    h.request(Command::Start {
        names: names(&["d"]),
    });
    h.expect_ops(&["spawn d 103"]);
    h.advance(secs(11));
    h.kill(103, Code(1));
    h.expect_ops(&["spawn d 104"]);
    assert_eq!(h.state_of("d"), State::Starting, "the count started again");
}

#[test]
fn fd_readiness_counts_only_for_the_current_process() {
    let mut h = Harness::boot(config([svc("d").fd_ready()]));
    h.take_ops();
    h.feed(Event::FdReady {
        id: id("d"),
        pid: 99,
    });
    assert_eq!(h.state_of("d"), State::Starting);
    h.feed(Event::FdReady {
        id: id("d"),
        pid: 100,
    });
    assert_eq!(h.state_of("d"), State::Running);
}

#[test]
fn requires_stays_up_through_an_automatic_restart_binds_to_is_bounced() {
    let mut h = Harness::boot(config([
        svc("redis"),
        svc("app").requires(&["redis"]),
        svc("sidecar").binds_to(&["redis"]),
    ]));
    h.advance(secs(3));
    h.take_ops();
    h.kill(100, Code(1));
    // Only the bound one goes down; the app keeps its pid.
    let app = h.pid_of("app");
    let bound = h.pid_of("sidecar").unwrap();
    h.expect_ops(&[&format!("signal {bound} TERM group"), "spawn redis 103"]);
    assert_eq!(h.state_of("app"), State::Running);
    h.advance(ms(250));
    assert_eq!(h.pid_of("app"), app);
    // An explicit restart of redis still goes through what requires it first.
    h.advance(secs(5));
    h.take_ops();
    h.request(Command::Restart {
        names: names(&["redis"]),
    });
    let ops = h.take_ops();
    assert!(
        ops.contains(&format!("signal {} TERM group", app.unwrap())),
        "{ops:?}"
    );
}

#[test]
fn a_finished_oneshot_restarts_and_stops_like_any_dependency() {
    let mut h = Harness::boot(config([
        svc("migrate").oneshot(),
        svc("app").requires(&["migrate"]),
    ]));
    h.expect_ops(&["spawn migrate 100"]);
    h.kill(100, Code(0));
    h.expect_ops(&["spawn app 101"]);
    h.advance(secs(2));
    // restart migrate: app stops first, migrate runs again, then app comes back.
    h.request(Command::Restart {
        names: names(&["migrate"]),
    });
    h.expect_ops(&["signal 101 TERM group"]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "spawn migrate 102"]);
    assert_eq!(h.state_of("app"), State::Pending);
    h.kill(102, Code(0));
    h.expect_ops(&["spawn app 103"]);
    h.advance(secs(2));
    // stop migrate: app stops too, and migrate is STOPPED (it runs again when pulled in).
    h.request(Command::Stop {
        names: names(&["migrate"]),
    });
    h.expect_ops(&["signal 103 TERM group"]);
    h.kill(103, Sig(TERM));
    assert_eq!(h.state_of("migrate"), State::Stopped);
    assert_eq!(h.state_of("app"), State::Stopped);
    h.take_ops();
    h.request(Command::Start {
        names: names(&["app"]),
    });
    h.expect_ops(&["spawn migrate 104"]);
}
