//! Reload and restart that tell the truth: what they report is what happened, a failed
//! service with a changed config starts afresh, failed oneshots retry, a FATAL instance
//! shows its last words (`pre-start` has its own file).

use super::reload::said;
use super::*;

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
    let stop = h.request(Command::Stop {
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
    let c = h.request(Command::Restart {
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
