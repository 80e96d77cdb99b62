//! Reload and restart that tell the truth, with real processes: what `tmctl reload` and
//! `tmctl restart` print is what happened, and their exit status says whether it worked;
//! `pre-start` keeps a healthy service (a real nginx) up through a bad edit.

use crate::common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// stdout and whether tmctl succeeded.
fn said(h: &Harness, args: &[&str]) -> (bool, String) {
    let out = h.ctl(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_reload_whose_restart_fails_says_so_exits_non_zero_and_status_shows_why() {
    let mut h = Harness::new();
    let service = |cmd: &str, starttime: &str| {
        format!(
            "service \"web\" {{\n    cmd \"/bin/sh\" \"-c\" \"{cmd}\"\n    starttime {starttime}\n    startretries 1\n}}\n"
        )
    };
    h.service("web", &service("exec sleep 1000", "0.3"));
    h.start();
    let old = h.running_pid("web");
    // A bad edit: the new command dies at once, saying why on stderr (well within its
    // starttime, even for a shell slow to start on a loaded machine).
    h.service(
        "web",
        &service(
            "echo 'web: unknown directive bogus_directive' >&2; exit 1",
            "2",
        ),
    );
    let (ok, out) = said(&h, &["reload"]);
    assert!(!ok, "{out}");
    assert_eq!(
        out,
        "web: restart failed: FATAL: exited with exit code 1 before starttime, 2 attempt(s), \
         giving up; stderr: web: unknown directive bogus_directive\n"
    );
    assert!(!alive(old));
    let web = h.instance("web");
    assert_eq!(web["state"], "FATAL");
    assert_eq!(
        web["last_stderr"], "web: unknown directive bogus_directive",
        "{web}"
    );
    let table = h.ok(&["status", "web"]);
    assert!(
        table.contains("stderr: web: unknown directive bogus_directive"),
        "{table}"
    );
    assert!(h
        .log_text()
        .contains("reload done: web: restart failed: FATAL"));
    // Fixed: the FATAL service starts afresh with the new config, and reload says so.
    h.service("web", &service("exec sleep 1001", "0.3"));
    let (ok, out) = said(&h, &["reload"]);
    assert!(ok, "{out}");
    assert_eq!(out, "web: restarted: RUNNING\n");
    assert_eq!(h.state("web"), "RUNNING");
    // --json: one document with every result.
    h.service("web", &service("exec sleep 1002", "0.3"));
    let out = h.ok(&["--json", "reload"]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"result": "reload", "ok": true, "results": [
            {"name": "web", "action": "restarted", "ok": true, "message": "RUNNING"}]})
    );
}

#[test]
fn restart_reports_each_dependent_and_fails_when_one_does_not_come_back() {
    let mut h = Harness::new();
    let flag = h.p("app-breaks");
    h.service(
        "db",
        "service \"db\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0.2\n}\n",
    );
    h.service(
        "app",
        &format!(
            "service \"app\" {{\n    cmd \"/bin/sh\" \"-c\" \"test -e {flag} && exit 3; exec sleep 1000\"\n    \
             requires \"db\"\n    starttime 1\n    startretries 0\n}}\n"
        ),
    );
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    requires \"app\"\n    starttime 0.2\n}\n",
    );
    h.start();
    h.wait_state("web", "RUNNING");
    let (ok, out) = said(&h, &["restart", "db"]);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        "db: restarted: RUNNING\napp: restarted with db: RUNNING\nweb: restarted with db: RUNNING\n"
    );
    // Now app cannot come back: restart fails, and says which dependent and why.
    touch(std::path::Path::new(&flag));
    let out = h.ctl(&["restart", "db"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(
        stdout,
        "db: restarted: RUNNING\n\
         app: stopped with db: FATAL: exited with exit code 3 before starttime, 1 attempt(s), giving up\n\
         web: stopped with db: PENDING: dependency app is FATAL\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "tmctl: restart failed for app, web"
    );
}

#[test]
fn a_failed_oneshot_is_retried_and_what_requires_it_starts_once_it_succeeds() {
    let mut h = Harness::new();
    let ready = h.p("db-ready");
    let runs = h.p("runs");
    h.service(
        "migrate",
        &format!(
            "service \"migrate\" {{\n    type \"oneshot\"\n    \
             cmd \"/bin/sh\" \"-c\" \"echo run >> {runs}; test -e {ready}\"\n    startretries 10\n}}\n"
        ),
    );
    h.service(
        "app",
        "service \"app\" {\n    cmd \"/bin/sleep\" \"1000\"\n    requires \"migrate\"\n    starttime 0.1\n}\n",
    );
    h.start();
    h.wait_log(&[
        "migrate",
        "oneshot failed with exit code 1",
        "BACKOFF",
        "restart attempt 1/10",
    ]);
    assert_eq!(h.state("app"), "PENDING");
    touch(std::path::Path::new(&ready));
    h.wait_state("migrate", "EXITED");
    h.wait_state("app", "RUNNING");
    assert!(lines(std::path::Path::new(&runs)).len() >= 2);
}

// ---- a real nginx --------------------------------------------------------------------------

const NGINX: &str = "/usr/sbin/nginx";

/// An nginx config serving "ok" on 127.0.0.1:PORT with everything under `dir`;
/// `extra` goes into the http block (a bad directive, for instance).
fn nginx_conf(dir: &str, port: u16, extra: &str) -> String {
    format!(
        "pid {dir}/nginx.pid;\nerror_log stderr;\nevents {{ worker_connections 64; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {dir}/body;\n    \
         proxy_temp_path {dir}/proxy;\n    fastcgi_temp_path {dir}/fastcgi;\n    \
         uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;\n    {extra}\n    \
         server {{\n        listen 127.0.0.1:{port};\n        \
         location / {{ return 200 \"ok\\n\"; }}\n    }}\n}}\n"
    )
}

fn nginx_service(conf: &str, generation: u32) -> String {
    format!(
        "service \"nginx\" {{\n    cmd \"{NGINX} -g 'daemon off;' -c {conf}\"\n    \
         pre-start \"{NGINX} -t -q -c {conf}\"\n    starttime 0.5\n    stopsignal \"QUIT\"\n    \
         env {{ GENERATION \"{generation}\" }}\n}}\n"
    )
}

/// One HTTP request; Ok when nginx answered 200.
fn get(addr: SocketAddr) -> Result<(), String> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    match reply.starts_with("HTTP/1.1 200") && reply.ends_with("ok\n") {
        true => Ok(()),
        false => Err(format!("unexpected reply: {reply:?}")),
    }
}

#[test]
fn nginx_with_a_broken_config_stays_up_through_reload_and_restart_and_no_request_fails() {
    assert!(
        std::path::Path::new(NGINX).exists(),
        "{NGINX} is missing: install nginx-light (.ci/install-deps does)"
    );
    let mut h = Harness::new();
    let dir = h.p("nginx");
    std::fs::create_dir(&dir).expect("nginx dir");
    let conf = format!("{dir}/nginx.conf");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    std::fs::write(&conf, nginx_conf(&dir, port, "")).expect("conf");
    h.service("nginx", &nginx_service(&conf, 1));
    h.start();
    let pid = h.running_pid("nginx");
    wait_until("nginx to answer", || get(addr).is_ok());

    // A client loop hammers the site across the bad reload.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let client = {
        let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
        std::thread::spawn(move || {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match get(addr) {
                    Ok(()) => served.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        errors.push(e);
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            errors
        })
    };
    wait_until("the client loop to get answers", || {
        served.load(Ordering::Relaxed) >= 20
    });
    // The bad edit: an unknown directive, and a changed service (a restart is due).
    std::fs::write(&conf, nginx_conf(&dir, port, "bogus_directive on;")).expect("conf");
    h.service("nginx", &nginx_service(&conf, 2));
    let before = served.load(Ordering::Relaxed);
    let out = h.ctl(&["reload"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.starts_with(
            "nginx: restart failed: pre-start failed with exit code 1; still running the old \
             config, the next reload tries again\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("unknown directive \"bogus_directive\""),
        "the command's output is shown: {stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "tmctl: reload failed for nginx"
    );
    wait_until("requests served after the reload", || {
        served.load(Ordering::Relaxed) >= before + 20
    });
    // `tmctl restart` with the broken config: checked first too, nginx is not stopped.
    let out = h.ctl(&["restart", "nginx"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.starts_with(
            "nginx: restart failed: pre-start failed with exit code 1; not restarted, still running\n"
        ),
        "{stdout}"
    );
    let before = served.load(Ordering::Relaxed);
    wait_until("requests served after the restart", || {
        served.load(Ordering::Relaxed) >= before + 20
    });
    stop.store(true, Ordering::Relaxed);
    let errors = client.join().expect("client loop");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests: {errors:?}"
    );
    // The old process was not touched.
    assert_eq!(h.pid("nginx"), Some(pid));
    assert_eq!(h.state("nginx"), "RUNNING");
    // The next reload tries again (the old config stayed): fixed, it restarts nginx.
    std::fs::write(&conf, nginx_conf(&dir, port, "")).expect("conf");
    let (ok, out) = said(&h, &["reload"]);
    assert!(ok, "{out}");
    assert_eq!(out, "nginx: restarted: RUNNING\n");
    assert_ne!(h.pid("nginx"), Some(pid));
    wait_until("nginx to answer again", || get(addr).is_ok());
    h.ok(&["stop", "nginx"]);
}

#[test]
fn pre_start_runs_as_the_services_user_with_its_environment_and_directory() {
    let mut h = Harness::new();
    let user = crate::common::users::TestUser::create(0);
    let name = &user.name;
    h.service(
        "job",
        &format!("service \"job\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    \
         pre-start \"/bin/sh\" \"-c\" \"echo $(id -u):$(id -g) $MODE $(pwd); exit 1\"\n    \
         user \"{user}\"\n    env {{ MODE \"blue\" }}\n    workingdir \"/tmp\"\n    startretries 0\n}}\n", user = name),
    );
    h.start();
    h.wait_state("job", "FATAL");
    let job = h.instance("job");
    assert_eq!(
        job["last_stderr"],
        format!("{}:{} blue /tmp", user.uid, user.gid),
        "{job}"
    );
    assert_eq!(
        job["detail"],
        format!(
            "pre-start failed with exit code 1: {}:{} blue /tmp",
            user.uid, user.gid
        )
    );
    assert_eq!(
        job["pid"],
        serde_json::Value::Null,
        "the program never started"
    );
}
