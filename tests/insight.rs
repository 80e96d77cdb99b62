//! Seeing why, end to end: `tmctl why` over real processes.

use crate::common::*;

#[test]
fn why_follows_a_dependency_to_the_exec_error() {
    let mut h = Harness::new();
    h.service(
        "db",
        "service \"db\" {\n    cmd \"/nonexistent/postgres\"\n}\n",
    );
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    requires \"db\"\n}\n",
    );
    h.start();
    h.wait_state("db", "FATAL");
    h.wait_state("web", "PENDING");
    let out = h.ok(&["why", "web"]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "web is PENDING: it requires db, which failed",
            "db is FATAL: exec /nonexistent/postgres: No such file or directory; `tmctl start db` tries again",
        ],
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&h.ok(&["--json", "why", "web"])).expect("JSON");
    assert_eq!(json["steps"][1]["name"], "db");
    assert_eq!(json["steps"][1]["state"], "FATAL");
    let err = h.fails(&["why", "nope"]);
    assert!(err.contains("no such service: nope"), "{err}");
}

#[test]
fn why_tells_a_failing_start_its_exit_and_attempts() {
    let mut h = Harness::new();
    h.service(
        "flaky",
        "service \"flaky\" {\n    cmd \"/bin/sh\" \"-c\" \"echo broken config >&2; exit 3\"\n    startretries 1\n}\n",
    );
    h.start();
    h.wait_state("flaky", "FATAL");
    let out = h.ok(&["why", "flaky"]);
    assert!(
        out.starts_with(
            "flaky is FATAL: exited with exit code 3 before starttime, 2 attempt(s), giving up"
        ),
        "{out}"
    );
    assert!(out.contains("its last stderr line: broken config"), "{out}");
}
