//! Readiness with real processes: sd_notify from Perl programs and from the real
//! systemd-journald, who may send it, MAINPID of a double-forker, `ready "fd:N"`, the ready
//! timeout, the watchdog, env files and `${VAR}`, and the restart limit.

use crate::common::*;

/// A notify service that waits for `trigger` (a file the test creates), then says READY=1.
fn late_ready(h: &Harness, name: &str, extra: &str) -> String {
    let trigger = h.p(&format!("{name}.go"));
    let cmd = h.perl_script(
        name,
        &format!(
            r#"notify("STATUS=warming up");
wait_for("{trigger}");
notify("READY=1\nSTATUS=serving");
sleep 1000;"#
        ),
    );
    format!("service \"{name}\" {{\n    {cmd}\n    ready \"notify\"\n{extra}}}\n")
}

#[test]
fn a_late_ready_1_makes_it_running_and_dependents_start_then() {
    let mut h = Harness::new();
    h.service("db", &late_ready(&h, "db", ""));
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    requires \"db\"\n}\n",
    );
    h.start();
    wait_until_with("db's STATUS= text", || match h.detail("db").as_str() {
        "warming up" => Ok(()),
        other => Err(other.to_string()),
    });
    // starttime (1 s by default) is not what counts: it says when.
    assert_eq!(h.state("db"), "STARTING");
    assert_eq!(h.state("web"), "PENDING");
    assert!(h.log_line(&["web spawned"]).is_none(), "{}", h.log_text());
    touch(&h.path("db.go"));
    h.wait_state("web", "RUNNING");
    assert_eq!(h.state("db"), "RUNNING");
    assert_eq!(h.detail("db"), "serving");
    let log = h.log_text();
    let db = h.pid("db").unwrap();
    let ready_at = log.find(&format!("db (pid {db}) is RUNNING")).unwrap();
    let web_at = log.find("web spawned").unwrap();
    assert!(ready_at < web_at, "web spawned before db was ready:\n{log}");
    assert!(h.ok(&["status", "db"]).contains("serving"));
}

#[test]
fn a_chain_of_notify_services_starts_each_on_the_previous_ones_ready() {
    let mut h = Harness::new();
    h.service("a", &late_ready(&h, "a", ""));
    h.service("b", &late_ready(&h, "b", "    requires \"a\"\n"));
    h.service("c", &late_ready(&h, "c", "    requires \"b\"\n"));
    h.start();
    h.wait_state("a", "STARTING");
    for (me, next) in [("a", "b"), ("b", "c")] {
        // The next one is not spawned until this one says READY=1, however long that takes.
        assert_eq!(h.state(next), "PENDING");
        touch(&h.path(&format!("{me}.go")));
        h.wait_state(me, "RUNNING");
        h.wait_state(next, "STARTING");
    }
    touch(&h.path("c.go"));
    h.wait_state("c", "RUNNING");
    // In the log: each RUNNING comes before the next spawn.
    let log = h.log_text();
    let at = |text: &str| log.find(text).unwrap_or_else(|| panic!("{text} in {log}"));
    let running = |name: &str| {
        let pid = h.pid(name).unwrap();
        at(&format!("{name} (pid {pid}) is RUNNING"))
    };
    assert!(running("a") < at("b spawned"));
    assert!(running("b") < at("c spawned"));
}

#[test]
fn journald_is_running_when_it_says_so() {
    use crate::logging::journal::{Journal, DEV_LOG};
    let journal = Journal::new();
    let mut h = Harness::new();
    h.mount_ns = Some(journal.mount_ns());
    h.service(
        "journald",
        r#"service "journald" {
    cmd "/lib/systemd/systemd-journald"
    ready "notify"
    ready-timeout 60
}
service "after-journal" {
    cmd "/bin/sleep" "1000"
    starttime 0
    requires "journald"
}"#,
    );
    h.start();
    h.wait_state("after-journal", "RUNNING");
    assert_eq!(h.state("journald"), "RUNNING");
    // journald's own STATUS= text, and its socket was there when it said READY=1.
    assert!(
        h.detail("journald").contains("Processing requests"),
        "{}",
        h.detail("journald")
    );
    let socket = format!("/proc/{}/root{DEV_LOG}", h.daemon_pid());
    assert!(std::path::Path::new(&socket).exists(), "{socket}");
    // Stopped cleanly: it flushes on TERM.
    h.ok(&["stop", "journald"]);
    assert_eq!(h.state("journald"), "STOPPED");
}

#[test]
fn strangers_cannot_make_it_ready_another_service_or_another_uid() {
    let mut h = Harness::new();
    h.open_to_others();
    h.service("target", &late_ready(&h, "target", ""));
    let socket = h.notify_socket();
    let spoof = h.perl_script(
        "spoofer",
        &format!(r#"notify("READY=1\nSTATUS=spoofed", "{socket}"); print "sent\n"; sleep 1000;"#),
    );
    h.service(
        "spoofer",
        &format!("service \"spoofer\" {{\n    {spoof}\n    starttime 0\n}}\n"),
    );
    h.start();
    h.wait_state("spoofer", "RUNNING");
    let spoofer = h.pid("spoofer").unwrap();
    h.wait_log(&["ignored a message from pid", &spoofer.to_string()]);
    // A process of another user, outside every service.
    let nobody = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/perl",
        ])
        .arg(h.path("spoofer.pl"))
        .env("NOTIFY_SOCKET", &socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("setpriv");
    let nobody_pid = nobody.id();
    h.wait_log(&[
        "ignored a message from pid",
        &format!("{nobody_pid} (uid 65534)"),
    ]);
    kill(nobody_pid as i32, libc::SIGKILL);
    let _ = wait_output(nobody, "spoofer as nobody");
    assert_eq!(h.state("target"), "STARTING");
    assert_eq!(h.detail("target"), "warming up");
    // The socket does work for the target itself.
    touch(&h.path("target.go"));
    h.wait_state("target", "RUNNING");
    assert_eq!(h.detail("target"), "serving");
    // Logged once per sender, however often it sends.
    assert_eq!(h.log_text().matches(&format!("pid {spoofer} ")).count(), 1);
}

#[test]
fn a_double_forking_daemon_reports_its_new_main_pid() {
    let mut h = Harness::new();
    let pidfile = h.p("daemon.pid");
    let cmd = h.perl_script(
        "forker",
        &format!(
            r#"use POSIX ();
defined(my $child = fork) or die "fork: $!";
if ($child == 0) {{
    POSIX::setsid();
    defined(my $grandchild = fork) or die;
    if ($grandchild == 0) {{ write_file("{pidfile}", "$$\n"); sleep 1000; exit 0; }}
    exit 0;
}}
waitpid($child, 0);
wait_for("{pidfile}");
open(my $f, '<', "{pidfile}") or die; my $daemon = <$f>;
notify("MAINPID=$daemon\nREADY=1");
exit 0;"#
        ),
    );
    h.service(
        "forker",
        &format!("service \"forker\" {{\n    {cmd}\n    ready \"notify\"\n}}\n"),
    );
    h.start();
    h.wait_state("forker", "RUNNING");
    let daemon: i32 = wait_file(&h.path("daemon.pid")).trim().parse().unwrap();
    wait_until("status shows the new main pid", || {
        h.pid("forker") == Some(daemon)
    });
    h.wait_log(&[&format!("main pid is now {daemon}")]);
    // The first process exited (0): the instance stays RUNNING on its daemon.
    assert_eq!(h.state("forker"), "RUNNING");
    // The daemon's death is the instance's: it is restarted.
    std::fs::remove_file(h.path("daemon.pid")).unwrap();
    kill(daemon, libc::SIGKILL);
    h.wait_log(&[&format!("(pid {daemon}) exited with signal KILL")]);
    wait_until("a new daemon", || {
        h.pid("forker").is_some_and(|p| p != daemon) && h.state("forker") == "RUNNING"
    });
}

#[test]
fn fd_readiness_is_a_newline_on_the_named_fd() {
    let mut h = Harness::new();
    let go = h.p("fd.go");
    h.service(
        "fd",
        &format!(
            r#"service "fd" {{
    cmd "/bin/sh" "-c" "while [ ! -e {go} ]; do sleep 0.01; done; echo >&5; exec sleep 1000"
    ready "fd:5"
}}"#
        ),
    );
    h.start();
    h.wait_state("fd", "STARTING");
    touch(&h.path("fd.go"));
    h.wait_state("fd", "RUNNING");
}

#[test]
fn never_ready_fails_the_start_and_stops_its_process_group() {
    let mut h = Harness::new();
    let helper = h.p("helper.pid");
    h.service(
        "mute",
        &format!(
            r#"service "mute" {{
    cmd "/bin/sh" "-c" "sleep 1000 & echo $! > {helper}; exec sleep 1000"
    ready "notify"
    ready-timeout 1
    startretries 1
    stoptime 1
}}"#
        ),
    );
    h.start();
    let first_helper: i32 = wait_file(&h.path("helper.pid")).trim().parse().unwrap();
    h.wait_log(&["mute", "did not report ready within 1.00s"]);
    h.wait_log(&["mute", "BACKOFF"]);
    h.wait_state("mute", "FATAL");
    assert!(
        h.detail("mute").contains("without reporting ready"),
        "{}",
        h.detail("mute")
    );
    wait_until("the helper in its group is gone", || !alive(first_helper));
}

#[test]
fn a_watchdog_that_stops_pinging_is_aborted_and_restarted() {
    let mut h = Harness::new();
    let stop = h.p("stop-pinging");
    let seen = h.p("watchdog-env");
    let cmd = h.perl_script(
        "pinger",
        &format!(
            r#"write_file("{seen}", "$$ $ENV{{WATCHDOG_PID}} $ENV{{WATCHDOG_USEC}}\n");
notify("READY=1");
until (-e "{stop}") {{ notify("WATCHDOG=1"); select(undef, undef, undef, 0.05); }}
sleep 1000;"#
        ),
    );
    h.service(
        "pinger",
        &format!(
            "service \"pinger\" {{\n    {cmd}\n    ready \"notify\"\n    watchdog 2\n    stoptime 1\n    limits {{\n        core 0\n    }}\n}}\n"
        ),
    );
    h.start();
    let pid = h.running_pid("pinger");
    let env = wait_file(&h.path("watchdog-env"));
    assert_eq!(env.trim(), format!("{pid} {pid} 2000000"));
    // Pinging, it stays up well past the period.
    wait_until("a few periods", || {
        h.instance("pinger")["uptime_secs"].as_u64() >= Some(5)
    });
    assert_eq!(h.pid("pinger"), Some(pid));
    touch(&h.path("stop-pinging"));
    h.wait_log(&[&format!(
        "pinger (pid {pid}) sent no WATCHDOG=1 for 2.00s: SIGABRT"
    )]);
    h.wait_log(&[&format!("pinger (pid {pid}) exited with signal ABRT")]);
    std::fs::remove_file(h.path("stop-pinging")).unwrap();
    wait_until("restarted", || h.pid("pinger").is_some_and(|p| p != pid));
    h.wait_state("pinger", "RUNNING");
}

#[test]
fn env_files_variables_and_instance_names_reach_every_process() {
    let mut h = Harness::new();
    let defaults = h.path("defaults");
    std::fs::write(
        &defaults,
        "# like /etc/default/ssh\nGREETING=\"hello there\"\nOPTS=-a -b\n",
    )
    .unwrap();
    let out = h.p("out");
    h.service(
        "worker",
        &format!(
            r#"service "worker" {{
    cmd "/bin/sh -c 'echo \"${{GREETING}}|$TASKMASTER_SERVICE|$TASKMASTER_NAME|$0 $1|$$$$\" > {out}-${{TASKMASTER_INSTANCE}}; exec sleep 1000' ${{OPTS}}"
    numprocs 2
    starttime 0
    env-file "{}" "-/nonexistent/optional"
    env {{
        OPTS "-x -y"
    }}
}}"#,
            defaults.display()
        ),
    );
    h.start();
    for i in 0..2 {
        let pid = h.running_pid(&format!("worker:{i}"));
        let line = wait_file(&h.path(&format!("out-{i}")));
        // env overrides env-file; ${OPTS} as a whole argument became two arguments.
        assert_eq!(
            line.trim(),
            format!("hello there|worker|worker:{i}|-x -y|{pid}")
        );
    }
}

#[test]
fn a_missing_or_malformed_env_file_is_fatal_at_start_naming_it() {
    let mut h = Harness::new();
    let missing = h.p("missing.env");
    let bad = h.path("bad.env");
    std::fs::write(&bad, "A=1\n\nthis is not an assignment\n").unwrap();
    h.service(
        "a",
        &format!(
            "service \"a\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    env-file \"{missing}\"\n}}\n"
        ),
    );
    h.service(
        "b",
        &format!(
            "service \"b\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    env-file \"{}\"\n}}\n",
            bad.display()
        ),
    );
    h.start();
    h.wait_state("a", "FATAL");
    assert_eq!(
        h.detail("a"),
        format!("env-file {missing}: No such file or directory")
    );
    h.wait_state("b", "FATAL");
    assert!(
        h.detail("b").contains("line 3: expected KEY=VALUE"),
        "{}",
        h.detail("b")
    );
    // The file may appear later: start tries again.
    std::fs::write(&missing, "X=1\n").unwrap();
    h.ok(&["start", "a"]);
    assert_eq!(h.state("a"), "RUNNING");
}

#[test]
fn the_restart_limit_ends_a_crash_loop_and_start_resets_it() {
    let mut h = Harness::new();
    h.service(
        "loop",
        r#"service "loop" {
    cmd "/bin/sh" "-c" "sleep 0.05; exit 1"
    starttime 0
    autorestart "always"
    restart-limit 3 60
}"#,
    );
    h.start();
    h.wait_state("loop", "FATAL");
    assert_eq!(h.detail("loop"), "restart limit: 3 restarts in 60 s");
    h.wait_log(&["loop", "FATAL: restart limit: 3 restarts in 60 s"]);
    assert_eq!(h.instance("loop")["restarts"], 3);
    h.ok(&["start", "loop"]);
    wait_until("it crash-loops again, then stops again", || {
        h.instance("loop")["restarts"].as_u64() == Some(6) && h.state("loop") == "FATAL"
    });
}

#[test]
fn an_automatic_restart_leaves_requirers_running_binds_to_bounces() {
    let mut h = Harness::new();
    h.service(
        "stack",
        r#"service "redis" {
    cmd "/bin/sleep" "1000"
    starttime 0
}
service "app" {
    cmd "/bin/sleep" "1000"
    starttime 0
    requires "redis"
}
service "sidecar" {
    cmd "/bin/sleep" "1000"
    starttime 0
    binds-to "redis"
}"#,
    );
    h.start();
    let redis = h.running_pid("redis");
    let app = h.running_pid("app");
    let sidecar = h.running_pid("sidecar");
    kill(redis, libc::SIGKILL);
    wait_until("redis back", || h.pid("redis").is_some_and(|p| p != redis));
    wait_until("the sidecar was bounced", || {
        h.pid("sidecar").is_some_and(|p| p != sidecar) && h.state("sidecar") == "RUNNING"
    });
    assert_eq!(h.pid("app"), Some(app), "{}", h.log_text());
    // An explicit restart still stops the app first and brings it back.
    h.ok(&["restart", "redis"]);
    h.wait_state("app", "RUNNING");
    assert_ne!(h.pid("app"), Some(app));
}

#[test]
fn udevd_is_running_when_it_says_so() {
    // systemd-udevd as an unprivileged root of its own user namespace, with a network
    // namespace (kernel uevents reach only namespaces of the host's user namespace, so it
    // handles no device of this machine) and a private /run and /dev to write in.
    let mut h = Harness::new();
    h.service(
        "udevd",
        r#"service "udevd" {
    cmd "/lib/systemd/systemd-udevd"
    ready "notify"
    ready-timeout 60
    stoptime 5
}"#,
    );
    let daemon = format!(
        "mount -t tmpfs tmpfs /run && mount -t tmpfs -o mode=0755 tmpfs /dev && touch /dev/null \
         && mount --bind /proc/self/fd/0 /dev/null && exec {} -c {} -s {} -l {} --no-syslog",
        taskmasterd_bin(),
        h.services.display(),
        h.socket.display(),
        h.log.display()
    );
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--net",
        "--mount",
        "--propagation",
        "private",
    ])
    .args(["--", "sh", "-c", &daemon])
    .stdin(std::process::Stdio::null());
    h.in_test_cgroup(&mut cmd);
    h.start_command(cmd);
    h.wait_state("udevd", "RUNNING");
    // Its own STATUS= text ("Processing with N children at max").
    assert!(
        h.detail("udevd").contains("Processing"),
        "{}",
        h.detail("udevd")
    );
    h.ok(&["stop", "udevd"]);
    assert_eq!(h.state("udevd"), "STOPPED");
}

#[test]
fn bad_readiness_fields_are_errors_with_their_position() {
    let h = Harness::new();
    h.service(
        "r",
        r#"service "r" {
    cmd "/bin/true"
    ready "socket"
}
service "s" {
    cmd "/bin/true"
    ready "fd:1"
    watchdog 5
}
service "t" {
    cmd "/bin/true"
    ready "fd:-3"
    env-file "relative/path"
    restart-limit 5
}
service "u" {
    cmd "/bin/true"
    binds-to "nowhere"
}"#,
    );
    let out = h.check();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let file = h.service_path("r").display().to_string();
    let expected = [
        ("3:5", &["ready", "\"socket\"", "\"notify\""][..]),
        ("7:5", &["ready", "\"fd:1\"", "stdin, stdout and stderr"]),
        ("8:5", &["watchdog", "needs `ready \"notify\"`"]),
        ("12:5", &["ready", "\"fd:-3\""]),
        ("13:5", &["env-file", "absolute path", "relative/path"]),
        ("14:5", &["restart-limit", "N SECONDS", "1 value"]),
        ("16:1", &["u", "binds-to", "unknown service `nowhere`"]),
    ];
    for (position, words) in expected {
        let prefix = format!("{file}:{position}");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&prefix) && words.iter().all(|w| l.contains(w))),
            "no error {prefix} with {words:?} in:\n{err}"
        );
    }
}

#[test]
fn a_shell_script_says_ready_with_systemd_notify() {
    // As root, systemd-notify sends with its parent's pid (the script, the main process), so
    // its word counts even when it has exited before the daemon reads it.
    let mut h = Harness::new();
    let go = h.p("script.go");
    h.service(
        "script",
        &format!(
            r#"service "script" {{
    cmd "/bin/sh" "-c" "while [ ! -e {go} ]; do sleep 0.01; done; systemd-notify --ready --status='all set'; exec sleep 1000"
    ready "notify"
}}"#
        ),
    );
    h.start();
    h.wait_state("script", "STARTING");
    touch(&h.path("script.go"));
    h.wait_state("script", "RUNNING");
    assert_eq!(h.detail("script"), "all set");
}

#[test]
fn restarting_or_stopping_a_finished_oneshot_goes_through_what_requires_it() {
    let mut h = Harness::new();
    let runs = h.p("migrations");
    h.service(
        "stack",
        &format!(
            r#"service "migrate" {{
    type "oneshot"
    cmd "/bin/sh" "-c" "echo run >> {runs}"
}}
service "app" {{
    cmd "/bin/sleep" "1000"
    starttime 0
    requires "migrate"
}}"#
        ),
    );
    h.start();
    let app = h.running_pid("app");
    assert_eq!(h.state("migrate"), "EXITED");
    h.ok(&["restart", "migrate"]);
    h.wait_state("app", "RUNNING");
    assert_ne!(h.pid("app"), Some(app), "app went down and came back");
    assert_eq!(lines(&h.path("migrations")).len(), 2);
    let log = h.log_text();
    let app_stop = log
        .find(&format!("app (pid {app}) stop requested"))
        .unwrap();
    let second_run = log.rfind("migrate spawned").unwrap();
    assert!(
        app_stop < second_run,
        "app stopped before migrate ran again:\n{log}"
    );
    h.ok(&["stop", "migrate"]);
    assert_eq!(h.state("app"), "STOPPED");
    assert_eq!(h.state("migrate"), "STOPPED");
    // Starting app pulls migrate in again.
    h.ok(&["start", "app"]);
    assert_eq!(lines(&h.path("migrations")).len(), 3);
}
