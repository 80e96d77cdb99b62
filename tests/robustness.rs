//! Inputs that once could stall, mislead or end the daemon (found in review).

use crate::common::*;

#[test]
fn output_to_a_fifo_with_no_reader_fails_that_service_not_the_loop() {
    let mut h = Harness::new();
    let fifo = h.path("out.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    h.service(
        "fifo",
        &format!(
            "service \"fifo\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    stdout \"{}\"\n}}\nservice \"ok\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n}}\n",
            fifo.display()
        ),
    );
    h.start();
    h.wait_state("fifo", "FATAL");
    assert!(
        h.detail("fifo").contains("No such device or address"),
        "{}",
        h.detail("fifo")
    );
    h.wait_state("ok", "RUNNING");
}

#[test]
fn a_socket_path_that_is_another_kind_of_file_is_refused_and_kept() {
    let h = Harness::new();
    std::fs::write(&h.socket, "precious").expect("write");
    let out = h.run_daemon_to_exit();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a socket"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&h.socket).expect("kept"),
        "precious"
    );
}

#[test]
fn tmctl_signal_delivers_realtime_signals() {
    let mut h = Harness::new();
    let got = h.path("got");
    h.service(
        "rt",
        &format!(
            "service \"rt\" {{\n    cmd \"/bin/bash\" \"-c\" \"trap 'echo rt >> {}' RTMIN+1; while :; do sleep 0.1; done\"\n    starttime 0\n}}\n",
            got.display()
        ),
    );
    h.start();
    h.wait_state("rt", "RUNNING");
    wait_until("bash to install its trap", || {
        let pid = h.pid("rt").unwrap_or(0);
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("SigCgt:"))
                    .map(|l| l.to_string())
            })
            .and_then(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
            .is_some_and(|mask| mask & (1 << (libc::SIGRTMIN())) != 0)
    });
    h.ok(&["signal", "RTMIN+1", "rt"]);
    wait_until("the RTMIN+1 trap to run", || got.exists());
}

#[test]
fn a_service_named_all_is_refused() {
    let h = Harness::new();
    h.service("all", "service \"all\" {\n    cmd \"/bin/true\"\n}\n");
    let out = h.check();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"all\" is reserved"), "{stderr}");
}

#[test]
fn as_pid1_words_the_kernel_passes_for_another_init_are_ignored() {
    let h = Harness::new();
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n}\n",
    );
    let mut child = h
        // Words of other inits' (`single` is taskmaster's own rescue word: tests/pid1.rs).
        .pid1_command(&[
            &"--no-syslog",
            &"splash",
            &"emergency",
            &"systemd.unit=rescue.target",
        ])
        .spawn()
        .expect("unshare taskmasterd");
    let socket = h.socket.clone();
    wait_until("the control socket", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    h.wait_state("web", "RUNNING");
    h.ok(&["poweroff"]);
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the namespace ends by reboot(2)");
}

#[test]
fn the_daemon_raises_its_own_open_files_limit_but_services_keep_the_original() {
    use std::os::unix::process::CommandExt;
    let mut h = Harness::new();
    h.sleeper("a");
    let mut cmd = h.daemon_command();
    // SAFETY: setrlimit is async-signal-safe; it lowers only the child's soft limit.
    unsafe {
        cmd.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = 256.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    h.start_command(cmd);
    h.wait_state("a", "RUNNING");
    let soft = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/limits"))
            .expect("limits")
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
            .expect("Max open files")
    };
    let service = h.running_pid("a");
    assert_eq!(
        soft(service),
        "256",
        "the service keeps the limit it was given"
    );
    assert_ne!(soft(h.daemon_pid()), "256", "the daemon raised its own");
}

/// Processes on this machine whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
        })
        .collect()
}

#[test]
fn a_shell_that_cannot_start_leaves_no_service_running_unsupervised() {
    let h = Harness::new();
    // A sleep nobody else runs, to find it again.
    let marker = format!("1000.{}", std::process::id());
    h.service(
        "web",
        &format!("service \"web\" {{\n    cmd \"/bin/sleep\" \"{marker}\"\n    starttime 0\n}}\n"),
    );
    // Without /proc the daemon cannot find its own executable to run the shell.
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("umount -l /proc && exec \"$0\" \"$@\"")
        .arg(taskmasterd_bin())
        .arg("-c")
        .arg(&h.services)
        .arg("-s")
        .arg(&h.socket)
        .arg("-l")
        .arg(&h.log)
        .arg("--state-dir")
        .arg(h.state_dir())
        .args(["--no-syslog", "--shell"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = wait_output(cmd.spawn().expect("unshare"), "taskmasterd --shell to fail");
    let leaked = processes_with(&marker);
    for pid in &leaked {
        kill(*pid, libc::SIGKILL);
    }
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--shell"), "{}", text(&out));
    assert!(leaked.is_empty(), "services left running: {leaked:?}");
}

/// Holds every process `daemon` forks from now on before it can run a single instruction
/// (ptrace: the forked child is attached and stopped), while the daemon itself keeps
/// running. Dropping it kills the held children and lets the daemon go.
struct ForkHold {
    release: std::sync::mpsc::Sender<()>,
    held: std::sync::mpsc::Receiver<i32>,
    tracer: Option<std::thread::JoinHandle<()>>,
}

impl ForkHold {
    fn new(daemon: i32) -> ForkHold {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (report, held) = std::sync::mpsc::channel::<i32>();
        let (ready, attached) = std::sync::mpsc::channel::<()>();
        // ptrace requests must come from the thread that attached: one thread does it all,
        // waiting only for its tracees by pid (never for other tests' children).
        let tracer = std::thread::spawn(move || {
            // SAFETY: ptrace with integer arguments; PTRACE_SEIZE attaches without stopping.
            let seized = unsafe {
                libc::ptrace(
                    libc::PTRACE_SEIZE,
                    daemon,
                    0,
                    libc::PTRACE_O_TRACEFORK as libc::c_ulong,
                )
            };
            assert_eq!(
                seized,
                0,
                "ptrace seize: {}",
                std::io::Error::last_os_error()
            );
            let _ = ready.send(());
            let mut children = Vec::new();
            loop {
                if released.try_recv().is_ok() {
                    break;
                }
                let mut status = 0;
                // SAFETY: waitpid on our tracee, with a valid pointer to a local int.
                let pid =
                    unsafe { libc::waitpid(daemon, &mut status, libc::__WALL | libc::WNOHANG) };
                if pid != daemon {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                if !libc::WIFSTOPPED(status) {
                    break; // the daemon is gone
                }
                let signal = libc::WSTOPSIG(status);
                let event = (status >> 16) & 0xffff;
                let mut forward = 0;
                if event == libc::PTRACE_EVENT_FORK {
                    let mut child: libc::c_ulong = 0;
                    // SAFETY: GETEVENTMSG writes one c_ulong into the local we own.
                    unsafe { libc::ptrace(libc::PTRACE_GETEVENTMSG, daemon, 0, &mut child) };
                    children.push(child as i32);
                    let _ = report.send(child as i32);
                } else if event == 0 {
                    forward = signal; // a signal for the daemon (SIGCHLD, …): deliver it
                }
                // SAFETY: restarting our stopped tracee, delivering `forward` (0: none).
                unsafe { libc::ptrace(libc::PTRACE_CONT, daemon, 0, forward as libc::c_ulong) };
            }
            for child in children {
                kill(child, libc::SIGKILL);
                let mut status = 0;
                // SAFETY: waitpid on our tracee; lets its real parent (the daemon) reap it.
                unsafe { libc::waitpid(child, &mut status, libc::__WALL) };
            }
            // SAFETY: integer arguments; stops the daemon so that it can be detached.
            unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, daemon, 0, 0) };
            loop {
                let mut status = 0;
                // SAFETY: waitpid on our tracee, with a valid pointer to a local int.
                let pid = unsafe { libc::waitpid(daemon, &mut status, libc::__WALL) };
                if pid != daemon || !libc::WIFSTOPPED(status) {
                    return;
                }
                let event = (status >> 16) & 0xffff;
                let forward = if event == 0 {
                    libc::WSTOPSIG(status)
                } else {
                    0
                };
                if event == libc::PTRACE_EVENT_STOP || forward != 0 {
                    // SAFETY: detaching our stopped tracee, delivering a pending signal.
                    unsafe {
                        libc::ptrace(libc::PTRACE_DETACH, daemon, 0, forward as libc::c_ulong)
                    };
                    return;
                }
                // SAFETY: restarting our stopped tracee.
                unsafe { libc::ptrace(libc::PTRACE_CONT, daemon, 0, 0) };
            }
        });
        attached.recv().expect("the tracer attached");
        ForkHold {
            release,
            held,
            tracer: Some(tracer),
        }
    }

    /// The next child held (waits for the fork).
    fn next_child(&self) -> i32 {
        self.held.recv_timeout(TIMEOUT).expect("a fork")
    }
}

impl Drop for ForkHold {
    fn drop(&mut self) {
        let _ = self.release.send(());
        if let Some(tracer) = self.tracer.take() {
            let _ = tracer.join();
        }
    }
}

#[test]
fn a_child_held_before_execve_does_not_hold_the_loop() {
    let mut h = Harness::new();
    h.sleeper("a");
    h.service(
        "held",
        "service \"held\" {\n    cmd \"/bin/sleep\" \"1000\"\n    autostart #false\n}\n",
    );
    h.start();
    h.wait_state("a", "RUNNING");
    let hold = ForkHold::new(h.daemon_pid());
    // As a workingdir on a hung NFS server would: the child never reaches execve.
    let start = h
        .ctl_command(&["start", "held"])
        .spawn()
        .expect("tmctl start");
    let child = hold.next_child();
    // The loop answers meanwhile, and already knows the child's pid.
    let held = h.instance("held");
    assert_eq!(held["pid"], child, "{held}");
    h.ok(&["status", "a"]);
    // Released (killed before execve), it counts as a failed start and is retried.
    drop(hold);
    let out = wait_output(start, "tmctl start");
    assert!(out.status.success(), "{}", text(&out));
    h.wait_state("held", "RUNNING");
    assert!(h.daemon_alive());
}

#[test]
fn a_pre_start_that_cannot_execute_fails_its_service_with_the_reason() {
    // Spawning returns at fork; the failed chdir arrives with the helper's reaping.
    let mut h = Harness::new();
    h.service(
        "a",
        "service \"a\" {\n    cmd \"/bin/sleep\" \"100\"\n    pre-start \"/bin/true\"\n    workingdir \"/nonexistent-dir\"\n    startretries 0\n}\n",
    );
    h.start();
    h.wait_state("a", "FATAL");
    let detail = h.detail("a");
    assert!(
        detail.contains("pre-start failed") && detail.contains("chdir /nonexistent-dir"),
        "{detail}"
    );
    h.ok(&["status"]);
}

/// A mount namespace where /etc/passwd is a FIFO: every NSS lookup of a user by name opens
/// it and waits there until someone writes the file, as a lookup waits on a hung LDAP or
/// sssd. Served with the real file on demand.
pub struct HungPasswd {
    holder: std::process::Child,
    fifo: std::path::PathBuf,
    /// No test of this process replaces /etc/passwd meanwhile (which would leave the FIFO
    /// mounted over a file the path no longer names).
    _accounts: std::sync::RwLockReadGuard<'static, ()>,
}

impl HungPasswd {
    pub fn new(h: &Harness) -> HungPasswd {
        use std::io::BufRead;
        let accounts = crate::common::users::accounts_unchanged();
        let fifo = h.path("passwd.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        let mut holder = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"mount --bind "$0" /etc/passwd && echo ready && exec sleep 1000000"#)
            .arg(&fifo)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("unshare (util-linux)");
        let mut line = String::new();
        if let Some(out) = holder.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        assert_eq!(line.trim(), "ready", "bind-mounting a FIFO on /etc/passwd");
        HungPasswd {
            holder,
            fifo,
            _accounts: accounts,
        }
    }

    pub fn mount_ns(&self) -> std::path::PathBuf {
        format!("/proc/{}/ns/mnt", self.holder.id()).into()
    }

    /// Hands the real passwd file to every reader waiting on the FIFO now; how many.
    pub fn serve(&self) -> usize {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let passwd = std::fs::read("/etc/passwd").expect("read /etc/passwd");
        let mut served = 0;
        // Opening for writing without blocking works only while a reader waits.
        while let Ok(mut fifo) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.fifo)
        {
            let _ = fifo.write_all(&passwd);
            served += 1;
        }
        served
    }
}

impl Drop for HungPasswd {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Whether a thread of `pid` is inside openat(2) now (blocked on the FIFO).
fn in_openat(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("syscall"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
            == Some(libc::SYS_openat)
    })
}

#[test]
fn a_user_lookup_that_hangs_holds_up_its_run_not_the_loop() {
    let mut h = Harness::new();
    let passwd = HungPasswd::new(&h);
    h.mount_ns = Some(passwd.mount_ns());
    h.open_to_others();
    h.service(
        "a",
        "service \"a\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n}\n",
    );
    h.start();
    h.wait_state("a", "RUNNING");
    let run = h
        .ctl_command(&["run", "--user", "nobody", "--", "/bin/sh", "-c", "id -u"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tmctl run");
    let daemon = h.daemon_pid();
    wait_until("the lookup of nobody waits on /etc/passwd", || {
        in_openat(daemon)
    });
    // Meanwhile the loop answers, starts and stops as ever.
    h.ok(&["stop", "a"]);
    h.ok(&["start", "a"]);
    assert_eq!(h.state("a"), "RUNNING");
    // Once the lookup gets its answer, the run goes on as if nothing had happened.
    let mut served = 0;
    wait_until("the lookup has read /etc/passwd", || {
        served += passwd.serve();
        served > 0 && !in_openat(daemon)
    });
    let out = wait_output(run, "tmctl run --user nobody");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "65534\n");
}
