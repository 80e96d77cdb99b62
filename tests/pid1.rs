//! taskmasterd as PID 1 of a pid namespace. Every test also enters a user namespace
//! (`unshare --user --map-root-user`), where the kernel refuses remounting `/` read-only and
//! other machine-wide steps instead of applying them to this host, and reboot(2) just ends
//! the namespace; the shutdown must carry on past every refusal.

use crate::common::*;
use std::process::Child;
use std::time::{Duration, Instant};

/// A taskmasterd running as PID 1 in fresh user + pid + mount namespaces.
struct Init {
    h: Harness,
    unshare: Child,
}

impl Init {
    fn start(h: Harness, extra: &[&str]) -> Init {
        let init = Init::spawn(h, extra);
        let socket = init.h.socket.clone();
        wait_until("the PID 1 control socket", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        init
    }

    /// Starts it without waiting for the socket (for a namespace that may end at once).
    fn spawn(h: Harness, extra: &[&str]) -> Init {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"--no-syslog"];
        args.extend(extra.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
        let unshare = h.pid1_command(&args).spawn().expect("unshare taskmasterd");
        Init { h, unshare }
    }

    /// The daemon's pid as this host sees it (the child of `unshare`).
    fn host_pid(&self) -> i32 {
        self.try_host_pid().expect("taskmasterd under unshare")
    }

    fn try_host_pid(&self) -> Option<i32> {
        let children = format!("/proc/{0}/task/{0}/children", self.unshare.id());
        std::fs::read_to_string(children)
            .ok()?
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
    }

    /// Waits for the namespace to end; returns how unshare ended (its code or 128+signal).
    fn wait_end(&mut self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.unshare.try_wait().expect("try_wait") {
                use std::os::unix::process::ExitStatusExt;
                return status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            }
            assert!(Instant::now() < deadline, "the namespace did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        // Killing the namespace's init kills everything in it.
        if self.unshare.try_wait().ok().flatten().is_none() {
            if let Some(init) = self.try_host_pid() {
                // SAFETY: kill(2) on the namespace's init, a descendant of this test.
                unsafe { libc::kill(init, libc::SIGKILL) };
            }
            let _ = self.unshare.kill();
            let _ = self.unshare.wait();
        }
    }
}

/// Processes in state Z on this host whose parent is `parent`.
fn zombies_of(parent: i32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let ppid = fields.next().and_then(|p| p.parse::<i32>().ok());
            state == Some("Z") && ppid == Some(parent)
        })
        .count()
}

/// Host pids of every process in the namespace but its init.
fn processes_under(init: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut todo = vec![init];
    while let Some(pid) = todo.pop() {
        let children = format!("/proc/{pid}/task/{pid}/children");
        for child in std::fs::read_to_string(children)
            .unwrap_or_default()
            .split_whitespace()
        {
            if let Ok(child) = child.parse() {
                found.push(child);
                todo.push(child);
            }
        }
    }
    found
}

#[test]
fn runs_services_as_pid_1_and_reaps_every_orphan() {
    let h = Harness::new();
    // Each round double-forks: the grandchild is orphaned to PID 1 and dies at once.
    h.service(
        "orphans",
        r#"service "orphans" {
    cmd "/bin/sh" "-c" "i=0; while [ $i -lt 300 ]; do ( /bin/true & ); i=$((i+1)); done; echo done > orphans.done; exec sleep 1000"
    workingdir "/tmp"
    starttime 0
}"#,
    );
    let marker = std::path::Path::new("/tmp/orphans.done");
    let _ = std::fs::remove_file(marker);
    let init = Init::start(h, &[]);
    init.h.wait_state("orphans", "RUNNING");
    // The first pids of the namespace: PID 1, its threads (the state-files writer) and the
    // first service.
    let threads = std::fs::read_dir(format!("/proc/{}/task", init.host_pid()))
        .map(|d| d.count())
        .unwrap_or(1);
    // The writer thread starts with the first state change, before or after the first
    // spawn: the service is one of the pids that follow PID 1.
    let first_pids = 2..=i32::try_from(threads).unwrap_or(1) + 1;
    let pid = init.h.pid("orphans");
    assert!(
        pid.is_some_and(|pid| first_pids.contains(&pid)),
        "first service {pid:?} is among the first pids after PID 1 ({first_pids:?}) in the namespace"
    );
    wait_until("the orphan storm to finish", || marker.exists());
    let pid1 = init.host_pid();
    wait_until("no zombie left under PID 1", || zombies_of(pid1) == 0);
    let _ = std::fs::remove_file(marker);
}

#[test]
fn sigterm_stops_services_in_reverse_order_then_kills_the_rest_and_ends_the_namespace() {
    let h = Harness::new();
    let order = h.path("order");
    // Up once its trap is set and its start line written (not after a fixed starttime,
    // which a shell on a loaded machine may not meet).
    let record = |name: &str| {
        format!(
            r#"cmd "/bin/sh" "-c" "trap 'echo {name} stop >> {0}; exit 0' TERM; echo {name} start >> {0}; echo >&3; exec 3>&-; while :; do sleep 1 & wait; done"
    ready "fd:3""#,
            order.display()
        )
    };
    h.service(
        "chain",
        &format!(
            r#"service "db" {{
    {}
}}
service "web" {{
    {}
    requires "db"
}}
service "stray" {{
    // Leaves behind a process that ignores SIGTERM and is no service: without cgroups,
    // only the final SIGKILL after the grace period ends it.
    cmd "/bin/sh" "-c" "setsid sh -c 'trap \"\" TERM; while :; do sleep 1; done' & exit 0"
    type "oneshot"
}}"#,
            record("db"),
            record("web")
        ),
    );
    let mut init = Init::start(h, &["--kill-grace", "1"]);
    init.h.wait_state("web", "RUNNING");
    init.h.wait_state("stray", "EXITED");
    let pid1 = init.host_pid();
    wait_until("the stray process to be running", || {
        processes_under(pid1).len() >= 4
    });

    // SAFETY: kill(2) of the namespace's init.
    unsafe { libc::kill(pid1, libc::SIGTERM) };
    let ended = init.wait_end();
    // RB_AUTOBOOT in a pid namespace ends its init with SIGHUP.
    // The log file is closed before unmounting (a file open for writing keeps `/` from
    // going read-only); the last steps, unmount and reboot(2), are on the console only.
    assert_eq!(
        ended,
        128 + libc::SIGHUP,
        "namespace init ended by reboot(2)"
    );
    assert_eq!(
        lines(&order),
        ["db start", "web start", "web stop", "db stop"],
        "services stop in reverse dependency order"
    );
    let log = init.h.log_text();
    // With cgroups the stray is one of its oneshot's leftovers: the end of the oneshot waits
    // for its cgroup to be empty and stops them, so none is left for the final kill. Without
    // them, only the grace period's SIGKILL ends it. (How many leftovers the oneshot's end
    // finds depends on whether the stray shell has started its `sleep` yet.)
    let steps: &[&[&str]] = if log.contains("cgroups: each instance runs in") {
        &[
            &["stray: ", " process(es) left in its cgroup"],
            &["stray: its cgroup is empty"],
            &["every process reaped"],
        ]
    } else {
        &[
            &["sent SIGTERM to every process"],
            &["processes left after the 1.0s grace period"],
            &["sent SIGKILL to every process"],
            &["every process reaped"],
        ]
    };
    for step in steps {
        assert!(
            log.lines()
                .any(|l| step.iter().all(|part| l.contains(part))),
            "log lacks {step:?}:\n{log}"
        );
    }
    assert!(
        processes_under(pid1).is_empty(),
        "no process outlives the namespace"
    );
    // Nothing left behind, nothing said about mounts it need not touch.
    assert!(!init.h.socket.exists(), "the control socket is removed");
    let console = init.h.stderr_text();
    assert!(!console.contains("cannot unmount"), "{console}");
    assert!(
        console.contains("mounts are left to the namespace"),
        "{console}"
    );
}

#[test]
fn survives_bad_requests_and_refuses_nothing_it_should_do() {
    let h = Harness::new();
    h.service(
        "web",
        r#"service "web" {
    cmd "/bin/sleep" "1000"
    starttime 0
}"#,
    );
    let mut init = Init::start(h, &[]);
    init.h.wait_state("web", "RUNNING");
    {
        use std::io::Write;
        let mut s = std::os::unix::net::UnixStream::connect(&init.h.socket).expect("connect");
        let _ = s.write_all(b"\x00\xff garbage\n{\"cmd\":\"nope\"}\n");
        let _ = s.write_all(&vec![b'x'; 200 * 1024]);
    }
    assert!(init.h.ctl(&["status"]).status.success(), "still answers");
    // As PID 1, poweroff is accepted and the namespace ends (SIGINT for RB_POWER_OFF).
    init.h.ok(&["poweroff"]);
    assert_eq!(init.wait_end(), 128 + libc::SIGINT);
}

#[test]
fn broken_config_starts_the_emergency_shell_and_a_fixed_one_is_loaded_by_reload() {
    let h = Harness::new();
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    numprocs \"two\"\n}\n",
    );
    let marker = h.path("emergency.ran");
    let shell = h.path("emergency.sh");
    std::fs::write(
        &shell,
        format!("#!/bin/sh\necho ran > {}\n", marker.display()),
    )
    .expect("write shell");
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let init = Init::start(h, &["--emergency-shell", &shell.display().to_string()]);
    wait_until("the emergency shell to run", || marker.exists());
    // The config error is logged (the loop writes its lines at the end of its turn, which
    // may come after the shell has run).
    init.h.wait_log(&["numprocs"]);
    assert!(init.h.status().is_empty());

    init.h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n}\n",
    );
    let out = init.h.ok(&["reload"]);
    assert!(
        out.contains("web"),
        "reload reports the added service: {out}"
    );
    init.h.wait_state("web", "RUNNING");
}

#[test]
fn an_essential_service_going_fatal_ends_the_namespace() {
    let h = Harness::new();
    h.service(
        "core",
        r#"service "core" {
    cmd "/bin/sh" "-c" "exit 1"
    essential #true
    startretries 0
}
service "other" {
    cmd "/bin/sleep" "1000"
    starttime 0
}"#,
    );
    // The essential service fails at once: the namespace may end before anyone connects.
    let mut init = Init::spawn(h, &[]);
    assert_eq!(
        init.wait_end(),
        128 + libc::SIGHUP,
        "rebooted (the namespace ended)"
    );
    let log = init.h.log_text();
    assert!(log.contains("essential service core is FATAL"), "{log}");
    assert!(log.contains("other (pid"), "{log}");
}

#[test]
fn a_reload_of_a_deeply_nested_file_does_not_end_the_namespace() {
    let h = Harness::new();
    h.sleeper("web");
    let mut init = Init::start(h, &[]);
    init.h.wait_state("web", "RUNNING");
    init.h
        .service("deep", &crate::limits::deeply_nested_service(2000));
    let err = init.h.fails(&["reload"]);
    assert!(err.contains("nested more than"), "{err}");
    assert!(
        init.unshare.try_wait().expect("try_wait").is_none(),
        "PID 1 lives on"
    );
    init.h.wait_state("web", "RUNNING");
}

#[test]
fn output_files_are_written_out_and_closed_before_unmounting() {
    let h = Harness::new();
    let out = h.path("web.out");
    h.service(
        "web",
        &format!(
            "service \"web\" {{\n    cmd \"/bin/sh\" \"-c\" \"trap 'echo last words; exit 0' TERM; echo hello; while :; do sleep 0.1; done\"\n    starttime 0\n    stdout \"{}\"\n    stdout-maxbytes \"1MB\"\n}}\n",
            out.display()
        ),
    );
    let mut init = Init::start(h, &[]);
    init.h.wait_state("web", "RUNNING");
    wait_until("the first line in the file", || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.contains("hello"))
    });
    init.h.ok(&["poweroff"]);
    init.wait_end();
    assert_eq!(
        std::fs::read_to_string(&out).expect("output"),
        "hello\nlast words\n"
    );
    let log = init.h.log_text();
    let closed = log
        .find("output file(s) written out and closed")
        .unwrap_or_else(|| panic!("{log}"));
    let unmount = log.find("sync and unmount done").unwrap_or(usize::MAX);
    assert!(closed < unmount, "{log}");
}

#[test]
fn upgrade_works_as_pid_1_and_keeps_every_service() {
    let h = Harness::new();
    h.sleeper("web");
    let init = Init::start(h, &[]);
    let web = init.h.running_pid("web");
    let host_pid = init.host_pid();
    for _ in 0..3 {
        let out = init.h.ok(&["upgrade"]);
        assert!(out.contains("(pid 1) took over 1 instance(s)"), "{out}");
    }
    assert_eq!(init.host_pid(), host_pid, "the same PID 1");
    assert_eq!(init.h.running_pid("web"), web);
    // It still reaps and restarts: the new image owns the children.
    kill(processes_under(host_pid)[0], libc::SIGKILL);
    init.h.wait_log(&["web", "exited with signal KILL"]);
    wait_until("web to come back with another pid", || {
        init.h.state("web") == "RUNNING" && init.h.pid("web") != Some(web)
    });
}

/// The console (this init's stdout and stderr) as lines, for assertions that name them.
fn console_lines(init: &Init) -> Vec<String> {
    init.h.stderr_text().lines().map(str::to_string).collect()
}

fn has_line(lines: &[String], parts: &[&str]) -> bool {
    lines.iter().any(|l| parts.iter().all(|p| l.contains(p)))
}

#[test]
fn the_console_shows_the_boot_then_only_errors_and_the_shutdown_again() {
    let h = Harness::new();
    h.service(
        "stack",
        r#"service "db" {
    cmd "/bin/sleep" "1000"
    starttime 0.3
}
service "web" {
    cmd "/bin/sleep" "1000"
    requires "db"
    starttime 0.3
}
service "broken" {
    cmd "/bin/sh" "-c" "exit 1"
    autostart #false
    startretries 1
    starttime 1
}"#,
    );
    let mut init = Init::start(h, &[]);
    let finished = init
        .h
        .wait_log(&["boot finished in", "2 of 2 instance(s) up"]);
    let web = init.h.running_pid("web");
    let boot = console_lines(&init);
    // The boot's progress, and where to look from now on.
    assert!(
        has_line(&boot, &[&format!("web (pid {web}) is RUNNING")]),
        "{boot:?}"
    );
    assert!(
        has_line(
            &boot,
            &["boot finished in", "only errors", "every event is in"]
        ),
        "{boot:?}"
    );
    assert!(
        finished.contains(&init.h.log.display().to_string()),
        "{finished}"
    );

    // Routine events after the boot: in the log file, not on the console.
    init.h.ok(&["restart", "web"]);
    let web = init.h.running_pid("web");
    init.h.wait_log(&[&format!("web (pid {web}) is RUNNING")]);
    // Trouble: the warning (a failed start, retried) stays in the file, the error (FATAL)
    // reaches the console.
    init.h.fails(&["start", "broken"]);
    let retry = init.h.wait_log(&["broken (pid", "BACKOFF"]);
    assert!(retry.contains(" warning "), "{retry}");
    let fatal = init.h.wait_log(&["broken", "FATAL"]);
    assert!(fatal.contains(" error "), "{fatal}");
    wait_until("the error on the console", || {
        has_line(&console_lines(&init), &["broken", "FATAL"])
    });
    let console = console_lines(&init);
    assert!(!has_line(&console, &[&format!("pid {web}")]), "{console:?}");
    assert!(!has_line(&console, &["broken", "BACKOFF"]), "{console:?}");

    // The shutdown's progress is on the console again.
    init.h.ok(&["poweroff"]);
    assert_eq!(init.wait_end(), 128 + libc::SIGINT);
    let console = console_lines(&init);
    for parts in [
        &["shutdown requested"][..],
        &[
            &format!("web (pid {web}) exited with signal TERM"),
            "STOPPED",
        ][..],
        &["shutdown:", "every process"][..],
    ] {
        assert!(has_line(&console, parts), "{parts:?} not in {console:?}");
    }
}

#[test]
fn a_service_writing_to_the_console_quiets_it_while_the_boot_goes_on() {
    let h = Harness::new();
    h.service(
        "console",
        r#"service "shell" {
    cmd "/bin/sh" "-c" "echo shell says hello; exec sleep 1000"
    stdout "inherit"
    starttime 0
}
service "slow" {
    cmd "/bin/sleep" "1000"
    starttime 1.5
}"#,
    );
    let init = Init::start(h, &[]);
    let slow = init.h.wait_log(&["slow (pid", "is RUNNING"]);
    init.h
        .wait_log(&["shell writes to the console", "only errors"]);
    let console = console_lines(&init);
    assert!(has_line(&console, &["shell says hello"]), "{console:?}");
    assert!(
        has_line(&console, &["shell writes to the console"]),
        "{console:?}"
    );
    // What followed stays off the console it took: slow's start, the end of the boot.
    let slow_running = slow.split_once(" info ").map_or(slow.as_str(), |(_, t)| t);
    assert!(!has_line(&console, &[slow_running]), "{console:?}");
    assert!(!has_line(&console, &["boot finished"]), "{console:?}");
}

#[test]
fn single_on_the_kernel_command_line_boots_rescue_then_leaving_the_shell_boots_the_rest() {
    let h = Harness::new();
    h.service(
        "machine",
        r#"service "fsck" {
    type "oneshot"
    cmd "/bin/true"
    rescue #true
}
service "web" {
    cmd "/bin/sleep" "1000"
    starttime 0
    requires "fsck"
}"#,
    );
    // The rescue shell: says it ran, then waits until the test lets it go (a line on a fifo),
    // as a person would type `exit`.
    let ran = h.path("rescue.ran");
    let leave = h.path("rescue.leave");
    let shell = h.path("rescue.sh");
    assert!(std::process::Command::new("mkfifo")
        .arg(&leave)
        .status()
        .expect("mkfifo")
        .success());
    std::fs::write(
        &shell,
        format!(
            "#!/bin/sh\necho ran > {}\nread line < {}\n",
            ran.display(),
            leave.display()
        ),
    )
    .expect("write shell");
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // `single` is what the kernel passes init for that word on its command line.
    let init = Init::start(
        h,
        &["--emergency-shell", &shell.display().to_string(), "single"],
    );
    wait_until("the rescue shell to run", || ran.exists());
    init.h.wait_state("fsck", "EXITED");
    assert_eq!(init.h.instance("web")["state"], "STOPPED");
    let why = init.h.ok(&["why", "web"]);
    assert!(why.contains("rescue mode"), "{why}");
    let log = init.h.log_text();
    assert!(
        log.contains("rescue mode: starting only the services marked rescue #true (fsck)"),
        "{log}"
    );
    // Leaving the shell continues the boot.
    std::fs::write(&leave, "exit\n").expect("write to the rescue shell's fifo");
    init.h.wait_state("web", "RUNNING");
    assert!(init
        .h
        .log_text()
        .contains("rescue shell closed: continuing the boot"));
    // The console was the shell's while it ran; the rest of the boot shows there again.
    init.h.wait_log(&["boot finished"]);
    let console = console_lines(&init);
    assert!(
        has_line(&console, &["the rescue shell writes to the console"]),
        "{console:?}"
    );
    let web = init.h.running_pid("web");
    assert!(
        has_line(&console, &[&format!("web (pid {web}) is RUNNING")]),
        "{console:?}"
    );
    assert!(has_line(&console, &["boot finished"]), "{console:?}");
}
