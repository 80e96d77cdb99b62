//! Reload and restart that tell the truth: what they report is what happened, a failed
//! service with a changed config starts afresh, `pre-start` guards every start and vets a
//! reloaded config before the running process is touched, failed oneshots retry.

use super::reload::said;
use super::*;

fn web(cmd: &str) -> Svc {
    svc("web").cmd(&[cmd]).pre_start(&["/bin/check"])
}

#[test]
fn a_restart_that_fails_is_reported_as_failed_not_restarted() {
    let mut h = Harness::boot(config([svc("web").startretries(1)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([svc("web")
        .startretries(1)
        .cmd(&["/bin/web", "--bogus"])]));
    h.expect_ops(&["signal 100 TERM group"]);
    h.kill(100, Sig(TERM));
    h.advance(ms(10));
    h.kill(101, Code(1));
    assert_eq!(h.reply(c), None, "still retrying");
    h.advance(ms(250));
    h.kill(102, Code(1));
    let (ok, lines) = said(h.reply(c));
    assert!(!ok);
    assert_eq!(
        lines,
        ["web: restart failed: FATAL: exited with exit code 1 before starttime, 2 attempt(s), giving up"]
    );
    assert!(h
        .logs
        .iter()
        .any(|l| l.starts_with("warning: reload done: web: restart failed: FATAL")));
}

#[test]
fn a_fatal_service_whose_config_changed_starts_afresh() {
    let mut h = Harness::boot(config([
        svc("web").startretries(0),
        svc("app").requires(&["web"]),
    ]));
    h.advance(ms(10));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("web"), State::Fatal);
    assert_eq!(h.state_of("app"), State::Pending);
    h.take_ops();
    // Fixed: reload brings it back with the new config, and what waited for it follows.
    let c = h.reload(config([
        svc("web").startretries(0).cmd(&["/bin/web", "--fixed"]),
        svc("app").requires(&["web"]),
    ]));
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(h.alive[&101], names(&["/bin/web", "--fixed"]));
    h.advance(secs(1));
    assert_eq!(
        said(h.reply(c)),
        (true, names(&["web: restarted: RUNNING"]))
    );
    h.expect_ops(&["spawn app 102"]);
    // Stopped by the user: a changed config leaves it stopped.
    let stop = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.kill(102, Sig(TERM));
    h.kill(101, Sig(TERM));
    assert!(h.reply(stop).is_some());
    h.take_ops();
    let c = h.reload(config([
        svc("web").startretries(0).cmd(&["/bin/web", "--v3"]),
        svc("app").requires(&["web"]),
    ]));
    h.expect_ops(&[]);
    assert_eq!(
        said(h.reply(c)),
        (
            true,
            names(&["web: changed: STOPPED: the new config applies at its next start"])
        )
    );
}

#[test]
fn a_service_in_backoff_whose_config_changed_starts_afresh_at_once() {
    let mut h = Harness::boot(config([svc("web").startretries(5)]));
    h.advance(ms(10));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    h.take_ops();
    h.reload(config([svc("web").startretries(5).cmd(&["/bin/web2"])]));
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(h.instance("web").failed_starts, 0);
}

#[test]
fn restart_names_each_dependent_and_one_that_does_not_come_back_fails_it() {
    let mut h = Harness::boot(config([
        svc("db"),
        svc("app").requires(&["db"]).startretries(0),
        svc("web").requires(&["app"]),
    ]));
    h.advance(secs(3));
    h.take_ops();
    let c = h.request(Request::Restart {
        names: names(&["db"]),
    });
    h.kill(102, Sig(TERM));
    h.kill(101, Sig(TERM));
    h.kill(100, Sig(TERM));
    h.advance(secs(1));
    // app's new process dies before starttime: FATAL, and web is held back by it.
    h.advance(ms(10));
    h.kill(104, Code(3));
    let (ok, lines) = said(h.reply(c));
    assert!(!ok);
    assert_eq!(
        lines,
        [
            "db: restarted: RUNNING",
            "app: stopped with db: FATAL: exited with exit code 3 before starttime, 1 attempt(s), giving up",
            "web: stopped with db: PENDING: dependency app is FATAL",
        ]
    );
}

#[test]
fn pre_start_runs_before_every_start_and_its_failure_is_a_failed_start() {
    let mut h = Harness::boot(config([web("/bin/web").startretries(1)]));
    h.expect_ops(&["pre-start web 100"]);
    assert_eq!(h.state_of("web"), State::Starting);
    assert_eq!(h.pid_of("web"), None);
    h.advance(secs(5)); // starttime does not count while pre-start runs
    assert_eq!(h.state_of("web"), State::Starting);
    h.helper_exit(100, Code(0), "syntax is ok\n");
    h.expect_ops(&["spawn web 101"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    // It crashes: the automatic restart runs pre-start again; failing, the program is not
    // started.
    h.kill(101, Code(1));
    h.advance(ms(250)); // it crashed soon after RUNNING: the usual delay
    h.expect_ops(&["pre-start web 102"]);
    h.helper_exit(
        102,
        Code(1),
        "emerg: unknown directive \"bogus\"\ntest failed\n",
    );
    assert_eq!(h.state_of("web"), State::Backoff);
    h.advance(ms(250));
    h.expect_ops(&["pre-start web 103"]);
    h.helper_exit(
        103,
        Code(1),
        "emerg: unknown directive \"bogus\"\ntest failed\n",
    );
    assert_eq!(h.state_of("web"), State::Fatal);
    let status = h.status("web");
    assert_eq!(status.last_stderr.as_deref(), Some("test failed"));
    assert_eq!(
        status.detail.as_deref(),
        Some("pre-start failed with exit code 1: test failed, 2 attempts, giving up")
    );
    assert!(h
        .logs
        .contains(&"warning: web pre-start said: emerg: unknown directive \"bogus\"".to_string()));
    // A restart of what is not running starts it the usual way: pre-start, then the program.
    let c = h.request(Request::Restart {
        names: names(&["web"]),
    });
    h.expect_ops(&["pre-start web 104"]);
    h.helper_exit(104, Code(1), "still broken\n");
    h.advance(ms(250));
    h.helper_exit(105, Code(1), "still broken\n");
    let (ok, lines) = said(h.reply(c));
    assert!(!ok);
    assert_eq!(
        lines,
        ["web: restart failed: FATAL: pre-start failed with exit code 1: still broken, 2 attempts, giving up"]
    );
}

#[test]
fn restart_of_a_running_service_runs_pre_start_first_and_leaves_it_alone_on_failure() {
    let mut h = Harness::boot(config([web("/bin/web"), svc("app").requires(&["web"])]));
    h.helper_exit(100, Code(0), "");
    h.advance(secs(2));
    h.expect_ops(&["pre-start web 100", "spawn web 101", "spawn app 102"]);
    let c = h.request(Request::Restart {
        names: names(&["web"]),
    });
    h.expect_ops(&["check web 103"]);
    h.helper_exit(103, Code(1), "config broken\n");
    h.expect_ops(&[]);
    let (ok, lines) = said(h.reply(c));
    assert!(!ok);
    assert_eq!(
        lines,
        ["web: restart failed: pre-start failed with exit code 1; not restarted, still running\n    config broken"]
    );
    assert_eq!(h.pid_of("web"), Some(101));
    // Fixed: the check passes, then the restart goes as usual.
    let c = h.request(Request::Restart {
        names: names(&["web"]),
    });
    h.expect_ops(&["check web 104"]);
    h.helper_exit(104, Code(0), "");
    h.expect_ops(&["signal 102 TERM group"]);
    h.kill(102, Sig(TERM));
    h.kill(101, Sig(TERM));
    h.take_ops();
    h.helper_exit(105, Code(0), "");
    h.advance(secs(2));
    assert_eq!(
        said(h.reply(c)),
        (
            true,
            names(&[
                "web: restarted: RUNNING",
                "app: restarted with web: RUNNING"
            ])
        )
    );
}

#[test]
fn stopping_during_pre_start_kills_it_and_it_hangs_no_longer_than_its_timeout() {
    let mut h = Harness::boot(config([web("/bin/web")]));
    h.expect_ops(&["pre-start web 100"]);
    let c = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.reply(c), None);
    h.helper_exit(100, Sig(KILL), "");
    assert_eq!(h.state_of("web"), State::Stopped);
    assert!(h.reply(c).is_some());
    // A pre-start that never ends is killed after its timeout: a failed start.
    h.request(Request::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["pre-start web 101"]);
    h.advance(prestart::PRE_START_TIMEOUT);
    h.expect_ops(&["signal 101 KILL group"]);
    h.helper_exit(101, Sig(KILL), "");
    assert_eq!(h.state_of("web"), State::Backoff);
}

#[test]
fn reload_runs_pre_start_first_and_a_failure_leaves_the_old_process_alone() {
    let mut h = Harness::boot(config([web("/bin/web"), svc("app").requires(&["web"])]));
    h.helper_exit(100, Code(0), "");
    h.advance(secs(2));
    h.expect_ops(&["pre-start web 100", "spawn web 101", "spawn app 102"]);
    let new = || config([web("/bin/web2"), svc("app").requires(&["web"])]);
    let c = h.reload(new());
    // Nothing is stopped: only the check runs, with the new config.
    h.expect_ops(&["check web 103"]);
    assert_eq!(h.helpers[&103], names(&["/bin/check"]));
    assert_eq!(h.state_of("web"), State::Running);
    h.helper_exit(103, Code(1), "bad config line 3\n");
    h.expect_ops(&[]);
    let (ok, lines) = said(h.reply(c));
    assert!(!ok);
    assert_eq!(
        lines,
        ["web: restart failed: pre-start failed with exit code 1; still running the old config, \
          the next reload tries again\n    bad config line 3"]
    );
    assert_eq!(h.pid_of("web"), Some(101));
    assert_eq!(h.pid_of("app"), Some(102));
    // The old config stays: the same new config is tried again at the next reload.
    let c = h.reload(new());
    h.expect_ops(&["check web 104"]);
    h.helper_exit(104, Code(0), "");
    // Passed: applied, and restarted the usual way (dependents first, pre-start again).
    h.expect_ops(&["signal 102 TERM group"]);
    h.kill(102, Sig(TERM));
    h.kill(101, Sig(TERM));
    h.expect_ops(&[
        "signal 102 KILL group",
        "signal 101 TERM group",
        "signal 101 KILL group",
        "pre-start web 105",
    ]);
    h.helper_exit(105, Code(0), "");
    h.expect_ops(&["spawn web 106"]);
    assert_eq!(h.alive[&106], names(&["/bin/web2"]));
    h.advance(secs(2));
    assert_eq!(
        said(h.reply(c)),
        (
            true,
            names(&[
                "web: restarted: RUNNING",
                "app: restarted with web: RUNNING"
            ])
        )
    );
}

#[test]
fn a_newer_reload_supersedes_a_check_in_flight() {
    let mut h = Harness::boot(config([web("/bin/web")]));
    h.helper_exit(100, Code(0), "");
    h.advance(secs(2));
    h.take_ops();
    let first = h.reload(config([web("/bin/web2")]));
    h.expect_ops(&["check web 102"]);
    let second = h.reload(config([web("/bin/web3")]));
    h.expect_ops(&["signal 102 KILL group", "check web 103"]);
    assert_eq!(
        said(h.reply(first)),
        (
            true,
            names(&["web: not restarted: superseded by a later reload"])
        )
    );
    h.helper_exit(102, Sig(KILL), ""); // its verdict no longer counts
    h.expect_ops(&[]);
    h.helper_exit(103, Code(1), "no");
    let (ok, _) = said(h.reply(second));
    assert!(!ok);
    assert_eq!(h.pid_of("web"), Some(101));
}

#[test]
fn a_failed_oneshot_retries_with_back_off_then_goes_fatal() {
    let mut h = Harness::boot(config([
        svc("migrate").oneshot().startretries(2),
        svc("app").requires(&["migrate"]),
    ]));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("migrate"), State::Backoff);
    assert_eq!(h.state_of("app"), State::Pending);
    h.advance(ms(250));
    h.kill(101, Code(1));
    h.advance(ms(500));
    // The third run succeeds: what requires it starts.
    h.kill(102, Code(0));
    h.expect_ops(&[
        "spawn migrate 100",
        "spawn migrate 101",
        "spawn migrate 102",
        "spawn app 103",
    ]);
    assert_eq!(h.state_of("migrate"), State::Exited);
    // Retries used up: FATAL.
    let mut h = Harness::boot(config([svc("job").oneshot().startretries(1)]));
    h.kill(100, Code(2));
    h.advance(ms(250));
    h.kill(101, Code(2));
    assert_eq!(h.state_of("job"), State::Fatal);
    assert_eq!(
        h.detail_of("job").as_deref(),
        Some("oneshot failed with exit code 2, 2 attempts, giving up")
    );
}

#[test]
fn a_fatal_instance_shows_the_last_line_it_wrote_to_stderr() {
    let mut h = Harness::boot(config([svc("web").startretries(0)]));
    h.advance(ms(10));
    h.feed(Event::LastStderr {
        pid: 100,
        line: "unknown directive \"bogus\"".to_string(),
    });
    assert_eq!(h.status("web").last_stderr, None, "only shown once FATAL");
    h.kill(100, Code(1));
    assert_eq!(
        h.status("web").last_stderr.as_deref(),
        Some("unknown directive \"bogus\"")
    );
    // A line from a process that is not the instance's is ignored.
    h.feed(Event::LastStderr {
        pid: 999,
        line: "other".to_string(),
    });
    assert_eq!(
        h.status("web").last_stderr.as_deref(),
        Some("unknown directive \"bogus\"")
    );
}

#[test]
fn a_removal_taken_back_by_a_later_reload_still_answers() {
    let mut h = Harness::boot(config([svc("a"), svc("b").stoptime(secs(30))]));
    h.advance(secs(1));
    let first = h.reload(config([svc("a")]));
    let second = h.reload(config([svc("a"), svc("b").stoptime(secs(30))]));
    assert_eq!(
        said(h.reply(first)),
        (true, names(&["b: removed: added back by a later reload"]))
    );
    h.kill(101, Sig(TERM));
    h.advance(secs(1));
    assert_eq!(said(h.reply(second)), (true, names(&["b: added: RUNNING"])));
}

#[test]
fn a_check_that_never_ends_is_killed_and_reported() {
    let mut h = Harness::boot(config([web("/bin/web")]));
    h.helper_exit(100, Code(0), "");
    h.advance(secs(2));
    h.take_ops();
    let c = h.reload(config([web("/bin/web2")]));
    h.expect_ops(&["check web 102"]);
    h.advance(prestart::PRE_START_TIMEOUT);
    h.expect_ops(&["signal 102 KILL group"]);
    h.helper_exit(102, Sig(KILL), "");
    let (ok, lines) = said(h.reply(c));
    assert!(!ok);
    assert_eq!(
        lines,
        [
            "web: restart failed: pre-start did not finish within 90.00s; still running the old \
          config, the next reload tries again"
        ]
    );
    assert_eq!(h.pid_of("web"), Some(101));
}

#[test]
fn a_reload_by_sighup_logs_what_happened_once_settled() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.feed(Event::Reload {
        client: None,
        config: config([svc("web").cmd(&["/bin/web2"])]),
    });
    assert!(h
        .take_logs()
        .contains(&"info: reload: restarting web".to_string()));
    h.kill(100, Sig(TERM));
    assert!(!h.logs.iter().any(|l| l.contains("reload done")));
    h.advance(secs(1));
    assert!(h
        .take_logs()
        .contains(&"info: reload done: web: restarted: RUNNING".to_string()));
    assert!(h.replies.is_empty());
}
