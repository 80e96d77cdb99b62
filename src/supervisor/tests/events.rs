//! State changes as events and the `on-event` hooks they run.

use super::*;
use crate::config::EventHook;

fn hooked(name: &str, events: &[&str]) -> Svc {
    let mut s = svc(name);
    s.0.triggers.hooks.push(EventHook {
        events: names(events),
        cmd: names(&["/bin/alert"]),
    });
    s
}

#[test]
fn each_state_an_instance_rests_in_is_published_with_its_exits() {
    let mut h = Harness::boot(config([svc("web")]));
    h.expect_ops(&["spawn web 100"]);
    h.advance(secs(1));
    h.kill(100, Code(1));
    assert_eq!(
        std::mem::take(&mut h.published),
        // The first crash after RUNNING is restarted at once.
        ["web STARTING", "web RUNNING", "web exit", "web STARTING"]
    );
}

#[test]
fn a_hook_runs_for_the_states_it_names_only_with_the_event_in_its_environment() {
    let mut h = Harness::boot(config([hooked("web", &["FATAL"]).startretries(0)]));
    h.expect_ops(&["spawn web 100"]);
    h.kill(100, Code(3));
    assert_eq!(h.state_of("web"), State::Fatal);
    h.expect_ops(&["hook web.on-event-0 web FATAL 101"]);
    h.helper_exit(101, Code(0), "mail sent\n");
    assert!(h
        .logs
        .iter()
        .any(|l| l == "info: web.on-event-0: mail sent"));
    assert!(!h.sup.anything_active());
}

#[test]
fn events_during_a_run_are_folded_into_one_next_run() {
    let mut h = Harness::boot(config([hooked("web", &["exit"])
        .starttime(Duration::ZERO)
        .autorestart(Always)]));
    h.expect_ops(&["spawn web 100"]);
    h.kill(100, Code(1));
    // The first crash after RUNNING is restarted at once, then the hook runs.
    h.expect_ops(&["spawn web 101", "hook web.on-event-0 web exit 102"]);
    // Three more crashes while the hook runs: no second hook.
    let mut pid = 101;
    for _ in 0..3 {
        h.kill(pid, Code(1));
        pid = if pid == 101 { 103 } else { pid + 1 };
        while h.ops.is_empty() {
            h.advance(ms(100));
        }
        h.expect_ops(&[&format!("spawn web {pid}")]);
    }
    assert!(h.take_ops().is_empty());
    assert!(h.elapsed() < secs(30), "the hook would have timed out");
    h.helper_exit(102, Code(0), "");
    h.expect_ops(&[&format!("hook web.on-event-0 web exit {}", pid + 1)]);
    assert!(h
        .logs
        .iter()
        .any(|l| l.contains("2 earlier event(s) folded into this run")));
}

#[test]
fn a_hook_that_hangs_is_stopped_after_its_timeout() {
    let mut h = Harness::boot(config([hooked("web", &["RUNNING"])]));
    h.expect_ops(&["spawn web 100"]);
    h.advance(secs(1));
    h.expect_ops(&["hook web.on-event-0 web RUNNING 101"]);
    h.advance(secs(30));
    h.expect_ops(&["signal 101 TERM group"]);
    h.advance(secs(5));
    h.expect_ops(&["signal 101 KILL group"]);
    h.helper_exit(101, Sig(9), "");
    h.advance(secs(3600));
    assert!(h.take_ops().is_empty());
}

fn watching(name: &str, signal: Option<i32>) -> Svc {
    let mut s = svc(name).starttime(Duration::ZERO);
    s.0.triggers.watch = vec![PathBuf::from("/etc/app.conf")];
    s.0.triggers.watch_signal = signal;
    s
}

fn changed(h: &mut Harness, service: &str) {
    h.feed(Event::WatchedChanged {
        service: service.into(),
        path: PathBuf::from("/etc/app.conf"),
    });
}

#[test]
fn a_burst_of_changes_restarts_once_when_the_files_have_been_quiet_for_500_ms() {
    let mut h = Harness::boot(config([watching("web", None)]));
    h.expect_ops(&["spawn web 100"]);
    for _ in 0..5 {
        changed(&mut h, "web");
        h.advance(ms(300));
    }
    assert!(
        h.take_ops().is_empty(),
        "nothing before the files are quiet"
    );
    h.advance(ms(200));
    h.expect_ops(&["signal 100 TERM group"]);
    h.kill(100, Sig(libc::SIGTERM));
    // What is left of its group is killed, then it comes back.
    h.expect_ops(&["signal 100 KILL group", "spawn web 101"]);
    h.advance(secs(10));
    assert!(h.take_ops().is_empty(), "one restart only");
}

#[test]
fn watch_signal_sends_the_signal_instead_and_a_stopped_service_stays_stopped() {
    let mut h = Harness::boot(config([
        watching("web", Some(libc::SIGHUP)),
        watching("off", None).manual(),
    ]));
    h.expect_ops(&["spawn web 100"]);
    changed(&mut h, "web");
    changed(&mut h, "off");
    h.advance(ms(500));
    h.expect_ops(&["signal 100 HUP pid"]);
    assert_eq!(h.state_of("off"), State::Stopped);
}
