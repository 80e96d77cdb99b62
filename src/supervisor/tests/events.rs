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
fn a_hook_runs_as_a_transient_job_for_the_states_it_names_with_the_event_in_its_environment() {
    let mut h = Harness::boot(config([hooked("web", &["FATAL"]).startretries(0)]));
    h.expect_ops(&["spawn web 100"]);
    h.kill(100, Code(3));
    assert_eq!(h.state_of("web"), State::Fatal);
    h.expect_ops(&["hook web.on-event-0 web FATAL 101"]);
    // In status while it runs: transient, nobody's request.
    let run = h.status("web.on-event-0");
    assert_eq!((run.state.as_str(), run.pid), ("RUNNING", Some(101)));
    assert!(run.transient);
    assert_eq!(run.owner, None);
    h.kill(101, Code(0));
    assert!(h
        .logs
        .iter()
        .any(|l| l == "info: web.on-event-0 (FATAL of web) ended: exit code 0"));
    // Gone once ended: it is forgotten, never kept among the ended jobs.
    assert!(h.sup.status_of(&id("web.on-event-0"), h.now).is_none());
    assert!(h.take_ops().contains(&"forget web.on-event-0".to_string()));
    assert!(!h.sup.anything_active());
}

#[test]
fn each_instance_has_its_own_run_named_after_it() {
    let mut h = Harness::boot(config([hooked("web", &["exit"]).numprocs(2)]));
    h.expect_ops(&["spawn web:0 100", "spawn web:1 101"]);
    h.advance(secs(2));
    h.kill(100, Code(1));
    h.kill(101, Code(1));
    let ops = h.take_ops();
    assert!(
        ops.contains(&"hook web.on-event-0:0 web:0 exit 103".to_string()),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|o| o.starts_with("hook web.on-event-0:1 web:1 exit")),
        "{ops:?}"
    );
    // Only the runs going on exist.
    assert!(h
        .sup
        .resolve(&["web.on-event-0".to_string()])
        .is_ok_and(|ids| ids.len() == 2));
    h.kill(103, Code(0));
    assert_eq!(
        h.sup
            .resolve(&["web.on-event-0".to_string()])
            .map(|ids| ids.len()),
        Ok(1)
    );
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
    h.kill(102, Code(0));
    let ops = h.take_ops();
    assert_eq!(
        ops,
        [
            "forget web.on-event-0".to_string(),
            format!("hook web.on-event-0 web exit {}", pid + 1)
        ]
    );
    assert!(h
        .logs
        .iter()
        .any(|l| l.contains("2 earlier event(s) folded into this run")));
}

#[test]
fn a_hook_that_hangs_is_stopped_after_its_timeout_then_killed() {
    let mut h = Harness::boot(config([hooked("web", &["RUNNING"])]));
    h.expect_ops(&["spawn web 100"]);
    h.advance(secs(1));
    h.expect_ops(&["hook web.on-event-0 web RUNNING 101"]);
    h.advance(secs(30));
    h.expect_ops(&["signal 101 TERM group"]);
    assert_eq!(h.state_of("web.on-event-0"), State::Stopping);
    h.advance(secs(5));
    h.expect_ops(&["signal 101 KILL group"]);
    h.kill(101, Sig(9));
    assert!(h
        .logs
        .iter()
        .any(|l| l == "warning: web.on-event-0 (RUNNING of web) ended: signal KILL"));
    // What is left of its group goes too; then nothing more.
    assert_eq!(
        h.take_ops(),
        ["signal 101 KILL group", "forget web.on-event-0"]
    );
    h.advance(secs(3600));
    assert!(h.take_ops().is_empty());
}

#[test]
fn shutdown_lets_a_running_hook_finish_and_runs_no_new_one() {
    let mut h = Harness::boot(config([hooked("web", &["RUNNING", "STOPPED"])]));
    h.expect_ops(&["spawn web 100"]);
    h.advance(secs(1));
    h.expect_ops(&["hook web.on-event-0 web RUNNING 101"]);
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 100 TERM group"]);
    h.kill(100, Sig(libc::SIGTERM));
    h.take_ops();
    assert!(h.sup.anything_active(), "the hook still runs");
    h.kill(101, Code(0));
    assert!(h.take_ops().contains(&"exit".to_string()));
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

#[test]
fn a_reload_that_removes_a_hook_lets_its_run_finish_and_drops_what_waited() {
    let looping = |s: Svc| s.starttime(Duration::ZERO).autorestart(Always);
    let mut h = Harness::boot(config([looping(hooked("web", &["exit"]))]));
    h.expect_ops(&["spawn web 100"]);
    h.kill(100, Code(1));
    h.expect_ops(&["spawn web 101", "hook web.on-event-0 web exit 102"]);
    // An event waits for the run going on.
    h.kill(101, Code(1));
    while h.ops.is_empty() {
        h.advance(ms(100));
    }
    h.expect_ops(&["spawn web 103"]);
    h.reload(config([looping(svc("web"))]));
    h.take_ops();
    // The run finishes and is forgotten; the event that waited runs nothing.
    h.kill(102, Code(0));
    assert_eq!(h.take_ops(), ["forget web.on-event-0"]);
    h.kill(103, Code(1));
    while h.ops.is_empty() {
        h.advance(ms(100));
    }
    let ops = h.take_ops();
    assert!(ops.iter().all(|o| !o.starts_with("hook")), "{ops:?}");
}
