//! `analyze`: the boot timeline and critical chain, from the core's fake clock.

use super::*;
use crate::supervisor::AnalyzeEntry;

fn row(a: &AnalyzeEntry) -> (String, Option<u64>, Option<u64>) {
    (a.name.clone(), a.spawned_ms, a.ready_ms)
}

#[test]
fn the_timeline_has_spawn_and_up_times_and_the_chain_that_decided_the_last() {
    let mut h = Harness::boot(config([
        svc("db").starttime(secs(1)),
        svc("cache").starttime(ms(200)),
        svc("web")
            .starttime(secs(2))
            .requires(&["db"])
            .wants(&["cache"]),
        svc("idle").manual(),
        svc("setup").oneshot(),
    ]));
    h.advance(ms(300));
    h.kill(102, Code(0)); // setup (third by name: cache, db, setup) finishes well
    h.advance(ms(700)); // db up at 1 s, web spawned then
    h.advance(secs(3)); // web up at 3 s
    let analysis = h.sup.analyze(&[], h.now);
    let rows: Vec<_> = analysis.entries.iter().map(row).collect();
    assert_eq!(
        rows,
        [
            ("cache".to_string(), Some(0), Some(200)),
            ("db".to_string(), Some(0), Some(1000)),
            ("setup".to_string(), Some(0), Some(300)),
            ("web".to_string(), Some(1000), Some(3000)),
            ("idle".to_string(), None, None),
        ]
    );
    assert_eq!(analysis.chain, ["web", "db"]);
    assert_eq!(analysis.elapsed_ms, 4000);
    let web = &analysis.entries[3];
    assert_eq!(web.after, ["db", "cache"]);
}

#[test]
fn a_fatal_start_is_marked_and_a_restart_later_does_not_move_the_first_times() {
    let mut h = Harness::boot(config([svc("bad").startretries(0), svc("ok")]));
    h.kill(100, Code(1));
    h.advance(secs(1));
    let analysis = h.sup.analyze(&[], h.now);
    let bad = &analysis.entries[0];
    assert_eq!(
        (bad.name.as_str(), bad.failed, bad.ready_ms),
        ("bad", true, None)
    );
    assert_eq!(analysis.chain, ["ok"]);
    // ok crashes and comes back: the boot's times stay.
    h.kill(101, Code(1));
    h.advance(secs(5));
    let ok = &h.sup.analyze(&[], h.now).entries[1];
    assert_eq!((ok.spawned_ms, ok.ready_ms), (Some(0), Some(1000)));
}

#[test]
fn only_the_named_instances_and_an_unknown_name_fails() {
    let mut h = Harness::boot(config([svc("a"), svc("b")]));
    let ids = h.sup.resolve(&names(&["b"])).expect("b exists");
    let analysis = h.sup.analyze(&ids, h.now);
    assert_eq!(analysis.entries.len(), 1);
    let c = h.request(Command::Analyze {
        names: names(&["nope"]),
    });
    assert_eq!(
        h.reply(c),
        Some(error(Refusal::UnknownName, "no such service: nope"))
    );
}

#[test]
fn the_timeline_survives_an_upgrade() {
    let services = || config([svc("db"), svc("web").requires(&["db"])]);
    let mut h = Harness::boot(services());
    h.advance(secs(3));
    let before = h.sup.analyze(&[], h.now);
    // The new image: the same config, the instances and the timeline handed over.
    let instances = h.sup.handover(h.now).expect("settled");
    let timeline = h.sup.timeline_handover(h.now).expect("booted");
    let mut new = Supervisor::new(services());
    new.take_over(instances, h.now);
    new.take_over_timeline(timeline, h.now);
    let after = new.analyze(&[], h.now);
    assert_eq!(after.entries, before.entries);
    assert_eq!(after.chain, ["web", "db"]);
    assert_eq!(after.elapsed_ms, before.elapsed_ms);
}
