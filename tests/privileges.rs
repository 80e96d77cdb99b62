//! Each program runs with exactly the rights its file gives it, read back from
//! /proc/PID/status and /proc/PID/limits; real users (`nobody`, and users created for the
//! test), real capabilities, a real privileged port.

use crate::common::users::TestUser;
use crate::common::*;
use std::collections::BTreeSet;
use std::process::Command;

const CAP_NET_BIND_SERVICE: &str = "0000000000000400";
const NO_CAPS: &str = "0000000000000000";

/// `cmd` as `user`, with `extra` fields.
fn as_user(name: &str, user: &str, extra: &str) -> String {
    format!(
        r#"service "{name}" {{
    cmd "/bin/sleep" "1000"
    starttime 0.1
    user "{user}"
    {extra}
}}
"#
    )
}

/// The four numbers of a `Uid:`/`Gid:` line: real, effective, saved, filesystem.
fn ids(pid: i32, field: &str) -> Vec<u32> {
    proc_status(pid, field)
        .split_whitespace()
        .map(|n| n.parse().expect("an id"))
        .collect()
}

fn groups(pid: i32) -> BTreeSet<u32> {
    proc_status(pid, "Groups")
        .split_whitespace()
        .map(|n| n.parse().expect("a gid"))
        .collect()
}

/// `id -G USER`: the groups initgroups(3) gives that user.
fn groups_of(user: &str) -> BTreeSet<u32> {
    let out = Command::new("id").arg("-G").arg(user).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|n| n.parse().expect("a gid"))
        .collect()
}

#[test]
fn user_nobody_gets_its_uid_gid_and_groups_and_no_capabilities() {
    let mut h = Harness::new();
    h.service("n", &as_user("n", "nobody", ""));
    h.service("by-id", &as_user("by-id", "65534", ""));
    h.start();
    for name in ["n", "by-id"] {
        let pid = h.running_pid(name);
        assert_eq!(ids(pid, "Uid"), [65534; 4], "{name}");
        assert_eq!(ids(pid, "Gid"), [65534; 4], "{name}");
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert_eq!(proc_status(pid, set), NO_CAPS, "{name} {set}");
        }
    }
    assert_eq!(groups(h.running_pid("n")), groups_of("nobody"));
}

#[test]
fn a_user_gets_exactly_its_supplementary_groups_and_group_overrides_the_gid() {
    let user = TestUser::create(2);
    let mut h = Harness::new();
    h.service("u", &as_user("u", &user.name, ""));
    let (g1, g1_gid) = &user.groups[1];
    h.service("g", &as_user("g", &user.name, &format!("group \"{g1}\"")));
    h.start();
    let pid = h.running_pid("u");
    assert_eq!(ids(pid, "Uid"), [user.uid; 4]);
    assert_eq!(ids(pid, "Gid"), [user.gid; 4]);
    let mut expected: BTreeSet<u32> = user.groups.iter().map(|(_, gid)| *gid).collect();
    expected.insert(user.gid);
    assert_eq!(groups(pid), expected);
    assert!(!groups(pid).contains(&0), "root's group is gone");

    let pid = h.running_pid("g");
    assert_eq!(ids(pid, "Uid"), [user.uid; 4]);
    assert_eq!(ids(pid, "Gid"), [*g1_gid; 4]);
    for (_, gid) in &user.groups {
        assert!(groups(pid).contains(gid), "{:?}", groups(pid));
    }
}

#[test]
fn an_unknown_user_is_a_config_error_naming_the_file() {
    let h = Harness::new();
    h.service("ghost", &as_user("ghost", "no-such-user-tm", ""));
    let out = h.check();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = h.service_path("ghost").display().to_string();
    assert!(err.contains(&format!("{file}:4:")), "{err}");
    assert!(err.contains("no-such-user-tm"), "{err}");
}

/// A program that tries to bind port 80 and prints what happened on stdout (Perl: its
/// base is Essential on Debian, so CI needs nothing more). A loopback address of its own
/// (all of 127/8 is loopback), so that nothing else on the machine (another run of this
/// suite) holds the same address and port.
fn binds_port_80(name: &str, extra: &str) -> String {
    let pid = std::process::id();
    let address = format!("127.{}.{}.80", (pid >> 8) & 0xff, pid & 0xff);
    format!(
        r##"service "{name}" {{
    cmd "/usr/bin/perl" "-e" #"use Socket; $| = 1; socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!"; if (bind($s, pack_sockaddr_in(80, inet_aton($ARGV[0])))) {{ print "bound\n" }} else {{ print "refused: $!\n" }} sleep 1000;"# "{address}"
    starttime 0.1
    user "nobody"
    {extra}
}}
"##
    )
}

#[test]
fn net_bind_service_lets_nobody_bind_port_80_and_nothing_more() {
    let mut h = Harness::new();
    h.service(
        "with",
        &binds_port_80("with", r#"capabilities "CAP_NET_BIND_SERVICE""#),
    );
    h.start();
    let pid = h.running_pid("with");
    for set in ["CapPrm", "CapEff", "CapAmb", "CapBnd"] {
        assert_eq!(proc_status(pid, set), CAP_NET_BIND_SERVICE, "{set}");
    }
    assert_eq!(ids(pid, "Uid"), [65534; 4]);
    wait_until("the program to try", || !h.ok(&["tail", "with"]).is_empty());
    assert_eq!(h.ok(&["tail", "with"]), "bound\n");
}

#[test]
fn without_the_capability_nobody_cannot_bind_port_80() {
    let mut h = Harness::new();
    h.service("without", &binds_port_80("without", ""));
    h.start();
    h.wait_state("without", "RUNNING");
    wait_until("the program to try", || {
        !h.ok(&["tail", "without"]).is_empty()
    });
    let said = h.ok(&["tail", "without"]);
    assert!(
        said.starts_with("refused:") && said.contains("Permission denied"),
        "{said}"
    );
}

#[test]
fn root_keeps_roots_capabilities_unless_given_a_list() {
    let mut h = Harness::new();
    h.service(
        "root",
        r#"service "plain" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
}
service "narrow" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
    capabilities "CAP_NET_BIND_SERVICE"
}"#,
    );
    h.start();
    let daemon = h.daemon_pid();
    let plain = h.running_pid("plain");
    assert_eq!(proc_status(plain, "CapEff"), proc_status(daemon, "CapEff"));
    assert_eq!(proc_status(plain, "CapBnd"), proc_status(daemon, "CapBnd"));
    let narrow = h.running_pid("narrow");
    assert_eq!(ids(narrow, "Uid"), [0; 4]);
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(proc_status(narrow, set), CAP_NET_BIND_SERVICE, "{set}");
    }
}

#[test]
fn a_capability_the_kernel_refuses_makes_that_instance_fatal_naming_the_step() {
    let mut h = Harness::new();
    // The harness runs the daemon without CAP_SYS_BOOT in its bounding set: no child of
    // it can be given that one.
    h.service(
        "boot",
        r#"service "boot" {
    cmd "/bin/sleep" "1000"
    user "nobody"
    capabilities "CAP_SYS_BOOT"
}
service "fine" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
}"#,
    );
    h.start();
    h.wait_state("boot", "FATAL");
    let detail = h.detail("boot");
    assert!(
        !detail.is_empty() && !detail.starts_with("exec "),
        "the failing step: {detail}"
    );
    assert!(detail.contains("Operation not permitted"), "{detail}");
    h.wait_state("fine", "RUNNING");
    assert!(h.daemon_alive());
}

#[test]
fn limits_and_no_new_privs_are_applied() {
    let mut h = Harness::new();
    h.service(
        "lim",
        r#"service "limited" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
    user "nobody"
    no-new-privs #true
    limits {
        nofile 1024
        nproc 512 1024
        core 0
    }
}
service "plain" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
}"#,
    );
    h.start();
    let pid = h.running_pid("limited");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let row = |name: &str| -> Vec<String> {
        let line = limits
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {limits}"));
        line[name.len()..]
            .split_whitespace()
            .take(2)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(row("Max open files"), ["1024", "1024"]);
    assert_eq!(row("Max processes"), ["512", "1024"]);
    assert_eq!(row("Max core file size"), ["0", "0"]);
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    assert_eq!(proc_status(h.running_pid("plain"), "NoNewPrivs"), "0");
}
