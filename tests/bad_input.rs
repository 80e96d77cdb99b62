//! Hostile or broken clients on the control socket: each gets an error reply or a closed
//! connection, and the daemon stays up and keeps answering everyone else.

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

fn connect(h: &Harness) -> UnixStream {
    let stream = UnixStream::connect(&h.socket).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    stream
}

/// Sends `bytes` and reads one reply line, as JSON.
fn exchange(stream: &mut UnixStream, bytes: &[u8]) -> serde_json::Value {
    stream.write_all(bytes).expect("send");
    let mut reader = BufReader::new(stream.try_clone().expect("dup"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("a reply line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line:?}"))
}

fn daemon_with_a_service() -> Harness {
    Harness::running_sleeper()
}

#[test]
fn garbage_and_unknown_commands_get_an_error_and_the_connection_goes_on() {
    let h = daemon_with_a_service();
    let mut stream = connect(&h);
    for bad in [
        &b"\x00\xff\xfe garbage \x1b[31m\n"[..],
        b"not json at all\n",
        b"[1, 2, 3]\n",
        b"{\"cmd\": \"frobnicate\"}\n",
        b"{\"cmd\": \"status\", \"names\": [], \"extra\": true}\n",
        b"{\"cmd\": \"start\", \"names\": \"a\"}\n",
        b"{\"cmd\": \"signal\", \"signal\": \"TERM\"}\n",
    ] {
        let reply = exchange(&mut stream, bad);
        assert_eq!(
            reply["result"],
            "error",
            "{:?} -> {reply}",
            String::from_utf8_lossy(bad)
        );
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
    }
    // The same connection still works.
    let reply = exchange(&mut stream, b"{\"cmd\": \"status\", \"names\": []}\n");
    assert_eq!(reply["result"], "status", "{reply}");
    assert_eq!(reply["instances"][0]["state"], "RUNNING");
}

#[test]
fn tmctl_refuses_an_unknown_command_itself() {
    let h = daemon_with_a_service();
    let out = h.ctl(&["frobnicate"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("frobnicate"),
        "{}",
        text(&out)
    );
    h.ok(&["status"]);
}

#[test]
fn an_over_long_request_gets_an_error_and_is_closed() {
    let h = daemon_with_a_service();
    let padded = [
        &b"{\"cmd\": \"status\", \"names\": []"[..],
        &vec![b' '; 70 * 1024],
        b"}\n",
    ]
    .concat();
    // Junk with a newline at the end, junk without one (the daemon must not wait for
    // it), and a valid request padded past the cap.
    for request in [
        [vec![b'x'; 70 * 1024], b"\n".to_vec()].concat(),
        vec![b'x'; 70 * 1024],
        padded,
    ] {
        let mut stream = connect(&h);
        // The daemon may close before it has read everything: a failed send is fine.
        let _ = stream.write_all(&request);
        let reply = read_until_closed(&mut stream);
        let first = reply.lines().next().unwrap_or("");
        let value: serde_json::Value = serde_json::from_str(first).expect("a JSON error line");
        assert_eq!(value["result"], "error", "{reply}");
        assert!(
            value["message"].as_str().unwrap_or("").contains("longer"),
            "{reply}"
        );
    }
    h.ok(&["status"]);
    assert_eq!(h.state("a"), "RUNNING");
}

/// Reads until the daemon closes the connection (EOF, or a reset when it closed with our
/// bytes unread); a read timeout fails the test.
fn read_until_closed(stream: &mut UnixStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the daemon did not close the connection: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_client_that_never_reads_does_not_stall_the_others() {
    let h = daemon_with_a_service();
    let hog = connect(&h);
    let mut writer = hog.try_clone().expect("dup");
    // Thousands of requests whose replies it never reads.
    let flood = std::thread::spawn(move || {
        let request = b"{\"cmd\": \"status\", \"names\": []}\n".repeat(200);
        for _ in 0..200 {
            if writer.write_all(&request).is_err() {
                break; // the connection was shut down (or the daemon gave up on us)
            }
        }
    });
    // A half-sent request that never ends, from someone else.
    let mut silent = connect(&h);
    silent.write_all(b"{\"cmd\": \"sta").expect("send");
    for _ in 0..20 {
        h.ok(&["status"]);
    }
    // The daemon stopped reading the hog (its replies wait unread): end the flood.
    let _ = hog.shutdown(std::net::Shutdown::Both);
    flood.join().expect("flood thread");
    h.ok(&["stop", "a"]);
    h.ok(&["start", "a"]);
    drop(hog);
    drop(silent);
    assert_eq!(h.state("a"), "RUNNING");
}

#[test]
fn a_follower_that_never_reads_a_chatty_service_costs_bounded_memory() {
    let mut h = Harness::new();
    h.service(
        "chatty",
        r#"service "chatty" {
    cmd "/usr/bin/yes" "all work and no play makes jack a dull boy"
    starttime 0.1
}"#,
    );
    h.start();
    h.wait_state("chatty", "RUNNING");
    let mut follower = connect(&h);
    follower
        .write_all(
            b"{\"cmd\": \"tail\", \"name\": \"chatty\", \"stderr\": false, \"follow\": true}\n",
        )
        .expect("send");
    // While megabytes a second go by, everyone else is answered...
    for _ in 0..30 {
        h.ok(&["status"]);
    }
    // ...and the daemon has not kept them all.
    let rss_kb: u64 = proc_status(h.daemon_pid(), "VmRSS")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmRSS");
    assert!(rss_kb < 100 * 1024, "daemon RSS {rss_kb} kB");
    let tail = h.ok(&["tail", "chatty"]);
    assert!(tail.contains("dull boy"), "captured output is still served");
    drop(follower);
}

#[test]
fn a_flood_of_connections_is_survived() {
    let h = daemon_with_a_service();
    // Many at once, held open and idle: more than the daemon serves at once (128), so
    // one more is told so...
    let held: Vec<UnixStream> = (0..300).map(|_| connect(&h)).collect();
    let err = h.fails(&["status"]);
    assert!(err.contains("too many control connections"), "{err}");
    // ...and many quick ones, some dropped mid-request.
    for i in 0..300 {
        let mut s = connect(&h);
        if i % 2 == 0 {
            let _ = s.write_all(b"{\"cmd\": \"status\"");
        }
    }
    drop(held);
    // Served again once the daemon has seen those connections close.
    wait_until("status to be served after the flood", || {
        h.ctl(&["status", "a"]).status.success()
    });
    let out = h.ok(&["status", "a"]);
    assert!(out.contains("RUNNING"), "{out}");
    // A connection is a real client once the others left.
    let mut last = connect(&h);
    let reply = exchange(&mut last, b"{\"cmd\": \"status\", \"names\": [\"a\"]}\n");
    assert_eq!(reply["result"], "status");
}
