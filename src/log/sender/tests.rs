//! The sender against real datagram sockets in a temp dir, with a fake clock.

use super::*;
use crate::log::backlog::Backlog;
use crate::log::origin::{Message, Origin};

fn tag() -> Tag {
    Tag::new("taskmaster", 7)
}

fn message(i: usize) -> Vec<u8> {
    format!("m{i}").into_bytes()
}

/// A logger that is there but reads only when asked.
fn bind(path: &Path) -> UnixDatagram {
    let socket = UnixDatagram::bind(path).expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    socket
}

fn received(logger: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = logger.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

#[test]
fn keeps_messages_for_a_missing_logger_and_sends_them_in_order_once_it_is_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.sock");
    let mut sender = Sender::new(&path, tag());
    let t0 = Instant::now();
    assert!(!sender.send(message(0), t0));
    assert!(!sender.send(message(1), t0));
    assert_eq!(sender.next_retry(), Some(t0 + RETRY));
    assert!(sender.waiting_fd().is_none());
    assert!(
        !sender.is_backlogged(),
        "a missing logger holds nobody back"
    );
    assert!(matches!(
        sender.take_news().as_slice(),
        [Notice::Unreachable(_)]
    ));

    let logger = bind(&path);
    // Too early: the retry is rate-limited, even though a message arrives.
    assert!(!sender.send(message(2), t0 + RETRY / 2));
    assert!(received(&logger).is_empty());
    // The loop's deadline fires: everything goes, in order.
    sender.flush(t0 + RETRY);
    assert_eq!(received(&logger), ["m0", "m1", "m2"]);
    assert_eq!(sender.next_retry(), None);
    assert_eq!(sender.take_news(), [Notice::Back { kept: 3 }]);
    assert!(sender.send(message(3), t0 + RETRY));
    assert_eq!(received(&logger), ["m3"]);
}

#[test]
fn a_full_logger_is_polled_for_room_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.sock");
    let logger = bind(&path);
    let mut sender = Sender::new(&path, tag());
    let now = Instant::now();
    let mut sent = 0;
    while sender.send(message(sent), now) {
        sent += 1;
        assert!(sent < 100_000, "the socket never filled");
    }
    // The one that did not fit is kept; more queue behind it.
    for i in sent + 1..sent + 10 {
        assert!(!sender.send(message(i), now));
    }
    assert!(sender.is_backlogged());
    assert!(sender.waiting_fd().is_some());
    assert_eq!(sender.next_retry(), None, "POLLOUT, not a timer, says when");
    let mut got = Vec::new();
    while sender.pending() > 0 {
        got.extend(received(&logger));
        sender.flush(now);
    }
    got.extend(received(&logger));
    let expected: Vec<String> = (0..sent + 10).map(|i| format!("m{i}")).collect();
    assert_eq!(got, expected);
    assert!(sender.take_news().is_empty(), "slow is not an outage");
}

#[test]
fn drops_the_oldest_and_says_so_where_the_gap_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.sock");
    let mut sender = Sender::with_backlog(&path, tag(), Backlog::with_limits(3, 1 << 20));
    let t0 = Instant::now();
    for i in 0..10 {
        sender.send(message(i), t0);
    }
    let logger = bind(&path);
    sender.flush(t0 + RETRY);
    let got = received(&logger);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got[0].contains("taskmaster[7]: syslog: 7 message(s) dropped"),
        "{got:?}"
    );
    assert_eq!(got[1..], ["m7", "m8", "m9"]);
    let news = sender.take_news();
    assert!(news.contains(&Notice::Dropped(7)), "{news:?}");
}

#[test]
fn a_restarted_logger_is_reconnected_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.sock");
    let first = bind(&path);
    let mut sender = Sender::new(&path, tag());
    let now = Instant::now();
    assert!(sender.send(message(0), now));
    assert_eq!(received(&first), ["m0"]);
    drop(first);
    std::fs::remove_file(&path).expect("unlink");
    let second = bind(&path);
    assert!(sender.send(message(1), now));
    assert_eq!(received(&second), ["m1"]);
    assert!(sender.take_news().is_empty());
}

/// What a logger with SO_PASSCRED (as journald's) gets: each text with its sender's pid.
fn received_with_pids(logger: &UnixDatagram) -> Vec<(String, i32)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    let mut out = Vec::new();
    loop {
        let mut buf = [0u8; 4096];
        let mut space = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let Ok(msg) = recvmsg::<()>(
            logger.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        ) else {
            return out;
        };
        let pid = msg
            .cmsgs()
            .expect("control messages")
            .find_map(|c| match c {
                ControlMessageOwned::ScmCredentials(creds) => Some(creds.pid()),
                _ => None,
            })
            .expect("credentials: SO_PASSCRED is on");
        let len = msg.bytes;
        out.push((String::from_utf8_lossy(&buf[..len]).into_owned(), pid));
    }
}

#[test]
fn service_lines_go_out_as_their_process_and_as_ours_once_it_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.sock");
    let logger = bind(&path);
    nix::sys::socket::setsockopt(&logger, nix::sys::socket::sockopt::PassCred, &true)
        .expect("SO_PASSCRED");
    let mut child = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .expect("sleep");
    let origin = |pid: u32| Origin {
        pid,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
    };
    let child_id = child.id();
    let as_child = |text: &str| Message {
        datagram: text.as_bytes().to_vec(),
        origin: Some(origin(child_id)),
    };
    let now = Instant::now();
    let own = i32::try_from(std::process::id()).expect("pid");
    let child_pid = i32::try_from(child_id).expect("pid");
    let mut sender = Sender::new(&path, tag());
    assert!(sender.send(as_child("alive"), now));
    let _ = child.kill();
    let _ = child.wait();
    assert!(sender.send(as_child("reaped"), now), "sent anyway, as ours");
    assert!(sender.send(message(0), now));
    let got = received_with_pids(&logger);
    // Root may speak for another process; anyone else is refused and sends as itself.
    let privileged = nix::unistd::geteuid().is_root();
    assert_eq!(
        got,
        [
            (
                "alive".to_string(),
                if privileged { child_pid } else { own }
            ),
            ("reaped".to_string(), own),
            ("m0".to_string(), own),
        ]
    );
}
