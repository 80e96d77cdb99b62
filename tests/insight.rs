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

// ---- cgroups, with what this host's cgroup v2 allows ------------------------------------

/// The cgroup a running instance's process is in (`0::/path` of /proc/PID/cgroup).
fn cgroup_of(pid: i32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_default()
        .to_string()
}

/// Whether this test runs where cgroups can be had (root, cgroup v2 mounted).
fn cgroups_here(h: &Harness) -> bool {
    test_cgroup(h.dir.path()).is_some()
}

/// A service whose main process starts a double-forked, setsid escapee (its pid written to
/// `file`), then sleeps.
fn escaper(file: &str) -> String {
    format!(
        r##"service "esc" {{
    cmd "/bin/sh" "-c" #"setsid sh -c 'sleep 1000 & echo $! > "$0"; wait' "$0" & exec sleep 1000"# "{file}"
    starttime 0.1
    stoptime 2
}}
"##
    )
}

#[test]
fn each_instance_runs_in_its_own_cgroup_and_stop_kills_what_escaped() {
    let mut h = Harness::new();
    if !cgroups_here(&h) {
        eprintln!("skipped: no cgroup v2 here");
        return;
    }
    h.service("esc", &escaper(&h.p("escapee")));
    h.service(
        "w",
        "service \"w\" {\n    cmd \"/bin/sleep\" \"1000\"\n    numprocs 2\n    starttime 0.1\n}\n",
    );
    h.start();
    h.wait_log(&["cgroups: each instance runs in"]);
    h.wait_state("esc", "RUNNING");
    h.wait_state("w:1", "RUNNING");
    assert!(cgroup_of(h.running_pid("w:1")).ends_with("/taskmaster/w/1"));
    assert!(cgroup_of(h.running_pid("esc")).ends_with("/taskmaster/esc/0"));
    let escapee: i32 = wait_file(&h.path("escapee")).trim().parse().expect("a pid");
    assert!(cgroup_of(escapee).ends_with("/taskmaster/esc/0"));
    // It left the process group and the session: a signal to the group misses it.
    assert_ne!(
        proc_status_field(escapee, 5),
        proc_status_field(h.running_pid("esc"), 5)
    );
    // The stop is answered once the cgroup is empty: the escapee is dead by then.
    h.ok(&["stop", "esc"]);
    assert!(!alive(escapee), "escapee {escapee} alive after the stop");
    h.wait_log(&["esc: its cgroup is empty", "STOPPED"]);
}

#[test]
fn a_crash_is_restarted_only_once_its_leftovers_are_gone() {
    let mut h = Harness::new();
    if !cgroups_here(&h) {
        eprintln!("skipped: no cgroup v2 here");
        return;
    }
    // The main process crashes at once, leaving an escapee that ignores SIGTERM: it goes
    // at SIGKILL after stoptime, and only then is the crash restarted. The crash waits for
    // the escapee's line (written once it ignores SIGTERM): a fixed pause could end before
    // a slow escapee's trap is set, and the SIGTERM would end it.
    let file = h.p("escapee");
    h.service(
        "crashy",
        &format!(
            r##"service "crashy" {{
    cmd "/bin/sh" "-c" #"n=$(cat "$0" 2>/dev/null | wc -l); setsid sh -c 'trap "" TERM; echo $$$$ >> "$0"; exec sleep 1000' "$0" & while [ "$(cat "$0" 2>/dev/null | wc -l)" -le "$n" ]; do sleep 0.01; done; exit 1"# "{file}"
    autorestart "always"
    starttime 0
    stoptime 1
}}
"##
        ),
    );
    h.start();
    h.wait_log(&[
        "crashy: 1 process(es) left in its cgroup after pid",
        "SIGTERM sent, SIGKILL after stoptime",
    ]);
    h.wait_log(&["crashy: leftover processes did not end within stoptime: SIGKILL"]);
    h.wait_log(&["crashy: its cgroup is empty"]);
    let first: i32 = wait_file(&h.path("escapee"))
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a pid");
    assert!(
        !alive(first),
        "the first escapee {first} outlived its drain"
    );
    // The next spawn comes after the cgroup was empty, not at the crash.
    wait_until("crashy to be spawned again", || {
        h.log_text().matches("crashy spawned with pid").count() >= 2
    });
    let log = h.log_text();
    let empty_at = log.find("crashy: its cgroup is empty").expect("logged");
    let spawns: Vec<usize> = log
        .match_indices("crashy spawned with pid")
        .map(|(i, _)| i)
        .collect();
    assert!(
        spawns[1] > empty_at,
        "respawned before the cgroup was empty:\n{log}"
    );
    h.ok(&["stop", "crashy"]);
}

/// Field N (1-based after the command) of /proc/PID/stat: 5 is the session.
fn proc_status_field(pid: i32, n: usize) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
    after
        .split_whitespace()
        .nth(n - 2)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn pause_freezes_the_whole_cgroup_and_resume_thaws_it() {
    let mut h = Harness::new();
    if !cgroups_here(&h) {
        eprintln!("skipped: no cgroup v2 here");
        return;
    }
    h.service("esc", &escaper(&h.p("escapee")));
    h.start();
    h.wait_state("esc", "RUNNING");
    let escapee: i32 = wait_file(&h.path("escapee")).trim().parse().expect("a pid");
    let events = super::common::cgroup::cgroup2_mount()
        .expect("cgroup2")
        .join(cgroup_of(escapee).trim_start_matches('/'))
        .join("cgroup.events");
    let frozen = || {
        std::fs::read_to_string(&events)
            .unwrap_or_default()
            .contains("frozen 1")
    };
    h.ok(&["pause", "esc"]);
    h.wait_state("esc", "PAUSED");
    wait_until("the cgroup to be frozen", frozen);
    h.ok(&["resume", "esc"]);
    h.wait_state("esc", "RUNNING");
    wait_until("the cgroup to be thawed", || !frozen());
    assert!(alive(escapee));
}

#[test]
fn status_shows_the_cpu_time_and_tasks_of_each_cgroup() {
    let mut h = Harness::new();
    if !cgroups_here(&h) {
        eprintln!("skipped: no cgroup v2 here");
        return;
    }
    h.service(
        "busy",
        "service \"busy\" {\n    cmd \"/bin/sh\" \"-c\" \"sleep 1000 & while :; do :; done\"\n    starttime 0.1\n}\n",
    );
    h.sleeper("idle");
    h.start();
    h.wait_state("busy", "RUNNING");
    h.wait_state("idle", "RUNNING");
    wait_until("busy to have used 0.2 s of CPU", || {
        h.instance("busy")["cpu_usec"].as_u64().unwrap_or(0) > 200_000
    });
    let busy = h.instance("busy");
    assert_eq!(busy["tasks"], 2, "{busy}");
    let idle = h.instance("idle");
    assert_eq!(idle["tasks"], 1, "{idle}");
    assert!(idle["cpu_usec"].as_u64().is_some(), "{idle}");
    let long = h.ok(&["status", "-l"]);
    let header = long.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("NAME") && header.contains("MEM") && header.contains("TASKS"),
        "{long}"
    );
    assert!(
        long.lines()
            .any(|l| l.starts_with("busy ") && l.contains("RUNNING")),
        "{long}"
    );
}

#[test]
fn limits_are_applied_or_the_service_is_fatal_with_the_reason() {
    let mut h = Harness::new();
    h.service(
        "capped",
        "service \"capped\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0.1\n    memory-max \"64M\"\n    pids-max 16\n}\n",
    );
    h.start();
    let available = test_controllers(h.dir.path());
    if available.contains("memory") && available.contains("pids") {
        h.wait_state("capped", "RUNNING");
        let cgroup = cgroup_of(h.running_pid("capped"));
        let mount = super::common::cgroup::cgroup2_mount().expect("cgroup2");
        let dir = mount.join(cgroup.trim_start_matches('/'));
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        assert_eq!(read("memory.max").trim(), (64 << 20).to_string());
        assert_eq!(read("pids.max").trim(), "16");
    } else {
        // This host's cgroup v2 has no such controller (the hybrid layout): never ignored.
        h.wait_state("capped", "FATAL");
        let detail = h.detail("capped");
        assert!(
            detail.contains("memory-max 64M needs the cgroup v2 memory controller")
                || detail.contains("cgroup limits cannot be applied"),
            "{detail}"
        );
    }
}

#[test]
fn cpu_weight_weighs_the_service_against_the_other_services() {
    let mut h = Harness::new();
    h.service(
        "light",
        "service \"light\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0.1\n    cpu-weight 20\n}\n",
    );
    h.start();
    let available = test_controllers(h.dir.path());
    if !available.contains("cpu") {
        return; // no cpu controller here: the limits test covers the refusal
    }
    h.wait_state("light", "RUNNING");
    let cgroup = cgroup_of(h.running_pid("light"));
    let mount = super::common::cgroup::cgroup2_mount().expect("cgroup2");
    let instance = mount.join(cgroup.trim_start_matches('/'));
    // taskmaster/light/0: the weight counts where the siblings are other services.
    let service = instance.parent().expect("the service's cgroup");
    let weight = std::fs::read_to_string(service.join("cpu.weight")).unwrap_or_default();
    assert_eq!(weight.trim(), "20", "{}", service.display());
}

#[test]
fn bad_limits_are_load_errors_naming_field_and_value() {
    let h = Harness::new();
    h.service(
        "bad",
        r#"service "bad" {
    cmd "/bin/true"
    memory-max "512X"
    memory-high "-1"
    cpu-max "0%"
    cpu-weight 0
    pids-max 0
}
"#,
    );
    let out = h.check();
    assert!(!out.status.success());
    let text = text(&out);
    for expected in [
        r#"field `memory-max`: expected a size greater than 0 such as "512M" or "2G", got "512X""#,
        r#"field `memory-high`: expected a size greater than 0"#,
        r#"field `cpu-max`: expected a share of one CPU such as "50%""#,
        "field `cpu-weight`: expected an integer from 1 to 10000, got 0",
        "field `pids-max`: expected an integer ≥ 1, got 0",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
}

// ---- analyze and metrics ----------------------------------------------------------------

#[test]
fn analyze_prints_the_boot_and_draws_it_as_an_svg_that_renders() {
    let mut h = Harness::new();
    h.service(
        "db",
        "service \"db\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0.3\n}\n",
    );
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0.2\n    requires \"db\"\n}\n",
    );
    h.start();
    h.wait_state("web", "RUNNING");
    let text = h.ok(&["analyze"]);
    assert!(text.starts_with("2 of 2 instance(s) came up"), "{text}");
    let chain = text.split("critical chain").nth(1).unwrap_or_default();
    let web = chain.find("web @").expect("web in the chain");
    let db = chain.find("└─ db @").expect("db under it");
    assert!(web < db, "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&h.ok(&["--json", "analyze"])).expect("JSON");
    let entries = json["analysis"]["entries"].as_array().expect("entries");
    let db_up = entries[0]["ready_ms"].as_u64().expect("db up");
    let web_spawned = entries[1]["spawned_ms"].as_u64().expect("web spawned");
    assert!(db_up <= web_spawned, "{json}");
    assert!(
        entries[0]["ready_ms"].as_u64() >= Some(300),
        "starttime counts: {json}"
    );

    let svg = h.path("boot.svg");
    h.ok(&["analyze", "--svg", &svg.display().to_string()]);
    let png = h.path("boot.png");
    let out = std::process::Command::new("rsvg-convert")
        .arg(&svg)
        .arg("-o")
        .arg(&png)
        .output()
        .expect("rsvg-convert (librsvg2-bin, see .ci/install-deps)");
    assert!(out.status.success(), "{}", text_of(&out));
    let bytes = std::fs::read(&png).expect("the PNG");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");

    let err = h.fails(&["analyze", "nope"]);
    assert!(err.contains("no such service: nope"), "{err}");
}

fn text_of(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Parses Prometheus text with the `prometheus_client` package's own parser; returns
/// `name{labels} value` lines, or the parser's error.
fn parse_prometheus(text: &str) -> Result<Vec<String>, String> {
    use std::io::Write;
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{family.type} {s.name}{{{labels}}} {s.value}")
"#;
    let mut child = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (python3-prometheus-client, see .ci/install-deps)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = wait_output(child, "the Prometheus parser");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    } else {
        Err(text_of(&out))
    }
}

#[test]
fn metrics_parse_as_prometheus_text_and_the_file_follows_changes() {
    let mut h = Harness::new();
    h.sleeper("web");
    h.service(
        "bad",
        "service \"bad\" {\n    cmd \"/bin/sh\" \"-c\" \"exit 3\"\n    startretries 0\n}\n",
    );
    let file = h.path("taskmaster.prom");
    let mut cmd = h.daemon_command();
    cmd.arg("--metrics-file").arg(&file);
    h.start_command(cmd);
    h.wait_state("web", "RUNNING");
    h.wait_state("bad", "FATAL");
    let samples = parse_prometheus(&h.ok(&["metrics"])).unwrap_or_else(|e| panic!("{e}"));
    for expected in [
        "gauge taskmaster_instance_up{name=web,service=web} 1.0",
        "gauge taskmaster_instance_up{name=bad,service=bad} 0.0",
        "gauge taskmaster_instance_state{name=bad,service=bad,state=FATAL} 1.0",
        "gauge taskmaster_instance_last_exit_code{name=bad,service=bad} 3.0",
        "counter taskmaster_instance_restarts_total{name=web,service=web} 0.0",
        "gauge taskmaster_services{} 2.0",
        "gauge taskmaster_instances{state=RUNNING} 1.0",
        "gauge taskmaster_instances{state=FATAL} 1.0",
    ] {
        assert!(
            samples.iter().any(|s| s == expected),
            "{expected} not in {samples:#?}"
        );
    }
    assert!(samples
        .iter()
        .any(|s| s.starts_with("gauge taskmaster_instance_start_time_seconds{name=web")));
    assert!(samples
        .iter()
        .any(|s| s.starts_with("counter taskmaster_events_total")));
    // The file says the same, and follows a change.
    wait_until("the metrics file to show web up", || {
        std::fs::read_to_string(&file)
            .is_ok_and(|t| t.contains("taskmaster_instance_up{name=\"web\",service=\"web\"} 1"))
    });
    h.ok(&["stop", "web"]);
    wait_until("the metrics file to show web stopped", || {
        std::fs::read_to_string(&file).is_ok_and(|t| {
            t.contains(
                "taskmaster_instance_state{name=\"web\",service=\"web\",state=\"STOPPED\"} 1",
            )
        })
    });
    let text = std::fs::read_to_string(&file).expect("metrics file");
    parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_metrics_file_in_a_missing_directory_is_refused_at_start() {
    let h = Harness::new();
    h.sleeper("a");
    let mut cmd = h.daemon_command();
    cmd.arg("--metrics-file").arg(h.path("no/such/dir/m.prom"));
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = wait_output(cmd.spawn().expect("taskmasterd"), "taskmasterd to refuse");
    assert_eq!(out.status.code(), Some(1));
    let said = text_of(&out);
    assert!(
        said.contains("--metrics-file") && said.contains("no/such/dir"),
        "{said}"
    );
}
