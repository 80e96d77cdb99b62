//! `pre-start`: it guards every start, and vets a reloaded config (or a restart) while the
//! running process is left alone.

use super::reload::said;
use super::*;

fn web(cmd: &str) -> Svc {
    svc("web").cmd(&[cmd]).pre_start(&["/bin/check"])
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
    let c = h.request(Command::Restart {
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
    let c = h.request(Command::Restart {
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
    let c = h.request(Command::Restart {
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
    let c = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.reply(c), None);
    h.helper_exit(100, Sig(KILL), "");
    assert_eq!(h.state_of("web"), State::Stopped);
    assert!(h.reply(c).is_some());
    // A pre-start that never ends is killed after its timeout: a failed start.
    h.request(Command::Start {
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
