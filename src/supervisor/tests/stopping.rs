//! Stopping (stop signal, SIGKILL after stoptime) and pause/resume.

use super::*;

// ---- stop ----------------------------------------------------------------------------------

/// What one loop turn reaped goes to the core as one batch: each exit is handled as it
/// would be alone, the exits are published in the order they came, and the daemon is told
/// to exit once, after the last.
#[test]
fn a_shutdown_reaped_in_one_batch_ends_as_one_exit_at_a_time_would() {
    let mut h = Harness::boot(config([svc("a"), svc("b"), svc("c")]));
    h.advance(secs(1));
    h.take_ops();
    h.published.clear();
    h.feed(Event::Shutdown);
    h.expect_ops(&[
        "signal 100 TERM group",
        "signal 101 TERM group",
        "signal 102 TERM group",
    ]);
    h.published.clear();
    h.feed_all(vec![
        Event::Exited {
            pid: 102,
            status: Sig(TERM),
        },
        Event::Exited {
            pid: 9999, // an orphan: nothing to do with any service
            status: Code(0),
        },
        Event::Exited {
            pid: 100,
            status: Sig(TERM),
        },
    ]);
    h.expect_ops(&["signal 102 KILL group", "signal 100 KILL group"]);
    assert_eq!(h.state_of("a"), State::Stopped);
    assert_eq!(h.state_of("b"), State::Stopping);
    assert_eq!(h.state_of("c"), State::Stopped);
    assert_eq!(
        std::mem::take(&mut h.published),
        ["c exit", "a exit", "a STOPPED", "c STOPPED"]
    );
    h.feed_all(vec![Event::Exited {
        pid: 101,
        status: Sig(TERM),
    }]);
    h.expect_ops(&["signal 101 KILL group", "exit"]);
}

/// Two crashes reaped together are both restarted, each once.
#[test]
fn crashes_reaped_in_one_batch_are_each_restarted_once() {
    let mut h = Harness::boot(config([
        svc("a").autorestart(Always),
        svc("b").autorestart(Always),
    ]));
    h.advance(secs(2));
    h.take_ops();
    h.feed_all(vec![
        Event::Exited {
            pid: 101,
            status: Sig(KILL),
        },
        Event::Exited {
            pid: 100,
            status: Sig(KILL),
        },
    ]);
    h.expect_ops(&["spawn a 102", "spawn b 103"]);
    assert_eq!(h.pid_of("a"), Some(102));
    assert_eq!(h.pid_of("b"), Some(103));
}

#[test]
fn stop_sends_stopsignal_to_the_group_then_sigkill_after_stoptime() {
    let mut h = Harness::boot(config([svc("web")
        .stopsignal(libc::SIGINT)
        .stoptime(secs(5))
        .autorestart(Always)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 INT group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    assert_eq!(h.deadline_in(), Some(secs(5)));
    assert_eq!(h.reply(c), None);
    h.advance(ms(4999));
    h.expect_ops(&[]);
    h.advance(ms(1));
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    assert_eq!(h.deadline_in(), None);
    assert_eq!(h.reply(c), None);
    h.kill(100, Sig(KILL));
    // The group is killed once more so that no leftover outlives the stop.
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.pid_of("web"), None);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
    assert_eq!(h.status("web").exit_signal.as_deref(), Some("KILL"));
    // Stopped by request: not restarted, whatever autorestart says.
    h.advance(secs(60));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("web"), State::Stopped);
}

#[test]
fn stop_kill_sends_sigkill_to_the_group_at_once_even_before_dependents_are_down() {
    let mut h = Harness::boot(config([
        svc("db").stoptime(secs(30)),
        svc("web").requires(&["db"]).stoptime(secs(30)),
    ]));
    h.advance(secs(2));
    h.take_ops();
    let c = h.request(Command::Kill {
        names: names(&["db"]),
    });
    // db is killed now; web, which requires it, gets its graceful stop.
    let ops = h.take_ops();
    assert!(
        ops.contains(&"signal 100 KILL group".to_string()),
        "{ops:?}"
    );
    assert!(
        ops.contains(&"signal 101 TERM group".to_string()),
        "{ops:?}"
    );
    assert_eq!(h.state_of("db"), State::Stopping);
    h.kill(100, Sig(KILL));
    h.kill(101, Code(0));
    assert_eq!(h.state_of("db"), State::Stopped);
    match h.reply(c) {
        Some(Reply::Outcome { ok: true, results }) => assert_eq!(results.len(), 2),
        other => panic!("{other:?}"),
    }
    // A graceful stop that hangs is cut short by a kill.
    h.request(Command::Start {
        names: names(&["db"]),
    });
    h.advance(secs(2));
    h.take_ops();
    h.request(Command::Stop {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 102 TERM group"]);
    h.request(Command::Kill {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 102 KILL group"]);
}

#[test]
fn stop_that_is_obeyed_needs_no_sigkill_timer() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.advance(secs(2));
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 TERM group", "signal 100 KILL group"]);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
    assert_eq!(h.deadline_in(), None);
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn stopping_a_paused_process_sends_its_stop_signal_then_sigcont() {
    let mut h = Harness::boot(config([svc("web").stopsignal(libc::SIGQUIT)]));
    h.advance(secs(1));
    h.feed(Event::Stopped { pid: 100 });
    assert_eq!(h.state_of("web"), State::Paused);
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 QUIT group", "signal 100 CONT group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    h.kill(100, Sig(libc::SIGQUIT));
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
}

#[test]
fn stop_from_backoff_is_stopped_at_once() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&[]);
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.detail_of("web"), None);
    assert_eq!(h.deadline_in(), None);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn stop_during_a_restart_delay_is_stopped_at_once() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(2));
    h.kill(100, Code(1)); // the first crash: restarted at once
    h.advance(secs(2));
    h.kill(101, Code(1)); // the second quick crash: restarted after a delay
    assert_eq!(h.state_of("web"), State::Pending);
    assert!(h.deadline_in().is_some());
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["web"]),
    });
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn stop_while_starting_and_stop_of_something_stopped() {
    let mut h = Harness::boot(config([svc("web"), svc("off").manual()]));
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["web", "off"]),
    });
    h.expect_ops(&["signal 100 TERM group"]);
    assert_eq!(h.deadline_in(), Some(secs(10))); // stoptime replaces the starttime timer
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Stopping); // never RUNNING
    h.kill(100, Sig(TERM));
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.status("web").restarts, 0);
    assert_eq!(
        h.reply(c),
        Some(outcome(
            true,
            &[("web", true, "STOPPED"), ("off", true, "STOPPED")]
        ))
    );
}

#[test]
fn a_stop_request_wins_over_a_restart_in_progress() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    let restart = h.request(Command::Restart {
        names: names(&["web"]),
    });
    let stop = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 100", "signal 100 TERM group"]);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(
        h.reply(stop),
        Some(outcome(true, &[("web", true, "STOPPED")]))
    );
    assert_eq!(
        h.reply(restart),
        Some(reported(
            false,
            &[("web", "restart failed", false, "STOPPED")]
        ))
    );
}

// ---- pause / resume ------------------------------------------------------------------------

#[test]
fn sigstop_and_sigcont_from_outside_move_running_and_paused() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.feed(Event::Stopped { pid: 100 });
    assert_eq!(h.state_of("web"), State::Paused);
    assert_eq!(h.status("web").state, "PAUSED");
    assert_eq!(h.pid_of("web"), Some(100));
    h.feed(Event::Continued { pid: 100 });
    assert_eq!(h.state_of("web"), State::Running);
    let logs = h.take_logs();
    assert!(logs.ends_with(&[
        "info: web (pid 100) paused: PAUSED".to_string(),
        "info: web (pid 100) resumed: RUNNING".to_string(),
    ]));
    // Unknown pids (orphans) are ignored.
    h.feed(Event::Stopped { pid: 999 });
    h.feed(Event::Continued { pid: 999 });
    h.feed(Event::Exited {
        pid: 999,
        status: Code(0),
    });
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&["spawn web 100"]);
}

#[test]
fn pause_and_resume_requests_signal_the_group_and_state_follows_waitpid() {
    let mut h = Harness::boot(config([svc("web"), svc("off").manual()]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Command::Pause {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 STOP group"]);
    assert_eq!(
        h.reply(c),
        Some(Reply::Ok {
            lines: names(&["web: sent SIGSTOP to pid 100"])
        })
    );
    assert_eq!(h.state_of("web"), State::Running); // until waitpid says so
    h.feed(Event::Stopped { pid: 100 });
    assert_eq!(h.state_of("web"), State::Paused);
    let c = h.request(Command::Resume {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 CONT group"]);
    assert!(matches!(h.reply(c), Some(Reply::Ok { .. })));
    h.feed(Event::Continued { pid: 100 });
    assert_eq!(h.state_of("web"), State::Running);
    // `signal` goes to the main process only.
    let c = h.request(Command::Signal {
        signal: "hup".to_string(),
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 HUP pid"]);
    assert_eq!(
        h.reply(c),
        Some(Reply::Ok {
            lines: names(&["web: sent SIGHUP to pid 100"])
        })
    );
    // Nothing to pause.
    let c = h.request(Command::Pause {
        names: names(&["off"]),
    });
    h.expect_ops(&[]);
    assert_eq!(
        h.reply(c),
        Some(error(Refusal::NotRunning, "not running: off"))
    );
}

#[test]
fn time_spent_paused_does_not_count_towards_starttime() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(ms(400));
    h.feed(Event::Stopped { pid: 100 });
    h.advance(secs(5));
    assert_eq!(h.state_of("web"), State::Paused);
    h.feed(Event::Continued { pid: 100 });
    assert_eq!(h.state_of("web"), State::Starting);
    assert_eq!(h.deadline_in(), Some(secs(1)));
    h.advance(ms(999));
    assert_eq!(h.state_of("web"), State::Starting);
    h.advance(ms(1));
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&["spawn web 100"]);
}

#[test]
fn a_paused_process_that_dies_follows_the_restart_policy() {
    // Paused while RUNNING: a crash after RUNNING.
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(20));
    h.feed(Event::Stopped { pid: 100 });
    h.kill(100, Sig(KILL));
    h.expect_ops(&["spawn web 100", "spawn web 101"]);
    assert_eq!(h.state_of("web"), State::Starting);
    // Paused while STARTING: a failed start.
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(ms(100));
    h.feed(Event::Stopped { pid: 100 });
    h.kill(100, Sig(KILL));
    assert_eq!(h.state_of("web"), State::Backoff);
}

#[test]
fn signal_to_a_service_with_a_stopped_instance_says_what_happened_to_each() {
    let mut h = Harness::boot(config([svc("pool").numprocs(3)]));
    h.advance(secs(1));
    h.request(Command::Stop {
        names: names(&["pool:1"]),
    });
    h.feed(Event::Exited {
        pid: 101,
        status: ExitStatus::Signal(libc::SIGTERM),
    });
    assert_eq!(h.state_of("pool:1"), State::Stopped);
    h.take_ops();
    let c = h.request(Command::Signal {
        signal: "TERM".to_string(),
        names: names(&["pool"]),
    });
    h.expect_ops(&["signal 100 TERM pid", "signal 102 TERM pid"]);
    let outcome = |name: &str, ok: bool, message: &str| InstanceOutcome {
        name: name.into(),
        action: None,
        ok,
        message: message.into(),
    };
    assert_eq!(
        h.reply(c),
        Some(Reply::Outcome {
            ok: false,
            results: vec![
                outcome("pool:0", true, "sent SIGTERM to pid 100"),
                outcome("pool:1", false, "not running (STOPPED)"),
                outcome("pool:2", true, "sent SIGTERM to pid 102"),
            ]
        })
    );
}
