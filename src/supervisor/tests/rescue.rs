//! Rescue mode: only `rescue #true` services (and what they require) start by themselves
//! until the rescue shell is left.

use super::*;

fn machine() -> Config {
    config([
        svc("fsck").oneshot().rescue(),
        svc("journald").rescue().requires(&["udevd"]),
        svc("udevd"),
        svc("sshd").requires(&["fsck"]),
        svc("tool").manual().rescue(),
    ])
}

#[test]
fn a_rescue_boot_starts_only_rescue_services_and_what_they_require() {
    let mut h = Harness::new(machine());
    h.feed(Event::RescueBoot);
    // udevd is not marked, but journald requires it: pulled in.
    h.expect_ops(&["spawn fsck 100", "spawn udevd 101"]);
    assert!(h.sup.in_rescue());
    assert!(h.take_logs().iter().any(|l| l
        .contains("rescue mode: starting only the services marked rescue #true (fsck, journald)")));
    h.kill(100, Code(0));
    h.advance(secs(1));
    h.expect_ops(&["spawn journald 102"]);
    h.advance(secs(5));
    assert_eq!(h.state_of("sshd"), State::Stopped);
    // `rescue #true` does not make a service autostart.
    assert_eq!(h.state_of("tool"), State::Stopped);
    let why = h.sup.why("sshd", h.now).expect("why sshd");
    assert!(
        why.iter().any(|step| step.reason.contains("rescue mode")),
        "{why:?}"
    );
    // By hand, anything starts.
    h.request(Command::Start {
        names: names(&["sshd"]),
    });
    h.expect_ops(&["spawn sshd 103"]);
}

#[test]
fn leaving_rescue_starts_the_rest_once() {
    let mut h = Harness::new(machine());
    h.feed(Event::RescueBoot);
    h.kill(100, Code(0));
    h.advance(secs(1));
    h.expect_ops(&["spawn fsck 100", "spawn udevd 101", "spawn journald 102"]);
    // The person at the console stops a rescue service.
    h.request(Command::Stop {
        names: names(&["journald"]),
    });
    h.kill(102, Sig(TERM));
    h.take_ops();
    h.feed(Event::LeaveRescue);
    assert!(!h.sup.in_rescue());
    // sshd goes; the oneshot that succeeded is not run again, the rescue service stopped
    // by hand stays stopped, `tool` stays manual.
    h.expect_ops(&["spawn sshd 103"]);
    assert_eq!(h.state_of("journald"), State::Stopped);
    assert_eq!(h.state_of("tool"), State::Stopped);
    // A second one changes nothing.
    h.feed(Event::LeaveRescue);
    h.expect_ops(&[]);
}

#[test]
fn a_reload_in_rescue_mode_starts_only_new_rescue_services() {
    let mut h = Harness::new(machine());
    h.feed(Event::RescueBoot);
    h.take_ops();
    let mut services: Vec<Svc> = vec![
        svc("fsck").oneshot().rescue(),
        svc("journald").rescue().requires(&["udevd"]),
        svc("udevd"),
        svc("sshd").requires(&["fsck"]),
        svc("tool").manual().rescue(),
    ];
    services.push(svc("web"));
    services.push(svc("swap").oneshot().rescue());
    h.reload(config(services));
    h.expect_ops(&["spawn swap 102"]);
    assert_eq!(h.state_of("web"), State::Stopped);
}

#[test]
fn a_normal_boot_ignores_the_mark() {
    let mut h = Harness::boot(machine());
    assert!(!h.sup.in_rescue());
    h.expect_ops(&["spawn fsck 100", "spawn udevd 101"]);
    h.kill(100, Code(0));
    h.expect_ops(&["spawn sshd 102"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn journald 103"]);
}
