//! Jobs at run time: `tmctl run`, `wait`, `remove`, `adopt`, with real processes.

use crate::common::pty::Pty;
use crate::common::users::TestUser;
use crate::common::*;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn run_exits_with_the_jobs_code_and_splits_its_streams() {
    let mut h = Harness::new();
    h.start();
    let out = h.ctl(&[
        "run",
        "--",
        "/bin/sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // Killed by a signal: 128+N, as a shell says it.
    let out = h.ctl(&["run", "--", "/bin/sh", "-c", "kill -KILL $$"]);
    assert_eq!(code(&out), 128 + libc::SIGKILL, "{}", text(&out));
    // Arguments are taken literally: no splitting, no ${VAR} replaced.
    let out = h.ctl(&["run", "--", "/bin/echo", "a  b", "${HOME}", "$$"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a  b ${HOME} $$\n");
    // A program that cannot be executed: 127, as a shell says it.
    let out = h.ctl(&["run", "--", "/nonexistent/program"]);
    assert_eq!(code(&out), 127, "{}", text(&out));
}

#[test]
fn run_passes_a_mebibyte_byte_for_byte() {
    let mut h = Harness::new();
    h.start();
    // Text that is not all one character, so a lost or repeated chunk shows.
    let mut data = String::new();
    let mut n = 0u64;
    while data.len() < 1024 * 1024 {
        data.push_str(&format!("line {n} {}\n", "x".repeat((n % 97) as usize)));
        n += 1;
    }
    let file = h.path("big.txt");
    std::fs::write(&file, &data).expect("write big.txt");
    let out = h.ctl(&["run", "--", "/bin/cat", &file.display().to_string()]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.len(), data.len());
    assert!(
        out.stdout == data.as_bytes(),
        "the output differs from the file"
    );
}

#[test]
fn run_timeout_stops_the_job_with_124() {
    let mut h = Harness::new();
    h.start();
    let out = h.ctl(&["run", "--timeout", "0.5", "--", "/bin/sleep", "1000"]);
    assert_eq!(code(&out), 124, "{}", text(&out));
    // Its pid as the daemon spawned it (a pid file the job writes itself may not come
    // before the timeout on a loaded machine).
    let spawned = h.wait_log(&["run-1 spawned with pid"]);
    let pid: i32 = spawned
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a pid in {spawned:?}"));
    wait_until("the timed-out job to be gone", || !alive(pid));
}

#[test]
fn detached_jobs_are_waited_for_from_another_client_then_removed() {
    let mut h = Harness::new();
    h.start();
    let trigger = h.path("go");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; exit 7",
        trigger.display()
    );
    let name = h.ok(&[
        "run", "--detach", "--name", "build", "--", "/bin/sh", "-c", &script,
    ]);
    assert_eq!(name, "build\n");
    let job = h.instance("build");
    assert_eq!(job["transient"], true);
    assert_eq!(job["owner"], 0);
    assert_eq!(job["state"], "RUNNING");
    let waiter = h
        .ctl_command(&["wait", "build"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tmctl wait");
    touch(&trigger);
    let out = wait_output(waiter, "tmctl wait");
    assert_eq!(code(&out), 7, "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "build: exited with exit code 7\n"
    );
    // Ended jobs stay for wait and status until removed.
    assert_eq!(code(&h.ctl(&["wait", "build"])), 7);
    assert_eq!(h.state("build"), "EXITED");
    h.ok(&["remove", "build"]);
    assert!(h.status().iter().all(|i| i["name"] != "build"));
    assert!(h.fails(&["wait", "build"]).contains("no such job: build"));
}

#[test]
fn remove_stops_a_running_job_and_its_runner_learns_the_signal() {
    let mut h = Harness::new();
    h.start();
    let runner = h
        .ctl_command(&["run", "--name", "long", "--", "/bin/sleep", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tmctl run");
    let pid = h.running_pid("long");
    h.ok(&["remove", "long"]);
    let out = wait_output(runner, "tmctl run");
    assert_eq!(code(&out), 128 + libc::SIGTERM, "{}", text(&out));
    assert!(!alive(pid));
}

#[test]
fn ctrl_c_stops_the_job() {
    let mut h = Harness::new();
    h.start();
    let mut cmd = h.ctl_command(&["run", "--name", "fg", "--", "/bin/sleep", "1000"]);
    cmd.stdin(Stdio::null());
    let (mut pty, mut child) = Pty::spawn(cmd);
    let pid = h.running_pid("fg");
    // The job may be up before tmctl has its Ctrl-C handler: until then a ^C would end
    // tmctl by default instead of stopping the job.
    wait_until("tmctl to catch SIGINT", || catches_sigint(child.id()));
    pty.send("\x03");
    wait_until("tmctl run to exit after Ctrl-C", || {
        child.try_wait().ok().flatten().is_some()
    });
    let status = child.wait().expect("wait tmctl");
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    assert!(!alive(pid));
    assert_eq!(h.state("fg"), "STOPPED");
}

#[test]
fn run_as_another_user_with_env_and_workingdir() {
    let mut h = Harness::new();
    h.open_to_others();
    h.start();
    let user = TestUser::create(0);
    let out = h.ctl(&[
        "run",
        "--user",
        &user.name,
        "--env",
        "GREETING=hello there",
        "--workingdir",
        "/tmp",
        "--",
        "/bin/sh",
        "-c",
        "echo $(id -u) $GREETING $(pwd)",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{} hello there /tmp\n", user.uid)
    );
}

#[test]
fn bad_run_requests_are_refused_with_one_line_and_nothing_is_disturbed() {
    let h = Harness::running_sleeper();
    let pid = h.running_pid("a");
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--", ""], "no command given"),
        (&["run", "--timeout", "0", "--", "true"], "--timeout \"0\""),
        (&["run", "--timeout", "-1", "--", "true"], "more than 0"),
        (&["run", "--timeout", "soon", "--", "true"], "more than 0"),
        (
            &["run", "--name", "a", "--", "true"],
            "already used by a service",
        ),
        (&["run", "--name", "bad name", "--", "true"], "--name"),
        (
            &["run", "--user", "no-such-user-x", "--", "true"],
            "no such user",
        ),
        (&["run", "--env", "NOEQUALS", "--", "true"], "KEY=VALUE"),
        (
            &["run", "--restart", "sometimes", "--", "true"],
            "autorestart",
        ),
        (&["wait", "a"], "is a service from"),
        (&["wait", "nope"], "no such job: nope"),
        (&["remove", "a"], "is a service from"),
    ];
    for (args, expected) in cases {
        let out = h.ctl(args);
        assert!(!out.status.success(), "tmctl {args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(expected),
            "tmctl {args:?}: {err:?} lacks {expected:?}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    }
    h.ok(&[
        "run",
        "--detach",
        "--name",
        "taken",
        "--",
        "/bin/sleep",
        "1000",
    ]);
    let err = h.fails(&["run", "--name", "taken", "--", "true"]);
    assert!(err.contains("already used by a job"), "{err}");
    assert_eq!(h.running_pid("a"), pid);
    assert_eq!(h.state("taken"), "RUNNING");
}

#[test]
fn ended_jobs_beyond_the_cap_are_forgotten() {
    let mut h = Harness::new();
    h.start();
    let kept = taskmaster::supervisor::MAX_ENDED_JOBS;
    for _ in 0..kept + 20 {
        h.ok(&["run", "--detach", "--", "/bin/true"]);
    }
    wait_until_with("every job to end", || {
        let jobs: Vec<_> = h
            .status()
            .into_iter()
            .filter(|i| i["transient"] == true)
            .collect();
        let running = jobs.iter().filter(|i| i["state"] != "EXITED").count();
        match running == 0 && jobs.len() == kept {
            true => Ok(()),
            false => Err(format!("{} jobs, {running} not ended", jobs.len())),
        }
    });
    // The oldest went first.
    let err = h.fails(&["wait", "run-1"]);
    assert!(err.contains("no such job"), "{err}");
    let last = format!("run-{}", kept + 20);
    assert_eq!(code(&h.ctl(&["wait", &last])), 0);
    // With cgroups, a forgotten job's cgroup is removed then, not when the daemon exits.
    let taskmaster = crate::common::cgroup::test_cgroup_path(h.dir.path())
        .map(|dir| dir.join("taskmaster"))
        .filter(|dir| dir.is_dir());
    if let Some(dir) = taskmaster {
        assert!(!dir.join("run-1").exists(), "run-1's cgroup is left");
        assert!(
            dir.join(&last).exists(),
            "{last} is kept, and so is its cgroup"
        );
    }
}

#[test]
fn a_reload_leaves_jobs_alone() {
    let h = Harness::running_sleeper();
    h.ok(&[
        "run",
        "--detach",
        "--name",
        "job",
        "--",
        "/bin/sleep",
        "1000",
    ]);
    let pid = h.running_pid("job");
    h.remove_service("a");
    h.ctl(&["reload"]);
    wait_until("a to be removed", || {
        h.status().iter().all(|i| i["name"] != "a")
    });
    assert_eq!(h.running_pid("job"), pid);
}

/// A `sleep` started by the test, as `uid` when given, in a process group of its own.
fn outside_sleeper(uid: Option<u32>) -> std::process::Child {
    let mut cmd = Command::new("/bin/sleep");
    cmd.arg("1000").process_group(0).stdin(Stdio::null());
    if let Some(uid) = uid {
        cmd.uid(uid);
    }
    cmd.spawn().expect("spawn sleep")
}

#[test]
fn adopt_watches_a_process_started_elsewhere_and_sees_its_end_at_once() {
    let mut h = Harness::new();
    h.start();
    let mut sleeper = outside_sleeper(None);
    let pid = sleeper.id() as i32;
    let name = h.ok(&["adopt", &pid.to_string()]);
    assert_eq!(name, format!("pid-{pid}\n"));
    let job = h.instance(&format!("pid-{pid}"));
    assert_eq!(job["state"], "RUNNING");
    assert_eq!(job["pid"], pid);
    assert_eq!(job["transient"], true);
    let waiter = h
        .ctl_command(&["wait", &format!("pid-{pid}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tmctl wait");
    kill(pid, libc::SIGKILL);
    let _ = sleeper.wait();
    let out = wait_output(waiter, "tmctl wait");
    let said = String::from_utf8_lossy(&out.stdout);
    // Reaped by its parent (this test): the kernel may tell its status through the pidfd.
    assert!(
        said.contains("killed by signal KILL") || said.contains("exited (status unknown)"),
        "{said}"
    );
    assert_eq!(h.state(&format!("pid-{pid}")), "EXITED");
}

#[test]
fn adopt_of_another_users_process_is_stopped_through_its_pidfd() {
    let mut h = Harness::new();
    h.start();
    let user = TestUser::create(0);
    let mut sleeper = outside_sleeper(Some(user.uid));
    let pid = sleeper.id() as i32;
    h.ok(&["adopt", "--name", "theirs", &pid.to_string()]);
    assert_eq!(h.running_pid("theirs"), pid);
    let out = h.ok(&["stop", "theirs"]);
    assert!(out.contains("theirs: STOPPED"), "{out}");
    let status = sleeper.wait().expect("wait sleep");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // Never restarted.
    assert_eq!(h.state("theirs"), "STOPPED");
}

#[test]
fn adopt_refuses_what_it_cannot_supervise() {
    let mut h = Harness::new();
    h.start();
    let daemon = h.daemon_pid().to_string();
    // A zombie: exited, not yet reaped by its parent (this test).
    let mut zombie = Command::new("/bin/true").spawn().expect("spawn true");
    let zombie_pid = zombie.id() as i32;
    wait_until("true to become a zombie", || !alive(zombie_pid));
    h.ok(&[
        "run",
        "--detach",
        "--name",
        "job",
        "--",
        "/bin/sleep",
        "1000",
    ]);
    let job_pid = h.running_pid("job").to_string();
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["1".into()], "pid 1 is init".into()),
        (vec![daemon.clone()], "taskmasterd itself".into()),
        (vec!["0".into()], "not a process id".into()),
        (vec!["4194304".into()], "no process with pid 4194304".into()),
        (vec![zombie_pid.to_string()], "is a zombie".into()),
        (vec![job_pid.clone()], "already supervised as job".into()),
    ];
    for (args, expected) in cases {
        let mut full = vec!["adopt".to_string()];
        full.extend(args);
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let err = h.fails(&full);
        assert!(
            err.contains(&expected),
            "{full:?}: {err:?} lacks {expected:?}"
        );
    }
    let _ = zombie.wait();
    assert_eq!(h.state("job"), "RUNNING");
}

/// The library example (built by `cargo test` next to the binaries) runs a job through the
/// Rust API and prints its output and exit status.
#[test]
fn the_library_example_runs_a_job() {
    let mut h = Harness::new();
    h.start();
    let bin = std::path::Path::new(tmctl_bin())
        .parent()
        .expect("target dir")
        .join("examples/run_job");
    let child = Command::new(&bin)
        .args(["/bin/sh", "-c", "echo hello from a job; exit 5"])
        .env("TASKMASTER_SOCKET", &h.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let out = wait_output(child, "the run_job example");
    assert_eq!(code(&out), 5, "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "job run-1 started\nhello from a job\njob run-1 ended: exited with exit code 5 (exit status 5)\n"
    );
}

#[test]
fn start_in_a_few_seconds_waits_pending_then_runs() {
    let mut h = Harness::new();
    h.service(
        "later",
        "service \"later\" {\n    cmd \"/bin/sleep\" \"1000\"\n    autostart #false\n    starttime 0\n}\n",
    );
    h.start();
    let out = h.ok(&["start", "--in", "2s", "later"]);
    assert!(
        out.starts_with("later: scheduled: PENDING: start at "),
        "{out}"
    );
    let job = h.instance("later");
    assert_eq!(job["state"], "PENDING");
    assert!(
        job["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("start at "),
        "{job}"
    );
    h.wait_state("later", "RUNNING");
    assert!(h.log_line(&["later: scheduled start is due"]).is_some());
}

#[test]
fn cancel_takes_a_scheduled_start_back_and_bad_times_are_refused() {
    let mut h = Harness::new();
    h.service(
        "later",
        "service \"later\" {\n    cmd \"/bin/sleep\" \"1000\"\n    autostart #false\n}\n",
    );
    h.start();
    let in_an_hour = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    let at = humantime::format_rfc3339_seconds(in_an_hour).to_string();
    h.ok(&["start", "--at", &at, "later"]);
    assert_eq!(h.state("later"), "PENDING");
    let out = h.ok(&["cancel", "later"]);
    assert_eq!(out, "later: cancelled: STOPPED\n");
    assert_eq!(h.state("later"), "STOPPED");
    let err = h.fails(&["cancel", "later"]);
    assert!(err.contains("cancel failed for later"), "{err}");
    for (args, expected) in [
        (
            vec!["start", "--in", "soon", "later"],
            "expected a duration",
        ),
        (vec!["start", "--at", "25:99", "later"], "expected HH:MM"),
        (
            vec!["start", "--at", "2001-01-01T00:00:00Z", "later"],
            "that time has passed",
        ),
        (vec!["start", "--in", "5s", "nope"], "no such service: nope"),
        (
            vec!["start", "--at", "2099-01-01T00:00:00Z", "later"],
            "at most 366 days ahead",
        ),
    ] {
        let err = h.fails(&args);
        assert!(err.contains(expected), "{args:?}: {err:?}");
    }
    assert_eq!(h.state("later"), "STOPPED");
}

/// Whether process `pid` has a handler for SIGINT (bit 2 of SigCgt in /proc/PID/status).
fn catches_sigint(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("SigCgt:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
}

#[test]
fn a_cron_schedule_shows_its_next_run_and_a_reload_keeps_it() {
    use chrono::Timelike;
    let mut h = Harness::new();
    // Once an hour, half an hour from now: the minute cannot come (and move the next run
    // on) while the test compares it across the reload.
    let minute = (chrono::Local::now().minute() + 30) % 60;
    let hourly = format!(
        "service \"tick\" {{\n    cmd \"/bin/true\"\n    type \"oneshot\"\n    schedule \"{minute} * * * *\"\n"
    );
    h.service("tick", &format!("{hourly}}}\n"));
    h.start();
    // Not started at boot: it waits for its minute.
    let tick = h.instance("tick");
    assert_eq!(tick["state"], "STOPPED", "{tick}");
    let detail = tick["detail"].as_str().unwrap_or("");
    assert!(detail.starts_with("start at "), "{tick}");
    let next = tick["next_run"].as_str().unwrap_or("").to_string();
    // RFC 3339 with the local offset, on a whole minute: 2026-12-06T21:05:00+00:00.
    assert!(
        next.len() >= 25 && next.get(16..19) == Some(":00"),
        "{tick}"
    );
    let human = h.ok(&["status", "tick"]);
    assert!(human.contains("start at "), "{human}");
    // An unchanged schedule keeps its minute across a reload (the file is touched anyway).
    h.service("tick", &format!("{hourly}    stoptime 3\n}}\n"));
    h.ok(&["reload"]);
    assert_eq!(h.instance("tick")["next_run"], next.as_str());
    // A schedule of every minute is due within a minute.
    h.service(
        "tick",
        "service \"tick\" {\n    cmd \"/bin/true\"\n    type \"oneshot\"\n    schedule \"* * * * *\"\n}\n",
    );
    let asked = chrono::Utc::now().timestamp();
    h.ok(&["reload"]);
    let every_minute = h.instance("tick")["next_run"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let answered = chrono::Utc::now().timestamp();
    // Due after the reload was asked for, within a minute of the answer (a minute that
    // passed meanwhile may have run it and moved it on, never back).
    let due = chrono::DateTime::parse_from_rfc3339(&every_minute)
        .expect("RFC 3339")
        .timestamp();
    assert!(
        (asked..=answered + 60).contains(&due),
        "{every_minute} is {} s ahead",
        due - answered
    );
    assert_eq!(every_minute.get(16..19), Some(":00"), "{every_minute}");
}

#[test]
fn bad_cron_strings_are_refused_naming_file_line_and_field() {
    let h = Harness::new();
    h.service(
        "cron",
        r#"service "six" {
    cmd "/bin/true"
    type "oneshot"
    schedule "0 */5 * * * *"
}
service "hour" {
    cmd "/bin/true"
    type "oneshot"
    schedule "0 25 * * *"
}
service "simple" {
    cmd "/bin/true"
    schedule "*/5 * * * *"
}"#,
    );
    let out = h.check();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let file = h.service_path("cron");
    let file = file.display();
    for expected in [
        format!("{file}:4:5: field `schedule`: expected a cron string of 5 fields"),
        "got 6 fields (a seconds field is not supported".to_string(),
        format!("{file}:9:5: field `schedule`: field 2 (hour) \"25\": "),
        format!("{file}:13:5: field `schedule`: only a oneshot service can have a schedule"),
    ] {
        assert!(said.contains(&expected), "{expected}\n---\n{said}");
    }
}

#[test]
fn stop_kill_ends_the_whole_group_at_once_without_waiting_for_stoptime() {
    let mut h = Harness::new();
    // It ignores SIGTERM and has a child: a graceful stop would wait the whole stoptime.
    h.service(
        "stubborn",
        &format!(
            "service \"stubborn\" {{\n    cmd \"/bin/sh\" \"-c\" \"trap '' TERM; /bin/sleep 1000 & echo $! > {}; wait\"\n    stoptime 3600\n    starttime 0\n}}\n",
            h.p("child")
        ),
    );
    h.start();
    h.wait_state("stubborn", "RUNNING");
    let shell = h.running_pid("stubborn");
    let child: i32 = wait_file(&h.path("child"))
        .trim()
        .parse()
        .expect("child pid");
    let out = h.ok(&["stop", "--kill", "stubborn"]);
    assert!(out.contains("STOPPED"), "{out}");
    assert_eq!(h.instance("stubborn")["exit_signal"], "KILL");
    wait_until("the shell and its child are gone", || {
        !alive(shell) && !alive(child)
    });
    assert!(h
        .log_line(&["stubborn", "killed: SIGKILL to its process group"])
        .is_some());
    // Unknown names are refused as for stop.
    let err = h.fails(&["stop", "--kill", "nope"]);
    assert!(err.contains("no such service: nope"), "{err}");
}

#[test]
fn show_prints_every_field_as_kdl_the_loader_accepts_back() {
    let mut h = Harness::new();
    h.service(
        "web",
        r#"service "web" {
    cmd "/bin/sleep 1000"
    numprocs 2
    env { GREETING "hello \"world\""; }
    stoptime 2.5
    restart-limit 3 60
}
service "nightly" {
    cmd "/bin/true"
    type "oneshot"
    schedule "0 3 * * *"
}"#,
    );
    h.start();
    let shown = h.ok(&["show", "web"]);
    for line in [
        "service \"web\" {",
        "    cmd \"/bin/sleep\" \"1000\"",
        "    numprocs 2",
        "        GREETING \"hello \\\"world\\\"\"",
        "    stoptime 2.5",
        "    restart-limit 3 60",
        "    autorestart \"unexpected\"",
        "    startretries 3",
        "    // umask: inherited from taskmasterd",
    ] {
        assert!(shown.lines().any(|l| l == line), "{line:?} in\n{shown}");
    }
    assert_eq!(
        h.ok(&["show", "web:1"]),
        shown,
        "an instance shows its service"
    );
    let nightly = h.ok(&["show", "nightly"]);
    assert!(
        nightly.contains("    schedule \"0 3 * * *\"\n"),
        "{nightly}"
    );
    assert!(nightly.contains("    autostart #false\n"), "{nightly}");
    // What show prints is a service file: another directory loads it as it is.
    let other = Harness::new();
    other.service("web", &shown);
    other.service("nightly", &nightly);
    let out = other.check();
    assert_eq!(out.status.code(), Some(0), "{}\n---\n{shown}", text(&out));
    let err = h.fails(&["show", "nope"]);
    assert!(err.contains("no such service: nope"), "{err}");
}

#[test]
fn ps_shows_each_instances_process_tree_with_children_that_left_the_group() {
    let mut h = Harness::new();
    h.service(
        "tree",
        &format!(
            "service \"tree\" {{\n    cmd \"/bin/sh\" \"-c\" \"/bin/sleep 1001 & setsid /bin/sleep 1002 & echo ready > {}; wait\"\n    starttime 0\n}}\nservice \"idle\" {{\n    cmd \"/bin/true\"\n    autostart #false\n}}\n",
            h.p("ready")
        ),
    );
    h.start();
    let shell = h.running_pid("tree");
    wait_file(&h.path("ready"));
    let mut said = String::new();
    // Both children as themselves (the shell's own command line names them too, and so
    // does a child forked but not yet past execve), each asleep.
    wait_until_with("ps shows both children", || {
        said = h.ok(&["ps", "tree"]);
        if said.contains("S  /bin/sleep 1001") && said.contains("S  /bin/sleep 1002") {
            Ok(())
        } else {
            Err(said.clone())
        }
    });
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], format!("tree  RUNNING  pid {shell}"), "{said}");
    assert!(
        lines[1].starts_with(&format!("  {shell}  S  /bin/sh -c ")),
        "{said}"
    );
    let child = |n: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!("S  /bin/{n}")))
            .unwrap_or_else(|| panic!("{n} in {said}"))
            .to_string()
    };
    assert!(child("sleep 1001").starts_with("    "), "{said}");
    assert!(!child("sleep 1001").contains("left the process group"));
    assert!(
        child("sleep 1002").ends_with("(left the process group)"),
        "{said}"
    );
    // JSON: the tree with depths; a stopped instance has no process.
    let out = h.ctl(&["--json", "ps"]);
    let trees: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let tree = trees
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "tree"))
        .expect("tree in ps --json");
    assert_eq!(tree["processes"][0]["pid"], shell);
    assert_eq!(tree["processes"][0]["depth"], 0);
    let idle = trees
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "idle"))
        .expect("idle in ps --json");
    assert_eq!(idle["processes"], serde_json::json!([]));
    assert!(h.fails(&["ps", "nope"]).contains("no such service: nope"));
}

#[test]
fn ps_finds_an_orphan_that_left_group_and_session_through_the_cgroup() {
    let mut h = Harness::new();
    // The inner shell starts a new session's sleep and exits: the sleep is reparented to
    // taskmasterd and shares nothing with the service but its cgroup.
    h.service(
        "orphans",
        &format!(
            "service \"orphans\" {{\n    cmd \"/bin/sh\" \"-c\" \"/bin/sh -c 'setsid /bin/sleep 1003 &'; echo ready > {}; exec /bin/sleep 1004\"\n    starttime 0\n}}\n",
            h.p("ready")
        ),
    );
    h.start();
    h.running_pid("orphans");
    wait_file(&h.path("ready"));
    // `ready` is written before the shell execs sleep 1004, and the inner shell may exit
    // before setsid has exec'd sleep 1003: wait until both run their program (the orphan
    // only where the cgroup finds it).
    let mut tree = serde_json::Value::Null;
    let mut commands: Vec<String> = Vec::new();
    wait_until_with("ps to show the sleeps", || {
        let out = h.ctl(&["--json", "ps", "orphans"]);
        let trees: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        tree = trees[0].clone();
        commands = tree["processes"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| p["command"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        let has = |c: &str| commands.iter().any(|seen| seen == c);
        match has("/bin/sleep 1004") && (!tree["cgroup"].is_string() || has("/bin/sleep 1003")) {
            true => Ok(()),
            false => Err(tree.to_string()),
        }
    });
    if tree["cgroup"].is_string() {
        let orphan = tree["processes"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["command"] == "/bin/sleep 1003"))
            .unwrap_or_else(|| panic!("the orphan is found by its cgroup: {tree}"));
        assert_eq!(orphan["left_group"], true, "{tree}");
    } else {
        // Without cgroups nothing ties it to the service any more.
        assert!(!commands.iter().any(|c| c == "/bin/sleep 1003"), "{tree}");
    }
    h.ok(&["stop", "orphans"]);
}
