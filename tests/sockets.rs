//! `listen` with real sockets: a Python socketserver activated the systemd way keeps every
//! connection made across 20 restarts, `start-on-demand` starts at the first connection,
//! a unix socket gets the service's owner and mode 0660, a port in use is a load error,
//! and the real dbus-daemon runs on a handed-over socket (`--address=systemd:`).

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A Python socketserver that takes its socket from `LISTEN_FDS` as an activated service
/// does (checking `LISTEN_PID`), or binds `127.0.0.1:PORT` itself when run without. It
/// answers each request with its pid and `LISTEN_FDNAMES`, and on SIGTERM finishes the
/// request it is serving before it exits (SIGTERM is only acted on between requests).
const SERVER: &str = r#"
import os, select, signal, socket, socketserver, sys

class Hello(socketserver.StreamRequestHandler):
    def handle(self):
        self.rfile.readline()
        body = ("%d %s\n" % (os.getpid(), os.environ.get("LISTEN_FDNAMES", ""))).encode()
        self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
if "LISTEN_FDS" in os.environ:
    if int(os.environ["LISTEN_PID"]) != os.getpid():
        sys.exit("LISTEN_PID is not my pid")
    if int(os.environ["LISTEN_FDS"]) < 1:
        sys.exit("no socket")
    sock = socket.socket(fileno=3)
    family = sock.family
    server_class = socketserver.UnixStreamServer if family == socket.AF_UNIX else socketserver.TCPServer
    server = server_class(sock.getsockname(), Hello, bind_and_activate=False)
    server.socket = sock
else:
    socketserver.TCPServer.allow_reuse_address = True
    server = socketserver.TCPServer(("127.0.0.1", int(sys.argv[1])), Hello)
while signal.SIGTERM not in signal.sigpending():
    ready, _, _ = select.select([server.socket], [], [], 0.05)
    if ready:
        server.handle_request()
"#;

fn server_script(h: &Harness) -> String {
    let path = h.path("server.py");
    std::fs::write(&path, SERVER).expect("server script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("mode");
    path.display().to_string()
}

/// One HTTP request; the body, or why it failed.
fn get(port: u16) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    match reply.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.0 200") => Ok(body.to_string()),
        _ => Err(format!("bad reply {reply:?}")),
    }
}

/// Requests in a loop from another thread while `restarts` restarts happen; returns the
/// pids that answered and the failures. Each new process answers before the next restart
/// (a process killed before it has served would prove nothing about the handover).
fn requests_across_restarts(h: &Harness, port: u16, restarts: usize) -> (Vec<String>, Vec<String>) {
    requests_during(port, |answered| {
        for _ in 0..restarts {
            h.ok(&["restart", "web"]);
            let pid = h.running_pid("web").to_string();
            wait_until("the new process to answer", || {
                answered.lock().expect("answered").contains(&pid)
            });
        }
    })
}

/// Requests in a loop from another thread while `action` runs (it sees the pids that
/// answered so far); returns the pids that answered and the failures.
fn requests_during(
    port: u16,
    action: impl FnOnce(&Mutex<Vec<String>>),
) -> (Vec<String>, Vec<String>) {
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(Mutex::new(Vec::new()));
    let (stop, seen) = (done.clone(), answered.clone());
    let client = std::thread::spawn(move || {
        let mut failed = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match get(port) {
                Ok(body) => seen
                    .lock()
                    .expect("answered")
                    .push(body.split(' ').next().unwrap_or("").to_string()),
                Err(e) => failed.push(e),
            }
        }
        failed
    });
    action(&answered);
    done.store(true, Ordering::Relaxed);
    let failed = client.join().expect("client thread");
    let answered = answered.lock().expect("answered").clone();
    (answered, failed)
}

/// A running daemon whose service `web` is the activated server on a free port.
fn activated_web() -> (Harness, u16) {
    let mut h = Harness::new();
    let port = free_port();
    let script = server_script(&h);
    h.service(
        "web",
        &format!(
            "service \"web\" {{\n    cmd \"/usr/bin/python3\" \"{script}\"\n    starttime 0.3\n    listen \"tcp:127.0.0.1:{port}\"\n}}\n"
        ),
    );
    h.start();
    (h, port)
}

#[test]
fn an_activated_server_keeps_every_connection_across_20_restarts() {
    let (h, port) = activated_web();
    h.wait_state("web", "RUNNING");
    let first = get(port).expect("served");
    let pid = h.running_pid("web");
    assert_eq!(first, format!("{pid} web\n"), "LISTEN_FDNAMES and the pid");
    let (answered, failed) = requests_across_restarts(&h, port, 20);
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    let mut pids = answered.clone();
    pids.sort();
    pids.dedup();
    assert!(pids.len() >= 20, "served by {} processes only", pids.len());
    eprintln!(
        "listen: {} requests across 20 restarts, {} failed",
        answered.len(),
        failed.len()
    );
}

#[test]
fn start_on_demand_starts_the_service_at_its_first_connection() {
    let mut h = Harness::new();
    let port = free_port();
    let script = server_script(&h);
    h.service(
        "web",
        &format!(
            "service \"web\" {{\n    cmd \"/usr/bin/python3\" \"{script}\"\n    listen \"tcp:127.0.0.1:{port}\"\n    start-on-demand #true\n}}\n"
        ),
    );
    h.start();
    assert_eq!(h.state("web"), "STOPPED");
    // The connection waits in the backlog while the service starts, then it is served.
    let body = get(port).expect("served");
    let pid = h.running_pid("web");
    assert!(body.starts_with(&format!("{pid} ")), "{body}");
    h.wait_log(&["web: a connection is waiting on its socket: starting it"]);
    // Stopped by hand, the next connection starts it again.
    h.ok(&["stop", "web"]);
    let body = get(port).expect("served again");
    assert_ne!(h.running_pid("web"), pid, "{body}");
}

#[test]
fn a_unix_socket_gets_the_services_user_and_mode_0660_and_serves() {
    let mut h = Harness::new();
    h.open_to_others();
    let script = server_script(&h);
    let path = h.path("app.sock");
    h.service(
        "web",
        &format!(
            "service \"web\" {{\n    cmd \"/usr/bin/python3\" \"{script}\"\n    user \"nobody\"\n    listen \"unix:{}\"\n}}\n",
            path.display()
        ),
    );
    h.start();
    h.wait_state("web", "RUNNING");
    let meta = std::fs::metadata(&path).expect("socket file");
    assert_eq!(meta.mode() & 0o777, 0o660);
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("passwd")
        .expect("nobody");
    assert_eq!(meta.uid(), nobody.uid.as_raw());
    let mut stream = std::os::unix::net::UnixStream::connect(&path).expect("connect");
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply");
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    h.ok(&["shutdown"]);
    h.wait_exit();
    assert!(!path.exists(), "the socket file is removed at exit");
}

#[test]
fn a_port_in_use_is_a_load_error_naming_it_and_a_reload_keeps_the_running_config() {
    let h = Harness::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    h.service(
        "web",
        &format!(
            "service \"web\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    listen \"tcp:127.0.0.1:{port}\"\n}}\n"
        ),
    );
    let out = h.run_daemon_to_exit();
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out) + &h.log_text();
    assert!(
        said.contains(&format!(
            "service `web`: listen \"tcp:127.0.0.1:{port}\": Address already in use"
        )),
        "{said}"
    );
    // Running, a reload onto a busy port is refused and the old socket goes on serving.
    let mut h = Harness::new();
    let free = free_port();
    let script = server_script(&h);
    let service = |port: u16| {
        format!(
            "service \"web\" {{\n    cmd \"/usr/bin/python3\" \"{script}\"\n    starttime 0\n    listen \"tcp:127.0.0.1:{port}\"\n}}\n"
        )
    };
    h.service("web", &service(free));
    h.start();
    h.wait_state("web", "RUNNING");
    h.service("web", &service(port));
    let refused = h.fails(&["reload"]);
    assert!(refused.contains("Address already in use"), "{refused}");
    get(free).expect("the running socket still serves");
    // Two services on one address is a config error naming both.
    h.service(
        "other",
        &format!(
            "service \"other\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    listen \"tcp:127.0.0.1:{free}\"\n}}\n"
        ),
    );
    h.service("web", &service(free));
    let both = text(&h.check());
    assert!(both.contains("is also the socket of service"), "{both}");
    drop(taken);
}

#[test]
fn the_real_dbus_daemon_runs_on_a_handed_over_unix_socket() {
    let mut h = Harness::new();
    let path = h.path("bus.sock");
    h.service(
        "bus",
        &format!(
            "service \"bus\" {{\n    cmd \"/usr/bin/dbus-daemon\" \"--session\" \"--nofork\" \"--nopidfile\" \"--address=systemd:\"\n    starttime 0.5\n    listen \"unix:{}\"\n}}\n",
            path.display()
        ),
    );
    h.start();
    h.wait_state("bus", "RUNNING");
    let id = |h: &Harness| {
        std::process::Command::new("dbus-send")
            .arg(format!("--bus=unix:path={}", path.display()))
            .args([
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.GetId",
            ])
            .output()
            .map(|o| (o.status.success(), text(&o)))
            .unwrap_or_else(|e| (false, format!("{e}; log: {}", h.log_text())))
    };
    let (ok, said) = id(&h);
    assert!(ok, "{said}");
    // Restarted, it is on the same socket (the daemon never closed it).
    h.ok(&["restart", "bus"]);
    let (ok, said) = id(&h);
    assert!(ok, "after a restart: {said}");
}

#[test]
fn tmctl_upgrade_hands_the_socket_over_and_no_connection_is_lost() {
    let (h, port) = activated_web();
    let pid = h.running_pid("web");
    get(port).expect("served");
    let (answered, failed) = requests_during(port, |_| {
        for _ in 0..5 {
            h.ok(&["upgrade"]);
        }
    });
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    assert!(!answered.is_empty());
    assert!(
        answered.iter().all(|p| *p == pid.to_string()),
        "{answered:?}"
    );
    assert_eq!(h.running_pid("web"), pid);
    // The new image serves the socket to the next start too.
    h.ok(&["restart", "web"]);
    let body = get(port).expect("served after a restart");
    assert_ne!(body, format!("{pid} web\n"));
}
