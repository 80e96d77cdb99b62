//! supervisord.conf → service files.

use std::process::Command;

use super::{import, imported};
use crate::common::{wait_until_with, Harness};

/// supervisord's own sample (`echo_supervisord_conf`), with its commented-out
/// [program:x], [group:x], [eventlistener:x] and [include] sections switched on.
fn sample_config(h: &Harness) -> std::path::PathBuf {
    let out = Command::new("echo_supervisord_conf")
        .output()
        .expect("echo_supervisord_conf (package supervisor): run .ci/install-deps");
    let sample = String::from_utf8_lossy(&out.stdout);
    let mut text = String::new();
    let mut on = false;
    for line in sample.lines() {
        if line.starts_with(";[") {
            on = [";[program:", ";[group:", ";[eventlistener:", ";[include]"]
                .iter()
                .any(|s| line.starts_with(s));
        } else if line.trim().is_empty() {
            on = false;
        }
        let line = if on {
            line.trim_start_matches(';')
        } else {
            line
        };
        text.push_str(line);
        text.push('\n');
    }
    // The sample's user and include directory are placeholders.
    let text = text
        .replace("user=chrism", "user=nobody")
        .replace(
            "programs=progname1,progname2",
            "programs=theprogramname,web",
        )
        .replace("relative/directory/*.ini", "conf.d/*.ini");
    let dir = h.path("supervisor");
    std::fs::create_dir_all(dir.join("conf.d")).expect("conf.d");
    std::fs::write(dir.join("supervisord.conf"), text).expect("write sample");
    std::fs::write(
        dir.join("conf.d/web.ini"),
        "[program:web]\ncommand=/bin/sleep 100 ; inline comment\npriority=5\n",
    )
    .expect("write include");
    dir.join("supervisord.conf")
}

#[test]
fn supervisord_sample_config_imports_into_files_that_check_accepts() {
    let h = Harness::new();
    let config = sample_config(&h);
    let (_, stderr) = imported(&[&"supervisord", &"-o", &h.services, &config]);
    let check = h.check();
    assert!(
        check.status.success(),
        "--check refused: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let program =
        std::fs::read_to_string(h.service_path("theprogramname")).expect("theprogramname.kdl");
    for expected in [
        r#"cmd "/bin/cat""#,
        r#"umask "022""#,
        r#"workingdir "/tmp""#,
        "autorestart unexpected",
        "stopsignal QUIT",
        "stoptime 10",
        "starttime 1",
        "user nobody",
        r#"stdout "/a/path""#,
        r#"stdout-maxbytes "1MB""#,
        "stdout-backups 10",
        r#"A "1""#,
        // priority 999 starts after the included program's priority 5.
        "after web",
        r#"supervisord group "thegroupname": theprogramname, web"#,
    ] {
        assert!(program.contains(expected), "lacks {expected:?}:\n{program}");
    }
    assert!(
        h.service_path("web").exists(),
        "the [include] file's program"
    );
    // What has no equivalent is a warning naming file, line and key.
    let line_of = |needle: &str| {
        std::fs::read_to_string(&config)
            .expect("read")
            .lines()
            .position(|l| l.starts_with(needle))
            .map(|i| i + 1)
            .expect("line in sample")
    };
    let expected = format!(
        "supervisord.conf:{}: stdout_capture_maxbytes: no capture mode",
        line_of("stdout_capture_maxbytes")
    );
    assert!(stderr.contains(&expected), "{expected:?} in:\n{stderr}");
    let expected = format!(
        "supervisord.conf:{}: [eventlistener:theeventlistenername]",
        line_of("[eventlistener:")
    );
    assert!(stderr.contains(&expected), "{expected:?} in:\n{stderr}");
    assert!(stderr.contains("[supervisord] nodaemon"), "{stderr}");
    // redirect_stderr=true: the sample's stderr file settings have nothing to apply to.
    for key in ["stderr_logfile_maxbytes", "stderr_logfile_backups"] {
        let expected = format!(
            "supervisord.conf:{}: {key}: ignored: redirect_stderr",
            line_of(key)
        );
        assert!(stderr.contains(&expected), "{expected:?} in:\n{stderr}");
    }
    assert!(!program.contains("stderr-maxbytes"), "{program}");
    assert!(!program.contains("stderr-backups"), "{program}");
}

#[test]
fn imported_programs_run_with_their_instances_and_environment() {
    let mut h = Harness::new();
    let out = h.p("out");
    std::fs::create_dir(&out).expect("out dir");
    let config = h.path("supervisord.conf");
    std::fs::write(
        &config,
        format!(
            "[supervisord]\nenvironment=SITE=\"blue sky\"\n\n\
             [program:worker]\n\
             command=/bin/sh -c 'echo \"%(program_name)s %(process_num)d $SITE $COLOR\" > n%(process_num)d.txt; exec sleep 100'\n\
             numprocs=2\nprocess_name=%(program_name)s_%(process_num)d\n\
             directory={out}\nenvironment=COLOR=red\nstartsecs=0\npriority=20\n\n\
             [program:first]\ncommand=/bin/sleep 100\npriority=1\nstartsecs=0\n"
        ),
    )
    .expect("write config");
    imported(&[&"supervisord", &"-o", &h.services, &config]);
    h.start();
    h.wait_state("worker:0", "RUNNING");
    h.wait_state("worker:1", "RUNNING");
    for n in 0..2 {
        let path = h.path(&format!("out/n{n}.txt"));
        wait_until_with("the instance's note", || {
            match std::fs::read_to_string(&path) {
                Ok(text) if text == format!("worker {n} blue sky red\n") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
    }
    let graph = h.ok(&["graph"]);
    let first = graph.find("first").expect("first in graph");
    let worker = graph.find("worker").expect("worker in graph");
    assert!(first < worker, "priority 1 starts before 20:\n{graph}");
}

#[test]
fn a_broken_supervisord_file_is_an_error_naming_file_and_line() {
    let h = Harness::new();
    let config = h.path("bad.conf");
    std::fs::write(&config, "[program:x]\ncommand=/bin/true\nnot a key\n").expect("write");
    let out = import(&[&"supervisord", &config]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.conf:3: expected `key = value`"),
        "{stderr}"
    );
}
