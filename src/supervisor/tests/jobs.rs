//! Jobs in the core: names, who is told of the end and how, timeouts, the cap on ended
//! jobs, adopted processes, and reloads leaving jobs alone.

use super::*;
use crate::supervisor::jobs::MAX_ENDED_JOBS;

/// A `run` request as the loop makes it (starttime 0, autorestart never, manual).
fn job(name: Option<&str>, timeout: Option<Duration>, detach: bool) -> Box<JobRequest> {
    let Svc(mut spec) = svc(name.unwrap_or("run"))
        .manual()
        .starttime(Duration::ZERO)
        .autorestart(Never)
        .startretries(0);
    std::sync::Arc::make_mut(&mut spec.process).cmd = vec!["/bin/job".to_string()];
    Box::new(JobRequest {
        spec,
        owner: 1000,
        timeout,
        detach,
        unnamed: name.is_none(),
    })
}

fn run(h: &mut Harness, job: Box<JobRequest>) -> ClientId {
    let client = h.next_client;
    h.next_client += 1;
    h.feed(Event::Run { client, job });
    client
}

fn replies(h: &mut Harness, client: ClientId) -> Vec<Reply> {
    h.replies.remove(&client).unwrap_or_default()
}

fn ended(name: &str, code: i32, message: &str) -> Reply {
    Reply::JobEnded {
        name: name.to_string(),
        code,
        exit_code: None,
        exit_signal: None,
        message: message.to_string(),
    }
}

#[test]
fn an_attached_job_is_named_attached_spawned_and_told_its_end() {
    let mut h = Harness::boot(config([]));
    let c = run(&mut h, job(None, None, false));
    h.expect_ops(&["attach 1 run-1", "spawn run-1 100"]);
    assert_eq!(h.state_of("run-1"), State::Running);
    assert_eq!(
        replies(&mut h, c),
        [Reply::Job {
            name: "run-1".into()
        }]
    );
    assert!(h.status("run-1").transient);
    assert_eq!(h.status("run-1").owner, Some(1000));
    h.kill(100, Code(3));
    let Some(Reply::JobEnded {
        code, exit_code, ..
    }) = h.reply(c)
    else {
        panic!("no end told")
    };
    assert_eq!((code, exit_code), (3, Some(3)));
    assert_eq!(h.state_of("run-1"), State::Exited);
    // Names count up; a detached job is only named.
    let d = run(&mut h, job(None, None, true));
    h.expect_ops(&["spawn run-2 101"]);
    assert_eq!(
        replies(&mut h, d),
        [Reply::Job {
            name: "run-2".into()
        }]
    );
    h.kill(101, Sig(libc::SIGKILL));
    let w = h.request(Command::Wait {
        name: "run-2".into(),
    });
    let Some(Reply::JobEnded { code, message, .. }) = h.reply(w) else {
        panic!("wait not answered")
    };
    assert_eq!((code, message.as_str()), (137, "killed by signal KILL"));
}

#[test]
fn a_timeout_is_a_deadline_that_stops_the_job_and_says_124() {
    let mut h = Harness::boot(config([]));
    let c = run(&mut h, job(Some("slow"), Some(secs(2)), false));
    h.take_ops();
    assert_eq!(h.deadline_in(), Some(secs(2)));
    h.advance(secs(2));
    h.expect_ops(&["signal 100 TERM group"]);
    h.kill(100, Sig(TERM));
    let mut told = replies(&mut h, c);
    assert_eq!(
        told.pop(),
        Some(Reply::JobEnded {
            name: "slow".into(),
            code: 124,
            exit_code: None,
            exit_signal: Some("TERM".into()),
            message: "timed out after 2s".into(),
        })
    );
    assert_eq!(
        h.deadline_in(),
        None,
        "no timer left: no wakeups while idle"
    );
}

#[test]
fn a_name_in_use_is_refused_and_nothing_changes() {
    let mut h = Harness::boot(config([svc("web")]));
    h.take_ops();
    let c = run(&mut h, job(Some("web"), None, true));
    assert_eq!(
        replies(&mut h, c),
        [error(
            Refusal::BadRequest,
            "the name web is already used by a service from test.kdl:1:1"
        )]
    );
    run(&mut h, job(Some("mine"), None, true));
    let c = run(&mut h, job(Some("mine"), None, true));
    assert_eq!(
        replies(&mut h, c),
        [error(
            Refusal::BadRequest,
            "the name mine is already used by a job"
        )]
    );
    let w = h.request(Command::Wait { name: "web".into() });
    assert_eq!(
        h.reply(w),
        Some(error(
            Refusal::BadRequest,
            "web is a service from test.kdl, not a job"
        ))
    );
    h.expect_ops(&["spawn mine 101"]);
}

#[test]
fn ended_jobs_beyond_the_cap_are_forgotten_oldest_first() {
    let mut h = Harness::boot(config([]));
    for _ in 0..MAX_ENDED_JOBS + 2 {
        run(&mut h, job(None, None, true));
        let pid = h.next_pid - 1;
        h.kill(pid, Code(0));
    }
    assert!(!h.exists("run-1") && !h.exists("run-2"));
    assert!(h.exists("run-3"));
    assert_eq!(h.listed().len(), MAX_ENDED_JOBS);
    assert_eq!(
        h.sup.timeline.marked(),
        MAX_ENDED_JOBS,
        "the boot timeline forgets them too"
    );
    let ops = h.take_ops();
    assert!(ops.contains(&"forget run-1".to_string()), "{ops:?}");
    let w = h.request(Command::Wait {
        name: "run-1".into(),
    });
    assert_eq!(
        h.reply(w),
        Some(error(Refusal::UnknownName, "no such job: run-1"))
    );
}

#[test]
fn remove_stops_then_forgets_and_the_runner_is_told() {
    let mut h = Harness::boot(config([]));
    let c = run(&mut h, job(Some("j"), None, false));
    replies(&mut h, c);
    h.take_ops();
    let r = h.request(Command::Remove { name: "j".into() });
    assert_eq!(
        h.reply(r),
        Some(Reply::Ok {
            lines: vec!["j: removed".into()]
        })
    );
    h.expect_ops(&["signal 100 TERM group"]);
    h.kill(100, Sig(TERM));
    assert_eq!(
        replies(&mut h, c).pop(),
        Some(Reply::JobEnded {
            name: "j".into(),
            code: 143,
            exit_code: None,
            exit_signal: Some("TERM".into()),
            message: "killed by signal TERM".into(),
        })
    );
    assert!(!h.exists("j"));
    h.expect_ops(&["signal 100 KILL group", "forget j"]);
}

#[test]
fn a_reload_leaves_jobs_alone_and_a_file_service_cannot_take_a_jobs_name() {
    let mut h = Harness::boot(config([svc("web")]));
    run(&mut h, job(Some("j"), None, true));
    h.take_ops();
    h.reload(config([svc("j")]));
    assert_eq!(h.state_of("j"), State::Running);
    assert_eq!(h.pid_of("j"), Some(101));
    assert!(h.status("j").transient);
    let logs = h.take_logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("service j from test.kdl:1:1 not loaded")),
        "{logs:?}"
    );
    h.expect_ops(&["signal 100 TERM group"]);
}

fn adoption(pid: i32) -> Adoption {
    let Svc(mut spec) = svc("pid").manual().autorestart(Never);
    std::sync::Arc::make_mut(&mut spec.process).cmd = vec!["sleep".into(), "1000".into()];
    Adoption {
        pid,
        spec,
        unnamed: true,
        owner: 0,
    }
}

#[test]
fn an_adopted_process_is_running_signalled_alone_and_ends_with_or_without_status() {
    let mut h = Harness::boot(config([]));
    h.feed(Event::Adopt {
        client: 9,
        adoption: Box::new(adoption(4242)),
    });
    assert_eq!(
        replies(&mut h, 9),
        [Reply::Job {
            name: "pid-4242".into()
        }]
    );
    assert_eq!(h.state_of("pid-4242"), State::Running);
    let s = h.request(Command::Stop {
        names: names(&["pid-4242"]),
    });
    h.expect_ops(&["signal 4242 TERM pid"]);
    h.feed(Event::AdoptedExited {
        pid: 4242,
        status: None,
    });
    h.expect_ops(&["signal 4242 KILL pid"]);
    assert!(matches!(h.reply(s), Some(Reply::Outcome { ok: true, .. })));
    // Adopting the same pid twice, or a pid the core spawned, is refused.
    h.feed(Event::Adopt {
        client: 10,
        adoption: Box::new(adoption(5000)),
    });
    h.feed(Event::Adopt {
        client: 11,
        adoption: Box::new(adoption(5000)),
    });
    assert_eq!(
        replies(&mut h, 11),
        [error(
            Refusal::BadRequest,
            "pid 5000 is already supervised as pid-5000"
        )]
    );
    h.feed(Event::AdoptedExited {
        pid: 5000,
        status: None,
    });
    assert_eq!(h.state_of("pid-5000"), State::Exited);
    let w = h.request(Command::Wait {
        name: "pid-5000".into(),
    });
    assert_eq!(
        h.reply(w),
        Some(ended("pid-5000", 0, "exited (status unknown)"))
    );
    assert_eq!(h.status("pid-5000").exit_code, None);
}
