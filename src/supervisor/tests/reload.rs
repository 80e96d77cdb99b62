//! Reload: add, remove, restart only what changed, numprocs.

use super::*;

// ---- reload --------------------------------------------------------------------------------

/// The reload's report as tmctl prints it (`name: action: message`), and whether it is ok.
#[track_caller]
pub(super) fn said(response: Option<Reply>) -> (bool, Vec<String>) {
    match response {
        Some(Reply::Reload { ok, results }) | Some(Reply::Outcome { ok, results }) => (
            ok,
            results
                .into_iter()
                .map(|r| {
                    [Some(r.name), r.action, Some(r.message)]
                        .into_iter()
                        .flatten()
                        .filter(|part| !part.is_empty())
                        .collect::<Vec<_>>()
                        .join(": ")
                })
                .collect(),
        ),
        other => panic!("not a report: {other:?}"),
    }
}

#[test]
fn reload_adds_removes_and_restarts_only_what_changed() {
    let mut h = Harness::boot(config([
        svc("gone"),
        svc("keep"),
        svc("policy"),
        svc("proc"),
    ]));
    h.expect_ops(&[
        "spawn gone 100",
        "spawn keep 101",
        "spawn policy 102",
        "spawn proc 103",
    ]);
    h.advance(secs(1));
    let c = h.reload(config([
        svc("keep"),
        svc("policy").autorestart(Never).startretries(7),
        svc("proc").cmd(&["/bin/proc", "--v2"]),
        svc("new"),
        svc("newoff").manual(),
    ]));
    assert_eq!(h.reply(c), None, "the reply waits for the outcome");
    h.expect_ops(&[
        "signal 100 TERM group",
        "spawn new 104",
        "signal 103 TERM group",
    ]);
    assert!(h.logs.contains(
        &"info: reload: added new, newoff; changed policy; restarting proc; removed gone"
            .to_string()
    ));
    // The changed process comes back with its new command.
    h.kill(103, Sig(TERM));
    h.expect_ops(&["signal 103 KILL group", "spawn proc 105"]);
    assert_eq!(h.alive[&105], names(&["/bin/proc", "--v2"]));
    // The removed one disappears once it has stopped.
    assert_eq!(h.state_of("gone"), State::Stopping);
    assert!(!h.listed().contains(&"gone".to_string()));
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group"]);
    assert!(!h.exists("gone"));
    assert_eq!(h.listed(), ["keep", "new", "newoff", "policy", "proc"]);
    let status = h.request(Command::Status {
        names: names(&["gone"]),
    });
    assert_eq!(
        h.reply(status),
        Some(error(Refusal::UnknownName, "no such service: gone"))
    );
    // Unchanged and policy-only: same pids, and the new policy applies.
    assert_eq!(h.pid_of("keep"), Some(101));
    assert_eq!(h.pid_of("policy"), Some(102));
    assert_eq!(h.state_of("newoff"), State::Stopped);
    h.advance(secs(1));
    assert_eq!(h.state_of("proc"), State::Running);
    assert_eq!(
        said(h.reply(c)),
        (
            true,
            names(&[
                "gone: removed: STOPPED",
                "new: added: RUNNING",
                "newoff: added: STOPPED",
                "policy: changed in place",
                "proc: restarted: RUNNING",
            ])
        )
    );
    h.kill(102, Code(1));
    assert_eq!(h.state_of("policy"), State::Exited); // autorestart never now
    h.expect_ops(&[]);
}

#[test]
fn reload_with_nothing_changed_changes_nothing() {
    let mut h = Harness::boot(config([svc("a"), svc("w").numprocs(2)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([svc("a"), svc("w").numprocs(2)]));
    assert_eq!(said(h.reply(c)), (true, vec![]));
    h.expect_ops(&[]);
    assert!(h.logs.contains(&"info: reload: no changes".to_string()));
}

#[test]
fn reload_numprocs_two_to_three_adds_only_the_third() {
    let mut h = Harness::boot(config([svc("w").numprocs(2)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([svc("w").numprocs(3)]));
    h.expect_ops(&["spawn w:2 102"]);
    h.advance(secs(1));
    assert_eq!(
        said(h.reply(c)),
        (true, names(&["w:2: added: RUNNING", "w: changed in place"]))
    );
    assert_eq!(h.pid_of("w:0"), Some(100));
    assert_eq!(h.pid_of("w:1"), Some(101));
    assert_eq!(h.listed(), ["w:0", "w:1", "w:2"]);
    // A manual service that nobody started gets its new instance stopped.
    let mut h = Harness::boot(config([svc("m").manual()]));
    let c = h.reload(config([svc("m").manual().numprocs(2)]));
    assert_eq!(said(h.reply(c)), (true, names(&["m: changed in place"])));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("m:1"), State::Stopped);
}

#[test]
fn reload_numprocs_growth_leaves_stopped_and_fatal_siblings_alone() {
    let mut h = Harness::boot(config([svc("w").numprocs(3).startretries(0)]));
    h.advance(ms(100));
    h.kill(102, Code(1)); // w:2 FATAL
    h.advance(secs(1));
    let c = h.request(Command::Stop {
        names: names(&["w:0"]),
    });
    h.kill(100, Sig(TERM));
    assert!(h.reply(c).is_some());
    h.take_ops();
    h.reload(config([svc("w").numprocs(4).startretries(0)]));
    h.expect_ops(&["spawn w:3 103"]);
    assert_eq!(h.state_of("w:0"), State::Stopped);
    assert_eq!(h.state_of("w:1"), State::Running);
    assert_eq!(h.state_of("w:2"), State::Fatal);
}

#[test]
fn reload_numprocs_three_to_one_retires_the_extras() {
    let mut h = Harness::boot(config([svc("w").numprocs(3)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([svc("w")]));
    h.expect_ops(&["signal 101 TERM group", "signal 102 TERM group"]);
    // The one left keeps its process and is now named like any single instance.
    assert_eq!(h.pid_of("w:0"), Some(100));
    assert_eq!(h.state_of("w:0"), State::Running);
    assert_eq!(h.sup.instance_name(&id("w:0")), "w");
    assert_eq!(h.sup.instance_name(&id("w:1")), "w:1");
    assert_eq!(h.listed(), ["w"]);
    assert_eq!(
        h.sup.resolve(&names(&["w:1"])),
        Err("no such instance: w:1".to_string())
    );
    assert_eq!(h.state_of("w:1"), State::Stopping);
    h.kill(101, Sig(TERM));
    h.kill(102, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 102 KILL group"]);
    assert_eq!(
        said(h.reply(c)),
        (
            true,
            names(&[
                "w:1: removed: STOPPED",
                "w:2: removed: STOPPED",
                "w: changed in place"
            ])
        )
    );
    assert!(!h.exists("w:1") && !h.exists("w:2"));
    assert_eq!(h.listed(), ["w"]);
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn reload_numprocs_one_to_two_renames_the_first() {
    let mut h = Harness::boot(config([svc("w")]));
    h.advance(secs(1));
    h.reload(config([svc("w").numprocs(2)]));
    h.expect_ops(&["spawn w 100", "spawn w:1 101"]);
    assert_eq!(h.listed(), ["w:0", "w:1"]);
    assert_eq!(h.pid_of("w:0"), Some(100));
}

#[test]
fn reload_process_change_restarts_every_running_instance_only() {
    let mut h = Harness::boot(config([svc("w").numprocs(2), svc("off").manual()]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([
        svc("w").numprocs(2).cmd(&["/bin/w2"]),
        svc("off").manual().cmd(&["/bin/off2"]),
    ]));
    h.expect_ops(&["signal 100 TERM group", "signal 101 TERM group"]);
    h.kill(100, Sig(TERM));
    h.kill(101, Sig(TERM));
    h.expect_ops(&[
        "signal 100 KILL group",
        "spawn w:0 102",
        "signal 101 KILL group",
        "spawn w:1 103",
    ]);
    assert_eq!(h.state_of("off"), State::Stopped);
    assert_eq!(h.alive[&102], names(&["/bin/w2"]));
    h.advance(secs(1));
    assert_eq!(
        said(h.reply(c)),
        (
            true,
            names(&[
                "off: changed: STOPPED: the new config applies at its next start",
                "w:0: restarted: RUNNING",
                "w:1: restarted: RUNNING",
            ])
        )
    );
    // What was not running starts later with the new spec.
    h.request(Command::Start {
        names: names(&["off"]),
    });
    h.expect_ops(&["spawn off 104"]);
    assert_eq!(h.alive[&104], names(&["/bin/off2"]));
}

#[test]
fn reload_does_not_bring_back_what_is_being_stopped() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    let stop = h.request(Command::Stop {
        names: names(&["web"]),
    });
    h.take_ops();
    h.reload(config([svc("web").cmd(&["/bin/web2"])]));
    h.expect_ops(&[]); // no second stop signal
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(
        h.reply(stop),
        Some(outcome(true, &[("web", true, "STOPPED")]))
    );
}

#[test]
fn reload_during_shutdown_starts_nothing() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.feed(Event::Shutdown);
    h.take_ops();
    h.reload(config([svc("web").cmd(&["/bin/web2"]), svc("new")]));
    h.expect_ops(&[]);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group", "exit"]);
}

#[test]
fn a_removed_service_taken_back_before_it_stopped_comes_back() {
    let mut h = Harness::boot(config([svc("a"), svc("b")]));
    h.advance(secs(1));
    h.take_ops();
    h.reload(config([svc("a")]));
    h.expect_ops(&["signal 101 TERM group"]);
    let c = h.reload(config([svc("a"), svc("b")]));
    h.expect_ops(&[]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "spawn b 102"]);
    h.advance(secs(1));
    assert_eq!(said(h.reply(c)), (true, names(&["b: added: RUNNING"])));
    assert_eq!(h.listed(), ["a", "b"]);
}

#[test]
fn numprocs_shrunk_then_grown_while_the_extra_instance_is_still_stopping_keeps_one_process() {
    let mut h = Harness::boot(config([svc("w").numprocs(2).stoptime(secs(30))]));
    h.advance(secs(2));
    let old = h.pid_of("w:1").expect("w:1 runs");
    h.take_ops();
    h.reload(config([svc("w").numprocs(1).stoptime(secs(30))]));
    h.expect_ops(&[&format!("signal {old} TERM group")]);
    // Grown back before the old process has exited: the same instance is taken back,
    // still tracking the old pid, and comes up again once it is gone. No second process.
    h.reload(config([svc("w").numprocs(2).stoptime(secs(30))]));
    h.expect_ops(&[]);
    assert_eq!(h.pid_of("w:1"), Some(old));
    h.kill(old, Sig(TERM));
    let ops = h.take_ops();
    assert!(
        ops.iter().filter(|op| op.starts_with("spawn w:1")).count() == 1,
        "{ops:?}"
    );
    assert_ne!(h.pid_of("w:1"), Some(old));
}

#[test]
fn a_service_removed_and_added_back_while_stopping_keeps_all_its_instances() {
    let mut h = Harness::boot(config([svc("w").numprocs(2), svc("x")]));
    h.advance(secs(2));
    let (p0, p1) = (h.pid_of("w:0").expect("w:0"), h.pid_of("w:1").expect("w:1"));
    h.reload(config([svc("x")]));
    h.kill(p1, Sig(TERM)); // w:1 is gone and forgotten, w:0 still stopping
    h.reload(config([svc("w").numprocs(2), svc("x")]));
    h.kill(p0, Sig(TERM));
    h.advance(secs(3));
    assert!(h.exists("w:1"), "w:1 is back: {:?}", h.listed());
    assert_eq!(h.state_of("w:0"), State::Running);
    assert_eq!(h.state_of("w:1"), State::Running);
}

#[test]
fn removing_a_service_and_what_requires_it_stops_the_dependent_first() {
    let mut h = Harness::boot(config([svc("db"), svc("web").requires(&["db"]), svc("x")]));
    h.advance(secs(2));
    h.take_ops();
    let (db, web) = (h.pid_of("db").expect("db"), h.pid_of("web").expect("web"));
    h.reload(config([svc("x")]));
    h.expect_ops(&[&format!("signal {web} TERM group")]);
    h.kill(web, Sig(TERM));
    h.expect_ops(&[
        &format!("signal {web} KILL group"),
        &format!("signal {db} TERM group"),
    ]);
}
