//! Requests: start/stop/restart replies, unknown names, status fields.

use super::*;

// ---- requests ------------------------------------------------------------------------------

#[test]
fn start_replies_only_once_running() {
    let mut h = Harness::boot(config([svc("web").manual()]));
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 100"]);
    assert_eq!(h.reply(c), None);
    h.advance(ms(999));
    assert_eq!(h.reply(c), None);
    h.advance(ms(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
    // Starting what runs answers at once and spawns nothing.
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&[]);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
}

#[test]
fn start_waits_through_backoff_and_replies_when_fatal() {
    let mut h = Harness::boot(config([svc("web").manual().startretries(1)]));
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.reply(c), None); // BACKOFF: not settled yet
    h.advance(ms(250));
    h.advance(ms(100));
    h.kill(101, Code(1));
    let fatal = "FATAL: exited with exit code 1 before starttime, 2 attempt(s), giving up";
    assert_eq!(h.reply(c), Some(outcome(false, &[("web", false, fatal)])));
    // A new start gives it a fresh set of retries.
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 100", "spawn web 101", "spawn web 102"]);
    h.advance(ms(100));
    h.kill(102, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    h.advance(ms(250));
    h.advance(secs(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
}

#[test]
fn start_of_several_instances_waits_for_all() {
    let mut h = Harness::boot(config([svc("w").manual().numprocs(2), svc("x").manual()]));
    let c = h.request(Command::Start {
        names: names(&["w", "x"]),
    });
    h.expect_ops(&["spawn w:0 100", "spawn w:1 101", "spawn x 102"]);
    h.advance(ms(500));
    h.kill(101, Code(1)); // w:1 backs off and comes later
    h.advance(ms(500));
    assert_eq!(h.reply(c), None);
    h.advance(ms(750));
    assert_eq!(
        h.reply(c),
        Some(outcome(
            true,
            &[
                ("w:0", true, "RUNNING"),
                ("w:1", true, "RUNNING"),
                ("x", true, "RUNNING")
            ]
        ))
    );
}

#[test]
fn restart_gives_a_new_pid() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Command::Restart {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 TERM group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group", "spawn web 101"]);
    assert_eq!(h.state_of("web"), State::Starting);
    assert_eq!(h.reply(c), None);
    h.advance(secs(1));
    assert_eq!(
        h.reply(c),
        Some(reported(true, &[("web", "restarted", true, "RUNNING")]))
    );
    assert_eq!(h.pid_of("web"), Some(101));
    assert_eq!(h.status("web").restarts, 0); // asked for, not automatic
}

#[test]
fn restart_of_something_not_running_starts_it() {
    let mut h = Harness::boot(config([svc("web").manual(), svc("bo")]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("bo"), State::Backoff);
    let c = h.request(Command::Restart {
        names: names(&["web", "bo"]),
    });
    // BACKOFF is retried now, not after its delay.
    h.expect_ops(&["spawn bo 100", "spawn bo 101", "spawn web 102"]);
    h.advance(secs(1));
    assert_eq!(
        h.reply(c),
        Some(reported(
            true,
            &[
                ("web", "restarted", true, "RUNNING"),
                ("bo", "restarted", true, "RUNNING")
            ]
        ))
    );
}

#[test]
fn unknown_names_are_errors() {
    let mut h = Harness::boot(config([svc("web"), svc("w").numprocs(2)]));
    h.take_ops();
    let bad = |n: &str| names(&[n]);
    let cases = [
        (
            Command::Status { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Command::Start { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Command::Stop { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Command::Restart { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Command::Pause { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Command::Resume { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Command::Signal {
                signal: "TERM".to_string(),
                names: bad("nope"),
            },
            "no such service: nope",
        ),
        (
            Command::Start { names: bad("w:2") },
            "no such instance: w:2",
        ),
        (Command::Stop { names: bad("w:x") }, "no such instance: w:x"),
        (
            Command::Status {
                names: bad("web:1"),
            },
            "no such instance: web:1",
        ),
        (
            Command::Stop {
                names: names(&["web", "nope"]),
            },
            "no such service: nope",
        ),
        (
            Command::Start { names: vec![] },
            "name a service, an instance NAME:N, or all",
        ),
        (
            Command::Pause { names: vec![] },
            "name a service, an instance NAME:N, or all",
        ),
        (
            Command::Signal {
                signal: "TERM".to_string(),
                names: vec![],
            },
            "name a service, an instance NAME:N, or all",
        ),
        (
            Command::Signal {
                signal: "BOGUS".to_string(),
                names: bad("web"),
            },
            "unknown signal: BOGUS",
        ),
    ];
    for (request, message) in cases {
        let what = format!("{request:?}");
        let c = h.request(request);
        let kind = if message.starts_with("no such") {
            Refusal::UnknownName
        } else {
            Refusal::BadRequest
        };
        assert_eq!(h.reply(c), Some(error(kind, message)), "{what}");
        // A refused request changes nothing.
        assert!(h.take_ops().is_empty(), "{what}");
    }
    assert_eq!(h.state_of("web"), State::Starting);
}

#[test]
fn the_cells_of_the_status_table_are_those_of_the_views() {
    // The daemon sizes the plain table's columns from `status_cells`, then writes its lines
    // from `status_views`: both must walk the same instances, in the same order, alike.
    let mut h = Harness::boot(config([
        svc("web"),
        svc("many").numprocs(3),
        svc("off").manual(),
    ]));
    h.advance(ms(1500));
    let now = h.now;
    let cells: Vec<_> = h.sup.status_cells().collect();
    let views: Vec<_> = h
        .sup
        .status_views(now)
        .map(|v| (v.name, v.state, v.pid))
        .collect();
    assert_eq!(cells, views);
    assert_eq!(cells.len(), 5);
    assert!(cells.contains(&(InstanceName::Indexed("many", 2), "RUNNING", Some(102))));
    assert!(cells.contains(&(InstanceName::Whole("off"), "STOPPED", None)));
}

#[test]
fn status_fields() {
    let mut h = Harness::boot(config([svc("web"), svc("off").manual()]));
    let st = h.status("web");
    assert_eq!(
        st,
        InstanceStatus {
            name: "web".to_string(),
            service: "web".to_string(),
            state: "STARTING".to_string(),
            pid: Some(100),
            uptime_secs: Some(0),
            restarts: 0,
            exit_code: None,
            exit_signal: None,
            detail: None,
            last_stderr: None,
            transient: false,
            owner: None,
            next_run: None,
        }
    );
    let off = h.status("off");
    assert_eq!(
        (off.state.as_str(), off.pid, off.uptime_secs),
        ("STOPPED", None, None)
    );
    h.advance(ms(42_900));
    let st = h.status("web");
    assert_eq!((st.state.as_str(), st.uptime_secs), ("RUNNING", Some(42)));
    h.kill(100, Sig(KILL)); // stable: restarted at once
    let st = h.status("web");
    assert_eq!(
        (
            st.pid,
            st.uptime_secs,
            st.restarts,
            st.exit_code,
            st.exit_signal.as_deref()
        ),
        (Some(101), Some(0), 1, None, Some("KILL"))
    );
    h.advance(secs(3));
    h.kill(101, Code(3)); // quick crash: a delay
    let st = h.status("web");
    assert_eq!(
        (
            st.state.as_str(),
            st.pid,
            st.uptime_secs,
            st.restarts,
            st.exit_code,
            st.exit_signal,
            st.detail.as_deref()
        ),
        (
            "PENDING",
            None,
            None,
            2,
            Some(3),
            None,
            Some("restart in 0.25s")
        )
    );
    // A countdown, not the delay it was given.
    h.advance(ms(100));
    assert_eq!(h.status("web").detail.as_deref(), Some("restart in 0.15s"));
    // The request gives the same, for what it names.
    let c = h.request(Command::Status {
        names: names(&["web"]),
    });
    assert_eq!(
        h.reply(c),
        Some(Reply::Status {
            instances: vec![h.status("web")]
        })
    );
}

#[test]
fn a_client_that_goes_away_leaves_no_wait_behind() {
    let mut h = Harness::boot(config([svc("web").manual()]));
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.sup.client_gone(c);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    assert_eq!(h.reply(c), None, "nobody to answer");
}
