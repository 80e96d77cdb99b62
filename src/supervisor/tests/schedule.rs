//! Scheduled starts: a deadline like any other, cancelled back to STOPPED, replaced by a
//! start or stop, and what a scheduled instance requires comes up with it when it is due.

use super::*;

fn schedule(h: &mut Harness, name: &str, delay: Duration) -> Option<Reply> {
    let c = h.request(Command::Schedule {
        names: names(&[name]),
        delay,
    });
    h.reply(c)
}

#[test]
fn a_scheduled_start_waits_pending_then_starts_with_what_it_requires() {
    let mut h = Harness::boot(config([
        svc("db").manual(),
        svc("web").manual().requires(&["db"]),
    ]));
    let reply = schedule(&mut h, "web", secs(30));
    assert_eq!(
        reply,
        Some(reported(
            true,
            &[("web", "scheduled", true, "PENDING: start scheduled")]
        ))
    );
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(
        h.state_of("db"),
        State::Stopped,
        "nothing is pulled in early"
    );
    assert_eq!(h.deadline_in(), Some(secs(30)));
    h.advance(secs(29));
    h.expect_ops(&[]);
    h.advance(secs(1));
    h.expect_ops(&["spawn db 100"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(
        h.deadline_in(),
        Some(secs(1)),
        "only web's starttime is left"
    );
}

#[test]
fn cancel_returns_to_stopped_and_leaves_no_timer() {
    let mut h = Harness::boot(config([svc("web").manual()]));
    schedule(&mut h, "web", secs(3600));
    let c = h.request(Command::Cancel {
        names: names(&["web"]),
    });
    assert_eq!(
        h.reply(c),
        Some(reported(true, &[("web", "cancelled", true, "STOPPED")]))
    );
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.detail_of("web"), None);
    assert_eq!(h.deadline_in(), None);
    let c = h.request(Command::Cancel {
        names: names(&["web"]),
    });
    assert_eq!(
        h.reply(c),
        Some(reported(
            false,
            &[("web", "cancel", false, "no start is scheduled")]
        ))
    );
    h.advance(secs(7200));
    h.expect_ops(&[]);
}

#[test]
fn a_start_replaces_the_schedule_and_a_running_instance_is_not_scheduled() {
    let mut h = Harness::boot(config([svc("web").manual(), svc("up")]));
    h.take_ops();
    schedule(&mut h, "web", secs(60));
    let c = h.request(Command::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 101"]);
    h.advance(secs(1));
    assert!(h.reply(c).is_some());
    h.advance(secs(60));
    h.expect_ops(&[]);
    assert_eq!(
        schedule(&mut h, "up", secs(5)),
        Some(reported(
            false,
            &[("up", "scheduled", false, "RUNNING; not scheduled")]
        ))
    );
}
