//! The end of an instance waits until its cgroup is empty (drain.rs): the loop reports
//! leftovers just before the exit, and the empty cgroup later.

use super::*;

impl Harness {
    /// waitpid reported `pid` dead, and the loop found `left` processes still in its cgroup.
    #[track_caller]
    fn kill_leaving(&mut self, pid: i32, status: ExitStatus, left: usize) {
        assert!(
            self.alive.remove(&pid).is_some(),
            "pid {pid} is not running"
        );
        self.feed(Event::Leftovers {
            pid,
            processes: left,
        });
        self.feed(Event::Exited { pid, status });
    }

    fn cgroup_empty(&mut self, name: &str) {
        self.feed(Event::CgroupEmpty { id: id(name) });
    }
}

#[test]
fn a_stop_is_answered_once_the_leftovers_of_the_cgroup_are_gone() {
    let mut h = Harness::boot(config([svc("db").stoptime(secs(5))]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Command::Stop {
        names: names(&["db"]),
    });
    h.advance(secs(1));
    // The main process obeys; a backend that called setsid is still there.
    h.kill_leaving(100, Sig(TERM), 1);
    // The SIGKILL to the group reaches the whole cgroup (cgroup.kill in the loop).
    h.expect_ops(&["signal 100 TERM group", "signal 100 KILL group"]);
    assert_eq!(h.state_of("db"), State::Stopping);
    assert_eq!(h.pid_of("db"), None);
    assert_eq!(h.reply(c), None, "answered while a leftover still runs");
    assert_eq!(h.deadline_in(), Some(crate::supervisor::drain::KILL_WAIT));
    assert!(h
        .status("db")
        .detail
        .unwrap_or_default()
        .contains("1 leftover process"));
    h.advance(ms(10));
    h.cgroup_empty("db");
    assert_eq!(h.state_of("db"), State::Stopped);
    assert_eq!(h.reply(c), Some(outcome(true, &[("db", true, "STOPPED")])));
    assert_eq!(h.deadline_in(), None);
    h.expect_ops(&[]);
}

#[test]
fn leftovers_of_a_crash_get_the_stop_signal_then_sigkill_and_the_restart_waits() {
    let mut h = Harness::boot(config([svc("web")
        .stopsignal(libc::SIGINT)
        .stoptime(secs(3))
        .autorestart(Always)]));
    h.advance(secs(1));
    h.take_ops();
    h.kill_leaving(100, Code(1), 2);
    h.expect_ops(&["signal web INT cgroup"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    // No restart while the old processes run, whatever the restart delay.
    h.advance(ms(2999));
    h.expect_ops(&[]);
    h.advance(ms(1));
    h.expect_ops(&["signal web KILL cgroup"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    h.advance(ms(100));
    h.cgroup_empty("web");
    // Where the exit sent it: a restart, due since the exit.
    assert_eq!(h.state_of("web"), State::Starting);
    h.expect_ops(&["spawn web 101"]);
    assert!(h
        .logs
        .iter()
        .any(|l| l.contains("web: 2 process(es) left in its cgroup after pid 100 exited")));
}

#[test]
fn a_kill_sends_sigkill_to_the_leftovers_at_once() {
    let mut h = Harness::boot(config([svc("web").stoptime(secs(30))]));
    h.advance(secs(1));
    h.take_ops();
    h.kill_leaving(100, Code(1), 1);
    h.expect_ops(&["signal web TERM cgroup"]);
    let c = h.request(Command::Kill {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal web KILL cgroup"]);
    assert_eq!(h.reply(c), None);
    h.cgroup_empty("web");
    assert_eq!(h.state_of("web"), State::Stopped);
    assert!(h.reply(c).is_some());
}

#[test]
fn a_process_sigkill_cannot_end_holds_the_instance_only_for_a_while() {
    let mut h = Harness::boot(config([svc("nfs").stoptime(secs(2))]));
    h.advance(secs(1));
    let c = h.request(Command::Stop {
        names: names(&["nfs"]),
    });
    h.kill_leaving(100, Sig(TERM), 1);
    assert_eq!(h.state_of("nfs"), State::Stopping);
    h.advance(crate::supervisor::drain::KILL_WAIT - ms(1));
    assert_eq!(h.state_of("nfs"), State::Stopping);
    h.advance(ms(1));
    assert_eq!(h.state_of("nfs"), State::Stopped);
    assert_eq!(h.reply(c), Some(outcome(true, &[("nfs", true, "STOPPED")])));
    assert!(h
        .logs
        .iter()
        .any(|l| l.contains("nfs: processes still in its cgroup")
            && l.contains("going on without them")));
    // The cgroup's late emptiness changes nothing.
    h.cgroup_empty("nfs");
    assert_eq!(h.state_of("nfs"), State::Stopped);
}

#[test]
fn started_again_while_draining_it_starts_once_the_cgroup_is_empty() {
    let mut h = Harness::boot(config([svc("job").oneshot()]));
    h.take_ops();
    h.kill_leaving(100, Code(0), 1);
    h.expect_ops(&["signal job TERM cgroup"]);
    assert_eq!(h.state_of("job"), State::Stopping);
    let c = h.request(Command::Start {
        names: names(&["job"]),
    });
    h.expect_ops(&[]);
    h.cgroup_empty("job");
    h.expect_ops(&["spawn job 101"]);
    h.kill(101, Code(0));
    assert_eq!(h.state_of("job"), State::Exited);
    assert!(h.reply(c).is_some());
}

#[test]
fn a_draining_instance_is_not_handed_over() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.kill_leaving(100, Code(1), 1);
    assert_eq!(
        h.sup.handover(h.now).err(),
        Some(HandoverBusy::Draining("web".into()))
    );
    h.cgroup_empty("web");
    assert!(h.sup.handover(h.now).is_ok());
}
