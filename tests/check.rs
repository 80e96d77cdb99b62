//! `taskmasterd --check -c DIR`: exit 0 with the start order, or exit 1 with every error
//! of the load at once, each with file:line:col.

use crate::common::*;

#[test]
fn a_valid_dir_exits_0_and_prints_the_start_order() {
    let h = Harness::new();
    h.service(
        "stack",
        r#"service "db" {
    cmd "/bin/sleep" "1000"
}
service "web" {
    cmd "/bin/sleep" "1000"
    requires "db"
}
service "proxy" {
    cmd "/bin/sleep" "1000"
    requires "web"
}"#,
    );
    let out = h.check();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let at = |name: &str| said.find(name).unwrap_or_else(|| panic!("{name}: {said}"));
    assert!(said.contains("start order"), "{said}");
    assert!(at("db") < at("web") && at("web") < at("proxy"), "{said}");
    // Nothing was started, and nothing listens.
    assert!(!h.socket.exists());
}

#[test]
fn every_error_of_every_file_is_reported_at_once() {
    let h = Harness::new();
    h.service(
        "a",
        r#"service "a" {
    cmd "/bin/true"
    numprocs "two"
    autorestart "sometimes"
}"#,
    );
    h.service(
        "b",
        r#"service "b" {
    cmd "/bin/true"
    stopsignal "BOGUS"
    umask "999"
    colour "blue"
}"#,
    );
    h.service(
        "c",
        r#"service "c" {
    cmd "/bin/true"
    autostart true
}"#,
    );
    h.service("good", r#"service "good" { cmd "/bin/true"; }"#);
    let out = h.check();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let file = |name: &str| h.service_path(name).display().to_string();
    // (file, line:col, words the message must have)
    let expected = [
        ("a", "3:5", &["numprocs", "two"][..]),
        ("a", "4:5", &["autorestart", "sometimes"]),
        ("b", "3:5", &["stopsignal", "BOGUS"]),
        ("b", "4:5", &["umask", "999"]),
        ("b", "5:5", &["unknown field", "colour"]),
        // KDL v1: the error shows how to write it in v2.
        ("c", "3:", &["v1", "#true"]),
    ];
    for (name, position, words) in expected {
        let prefix = format!("{}:{position}", file(name));
        let line = err
            .lines()
            .find(|l| l.starts_with(&prefix) && words.iter().all(|w| l.contains(w)))
            .unwrap_or_else(|| panic!("no error {prefix} with {words:?} in:\n{err}"));
        assert!(!line.is_empty());
    }
    assert!(err.contains("6 error(s)"), "{err}");
    assert!(!err.contains(&file("good")), "{err}");
}

#[test]
fn the_daemon_refuses_to_start_on_the_same_errors() {
    let mut h = Harness::new();
    h.service("a", r#"service "a" { cmd "/bin/true"; numprocs "two"; }"#);
    let out = h.run_daemon_to_exit();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("numprocs"), "{said}");
    assert!(said.contains("nothing started"), "{said}");
    assert!(!h.socket.exists());
    assert!(!h.daemon_alive());
}

#[test]
fn cycles_and_unknown_dependencies_name_the_services() {
    let h = Harness::new();
    h.service(
        "ring",
        r#"service "d" {
    cmd "/bin/true"
    requires "e"
}
service "e" {
    cmd "/bin/true"
    after "f"
}
service "f" {
    cmd "/bin/true"
    requires "d"
}"#,
    );
    h.service(
        "lost",
        r#"service "web" {
    cmd "/bin/true"
    wants "ghost"
}"#,
    );
    let out = h.check();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let ring = h.service_path("ring").display().to_string();
    let cycle = err
        .lines()
        .find(|l| l.contains("cycle"))
        .unwrap_or_else(|| panic!("no cycle in:\n{err}"));
    assert!(cycle.starts_with(&format!("{ring}:")), "{cycle}");
    assert!(
        ["d -> e -> f -> d", "e -> f -> d -> e", "f -> d -> e -> f"]
            .iter()
            .any(|c| cycle.contains(c)),
        "{cycle}"
    );
    let lost = h.service_path("lost").display().to_string();
    let unknown = err
        .lines()
        .find(|l| l.contains("ghost"))
        .unwrap_or_else(|| panic!("no unknown dependency in:\n{err}"));
    assert!(unknown.starts_with(&format!("{lost}:")), "{unknown}");
    assert!(unknown.contains("web"), "both ends named: {unknown}");
}
