//! Bugs the random storms (`storm/`) found, each as the shortest scenario that showed it.

use super::*;
use crate::supervisor::notify::{NotifyMessage, ProcessFacts};

fn ready(h: &mut Harness, pid: i32) {
    h.feed(Event::Notify {
        sender: ProcessFacts {
            pid,
            uid: 0,
            pgid: Some(pid),
            sid: Some(pid),
            ancestors: vec![1],
        },
        message: NotifyMessage::parse(b"READY=1"),
        main_pid: None,
    });
}

fn exec_failed(h: &mut Harness, name: &str, pid: i32) {
    h.alive.remove(&pid);
    h.feed(Event::ExecFailed {
        id: id(name),
        pid,
        failure: SpawnFailure {
            reason: "chdir /srv: No such file or directory".to_string(),
            transient: false,
        },
    });
    // The child that failed is reaped afterwards: an orphan by then.
    h.feed(Event::Exited {
        pid,
        status: Code(127),
    });
}

#[test]
fn a_stop_is_answered_when_someone_starts_the_instance_again_meanwhile() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    let stop = h.request(Command::Stop {
        names: names(&["web"]),
    });
    let start = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.kill(100, Sig(TERM));
    assert_eq!(h.pid_of("web"), Some(101));
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    // The stop waited for the next stop before: it never came.
    assert_eq!(
        h.reply(stop),
        Some(outcome(true, &[("web", true, "RUNNING")]))
    );
    assert_eq!(
        h.reply(start),
        Some(outcome(true, &[("web", true, "RUNNING")]))
    );
}

#[test]
fn a_program_does_not_start_when_what_it_requires_went_down_during_its_pre_start() {
    let mut h = Harness::boot(config([
        svc("db").autorestart(Always),
        svc("web").requires(&["db"]).pre_start(&["/bin/check"]),
    ]));
    h.advance(secs(20));
    h.expect_ops(&["spawn db 100", "pre-start web 101"]);
    h.kill(100, Code(1)); // db was stable: restarted at once, STARTING
    h.expect_ops(&["spawn db 102"]);
    h.helper_exit(101, Code(0), "");
    h.expect_ops(&[]);
    assert_eq!(h.state_of("web"), State::Pending);
    // Once db is back, web starts again from its pre-start.
    h.advance(secs(1));
    h.expect_ops(&["pre-start web 103"]);
    h.helper_exit(103, Code(0), "");
    h.expect_ops(&["spawn web 104"]);
}

#[test]
fn a_ready_timeout_does_not_stop_a_service_before_what_waits_for_it() {
    let mut db = svc("db").notify().autorestart(Always);
    db.0.policy.ready_timeout = secs(5);
    let mut h = Harness::boot(config([db, svc("web").wants(&["db"])]));
    ready(&mut h, 100);
    h.advance(secs(20));
    h.expect_ops(&["spawn db 100", "spawn web 101"]);
    h.kill(100, Code(1));
    h.expect_ops(&["spawn db 102"]);
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 101 TERM group"]);
    // db's ready timeout passes while web is still stopping: db must wait for web.
    h.advance(secs(6));
    h.expect_ops(&[]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 102 TERM group"]);
}

#[test]
fn an_exec_failure_reported_during_a_restart_starts_it_again() {
    let mut h = Harness::boot(config([svc("web")]));
    let restart = h.request(Command::Restart {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 100", "signal 100 TERM group"]);
    exec_failed(&mut h, "web", 100);
    // Not STOPPED with nobody to start it: the restart goes on.
    h.expect_ops(&["spawn web 101"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    assert_eq!(
        h.reply(restart),
        Some(reported(true, &[("web", "restarted", true, "RUNNING")]))
    );
}

#[test]
fn an_exec_failure_of_an_instance_waiting_to_restart_answers_the_restart() {
    let mut h = Harness::boot(config([
        svc("db").autorestart(Always),
        svc("web").requires(&["db"]),
    ]));
    h.advance(secs(20));
    h.kill(100, Code(1)); // restarted at once; web stays up
    h.expect_ops(&["spawn db 100", "spawn web 101", "spawn db 102"]);
    let restart = h.request(Command::Restart {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 101 TERM group"]);
    exec_failed(&mut h, "db", 102);
    assert_eq!(h.state_of("db"), State::Fatal);
    assert!(!h.instance("db").restart_pending);
    h.kill(101, Sig(TERM));
    assert!(h.reply(restart).is_some(), "the restart was never answered");
}

#[test]
fn a_requirement_with_an_instance_gone_for_good_holds_nothing_forever() {
    let mut h = Harness::boot(config([
        svc("db").numprocs(2).autorestart(Never),
        svc("web").autorestart(Always).requires(&["db"]),
        svc("app").manual().wants(&["web"]),
    ]));
    h.advance(secs(20));
    h.kill(100, Code(0)); // db:0 ended for good, db:1 runs on
    assert_eq!(h.state_of("db:0"), State::Exited);
    h.kill(102, Code(1)); // web crashes and cannot come back without db:0
    assert_eq!(h.state_of("web"), State::Pending);
    // Not "waiting for db" as if db were on its way up: nothing will bring db:0 back.
    let why = "waiting for db, which is not running";
    assert_eq!(h.detail_of("web").as_deref(), Some(why));
    // What only wants web goes on without it, instead of waiting for it forever.
    h.take_ops();
    let start = h.request(Command::Start {
        names: names(&["app"]),
    });
    h.expect_ops(&["spawn app 103"]);
    h.advance(secs(1));
    assert_eq!(
        h.reply(start),
        Some(outcome(true, &[("app", true, "RUNNING")]))
    );
}

#[test]
fn a_stop_cancels_a_restart_still_waiting_in_pre_start() {
    let mut h = Harness::boot(config([
        svc("db").autorestart(Always).pre_start(&["/bin/check"]),
        svc("web").requires(&["db"]),
    ]));
    h.helper_exit(100, Code(0), "");
    h.advance(secs(20));
    h.kill(101, Code(1)); // restarted at once: its pre-start runs, web stays up
    h.take_ops();
    // The restart waits for web to stop; then db is stopped for good.
    let restart = h.request(Command::Restart {
        names: names(&["db"]),
    });
    let stop = h.request(Command::Stop {
        names: names(&["db"]),
    });
    h.kill(102, Sig(TERM));
    h.expect_ops(&[
        "signal 102 TERM group",
        "signal 102 KILL group",
        "signal 103 KILL group",
    ]);
    h.helper_exit(103, Sig(KILL), "");
    assert_eq!(h.state_of("db"), State::Stopped);
    assert!(!h.instance("db").restart_pending);
    assert!(h.reply(stop).is_some());
    assert!(h.reply(restart).is_some(), "the restart was never answered");
}

#[test]
fn a_service_added_back_keeps_retiring_the_instance_a_shrink_removed() {
    let web = || svc("web").numprocs(3);
    let mut h = Harness::boot(config([web()]));
    h.advance(secs(1));
    h.reload(config([web().numprocs(2)]));
    h.reload(config([]));
    h.reload(config([web().numprocs(2)]));
    // web:2 is still stopping (stoptime), but it is not part of web any more.
    assert!(h.instance("web:2").retiring);
    assert_eq!(h.listed(), names(&["web:0", "web:1"]));
}

#[test]
fn starting_a_finished_oneshot_marked_to_restart_settles() {
    let mut h = Harness::boot(config([
        svc("db").autorestart(Never),
        svc("init").oneshot().requires(&["db"]),
        svc("web").binds_to(&["init"]),
    ]));
    h.advance(secs(1));
    h.kill(101, Code(0)); // init done: web starts
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    // init is to run again once web has stopped; meanwhile db ends for good and init is
    // started by hand: that start is the restart, and it is answered.
    h.request(Command::Restart {
        names: names(&["init"]),
    });
    assert!(h.instance("init").restart_pending);
    h.kill(100, Code(0));
    let start = h.request(Command::Start {
        names: names(&["init"]),
    });
    assert!(!h.instance("init").restart_pending);
    h.advance(secs(1));
    let pid = h.pid_of("init").expect("init runs again once db is back");
    h.kill(pid, Code(0));
    assert!(h.reply(start).is_some(), "the start was never answered");
}

#[test]
fn a_pre_start_that_fails_while_its_restart_waits_answers_the_restart() {
    let mut h = Harness::boot(config([
        svc("db")
            .autorestart(Always)
            .pre_start(&["/bin/check"])
            .startretries(0),
        svc("web").requires(&["db"]),
    ]));
    h.helper_exit(100, Code(0), "");
    h.advance(secs(20));
    h.kill(101, Code(1)); // restarted at once: its pre-start runs, web stays up
    h.expect_ops(&[
        "pre-start db 100",
        "spawn db 101",
        "spawn web 102",
        "pre-start db 103",
    ]);
    let restart = h.request(Command::Restart {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 102 TERM group"]);
    // The pre-start fails while the restart waits for web: FATAL, and said so.
    h.helper_exit(103, Code(1), "broken\n");
    assert_eq!(h.state_of("db"), State::Fatal);
    assert!(!h.instance("db").restart_pending);
    h.kill(102, Sig(TERM));
    assert!(h.reply(restart).is_some(), "the restart was never answered");
}

#[test]
fn a_restart_does_not_wait_forever_for_a_dependent_started_again_meanwhile() {
    let mut h = Harness::boot(config([
        svc("db"),
        svc("web").requires(&["db"]),
        svc("app").requires(&["web"]),
    ]));
    h.advance(secs(3));
    h.expect_ops(&["spawn db 100", "spawn web 101", "spawn app 102"]);
    // web is held while app stops; db's restart finds web on its way down, not marked.
    h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 102 TERM group"]);
    let restart = h.request(Command::Restart {
        names: names(&["db"]),
    });
    // web is started again before it was stopped: it runs on, with its goal up.
    h.request(Command::Start {
        names: names(&["web"]),
    });
    h.kill(102, Sig(TERM));
    // db's restart must take web down first (web restarts with it), not wait forever.
    h.expect_ops(&["signal 102 KILL group", "signal 101 TERM group"]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 100 TERM group"]);
    h.kill(100, Sig(TERM));
    h.advance(secs(2));
    assert_eq!(h.state_of("db"), State::Running);
    assert_eq!(h.state_of("web"), State::Running);
    assert!(h.reply(restart).is_some(), "the restart was never answered");
}

#[test]
fn a_service_started_again_while_held_to_stop_gets_its_ready_timeout_back() {
    let mut db = svc("db").notify();
    db.0.policy.ready_timeout = secs(5);
    let mut h = Harness::boot(config([svc("base"), db, svc("web").after(&["db"])]));
    h.advance(secs(1));
    ready(&mut h, 101);
    h.advance(secs(1));
    h.expect_ops(&["spawn base 100", "spawn db 101", "spawn web 102"]);
    // db crashes and comes back STARTING; web runs on (only ordered after it).
    h.advance(secs(20));
    h.kill(101, Code(1));
    h.expect_ops(&["spawn db 103"]);
    // Shutdown holds db until web has stopped; its ready timer passes meanwhile.
    h.request(Command::Stop {
        names: names(&["db", "web"]),
    });
    h.expect_ops(&["signal 102 TERM group"]);
    h.advance(secs(6));
    h.expect_ops(&[]);
    // Started again before it was stopped: a db that never says READY is not left
    // STARTING for ever.
    h.request(Command::Start {
        names: names(&["db"]),
    });
    assert_eq!(h.state_of("db"), State::Starting);
    assert_eq!(h.instance("db").deadline, Some(h.now + secs(5)));
}

#[test]
fn a_oneshot_reloaded_into_a_service_while_held_to_stop_does_not_start_for_ever() {
    let web = || svc("web").after(&["job"]).stoptime(secs(10));
    let mut h = Harness::boot(config([svc("job").oneshot(), web()]));
    h.kill(100, Code(0));
    h.expect_ops(&["spawn job 100", "spawn web 101"]);
    // job runs again while web runs on.
    h.request(Command::Restart {
        names: names(&["job"]),
    });
    h.expect_ops(&["spawn job 102"]);
    // Stopped: job is held until web, ordered after it, has stopped.
    h.request(Command::Stop {
        names: names(&["job", "web"]),
    });
    h.expect_ops(&["signal 101 TERM group"]);
    // Now job is a long-running service with no starttime; started again before its
    // old process was stopped, it must not stay STARTING for ever.
    h.reload(config([svc("job").starttime(secs(0)), web()]));
    h.request(Command::Start {
        names: names(&["job"]),
    });
    assert_eq!(h.pid_of("job"), Some(102));
    assert_eq!(h.state_of("job"), State::Running);
}
