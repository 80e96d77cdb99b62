//! Users, groups, capabilities and no_new_privs, read back from /proc/PID/status.

use caps::{CapSet, Capability};
use nix::errno::Errno;

use super::support::{assert_status, nobody, serial, spec, zombie_children, Child};
use crate::process::{spawn, ChildFd, Step};

const NET_BIND_SERVICE: &str = "0000000000000400";
const NONE: &str = "0000000000000000";

#[test]
fn it_runs_as_the_given_user_and_groups() {
    let _serial = serial();
    let mut spec = spec(&["/bin/sleep", "30"]);
    *spec.credentials = Some(nobody());
    let child = Child::spawn(&spec);
    assert_status(child.0, "Uid", "65534 65534 65534 65534");
    assert_status(child.0, "Gid", "65534 65534 65534 65534");
    assert_status(child.0, "Groups", "65534");
}

#[test]
fn another_user_without_capabilities_has_none() {
    let _serial = serial();
    let mut spec = spec(&["/bin/sleep", "30"]);
    *spec.credentials = Some(nobody());
    let child = Child::spawn(&spec);
    assert_status(child.0, "Uid", "65534 65534 65534 65534");
    for field in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_status(child.0, field, NONE);
    }
}

#[test]
fn another_user_keeps_exactly_the_given_capabilities() {
    let _serial = serial();
    let mut spec = spec(&["/bin/sleep", "30"]);
    *spec.credentials = Some(nobody());
    *spec.capabilities = Some(vec![Capability::CAP_NET_BIND_SERVICE]);
    let child = Child::spawn(&spec);
    assert_status(child.0, "Uid", "65534 65534 65534 65534");
    for field in ["CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"] {
        assert_status(child.0, field, NET_BIND_SERVICE);
    }
}

#[test]
fn root_with_capabilities_gets_only_those() {
    let _serial = serial();
    let mut spec = spec(&["/bin/sleep", "30"]);
    *spec.capabilities = Some(vec![Capability::CAP_NET_BIND_SERVICE]);
    let child = Child::spawn(&spec);
    assert_status(child.0, "Uid", "0 0 0 0");
    for field in ["CapPrm", "CapEff", "CapBnd"] {
        assert_status(child.0, field, NET_BIND_SERVICE);
    }
    assert_status(child.0, "CapAmb", NONE);
}

#[test]
fn no_new_privs_is_set_when_asked() {
    let _serial = serial();
    let mut spec = spec(&["/bin/sleep", "30"]);
    spec.no_new_privs = true;
    let child = Child::spawn(&spec);
    assert_status(child.0, "NoNewPrivs", "1");
}

#[test]
fn a_refused_uid_switch_names_the_step_and_the_uid() {
    let _serial = serial();
    // Capabilities belong to a thread, and fork copies the forking thread's: in a thread of
    // its own, this test can lose CAP_SETUID without touching the others.
    let err = std::thread::spawn(|| {
        caps::drop(None, CapSet::Effective, Capability::CAP_SETUID).expect("drop CAP_SETUID");
        let mut spec = spec(&["/bin/true"]);
        *spec.credentials = Some(nobody());
        spawn(&spec, ChildFd::Inherit, ChildFd::Inherit)
    })
    .join()
    .expect("spawning thread")
    .unwrap_err();
    assert_eq!((err.step, err.errno), (Step::Setresuid, Errno::EPERM));
    assert_eq!(err.to_string(), "setresuid 65534: Operation not permitted");
    assert_eq!(zombie_children(), vec![]);
}
