//! `tail -f` followers and fast writers must never slow the daemon down: with a writer as
//! fast as `yes` into capture and into a rotated file, twenty followers and one that never
//! reads, `status` still answers, memory stays bounded, and the stalled follower is told
//! how many bytes it missed once it reads again.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon's resident memory, from /proc.
fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_stalled_follower_misses_bytes_and_slows_nobody() {
    let mut h = Harness::new();
    let rotated = h.path("fast.log");
    h.service(
        "fast",
        &format!(
            r#"service "chatty" {{
    cmd "/usr/bin/yes" "a line of captured output"
    starttime 0
}}
service "filler" {{
    cmd "/usr/bin/yes" "a line for a rotated file"
    starttime 0
    stdout "{}"
    stdout-maxbytes "1MB"
    stdout-backups 2
}}"#,
            rotated.display()
        ),
    );
    h.start();
    h.wait_state("chatty", "RUNNING");
    h.wait_state("filler", "RUNNING");

    // One follower that asks and then never reads.
    let mut stalled = UnixStream::connect(&h.socket).expect("connect");
    stalled
        .write_all(b"{\"cmd\":\"tail\",\"name\":\"chatty\",\"stderr\":false,\"follow\":true}\n")
        .expect("request");
    // Twenty that read.
    let mut followers: Vec<_> = (0..20)
        .map(|_| {
            Command::new(tmctl_bin())
                .arg("-s")
                .arg(&h.socket)
                .args(["tail", "-f", "chatty"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tmctl tail -f")
        })
        .collect();

    // The loop keeps serving: every status answers (a stalled loop would hang here; the
    // bound is only a generous liveness check, speed is the benchmark's business).
    for _ in 0..30 {
        let asked = Instant::now();
        assert_eq!(h.state("chatty"), "RUNNING");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "status took {:?}",
            asked.elapsed()
        );
    }
    wait_until("the rotated file turns over", || {
        std::path::Path::new(&format!("{}.2", rotated.display())).exists()
    });
    let rss = rss_kib(h.daemon_pid());
    assert!(rss > 0 && rss < 100 * 1024, "daemon RSS {rss} KiB");

    // The stalled follower reads at last: first what was queued for it, then a chunk
    // that says how much it missed.
    stalled
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let deadline = Instant::now() + TIMEOUT;
    let mut missed = 0;
    for line in BufReader::new(stalled).lines() {
        let line = line.expect("a line from the daemon");
        let response: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(response["result"], "output", "{line:.200}");
        missed = response["missed"].as_u64().unwrap_or(0);
        if missed > 0 || Instant::now() > deadline {
            break;
        }
    }
    assert!(
        missed > 0,
        "the lagging follower was never told what it missed"
    );

    for follower in &mut followers {
        let _ = follower.kill();
        let _ = follower.wait();
    }
    assert_eq!(h.state("chatty"), "RUNNING");
}
