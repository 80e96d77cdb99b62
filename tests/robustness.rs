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
        .pid1_command(&[&"--no-syslog", &"splash", &"single"])
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
