//! `why`: the causal chain for an instance that is not up, decided by the core.

use super::*;

/// `why NAME` as lines `NAME is STATE: reason`.
#[track_caller]
fn why(h: &Harness, name: &str) -> Vec<String> {
    h.sup
        .why(name, h.now)
        .unwrap_or_else(|e| panic!("why {name}: {e}"))
        .into_iter()
        .map(|s| format!("{} is {}: {}", s.name, s.state, s.reason))
        .collect()
}

#[test]
fn a_dependent_of_a_program_that_cannot_run_points_at_the_exec_error() {
    let h = Harness::new(config([svc("db"), svc("web").requires(&["db"])]))
        .missing("db")
        .booted();
    assert_eq!(
        why(&h, "web"),
        [
            "web is PENDING: it requires db, which failed",
            "db is FATAL: exec /bin/db: No such file or directory; `tmctl start db` tries again",
        ]
    );
}

#[test]
fn the_chain_goes_down_transitively_to_the_root_cause() {
    let mut h = Harness::boot(config([
        svc("db").startretries(1),
        svc("api").requires(&["db"]),
        svc("web").requires(&["api"]),
    ]));
    h.kill(100, Code(3));
    h.advance(ms(250));
    h.kill(101, Code(3));
    let chain = why(&h, "web");
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert_eq!(
        chain[0],
        "web is PENDING: it requires api, which is held back"
    );
    assert_eq!(chain[1], "api is PENDING: it requires db, which failed");
    assert!(
        chain[2].starts_with("db is FATAL: exited with exit code 3 before starttime, 2 attempt(s)"),
        "{chain:?}"
    );
}

#[test]
fn backoff_says_the_exit_the_attempt_and_when_the_next_one_comes() {
    let mut h = Harness::boot(config([svc("web")]));
    h.kill(100, Code(2));
    assert_eq!(
        why(&h, "web"),
        ["web is BACKOFF: exited with exit code 2 before starttime (attempt 1 of 4); next attempt in 250ms"]
    );
    h.advance(ms(100));
    assert!(why(&h, "web")[0].ends_with("next attempt in 150ms"));
}

#[test]
fn starting_says_what_it_waits_for() {
    let mut h = Harness::boot(config([svc("web").starttime(secs(5)), svc("n").notify()]));
    h.advance(secs(2));
    assert_eq!(
        why(&h, "web"),
        ["web is STARTING: it must stay up for starttime 5.0s; RUNNING in 3.0s"]
    );
    assert_eq!(
        why(&h, "n"),
        ["n is STARTING: waiting for READY=1 on its notify socket; a failed start (ready-timeout) in 1m 28s"]
    );
}

#[test]
fn a_dependency_still_starting_is_waited_for() {
    let h = Harness::boot(config([
        svc("db").starttime(secs(5)),
        svc("web").after(&["db"]),
    ]));
    let chain = why(&h, "web");
    assert_eq!(
        chain[0],
        "web is PENDING: it starts after db, which is not up yet"
    );
    assert!(
        chain[1].starts_with("db is STARTING: it must stay up"),
        "{chain:?}"
    );
}

#[test]
fn manual_stop_autostart_off_and_exits_are_told_apart() {
    let mut h = Harness::boot(config([
        svc("web"),
        svc("idle").manual(),
        svc("job").autorestart(Never),
    ]));
    h.advance(secs(1));
    assert_eq!(
        why(&h, "idle"),
        ["idle is STOPPED: autostart is #false and nobody started it"]
    );
    let c = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.kill(101, Sig(TERM));
    assert!(h.reply(c).is_some());
    assert_eq!(
        why(&h, "web"),
        ["web is STOPPED: stopped by request (tmctl stop or a reload); last exit: signal TERM"]
    );
    h.kill(100, Code(0));
    assert_eq!(
        why(&h, "job"),
        ["job is EXITED: it exited with exit code 0; not restarted: autorestart is \"never\""]
    );
}

#[test]
fn a_stopped_requirement_explains_its_dependent() {
    let mut h = Harness::boot(config([svc("db"), svc("web").requires(&["db"])]));
    h.advance(secs(2));
    let c = h.request(Command::Stop {
        names: names(&["db"]),
    });
    h.kill(101, Sig(TERM));
    h.kill(100, Sig(TERM));
    assert!(h.reply(c).is_some());
    let chain = why(&h, "web");
    assert_eq!(
        chain[0],
        "web is STOPPED: it requires db, which was stopped, so it was stopped first"
    );
    assert!(
        chain[1].starts_with("db is STOPPED: stopped by request"),
        "{chain:?}"
    );
}

#[test]
fn a_crash_soon_after_running_waits_for_its_restart() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.kill(100, Code(1));
    // The first crash restarts at once; the second soon after waits.
    h.advance(secs(1));
    h.kill(101, Code(1));
    assert_eq!(
        why(&h, "web"),
        ["web is PENDING: it crashed with exit code 1 soon after it was up (2 time(s) in a row); restart in 250ms"]
    );
}

#[test]
fn paused_and_running() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(3));
    assert_eq!(
        why(&h, "web"),
        ["web is RUNNING: it is up (pid 100, up 3.0s)"]
    );
    h.feed(Event::Stopped { pid: 100 });
    assert_eq!(
        why(&h, "web"),
        ["web is PAUSED: stopped with SIGSTOP while RUNNING; `tmctl resume` continues it"]
    );
}

#[test]
fn every_instance_of_a_service_and_unknown_names() {
    let h = Harness::boot(config([svc("w").numprocs(2)]));
    assert_eq!(why(&h, "w").len(), 2);
    assert_eq!(why(&h, "w:1").len(), 1);
    assert_eq!(
        h.sup.why("nope", h.now).map(|_| ()),
        Err("no such service: nope".to_string())
    );
}
