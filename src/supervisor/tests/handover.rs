//! `upgrade`: the core's facts survive being handed to a new core, which carries on as the
//! old one would have.

use super::*;

/// A new core on `config` that takes over what `h`'s core hands over, at the same time.
fn upgraded(h: &Harness, config: Config) -> Harness {
    let items = h.sup.handover(h.now).expect("settled core");
    // Through JSON, as the new binary reads it.
    let json = serde_json::to_string(&items).expect("serialise");
    let items: Vec<InstanceHandover> = serde_json::from_str(&json).expect("parse");
    let mut new = Harness::new(config);
    new.now = h.now;
    new.next_pid = h.next_pid;
    new.alive = h.alive.clone();
    let actions = new.sup.take_over(items, new.now);
    new.perform(actions);
    new
}

#[test]
fn running_instances_keep_their_pids_uptime_and_counters() {
    let cfg = || config([svc("db"), svc("web").requires(&["db"]).numprocs(2)]);
    let mut h = Harness::boot(cfg());
    h.advance(secs(2));
    let web0 = h.pid_of("web:0").expect("web:0 runs");
    h.kill(web0, Code(1));
    h.advance(secs(3));
    let before: Vec<InstanceStatus> = ["db", "web:0", "web:1"]
        .iter()
        .map(|n| h.status(n))
        .collect();

    let mut new = upgraded(&h, cfg());
    let after: Vec<InstanceStatus> = ["db", "web:0", "web:1"]
        .iter()
        .map(|n| new.status(n))
        .collect();
    assert_eq!(before, after);
    assert!(new.take_ops().is_empty(), "nothing is spawned or signalled");

    // It goes on as the old one would: a crash is restarted, a stop stops.
    let web1 = new.pid_of("web:1").expect("web:1 runs");
    new.kill(web1, Code(1));
    new.advance(secs(3));
    assert_eq!(new.state_of("web:1"), State::Running);
    assert_eq!(new.status("web:1").restarts, 1);
}

#[test]
fn timers_carry_over_a_backoff_is_still_due_and_a_stopping_process_still_gets_sigkill() {
    let cfg = || config([svc("flaky"), svc("slow").stoptime(secs(10))]);
    let mut h = Harness::boot(cfg());
    h.advance(secs(2));
    let slow = h.pid_of("slow").expect("runs");
    h.request(Command::Stop {
        names: names(&["slow"]),
    });
    h.advance(secs(4));
    // A client waits for the stop: not handed over until it is answered (or gone).
    assert_eq!(h.sup.handover(h.now), Err(HandoverBusy::Waiting));
    h.sup.client_gone(1);
    // Dies again within starttime of its restart: BACKOFF with a retry due.
    let flaky = h.pid_of("flaky").expect("runs");
    h.kill(flaky, Code(1));
    let flaky = h.pid_of("flaky").expect("restarted at once");
    h.kill(flaky, Code(1));
    assert_eq!(h.state_of("flaky"), State::Backoff);
    h.take_ops();

    let mut new = upgraded(&h, cfg());
    assert_eq!(new.state_of("flaky"), State::Backoff);
    assert_eq!(new.state_of("slow"), State::Stopping);
    new.advance(secs(7));
    let ops = new.take_ops();
    assert!(ops.iter().any(|o| o.starts_with("spawn flaky")), "{ops:?}");
    assert!(
        ops.contains(&format!("signal {slow} KILL group")),
        "{ops:?}"
    );
}

#[test]
fn a_service_gone_from_the_config_is_stopped_and_a_new_autostart_one_started() {
    let mut h = Harness::boot(config([svc("old"), svc("kept")]));
    h.advance(secs(1));
    let old = h.pid_of("old").expect("runs");
    let kept = h.pid_of("kept").expect("runs");
    let mut new = upgraded(&h, config([svc("kept"), svc("fresh")]));
    let ops = new.take_ops();
    assert!(ops.contains(&format!("signal {old} TERM group")), "{ops:?}");
    assert!(ops.iter().any(|o| o.starts_with("spawn fresh")), "{ops:?}");
    assert_eq!(new.pid_of("kept"), Some(kept));
}

#[test]
fn a_user_stopped_autostart_service_stays_stopped() {
    let cfg = || config([svc("web")]);
    let mut h = Harness::boot(cfg());
    h.advance(secs(1));
    let pid = h.pid_of("web").expect("runs");
    let client = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.kill(pid, Sig(TERM));
    assert!(h.reply(client).is_some());
    let mut new = upgraded(&h, cfg());
    new.advance(secs(5));
    assert_eq!(new.state_of("web"), State::Stopped);
    assert!(new.take_ops().is_empty());
}
