//! As root, a service file or config dir that someone other than root could change is
//! refused (like sshd's StrictModes): by `--check` and at start, naming it and why.

use crate::common::*;
use std::os::unix::fs::symlink;

const GOOD: &str = r#"service "a" {
    cmd "/bin/sleep" "1000"
}"#;

/// `--check` and a daemon start both fail, and both name `path` with `why`.
fn refused(h: &Harness, path: &std::path::Path, why: &str) {
    let out = h.check();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let shown = path.display().to_string();
    let line = err
        .lines()
        .find(|l| l.contains(&shown))
        .unwrap_or_else(|| panic!("{shown} not named in: {err}"));
    assert!(line.contains(why), "{line}");

    let out = h.run_daemon_to_exit();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(&shown) && said.contains(why), "{said}");
    assert!(!h.socket.exists());
}

#[test]
fn a_group_or_world_writable_service_file_is_refused() {
    for mode in [0o664, 0o646] {
        let h = Harness::new();
        h.service("a", GOOD);
        let path = h.service_path("a");
        set_mode(&path, mode);
        refused(&h, &path, "writable by group or others");
    }
}

#[test]
fn a_service_file_not_owned_by_root_is_refused() {
    let h = Harness::new();
    h.service("a", GOOD);
    let path = h.service_path("a");
    std::os::unix::fs::chown(&path, Some(65534), None).expect("chown");
    refused(&h, &path, "owned by uid 65534");
}

#[test]
fn a_writable_config_dir_is_refused() {
    let h = Harness::new();
    h.service("a", GOOD);
    set_mode(&h.services, 0o777);
    refused(&h, &h.services, "writable by group or others");
}

#[test]
fn a_symlink_to_an_insecure_file_is_refused() {
    let h = Harness::new();
    let target = h.path("elsewhere.kdl");
    std::fs::write(&target, GOOD).expect("write");
    set_mode(&target, 0o666);
    let link = h.service_path("a");
    symlink(&target, &link).expect("symlink");
    refused(&h, &link, "symlink");
}

#[test]
fn an_insecure_file_at_reload_is_rejected_and_everything_keeps_running() {
    let mut h = Harness::new();
    h.service("a", GOOD);
    h.start();
    wait_until("a to run", || h.pid("a").is_some());
    let pid = h.pid("a");
    h.service("b", GOOD.replace("\"a\"", "\"b\"").as_str());
    set_mode(&h.service_path("b"), 0o666);
    let err = h.fails(&["reload"]);
    assert!(
        err.contains(&h.service_path("b").display().to_string()),
        "{err}"
    );
    assert_eq!(h.pid("a"), pid);
    assert!(h.status().iter().all(|i| i["name"] != "b"));
}

#[test]
fn a_safe_config_passes() {
    let h = Harness::new();
    h.service("a", GOOD);
    let out = h.check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
