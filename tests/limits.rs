//! Every resource a client, a file or a fault can make the daemon spend is bounded, and
//! reaching a bound ends in a clear error, never a wedged or bloated daemon (README "Limits").

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;

/// The daemon's command with both open-files limits set to `n` (as `prlimit --nofile=n:n`).
fn daemon_with_nofile(h: &Harness, n: u64) -> std::process::Command {
    let mut cmd = h.daemon_command();
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's own limits.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn running_out_of_descriptors_pauses_accepting_only_for_a_while() {
    let mut h = Harness::new();
    h.sleeper("a");
    // 18: what the daemon holds from the start (log, sockets, signal pipe, the cgroup
    // subtree's lock) and a service's pipes; the flood below takes the rest.
    let cmd = daemon_with_nofile(&h, 18);
    h.start_command(cmd);
    h.wait_state("a", "RUNNING");
    // More connections than the daemon has descriptors: it accepts what it can, then
    // runs out and pauses accepting.
    let flood: Vec<UnixStream> = (0..40)
        .filter_map(|_| UnixStream::connect(&h.socket).ok())
        .collect();
    h.wait_log(&["out of file descriptors"]);
    drop(flood);
    // The closed connections free the daemon's descriptors; the pause must end by itself.
    wait_until("tmctl status to answer again", || {
        h.ctl(&["status"]).status.success()
    });
    assert!(h.daemon_alive());
}

#[test]
fn tail_of_a_fifo_or_a_device_is_refused_without_blocking_or_reading_forever() {
    let mut h = Harness::new();
    let out = h.path("out.log");
    h.service(
        "fifo",
        &format!(
            "service \"fifo\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    stdout \"{}\"\n}}\n",
            out.display()
        ),
    );
    h.service(
        "zero",
        "service \"zero\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    stdout \"/dev/zero\"\n}\n",
    );
    h.start();
    h.wait_state("fifo", "RUNNING");
    h.wait_state("zero", "RUNNING");
    // The output path becomes a FIFO nobody writes to: opening it to read would wait for
    // a writer forever.
    std::fs::remove_file(&out).expect("remove");
    nix::unistd::mkfifo(&out, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let err = h.fails(&["tail", "fifo"]);
    assert!(err.contains("not a regular file"), "{err}");
    // /dev/zero never ends: reading it to the end would grow the daemon without bound.
    let err = h.fails(&["tail", "zero"]);
    assert!(err.contains("not a regular file"), "{err}");
    h.ok(&["status"]);
}

/// A service whose block holds `levels` nested blocks: valid KDL, deep enough (at 2,000)
/// to overflow a recursive parser's stack.
pub fn deeply_nested_service(levels: usize) -> String {
    format!(
        "service \"deep\" {{\n    cmd \"/bin/true\"\n    {}{}\n}}\n",
        "x { ".repeat(levels),
        "} ".repeat(levels)
    )
}

#[test]
fn check_refuses_deep_nesting_and_a_huge_file_naming_each() {
    let h = Harness::new();
    h.service("deep", &deeply_nested_service(2000));
    let mut huge = String::from("service \"huge\" {\n    cmd \"/bin/true\"\n}\n");
    huge.push_str(&format!("// {}\n", "x".repeat(1024 * 1024)));
    h.service("huge", &huge);
    let out = h.check();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let deep = h.service_path("deep").display().to_string();
    let big = h.service_path("huge").display().to_string();
    assert!(
        stderr.contains(&format!("{deep}:3:")) && stderr.contains("nested more than 32 levels"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&big) && stderr.contains("larger than 1024 KiB"),
        "{stderr}"
    );
}

#[test]
fn a_reload_of_a_deeply_nested_file_is_rejected_and_the_daemon_goes_on() {
    let mut h = Harness::running_sleeper();
    let pid = h.running_pid("a");
    h.service("deep", &deeply_nested_service(2000));
    let err = h.fails(&["reload"]);
    assert!(
        err.contains("deep.kdl") && err.contains("nested more than 32 levels"),
        "{err}"
    );
    assert!(h.daemon_alive());
    assert_eq!(h.running_pid("a"), pid, "nothing running is lost");
}

#[test]
fn the_loop_answers_while_a_reload_parses_a_large_config() {
    // The load is held until the test lets it go: besides 2 x 200 KiB to parse (seconds in
    // a debug build, but how long depends on the machine), the new config names a user, and
    // looking it up waits on an /etc/passwd that is a FIFO (as on a hung LDAP server).
    let mut h = Harness::new();
    let passwd = crate::robustness::HungPasswd::new(&h);
    h.mount_ns = Some(passwd.mount_ns());
    h.sleeper("a");
    h.start();
    h.wait_state("a", "RUNNING");
    let big = "y".repeat(200 * 1024);
    for i in 0..2 {
        h.service(
            &format!("big{i}"),
            &format!(
                "service \"big{i}\" {{\n    cmd \"/bin/true\"\n    autostart #false\n    env {{ BIG \"{big}\" }}\n}}\n"
            ),
        );
    }
    h.service(
        "held",
        "service \"held\" {\n    cmd \"/bin/true\"\n    autostart #false\n    user \"nobody\"\n}\n",
    );
    let mut reload = h
        .ctl_command(&["reload"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tmctl reload");
    h.wait_log(&["reload: reading"]);
    // The loop is not busy loading: status answers while the reload cannot have finished.
    h.ok(&["status", "a"]);
    let still_loading = reload.try_wait().expect("try_wait").is_none();
    wait_until("the reload to finish once the lookup is answered", || {
        passwd.serve();
        reload.try_wait().expect("try_wait").is_some()
    });
    let out = wait_output(reload, "tmctl reload");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        still_loading,
        "status was answered only after the reload: {}",
        text(&out)
    );
    assert_eq!(h.state("big1"), "STOPPED");
    assert_eq!(h.state("held"), "STOPPED");
}

/// The daemon's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    proc_status(pid, "VmHWM")
        .split_whitespace()
        .next()
        .and_then(|kib| kib.parse().ok())
        .expect("VmHWM")
}

fn connect(h: &Harness) -> UnixStream {
    let stream = UnixStream::connect(&h.socket).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    stream
}

fn read_reply(stream: &UnixStream) -> serde_json::Value {
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("a reply line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

#[test]
fn a_request_repeating_names_costs_what_exists_not_what_it_repeats() {
    let mut h = Harness::new();
    let mut services = String::new();
    for i in 0..300 {
        services.push_str(&format!(
            "service \"s{i}\" {{\n    cmd \"/bin/true\"\n    autostart #false\n}}\n"
        ));
    }
    h.service("many", &services);
    h.start();
    let before = peak_rss_kib(h.daemon_pid());
    // 9,000 × "all" fits in one request (54 KB): once that meant 2.7 million instances.
    let names = vec!["\"all\""; 9000].join(",");
    let mut stream = connect(&h);
    for cmd in ["status", "stop"] {
        writeln!(stream, "{{\"cmd\":\"{cmd}\",\"names\":[{names}]}}").expect("send");
        let reply = read_reply(&stream);
        assert_ne!(reply["result"], "error", "{reply}");
    }
    let reply = read_reply_of(&mut stream, "{\"cmd\":\"status\",\"names\":[\"all\"]}");
    assert_eq!(reply["instances"].as_array().map(Vec::len), Some(300));
    let grown = peak_rss_kib(h.daemon_pid()).saturating_sub(before);
    eprintln!("peak RSS grew by {grown} KiB for status and stop of 9,000 x all, 300 services");
    assert!(grown < 32 * 1024, "the daemon grew by {grown} KiB");
}

fn read_reply_of(stream: &mut UnixStream, request: &str) -> serde_json::Value {
    writeln!(stream, "{request}").expect("send");
    read_reply(stream)
}

/// The daemon sleeps in poll(2): it has nothing it wants to do.
fn idle_in_poll(pid: i32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()?
                .split_whitespace()
                .next()
                .map(str::to_string)
        });
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    state.as_deref() == Some("S") && wchan.contains("poll")
}

#[test]
fn a_client_that_never_reads_its_replies_is_not_read_either() {
    let h = Harness::running_sleeper();
    let daemon = h.daemon_pid();
    let stream = connect(&h);
    stream.set_nonblocking(true).expect("nonblocking");
    // 4 MiB of requests, whose replies would be 30 MiB; we never read one.
    let chunk = b"{\"cmd\":\"status\",\"names\":[]}\n".repeat(1000);
    let total = 4 * 1024 * 1024;
    let mut written = 0usize;
    let mut writer = &stream;
    let stalled = loop {
        match writer.write(&chunk) {
            Ok(n) => {
                written += n;
                if written >= total {
                    break false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Stalled for good once the daemon sleeps in poll with our requests unread
                // (and the socket is still full after that).
                if idle_in_poll(daemon)
                    && writer
                        .write(&chunk)
                        .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock)
                {
                    break true;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("the daemon dropped the client after {written} bytes: {e}"),
        }
    };
    assert!(stalled, "the daemon read all {written} bytes of requests");
    h.ok(&["status"]);
    // Reading resumes the conversation: replies come, in order.
    stream.set_nonblocking(false).expect("blocking");
    let reply = read_reply(&stream);
    assert_eq!(reply["result"], "status", "{reply}");
}

#[test]
fn clients_are_capped_and_the_one_over_is_told_why() {
    let h = Harness::running_sleeper();
    let held: Vec<UnixStream> = (0..128).map(|_| connect(&h)).collect();
    // Every held connection is accepted (it answers) before the one over the cap comes.
    let mut first = held[0].try_clone().expect("dup");
    let reply = read_reply_of(&mut first, "{\"cmd\":\"status\",\"names\":[]}");
    assert_eq!(reply["result"], "status", "{reply}");
    let mut last = held[127].try_clone().expect("dup");
    let reply = read_reply_of(&mut last, "{\"cmd\":\"status\",\"names\":[]}");
    assert_eq!(reply["result"], "status", "{reply}");
    let err = h.fails(&["status"]);
    assert!(err.contains("too many control connections"), "{err}");
    drop(held);
    wait_until("status answers once the others left", || {
        h.ctl(&["status"]).status.success()
    });
}

#[test]
fn a_half_sent_request_is_closed_after_its_idle_time() {
    let h = Harness::running_sleeper();
    let mut stream = connect(&h);
    stream.write_all(b"{\"cmd\":\"sta").expect("send");
    // The daemon answers with an error and closes the connection (within TIMEOUT).
    let reply = read_reply(&stream);
    assert_eq!(reply["result"], "error", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("incomplete request")),
        "{reply}"
    );
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("EOF");
    assert!(rest.is_empty());
    h.ok(&["status"]);
}

#[test]
fn files_the_daemon_creates_have_modes_of_its_own_choosing_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let mut h = Harness::new();
    let logs = h.path("logs");
    h.log = logs.join("sub").join("taskmaster.log");
    let plain = h.path("plain.out");
    let rotated = h.path("rotated.out");
    h.service(
        "private",
        &format!(
            "service \"private\" {{\n    cmd \"/bin/sh\" \"-c\" \"echo hi; echo err >&2; exec sleep 1000\"\n    starttime 0\n    umask \"077\"\n    stdout \"{}\"\n    stderr \"{}\"\n    stderr-maxbytes \"1MB\"\n}}\n",
            plain.display(),
            rotated.display()
        ),
    );
    let mut cmd = h.daemon_command();
    // SAFETY: umask is async-signal-safe and changes only the child's own mask.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    h.start_command(cmd);
    h.wait_state("private", "RUNNING");
    wait_until("both output files", || plain.exists() && rotated.exists());
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&logs), 0o755);
    assert_eq!(mode(&logs.join("sub")), 0o755);
    assert_eq!(mode(&h.log), 0o640, "nobody else may write the event log");
    assert_eq!(mode(&plain), 0o600, "the service's umask applies");
    assert_eq!(mode(&rotated), 0o600, "the service's umask applies");
}

#[test]
fn a_log_file_path_that_is_a_symlink_is_not_followed() {
    let mut h = Harness::new();
    h.sleeper("a");
    let victim = h.path("victim");
    std::fs::write(&victim, "precious\n").expect("write");
    std::os::unix::fs::symlink(&victim, &h.log).expect("symlink");
    h.start();
    h.wait_state("a", "RUNNING");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );
    let stderr = h.stderr_text();
    assert!(stderr.contains("cannot open log file"), "{stderr}");
}

#[test]
fn a_character_split_across_writes_reaches_a_follower_whole() {
    let mut h = Harness::new();
    let go = h.path("go");
    h.service(
        "euro",
        &format!(
            "service \"euro\" {{\n    cmd \"/bin/bash\" \"-c\" \"echo ready; while [ ! -e {} ]; do sleep 0.02; done; printf '\\\\342'; sleep 0.3; printf '\\\\202\\\\254 end\\\\n'; exec sleep 1000\"\n    starttime 0\n}}\n",
            go.display()
        ),
    );
    h.start();
    h.wait_state("euro", "RUNNING");
    let follower = Streaming::spawn(h.ctl_command(&["tail", "-f", "euro"]));
    follower.expect("ready");
    touch(&go);
    follower.expect(" end");
    let seen = follower.text();
    assert!(seen.contains("\u{20ac} end"), "{seen:?}");
    assert!(!seen.contains('\u{fffd}'), "{seen:?}");
    let tail = h.ok(&["tail", "euro"]);
    assert!(tail.contains("\u{20ac} end"), "{tail:?}");
}
