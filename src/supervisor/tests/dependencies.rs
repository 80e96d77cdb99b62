//! Dependencies: order, failures, oneshots, stop and shutdown order, bounces.

use super::*;

// ---- dependencies ------------------------------------------------------------------------

#[test]
fn requires_chain_starts_in_order_each_after_the_previous_is_running() {
    // Name order (app, cache, db) is the opposite of the dependency order.
    let mut h = Harness::boot(config([
        svc("app").requires(&["cache"]),
        svc("cache").requires(&["db"]),
        svc("db"),
    ]));
    h.expect_ops(&["spawn db 100"]);
    assert_eq!(h.state_of("cache"), State::Pending);
    assert_eq!(h.detail_of("cache").as_deref(), Some("waiting for db"));
    assert_eq!(h.detail_of("app").as_deref(), Some("waiting for cache"));
    h.advance(ms(999));
    h.expect_ops(&[]);
    h.advance(ms(1));
    h.expect_ops(&["spawn cache 101"]);
    assert_eq!(h.state_of("app"), State::Pending);
    h.advance(secs(1));
    h.expect_ops(&["spawn app 102"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("app"), State::Running);
    assert_eq!(h.detail_of("app"), None);
}

#[test]
fn diamond_waits_for_both_sides() {
    let mut h = Harness::boot(config([
        svc("a_top").requires(&["b_left", "c_right"]),
        svc("b_left").requires(&["d_base"]),
        svc("c_right").requires(&["d_base"]).starttime(secs(2)),
        svc("d_base"),
    ]));
    h.expect_ops(&["spawn d_base 100"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn b_left 101", "spawn c_right 102"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("b_left"), State::Running);
    assert_eq!(h.state_of("c_right"), State::Starting);
    h.expect_ops(&[]);
    h.advance(secs(1));
    h.expect_ops(&["spawn a_top 103"]);
}

#[test]
fn independent_services_start_at_once_without_waves() {
    let mut h = Harness::boot(config([
        svc("fast"),
        svc("free").starttime(Duration::ZERO),
        svc("needs_fast").requires(&["fast"]),
        svc("needs_slow").requires(&["slow"]),
        svc("slow").starttime(secs(30)),
    ]));
    h.expect_ops(&["spawn fast 100", "spawn free 101", "spawn slow 102"]);
    // What waits for `fast` goes as soon as `fast` is up, not when everything is.
    h.advance(secs(1));
    h.expect_ops(&["spawn needs_fast 103"]);
    assert_eq!(h.state_of("slow"), State::Starting);
    h.advance(secs(29));
    h.expect_ops(&["spawn needs_slow 104"]);
}

#[test]
fn failed_required_dependency_holds_the_dependent_pending_and_start_replies() {
    let mut h = Harness::boot(config([
        svc("db").startretries(0),
        svc("web").requires(&["db"]),
    ]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("db"), State::Fatal);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(
        h.detail_of("web").as_deref(),
        Some("dependency db is FATAL")
    );
    let held: Vec<String> = h
        .take_logs()
        .into_iter()
        .filter(|l| l.contains("held back"))
        .collect();
    assert_eq!(
        held,
        ["warning: web held back: dependency db is FATAL: PENDING"]
    );
    h.advance(secs(60));
    h.expect_ops(&["spawn db 100"]);
    assert!(h.take_logs().iter().all(|l| !l.contains("held back"))); // said once
                                                                     // Starting web gives db a new try; when that fails too, the start says why.
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn db 101"]);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(h.reply(c), None);
    h.advance(ms(100));
    h.kill(101, Code(1));
    // Both are named: what was asked for, and the requirement started for it.
    let mut said = outcome(
        false,
        &[
            ("web", false, "PENDING: dependency db is FATAL"),
            (
                "db",
                false,
                "FATAL: exited with exit code 1 before starttime, 1 attempt(s), giving up",
            ),
        ],
    );
    if let Reply::Outcome { results, .. } = &mut said {
        results[1].action = Some("started for web".to_string());
    }
    assert_eq!(h.reply(c), Some(said));
    // Once db runs, web follows by itself.
    let c = h.request(Command::Start {
        names: names(&["db"]),
    });
    h.advance(secs(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("db", true, "RUNNING")])));
    h.expect_ops(&["spawn db 102", "spawn web 103"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
}

#[test]
fn spawn_error_of_a_required_dependency_blocks_at_once() {
    let mut h = Harness::new(config([svc("db"), svc("web").requires(&["db"])]))
        .missing("db")
        .booted();
    h.expect_ops(&["spawn db failed"]);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(
        h.detail_of("web").as_deref(),
        Some("dependency db is FATAL")
    );
}

#[test]
fn a_service_held_back_by_a_failed_dependency_does_not_hold_back_what_orders_after_it() {
    // journald fails; devlog requires it and is held back; worker is only `after` devlog
    // and must not wait forever; httpd requires devlog and is held back in turn.
    let mut h = Harness::new(config([
        svc("journald"),
        svc("devlog").requires(&["journald"]),
        svc("worker").after(&["devlog"]),
        svc("httpd").requires(&["devlog"]),
    ]))
    .missing("journald")
    .booted();
    h.expect_ops(&["spawn journald failed", "spawn worker 100"]);
    assert_eq!(h.state_of("devlog"), State::Pending);
    assert_eq!(
        h.detail_of("devlog").as_deref(),
        Some("dependency journald is FATAL")
    );
    assert_eq!(h.state_of("httpd"), State::Pending);
    assert_eq!(
        h.detail_of("httpd").as_deref(),
        Some("dependency devlog is held back")
    );
}

#[test]
fn a_wanted_dependency_is_pulled_in_and_waited_for_but_its_failure_does_not_block() {
    let mut h = Harness::boot(config([
        svc("cache").manual().startretries(0),
        svc("web").wants(&["cache"]),
    ]));
    h.expect_ops(&["spawn cache 100"]);
    assert_eq!(h.detail_of("web").as_deref(), Some("waiting for cache"));
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("cache"), State::Fatal);
    h.expect_ops(&["spawn web 101"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    // And a wanted dependency that stops later takes nothing down with it.
    let mut h = Harness::boot(config([svc("cache"), svc("web").wants(&["cache"])]));
    h.advance(secs(2));
    h.take_ops();
    h.kill(100, Code(1));
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&["spawn cache 102"]);
    let c = h.request(Command::Stop {
        names: names(&["cache"]),
    });
    h.kill(102, Sig(TERM));
    h.expect_ops(&["signal 102 TERM group", "signal 102 KILL group"]);
    assert!(h.reply(c).is_some());
    assert_eq!(h.state_of("web"), State::Running);
}

#[test]
fn after_only_orders() {
    // Nothing is pulled in: db is not asked to run, web goes at once.
    let mut h = Harness::boot(config([svc("db").manual(), svc("web").after(&["db"])]));
    h.expect_ops(&["spawn web 100"]);
    assert_eq!(h.state_of("db"), State::Stopped);
    let c = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.kill(100, Sig(TERM));
    assert!(h.reply(c).is_some());
    h.take_ops();
    h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(h.state_of("db"), State::Stopped);
    // When both start, web waits until db is RUNNING.
    let mut h = Harness::boot(config([svc("db"), svc("web").after(&["db"])]));
    h.expect_ops(&["spawn db 100"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 101"]);
    // ...or has failed.
    let mut h = Harness::boot(config([
        svc("db").startretries(0),
        svc("web").after(&["db"]),
    ]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    h.expect_ops(&["spawn db 100", "spawn web 101"]);
    // db stopping does not stop web.
    let mut h = Harness::boot(config([svc("db"), svc("web").after(&["db"])]));
    h.advance(secs(2));
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 100 TERM group"]);
    h.kill(100, Sig(TERM));
    assert!(h.reply(c).is_some());
    assert_eq!(h.state_of("web"), State::Running);
}

#[test]
fn before_is_after_seen_from_the_other_side() {
    let mut h = Harness::boot(config([svc("db").before(&["web"]), svc("web")]));
    h.expect_ops(&["spawn db 100"]);
    assert_eq!(h.detail_of("web").as_deref(), Some("waiting for db"));
    h.advance(secs(1));
    h.expect_ops(&["spawn web 101"]);
    // And at shutdown, web stops first.
    h.advance(secs(1));
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 101 TERM group"]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 100 TERM group"]);
}

/// journald <- devlog (a oneshot that links /dev/log, finished) <- sshd: at shutdown journald
/// waits for sshd, though what is between them has no process any more.
#[test]
fn shutdown_order_holds_through_a_finished_oneshot() {
    let mut h = Harness::boot(config([
        svc("journald"),
        svc("devlog").oneshot().requires(&["journald"]),
        svc("sshd").requires(&["devlog"]),
    ]));
    h.expect_ops(&["spawn journald 100"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn devlog 101"]);
    h.kill(101, Code(0));
    h.expect_ops(&["spawn sshd 102"]);
    h.advance(secs(1));
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 102 TERM group"]);
    assert_eq!(h.state_of("journald"), State::Running);
    assert_eq!(
        h.detail_of("journald").as_deref(),
        Some("waiting for sshd to stop")
    );
    h.kill(102, Sig(TERM));
    h.expect_ops(&["signal 102 KILL group", "signal 100 TERM group"]);
}

#[test]
fn a_oneshot_dependency_must_succeed_first() {
    let mut h = Harness::boot(config([
        svc("migrate").oneshot(),
        svc("web").requires(&["migrate"]),
    ]));
    h.expect_ops(&["spawn migrate 100"]);
    assert_eq!(h.deadline_in(), None); // a oneshot has no starttime
    h.advance(secs(30));
    assert_eq!(h.state_of("migrate"), State::Starting);
    assert_eq!(h.state_of("web"), State::Pending);
    h.kill(100, Code(0));
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(h.state_of("migrate"), State::Exited);
    assert_eq!(h.status("migrate").exit_code, Some(0));
    h.advance(secs(60));
    h.expect_ops(&[]); // a oneshot is not restarted
    assert_eq!(h.state_of("migrate"), State::Exited);
}

#[test]
fn a_failed_oneshot_dependency_blocks() {
    let mut h = Harness::boot(config([
        svc("migrate").oneshot().startretries(0),
        svc("web").requires(&["migrate"]),
    ]));
    h.kill(100, Code(1));
    h.expect_ops(&["spawn migrate 100"]);
    assert_eq!(h.state_of("migrate"), State::Fatal);
    assert_eq!(
        h.detail_of("migrate").as_deref(),
        Some("oneshot failed with exit code 1")
    );
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(
        h.detail_of("web").as_deref(),
        Some("dependency migrate is FATAL")
    );
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn a_oneshot_with_other_exitcodes_and_a_start_request() {
    let mut h = Harness::boot(config([svc("job")
        .oneshot()
        .manual()
        .exitcodes(&[0, 3])
        .startretries(0)]));
    let c = h.request(Command::Start {
        names: names(&["job"]),
    });
    h.expect_ops(&["spawn job 100"]);
    h.advance(secs(5));
    assert_eq!(h.reply(c), None); // waits for the oneshot to finish
    h.kill(100, Code(3));
    assert_eq!(
        h.reply(c),
        Some(outcome(true, &[("job", true, "EXITED (exit code 3)")]))
    );
    // Started again by hand, it runs again.
    let c = h.request(Command::Start {
        names: names(&["job"]),
    });
    h.kill(101, Sig(KILL));
    h.expect_ops(&["spawn job 101"]);
    assert_eq!(
        h.reply(c),
        Some(outcome(
            false,
            &[("job", false, "FATAL: oneshot failed with signal KILL")]
        ))
    );
}

#[test]
fn a_oneshot_that_succeeded_is_not_run_again_when_a_dependent_starts() {
    let mut h = Harness::boot(config([
        svc("migrate").oneshot(),
        svc("web").manual().requires(&["migrate"]),
    ]));
    h.kill(100, Code(0));
    h.expect_ops(&["spawn migrate 100"]);
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 101"]);
    h.advance(secs(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
    assert_eq!(h.state_of("migrate"), State::Exited);
}

#[test]
fn stopping_a_dependency_stops_its_dependents_first() {
    let mut h = Harness::boot(config([svc("db"), svc("web").requires(&["db"])]));
    h.advance(secs(2));
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 101 TERM group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    assert_eq!(h.state_of("db"), State::Running);
    assert_eq!(
        h.detail_of("db").as_deref(),
        Some("waiting for web to stop")
    );
    h.advance(secs(3));
    h.expect_ops(&[]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 100 TERM group"]);
    assert_eq!(h.state_of("db"), State::Stopping);
    assert_eq!(h.reply(c), None);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group"]);
    let mut stopped_with = outcome(true, &[("db", true, "STOPPED"), ("web", true, "STOPPED")]);
    if let Reply::Outcome { results, .. } = &mut stopped_with {
        results[1].action = Some("stopped with db".to_string());
    }
    assert_eq!(h.reply(c), Some(stopped_with));
    assert_eq!(h.state_of("web"), State::Stopped);
    h.advance(secs(60));
    h.expect_ops(&[]);
    // Starting web brings db back first.
    h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn db 102"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 103"]);
}

#[test]
fn a_dependent_that_ignores_its_stop_signal_is_killed_before_the_dependency_stops() {
    let mut h = Harness::boot(config([
        svc("db"),
        svc("web").requires(&["db"]).stoptime(secs(3)),
    ]));
    h.advance(secs(2));
    h.take_ops();
    h.request(Command::Stop {
        names: names(&["db"]),
    });
    h.advance(secs(3));
    h.expect_ops(&["signal 101 TERM group", "signal 101 KILL group"]);
    h.kill(101, Sig(KILL));
    h.expect_ops(&["signal 101 KILL group", "signal 100 TERM group"]);
}

#[test]
fn shutdown_stops_in_reverse_order_with_independent_branches_in_parallel() {
    let mut h = Harness::boot(config([
        svc("a"),
        svc("b").requires(&["a"]),
        svc("c").requires(&["b"]),
        svc("d").requires(&["a"]),
        svc("x"),
    ]));
    h.advance(secs(3));
    for s in ["a", "b", "c", "d", "x"] {
        assert_eq!(h.state_of(s), State::Running, "{s}");
    }
    let [a, b, c, d, x] = ["a", "b", "c", "d", "x"].map(|s| h.pid_of(s).unwrap());
    h.take_ops();
    h.feed(Event::Shutdown);
    // The leaves go first, all at once.
    h.expect_ops(&[
        &format!("signal {c} TERM group"),
        &format!("signal {d} TERM group"),
        &format!("signal {x} TERM group"),
    ]);
    h.kill(c, Sig(TERM));
    h.expect_ops(&[
        &format!("signal {c} KILL group"),
        &format!("signal {b} TERM group"),
    ]);
    h.kill(b, Sig(TERM));
    h.expect_ops(&[&format!("signal {b} KILL group")]); // a still waits for d
    assert_eq!(h.state_of("a"), State::Running);
    h.kill(x, Sig(TERM));
    h.expect_ops(&[&format!("signal {x} KILL group")]);
    h.kill(d, Sig(TERM));
    h.expect_ops(&[
        &format!("signal {d} KILL group"),
        &format!("signal {a} TERM group"),
    ]);
    h.kill(a, Sig(TERM));
    h.expect_ops(&[&format!("signal {a} KILL group"), "exit"]);
    assert!(h.alive.is_empty());
    h.advance(secs(60));
    h.expect_ops(&[]);
    // Nothing starts any more.
    let c2 = h.request(Command::Start {
        names: names(&["a"]),
    });
    assert_eq!(
        h.reply(c2),
        Some(error(Refusal::ShuttingDown, "taskmasterd is shutting down"))
    );
    h.expect_ops(&[]);
}

#[test]
fn shutdown_kills_what_ignores_it_and_cancels_pending_restarts() {
    let mut h = Harness::boot(config([svc("stuck").stoptime(secs(4)), svc("flappy")]));
    h.advance(ms(100));
    h.kill(100, Code(1)); // flappy in BACKOFF
    h.advance(secs(1));
    h.take_ops();
    assert_eq!(h.state_of("flappy"), State::Starting);
    h.advance(ms(100));
    h.kill(102, Code(1)); // BACKOFF again
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 101 TERM group"]);
    assert_eq!(h.state_of("flappy"), State::Stopped);
    h.advance(secs(4));
    h.expect_ops(&["signal 101 KILL group"]);
    h.kill(101, Sig(KILL));
    h.expect_ops(&["signal 101 KILL group", "exit"]);
}

#[test]
fn shutdown_with_nothing_running_exits_at_once() {
    let mut h = Harness::boot(config([svc("off").manual()]));
    h.feed(Event::Shutdown);
    h.expect_ops(&["exit"]);
    h.feed(Event::Shutdown);
    h.feed(Event::Tick);
    h.expect_ops(&[]);
}

#[test]
fn a_bound_dependency_crashing_bounces_its_dependent() {
    let mut h = Harness::boot(config([svc("db"), svc("web").binds_to(&["db"])]));
    h.advance(secs(3));
    h.expect_ops(&["spawn db 100", "spawn web 101"]);
    h.kill(100, Code(1)); // its first crash: restarted at once, and web is bounced
    h.expect_ops(&["signal 101 TERM group", "spawn db 102"]);
    assert_eq!(h.state_of("db"), State::Starting);
    assert_eq!(h.state_of("web"), State::Stopping);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group"]);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(h.detail_of("web").as_deref(), Some("waiting for db"));
    h.advance(secs(1));
    h.expect_ops(&["spawn web 103"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    assert_eq!(h.status("db").restarts, 1);
}

#[test]
fn a_bound_dependency_that_exits_for_good_leaves_its_dependent_waiting() {
    let mut h = Harness::boot(config([
        svc("db").autorestart(Never),
        svc("web").binds_to(&["db"]),
    ]));
    h.advance(secs(3));
    h.take_ops();
    h.kill(100, Code(0));
    h.expect_ops(&["signal 101 TERM group"]);
    h.kill(101, Sig(TERM));
    assert_eq!(h.state_of("db"), State::Exited);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(
        h.detail_of("web").as_deref(),
        Some("waiting for db, which is not running")
    );
    h.advance(secs(60));
    h.expect_ops(&["signal 101 KILL group"]);
    // Starting db again brings web back.
    h.request(Command::Start {
        names: names(&["db"]),
    });
    h.advance(secs(1));
    h.expect_ops(&["spawn db 102", "spawn web 103"]);
}

#[test]
fn a_dependency_with_several_instances_is_up_when_all_are() {
    let mut h = Harness::boot(config([svc("w").numprocs(2), svc("web").requires(&["w"])]));
    h.advance(ms(500));
    h.kill(101, Code(1)); // w:1 backs off 250 ms
    h.advance(ms(500));
    assert_eq!(h.state_of("w:0"), State::Running);
    assert_eq!(h.state_of("web"), State::Pending);
    h.advance(ms(749));
    h.expect_ops(&["spawn w:0 100", "spawn w:1 101", "spawn w:1 102"]);
    h.advance(ms(1));
    h.expect_ops(&["spawn web 103"]);
}

#[test]
fn shutdown_continues_paused_processes_so_they_can_stop() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.feed(Event::Stopped { pid: 100 });
    h.take_ops();
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 100 TERM group", "signal 100 CONT group"]);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group", "exit"]);
}

/// A stable dependency is restarted at once, while its dependent is still stopping; the
/// dependent comes back once the dependency is RUNNING again.
#[test]
fn a_stable_bound_dependency_crashing_restarts_at_once_and_bounces_its_dependent() {
    let mut h = Harness::boot(config([svc("db"), svc("web").binds_to(&["db"])]));
    h.advance(secs(30));
    h.take_ops();
    h.kill(100, Sig(libc::SIGSEGV));
    h.expect_ops(&["signal 101 TERM group", "spawn db 102"]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group"]);
    assert_eq!(h.state_of("web"), State::Pending);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 103"]);
}

#[test]
fn the_event_log_names_instance_pid_and_state() {
    let mut h = Harness::boot(config([svc("web").stoptime(secs(2))]));
    h.advance(secs(1));
    h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.advance(secs(2));
    h.kill(100, Sig(KILL));
    assert_eq!(
        h.take_logs(),
        [
            "info: web spawned with pid 100",
            "info: web (pid 100) is RUNNING",
            "info: web (pid 100) stop requested: SIGTERM STOPPING",
            "warning: web (pid 100) did not stop within stoptime: SIGKILL",
            "info: web (pid 100) exited with signal KILL: STOPPED",
        ]
    );
    h.feed(Event::Shutdown);
    assert_eq!(h.take_logs(), ["info: shutdown: stopping every service"]);
}

#[test]
fn names_lists_services_and_instances_for_completion() {
    let mut h = Harness::boot(config([svc("a"), svc("w").numprocs(2)]));
    let c = h.request(Command::Names);
    assert_eq!(
        h.reply(c),
        Some(Reply::Names {
            services: names(&["a", "w"]),
            instances: names(&["a", "w:0", "w:1"]),
        })
    );
}

#[test]
fn a_bounce_reaches_dependents_of_dependents() {
    let mut h = Harness::boot(config([
        svc("api").binds_to(&["web"]),
        svc("db"),
        svc("web").binds_to(&["db"]),
    ]));
    h.advance(secs(3));
    h.expect_ops(&["spawn db 100", "spawn web 101", "spawn api 102"]);
    h.kill(100, Code(1));
    h.expect_ops(&[
        "signal 101 TERM group",
        "signal 102 TERM group",
        "spawn db 103",
    ]);
    h.kill(102, Sig(TERM));
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 102 KILL group", "signal 101 KILL group"]);
    assert_eq!(h.state_of("api"), State::Pending);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 104"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn api 105"]);
}

#[test]
fn restarting_a_dependency_bounces_its_dependents() {
    // Like `stop`, a restart stops what requires the service first (down the whole
    // chain), then the service; they come back in start order.
    let mut h = Harness::boot(config([
        svc("db"),
        svc("web").requires(&["db"]),
        svc("proxy").requires(&["web"]),
    ]));
    h.advance(secs(3));
    h.expect_ops(&["spawn db 100", "spawn web 101", "spawn proxy 102"]);
    let c = h.request(Command::Restart {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 102 TERM group"]);
    assert_eq!(h.state_of("db"), State::Running);
    assert_eq!(
        h.detail_of("db").as_deref(),
        Some("restart: waiting for web to stop")
    );
    h.kill(102, Sig(TERM));
    h.expect_ops(&["signal 102 KILL group", "signal 101 TERM group"]);
    assert_eq!(h.state_of("proxy"), State::Pending);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 100 TERM group"]);
    assert!(h.reply(c).is_none(), "no answer before db has restarted");
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group", "spawn db 103"]);
    h.advance(secs(1));
    assert!(
        h.reply(c).is_none(),
        "no answer before its dependents are back"
    );
    h.expect_ops(&["spawn web 104"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn proxy 105"]);
    h.advance(secs(1));
    assert_eq!(
        h.reply(c),
        Some(reported(
            true,
            &[
                ("db", "restarted", true, "RUNNING"),
                ("web", "restarted with db", true, "RUNNING"),
                ("proxy", "restarted with db", true, "RUNNING"),
            ]
        ))
    );
    // The same for a reload that changes db's process.
    h.reload(config([
        svc("db").cmd(&["/bin/db2"]),
        svc("web").requires(&["db"]),
        svc("proxy").requires(&["web"]),
    ]));
    h.expect_ops(&["signal 105 TERM group"]);
    h.kill(105, Sig(TERM));
    h.expect_ops(&["signal 105 KILL group", "signal 104 TERM group"]);
    h.kill(104, Sig(TERM));
    h.expect_ops(&["signal 104 KILL group", "signal 103 TERM group"]);
    h.kill(103, Sig(TERM));
    h.expect_ops(&["signal 103 KILL group", "spawn db 106"]);
    h.advance(secs(2));
    h.expect_ops(&["spawn web 107", "spawn proxy 108"]);
}

#[test]
fn a_paused_dependent_is_bounced_too() {
    let mut h = Harness::boot(config([svc("db"), svc("web").binds_to(&["db"])]));
    h.advance(secs(2));
    h.feed(Event::Stopped { pid: 101 });
    h.take_ops();
    h.kill(100, Code(1));
    h.expect_ops(&[
        "signal 101 TERM group",
        "signal 101 CONT group",
        "spawn db 102",
    ]);
}

#[test]
fn start_of_a_dependent_answers_when_its_requirement_finishes_without_running() {
    // db exits with an expected code before starttime: EXITED, never RUNNING. `start web`
    // must answer (not ok) instead of waiting forever, and a second start pulls db in again.
    let mut h = Harness::boot(config([
        svc("db").manual(),
        svc("web").requires(&["db"]).manual(),
    ]));
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn db 100"]);
    h.advance(ms(300));
    h.kill(100, Code(0));
    assert_eq!(h.state_of("db"), State::Exited);
    let mut said = outcome(
        false,
        &[
            (
                "web",
                false,
                "PENDING: waiting for db, which is not running",
            ),
            ("db", false, "EXITED (exit code 0)"),
        ],
    );
    if let Reply::Outcome { results, .. } = &mut said {
        results[1].action = Some("started for web".to_string());
    }
    assert_eq!(h.reply(c), Some(said));
    let again = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn db 101"]);
    assert_eq!(h.reply(again), None);
}

#[test]
fn start_names_what_it_pulled_in_and_waits_for_it_a_wanted_failure_is_only_news() {
    let mut h = Harness::boot(config([
        svc("db").manual(),
        svc("cache").manual().startretries(0),
        svc("web").requires(&["db"]).wants(&["cache"]).manual(),
    ]));
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn cache 100", "spawn db 101"]);
    // The wanted cache fails; the required db comes up, then web: the start succeeds and
    // says what it started for web and how each ended.
    h.kill(100, Code(1));
    h.advance(secs(1));
    h.expect_ops(&["spawn web 102"]);
    assert_eq!(h.reply(c), None, "web is still starting");
    h.advance(secs(1));
    assert_eq!(
        h.reply(c),
        Some(reported(
            true,
            &[
                ("web", "", true, "RUNNING"),
                (
                    "cache",
                    "started for web",
                    true,
                    "FATAL: exited with exit code 1 before starttime, 1 attempt(s), giving up"
                ),
                ("db", "started for web", true, "RUNNING"),
            ]
        ))
        .map(|mut r| {
            if let Reply::Outcome { results, .. } = &mut r {
                results[0].action = None;
            }
            r
        })
    );
    // Already running: nothing else to name.
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
}
