//! Boot, failed starts, the restart policy after RUNNING, spawn errors and essential services.

use super::*;

// ---- boot --------------------------------------------------------------------------------

#[test]
fn boot_starts_autostart_services_only() {
    let mut h = Harness::boot(config([svc("a"), svc("b").manual()]));
    h.expect_ops(&["spawn a 100"]);
    assert_eq!(h.state_of("a"), State::Starting);
    assert_eq!(h.pid_of("a"), Some(100));
    assert_eq!(h.state_of("b"), State::Stopped);
    assert_eq!(h.pid_of("b"), None);
    h.advance(secs(60));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("a"), State::Running);
    assert_eq!(h.state_of("b"), State::Stopped);
}

#[test]
fn nothing_happens_before_boot() {
    let mut h = Harness::new(config([svc("a")]));
    h.advance(secs(5));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("a"), State::Stopped);
}

#[test]
fn numprocs_three_gives_three_named_instances() {
    let mut h = Harness::boot(config([svc("w").numprocs(3), svc("one")]));
    h.expect_ops(&[
        "spawn one 100",
        "spawn w:0 101",
        "spawn w:1 102",
        "spawn w:2 103",
    ]);
    assert_eq!(h.listed(), ["one", "w:0", "w:1", "w:2"]);
    assert_eq!(h.sup.resolve(&names(&["w"])).unwrap().len(), 3);
    assert_eq!(h.sup.resolve(&names(&["w:2"])).unwrap(), vec![id("w:2")]);
    assert_eq!(
        h.sup.resolve(&names(&["w:3"])),
        Err("no such instance: w:3".to_string())
    );
    assert_eq!(h.sup.resolve(&names(&["all"])).unwrap().len(), 4);
    assert_eq!(h.status("w:1").service, "w");
}

#[test]
fn starting_becomes_running_only_after_starttime() {
    let mut h = Harness::boot(config([svc("web").starttime(ms(1500))]));
    h.expect_ops(&["spawn web 100"]);
    assert_eq!(h.deadline_in(), Some(ms(1500)));
    h.advance(ms(1499));
    assert_eq!(h.state_of("web"), State::Starting);
    h.advance(ms(1));
    assert_eq!(h.state_of("web"), State::Running);
    assert_eq!(h.pid_of("web"), Some(100));
    assert_eq!(h.deadline_in(), None);
    h.expect_ops(&[]);
    assert!(h
        .logs
        .contains(&"info: web (pid 100) is RUNNING".to_string()));
}

#[test]
fn starttime_zero_is_running_at_once() {
    let mut h = Harness::boot(config([svc("web").starttime(Duration::ZERO)]));
    h.expect_ops(&["spawn web 100"]);
    assert_eq!(h.state_of("web"), State::Running);
    assert_eq!(h.deadline_in(), None);
}

#[test]
fn starttime_counts_from_the_spawn_not_from_the_decision_to_fork() {
    // The loop answers a Spawn after fork and exec, which takes time on a loaded machine:
    // the process must then still stay up for the whole starttime.
    let mut sup = Supervisor::new(config([svc("web").starttime(secs(3))]));
    let t0 = Instant::now();
    let actions = sup.handle(Event::Boot, t0);
    assert!(actions.iter().any(|a| matches!(a, Action::Spawn { .. })));
    let exec_done = t0 + ms(200);
    sup.handle(
        Event::Spawned {
            purpose: Purpose::Main,
            id: id("web"),
            result: Ok(100),
        },
        exec_done,
    );
    assert_eq!(sup.next_deadline(), Some(exec_done + secs(3)));
    sup.handle(Event::Tick, t0 + secs(3));
    assert_eq!(
        sup.status_of(&id("web"), t0 + secs(3)).map(|s| s.state),
        Some("STARTING".to_string())
    );
    sup.handle(Event::Tick, exec_done + secs(3));
    let status = sup.status_of(&id("web"), exec_done + secs(4)).expect("web");
    assert_eq!(status.state, "RUNNING");
    // Up time counts from the spawn too.
    assert_eq!(status.uptime_secs, Some(4));
}

// ---- failed starts -------------------------------------------------------------------------

/// `startretries N` gives N+1 attempts, 250 ms, 500 ms, 1 s... apart, then FATAL.
#[test]
fn exits_before_starttime_back_off_with_growing_delays_then_fatal() {
    for retries in 0..=4u32 {
        let mut h = Harness::boot(config([svc("web").startretries(retries)]));
        let mut pid = FIRST_PID;
        h.expect_ops(&["spawn web 100"]);
        for attempt in 1..=retries + 1 {
            h.advance(ms(300)); // up for less than starttime (1 s)
            h.kill(pid, Code(1));
            if attempt <= retries {
                let delay = ms(250) * (1 << (attempt - 1));
                assert_eq!(h.state_of("web"), State::Backoff, "attempt {attempt}");
                assert_eq!(h.pid_of("web"), None);
                assert_eq!(h.deadline_in(), Some(delay), "attempt {attempt}");
                h.advance(delay - ms(1));
                h.expect_ops(&[]);
                h.advance(ms(1));
                pid += 1;
                h.expect_ops(&[&format!("spawn web {pid}")]);
                assert_eq!(h.state_of("web"), State::Starting);
            }
        }
        assert_eq!(h.state_of("web"), State::Fatal, "startretries {retries}");
        assert_eq!(
            h.detail_of("web").as_deref(),
            Some(
                format!(
                    "exited with exit code 1 before starttime, {} attempt(s), giving up",
                    retries + 1
                )
                .as_str()
            )
        );
        assert_eq!(h.deadline_in(), None);
        assert_eq!(h.status("web").restarts, retries);
        assert_eq!(h.status("web").exit_code, Some(1));
        h.advance(secs(120));
        h.expect_ops(&[]);
        assert_eq!(h.state_of("web"), State::Fatal);
    }
}

#[test]
fn startretries_two_is_three_attempts_and_logs_each() {
    let mut h = Harness::boot(config([svc("web").startretries(2)]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    h.advance(ms(250));
    h.advance(ms(100));
    h.kill(101, Sig(libc::SIGSEGV));
    h.advance(ms(500));
    h.advance(ms(100));
    h.kill(102, Code(1));
    h.expect_ops(&["spawn web 100", "spawn web 101", "spawn web 102"]);
    assert_eq!(h.state_of("web"), State::Fatal);
    let logs = h.take_logs();
    let notable: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("BACKOFF") || l.contains("FATAL"))
        .collect();
    assert_eq!(
        notable,
        [
            "warning: web (pid 100) exited with exit code 1 (unexpected) before starttime: BACKOFF, restart attempt 1/2 in 0.25s",
            "warning: web (pid 101) exited with signal SEGV (unexpected) before starttime: BACKOFF, restart attempt 2/2 in 0.50s",
            "error: web (pid 102) FATAL: exited with exit code 1 before starttime, 3 attempt(s), giving up",
        ]
    );
}

#[test]
fn retries_counter_resets_after_running() {
    let mut h = Harness::boot(config([svc("web").startretries(2)]));
    // Two failed starts use up both retries...
    h.advance(ms(100));
    h.kill(100, Code(1));
    h.advance(ms(250));
    h.advance(ms(100));
    h.kill(101, Code(1));
    h.advance(ms(500));
    // ...then the third attempt reaches RUNNING.
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&["spawn web 100", "spawn web 101", "spawn web 102"]);
    // A later crash and failed start count from zero again: BACKOFF after 250 ms, not FATAL.
    h.advance(secs(30));
    h.kill(102, Code(1));
    h.expect_ops(&["spawn web 103"]); // stable for 30 s: restarted at once
    h.advance(ms(100));
    h.kill(103, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    assert_eq!(h.deadline_in(), Some(ms(250)));
    h.advance(ms(250));
    h.advance(ms(100));
    h.kill(104, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    assert_eq!(h.deadline_in(), Some(ms(500)));
    h.advance(ms(500));
    h.advance(ms(100));
    h.kill(105, Code(1));
    assert_eq!(h.state_of("web"), State::Fatal);
    h.expect_ops(&["spawn web 104", "spawn web 105"]);
}

// ---- restart policy after RUNNING ----------------------------------------------------------

#[test]
fn autorestart_times_exitcodes_times_code_or_signal() {
    let table: &[(RestartPolicy, &[i32], ExitStatus, bool)] = &[
        (Always, &[0], Code(0), true),
        (Always, &[0], Code(1), true),
        (Always, &[0], Sig(TERM), true),
        (Never, &[0], Code(0), false),
        (Never, &[0], Code(1), false),
        (Never, &[0], Sig(KILL), false),
        (Unexpected, &[0], Code(0), false),
        (Unexpected, &[0], Code(1), true),
        (Unexpected, &[0, 2], Code(2), false),
        (Unexpected, &[0, 2], Code(1), true),
        (Unexpected, &[1], Code(0), true),
        (Unexpected, &[0], Sig(KILL), true),
        (Unexpected, &[0, 15], Sig(TERM), true), // a signal is never an expected exit
    ];
    for &(policy, codes, status, restarts) in table {
        let row = format!("{policy:?} {codes:?} {status:?}");
        let mut h = Harness::boot(config([svc("web").autorestart(policy).exitcodes(codes)]));
        h.advance(secs(1));
        assert_eq!(h.state_of("web"), State::Running, "{row}");
        h.advance(secs(20)); // stable: a restart would be immediate
        h.take_ops();
        h.kill(100, status);
        let st = h.status("web");
        match status {
            Code(c) => assert_eq!((st.exit_code, st.exit_signal), (Some(c), None), "{row}"),
            Sig(s) => assert_eq!(
                (st.exit_code, st.exit_signal),
                (None, Some(crate::signals::name(s))),
                "{row}"
            ),
        }
        if restarts {
            h.expect_ops(&["spawn web 101"]);
            assert_eq!(h.state_of("web"), State::Starting, "{row}");
            assert_eq!(st.restarts, 1, "{row}");
        } else {
            h.expect_ops(&[]);
            assert_eq!(h.state_of("web"), State::Exited, "{row}");
            assert_eq!(h.pid_of("web"), None, "{row}");
            assert_eq!(st.restarts, 0, "{row}");
            h.advance(secs(60));
            h.expect_ops(&[]);
            assert_eq!(h.state_of("web"), State::Exited, "{row}");
        }
    }
}

#[test]
fn exit_before_starttime_expected_code_is_exited_not_backoff() {
    let table: &[(RestartPolicy, &[i32], ExitStatus, State)] = &[
        (Unexpected, &[0], Code(0), State::Exited),
        (Never, &[0], Code(0), State::Exited),
        (Never, &[0, 3], Code(3), State::Exited),
        (Unexpected, &[0, 3], Code(3), State::Exited),
        (Never, &[0], Code(1), State::Backoff),
        (Unexpected, &[0], Code(1), State::Backoff),
        (Unexpected, &[0], Sig(TERM), State::Backoff),
        (Always, &[0], Code(0), State::Backoff),
    ];
    for &(policy, codes, status, want) in table {
        let row = format!("{policy:?} {codes:?} {status:?}");
        let mut h = Harness::boot(config([svc("web").autorestart(policy).exitcodes(codes)]));
        h.advance(ms(500));
        h.kill(100, status);
        assert_eq!(h.state_of("web"), want, "{row}");
        h.advance(secs(60));
        let respawned = h.take_ops().len() > 1;
        assert_eq!(respawned, want == State::Backoff, "{row}");
    }
}

#[test]
fn quick_crashes_after_running_restart_at_once_then_with_growing_delay() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.expect_ops(&["spawn web 100"]);
    // The first crash of a process that was RUNNING: restarted at once, no delay.
    h.advance(secs(2)); // RUNNING for 2 s: not stable
    h.kill(FIRST_PID, Code(1));
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(h.state_of("web"), State::Starting);
    assert_eq!(h.deadline_in(), Some(secs(1))); // the starttime timer, not a delay
    assert!(
        h.take_logs().iter().any(|l| l.contains("restarting now")),
        "the first crash is restarted now"
    );
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    // From the second quick crash on: a crash loop, with the growing delay.
    let mut pid = FIRST_PID + 1;
    for (crash, delay) in [(2, 250), (3, 500), (4, 1000), (5, 2000)] {
        h.advance(secs(2));
        h.kill(pid, Code(1));
        assert_eq!(h.state_of("web"), State::Pending, "crash {crash}");
        assert_eq!(h.pid_of("web"), None);
        assert_eq!(h.deadline_in(), Some(ms(delay)), "crash {crash}");
        assert_eq!(
            h.detail_of("web"),
            Some(format!("restart in {:.2}s", delay as f64 / 1000.0))
        );
        h.advance(ms(delay - 1));
        h.expect_ops(&[]);
        h.advance(ms(1));
        pid += 1;
        h.expect_ops(&[&format!("spawn web {pid}")]);
        assert_eq!(h.state_of("web"), State::Starting);
        h.advance(secs(1));
        assert_eq!(h.state_of("web"), State::Running);
        assert_eq!(h.status("web").restarts, crash);
    }
}

#[test]
fn stable_process_restarts_at_once_and_the_delay_starts_over() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    // Three quick crashes: at once, 250 ms, 500 ms; the next delay would be 1 s.
    h.advance(secs(1));
    h.kill(100, Code(1));
    h.advance(secs(1));
    h.advance(secs(1));
    h.kill(101, Code(1));
    h.advance(ms(250) + secs(1));
    h.advance(secs(1));
    h.kill(102, Code(1));
    h.advance(ms(500) + secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&[
        "spawn web 100",
        "spawn web 101",
        "spawn web 102",
        "spawn web 103",
    ]);
    // Up exactly STABLE_AFTER: restarted at once.
    h.advance(super::policy::STABLE_AFTER);
    h.kill(103, Code(1));
    h.expect_ops(&["spawn web 104"]);
    assert_eq!(h.state_of("web"), State::Starting);
    assert_eq!(h.deadline_in(), Some(secs(1))); // the starttime timer, not a delay
                                                // The next quick crash is the second of a new streak: 250 ms again, not 1 s.
    h.advance(secs(1));
    h.advance(secs(1));
    h.kill(104, Code(1));
    assert_eq!(h.deadline_in(), Some(ms(250)));
}

#[test]
fn up_just_short_of_stable_continues_the_streak() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.advance(super::policy::STABLE_AFTER - ms(1));
    h.kill(100, Code(1));
    // The first crash: at once.
    h.expect_ops(&["spawn web 100", "spawn web 101"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    // Up just short of stable again: a second quick crash, so it waits.
    h.advance(super::policy::STABLE_AFTER - ms(1));
    h.kill(101, Code(1));
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(h.deadline_in(), Some(ms(250)));
}

// ---- spawn errors and essential services ------------------------------------------------

#[test]
fn spawn_error_is_fatal_with_the_message_and_the_daemon_goes_on() {
    let mut h = Harness::new(config([svc("bad"), svc("good")]))
        .missing("bad")
        .booted();
    h.expect_ops(&["spawn bad failed", "spawn good 100"]);
    assert_eq!(h.state_of("bad"), State::Fatal);
    assert_eq!(h.pid_of("bad"), None);
    assert_eq!(
        h.detail_of("bad").as_deref(),
        Some("exec /bin/bad: No such file or directory")
    );
    assert!(h
        .logs
        .contains(&"error: bad FATAL: exec /bin/bad: No such file or directory".to_string()));
    h.advance(secs(60));
    h.expect_ops(&[]); // no retry of a program that cannot be executed
    assert_eq!(h.state_of("good"), State::Running);
    // A start request says why.
    let c = h.request(Command::Start {
        names: names(&["bad"]),
    });
    h.expect_ops(&["spawn bad failed"]);
    assert_eq!(
        h.reply(c),
        Some(outcome(
            false,
            &[(
                "bad",
                false,
                "FATAL: exec /bin/bad: No such file or directory"
            )]
        ))
    );
    assert_eq!(h.state_of("good"), State::Running);
}

#[test]
fn essential_service_going_fatal_asks_for_shutdown() {
    // Could not exec.
    let mut h = Harness::new(config([svc("db").essential()]))
        .missing("db")
        .booted();
    h.expect_ops(&["spawn db failed", "essential db"]);
    // Retries used up.
    let mut h = Harness::boot(config([svc("db").essential().startretries(0)]));
    h.advance(ms(10));
    h.kill(100, Code(1));
    h.expect_ops(&["spawn db 100", "essential db"]);
    // A failed oneshot.
    let mut h = Harness::boot(config([svc("init").essential().oneshot().startretries(0)]));
    h.kill(100, Code(2));
    h.expect_ops(&["spawn init 100", "essential init"]);
    // EXITED is not FATAL.
    let mut h = Harness::boot(config([svc("db").essential().autorestart(Never)]));
    h.advance(secs(2));
    h.kill(100, Code(1));
    h.expect_ops(&["spawn db 100"]);
    assert_eq!(h.state_of("db"), State::Exited);
    // Not essential: nothing.
    let mut h = Harness::new(config([svc("db")])).missing("db").booted();
    h.expect_ops(&["spawn db failed"]);
}

#[test]
fn a_transient_spawn_failure_backs_off_and_retries_instead_of_going_fatal() {
    let mut sup = Supervisor::new(config([svc("web").startretries(1)]));
    let t0 = Instant::now();
    sup.handle(Event::Boot, t0);
    let out_of_fds = || {
        Err(SpawnFailure {
            reason: "pipe for stdout: EMFILE: Too many open files".to_string(),
            transient: true,
        })
    };
    sup.handle(
        Event::Spawned {
            purpose: Purpose::Main,
            id: id("web"),
            result: out_of_fds(),
        },
        t0,
    );
    assert_eq!(
        sup.status_of(&id("web"), t0).map(|s| s.state),
        Some("BACKOFF".into())
    );
    assert_eq!(sup.next_deadline(), Some(t0 + ms(250)));
    let again = sup.handle(Event::Tick, t0 + ms(250));
    assert!(
        again.iter().any(|a| matches!(a, Action::Spawn { .. })),
        "{again:?}"
    );
    // Retries used up: FATAL with the reason.
    sup.handle(
        Event::Spawned {
            purpose: Purpose::Main,
            id: id("web"),
            result: out_of_fds(),
        },
        t0 + ms(250),
    );
    let status = sup.status_of(&id("web"), t0 + ms(250)).expect("web");
    assert_eq!(status.state, "FATAL");
    assert!(status.detail.is_some_and(|d| d.contains("EMFILE")));
}

#[test]
fn an_exec_failure_reported_after_fork_is_a_failed_spawn_and_its_exit_is_not_an_exit() {
    let mut h = Harness::new(config([svc("web"), svc("quick").starttime(secs(0))])).booted();
    h.expect_ops(&["spawn quick 100", "spawn web 101"]);
    let failure = || SpawnFailure {
        reason: "chdir /nope: No such file or directory".to_string(),
        transient: false,
    };
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.feed(Event::ExecFailed {
        id: id("web"),
        pid: 101,
        failure: failure(),
    });
    assert_eq!(h.state_of("web"), State::Fatal);
    assert_eq!(h.pid_of("web"), None);
    assert_eq!(
        h.detail_of("web").as_deref(),
        Some("chdir /nope: No such file or directory")
    );
    assert_eq!(
        h.reply(c),
        Some(outcome(
            false,
            &[(
                "web",
                false,
                "FATAL: chdir /nope: No such file or directory"
            )]
        ))
    );
    // The child's exit 127, reaped after the report, changes nothing.
    h.kill(101, Code(127));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("web"), State::Fatal);
    // Already RUNNING (starttime 0): the failure still makes it FATAL.
    h.feed(Event::ExecFailed {
        id: id("quick"),
        pid: 100,
        failure: failure(),
    });
    assert_eq!(h.state_of("quick"), State::Fatal);
    // A report about a pid the instance no longer has is ignored.
    h.feed(Event::ExecFailed {
        id: id("quick"),
        pid: 555,
        failure: failure(),
    });
    assert_eq!(h.state_of("quick"), State::Fatal);
}
