//! `schedule` on a oneshot, driven through the fake clock: started at each matching minute,
//! a run still going is skipped (and logged), a reload keeps an unchanged schedule's due
//! minute, and a wall clock set back moves the deadline instead of starting early.

use super::*;
use std::time::SystemTime;

/// 2027-01-15 08:00:00 UTC: a multiple of five minutes in every time zone (all offsets are
/// whole quarters of an hour), so `*/5` is due at +300 s wherever the test runs.
fn aligned() -> SystemTime {
    SystemTime::UNIX_EPOCH + secs(1_800_000_000)
}

/// A harness whose wall clock reads `aligned() + offset` at boot.
fn booted_at(offset: Duration, config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.wall = Some(aligned() + offset);
    h.booted()
}

#[test]
fn a_schedule_starts_the_oneshot_at_each_matching_minute() {
    let mut h = booted_at(secs(61), config([svc("backup").schedule("*/5 * * * *")]));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("backup"), State::Stopped, "not started at boot");
    assert_eq!(h.deadline_in(), Some(secs(239)), "the next matching minute");
    let status = h.status("backup");
    let detail = status.detail.expect("the next run is shown");
    assert!(detail.starts_with("start at "), "{detail}");
    assert!(status.next_run.is_some());

    h.advance(secs(238));
    h.expect_ops(&[]);
    h.advance(secs(1));
    h.expect_ops(&["spawn backup 100"]);
    assert!(h
        .take_logs()
        .iter()
        .any(|l| l.contains("backup: scheduled run (*/5 * * * *)")));
    h.kill(100, Code(0));
    assert_eq!(h.state_of("backup"), State::Exited);
    assert_eq!(
        h.deadline_in(),
        Some(secs(300)),
        "armed for the next minute"
    );

    h.advance(secs(300));
    h.expect_ops(&["spawn backup 101"]);
}

#[test]
fn a_run_still_going_is_skipped_and_the_skip_logged() {
    let mut h = booted_at(secs(0), config([svc("slow").schedule("*/5 * * * *")]));
    h.advance(secs(300));
    h.expect_ops(&["spawn slow 100"]);
    h.take_logs();
    h.advance(secs(300));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("slow"), State::Starting, "not started twice");
    let logs = h.take_logs();
    assert!(
        logs.iter().any(|l| l.contains(
            "slow: scheduled run (*/5 * * * *) skipped: the previous run is still going (STARTING)"
        )),
        "{logs:?}"
    );
    h.kill(100, Code(0));
    h.advance(secs(300));
    h.expect_ops(&["spawn slow 101"]);
}

#[test]
fn a_failed_run_does_not_stop_the_schedule() {
    let mut h = booted_at(secs(0), config([svc("job").schedule("*/5 * * * *")]));
    h.advance(secs(300));
    h.expect_ops(&["spawn job 100"]);
    h.kill(100, Code(3));
    h.advance(secs(300));
    h.expect_ops(&["spawn job 101"]);
}

#[test]
fn a_reload_keeps_an_unchanged_schedule_and_rearms_a_changed_one() {
    let every_five = || config([svc("job").schedule("*/5 * * * *")]);
    let mut h = booted_at(secs(0), every_five());
    h.advance(secs(100));
    h.reload(every_five());
    assert_eq!(h.deadline_in(), Some(secs(200)), "unchanged: same minute");
    h.reload(config([svc("job").schedule("*/10 * * * *")]));
    assert_eq!(
        h.deadline_in(),
        Some(secs(500)),
        "changed: the new next minute"
    );
    h.reload(config([svc("job").oneshot().manual()]));
    assert_eq!(h.deadline_in(), None, "no schedule: no timer");
    h.advance(secs(3600));
    h.expect_ops(&[]);
}

#[test]
fn a_wall_clock_set_back_moves_the_deadline_instead_of_starting_early() {
    let mut h = booted_at(secs(0), config([svc("job").schedule("*/5 * * * *")]));
    assert_eq!(h.deadline_in(), Some(secs(300)));
    // The clock is set back a minute: when the monotonic deadline comes, it is 07:04 on
    // the wall, and the run waits for 07:05.
    h.wall = h.wall.map(|w| w - secs(60));
    h.advance(secs(300));
    h.expect_ops(&[]);
    assert_eq!(h.deadline_in(), Some(secs(60)));
    h.advance(secs(60));
    h.expect_ops(&["spawn job 100"]);
}

#[test]
fn shutdown_leaves_no_schedule_timer() {
    let mut h = booted_at(secs(0), config([svc("job").schedule("*/5 * * * *")]));
    h.feed(Event::Shutdown);
    assert_eq!(h.deadline_in(), None);
}

#[test]
fn why_names_the_schedule_and_the_next_run() {
    let mut h = booted_at(secs(0), config([svc("job").schedule("*/5 * * * *")]));
    let why = |h: &Harness| {
        h.sup
            .why("job", h.now)
            .expect("why job")
            .into_iter()
            .map(|s| s.reason)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let before = why(&h);
    assert!(
        before.starts_with("it runs on its schedule \"*/5 * * * *\": start at "),
        "{before}"
    );
    h.advance(secs(300));
    h.kill(100, Code(0));
    let after = why(&h);
    assert!(
        after.contains("success); next run on its schedule: start at "),
        "{after}"
    );
}
