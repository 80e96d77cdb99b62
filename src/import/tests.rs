//! The importers' pieces on small inputs; real Debian files are in tests/import.

use std::path::Path;

use super::systemd_exec::{expand_specifiers, parse_exec, Specifiers};
use super::unit_file::{self, seconds};

/// Imports one unit text (written to a temp file) and returns the rendered service,
/// which must load.
fn systemd(name: &str, text: &str) -> (String, Vec<super::Warning>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write unit");
    let imported = super::import_systemd(&[path.display().to_string()]).expect("import the unit");
    let rendered = imported.services[0].render();
    if let Err(errors) = crate::config::parse_str(Path::new("imported.kdl"), &rendered) {
        panic!("the loader refused:\n{rendered}\n{errors:?}");
    }
    (rendered, imported.warnings)
}

#[test]
fn exec_prefixes_and_variables() {
    let line = parse_exec("-@/usr/sbin/foo foo-daemon -x $OPTS ${ONE}x 50$").expect("parse");
    assert!(line.ignore_failure);
    assert_eq!(line.argv0_dropped.as_deref(), Some("foo-daemon"));
    assert_eq!(
        line.argv,
        ["/usr/sbin/foo", "-x", "${OPTS}", "${ONE}x", "50$$"]
    );
    let literal = parse_exec(":/bin/echo $HOME").expect("parse");
    assert_eq!(literal.argv, ["/bin/echo", "$$HOME"]);
    assert!(parse_exec("+/bin/true").expect("parse").privileged);
    assert!(parse_exec("-").is_err());
}

#[test]
fn specifiers_are_expanded_and_unknown_ones_reported() {
    let spec = Specifiers {
        unit: "getty@tty1.service".into(),
        prefix: "getty".into(),
        instance: "tty1".into(),
        user: None,
    };
    let (text, unknown) = expand_specifiers("%n %N %p %i %t/x 100%% %Z", &spec);
    assert_eq!(
        text,
        "getty@tty1.service getty@tty1 getty tty1 /run/x 100% %Z"
    );
    assert_eq!(unknown, ['Z']);
}

#[test]
fn time_spans() {
    assert_eq!(seconds("90"), Some(90.0));
    assert_eq!(seconds("1min 30s"), Some(90.0));
    assert_eq!(seconds("500ms"), Some(0.5));
    assert_eq!(seconds("infinity"), None);
}

#[test]
fn continuation_lines_join_and_stray_text_is_an_error() {
    let parsed = unit_file::parse(
        Path::new("x.service"),
        "[Service]\nExecStart=/bin/echo a \\\n  b\n# comment\n",
    )
    .expect("parse");
    assert_eq!(parsed[0].value, "/bin/echo a b");
    assert_eq!(parsed[0].line, 2);
    assert!(unit_file::parse(Path::new("x"), "ExecStart=/bin/true\n").is_err());
}

#[test]
fn systemd_defaults_become_explicit_fields() {
    // systemd does not restart by default; taskmaster's default is "unexpected".
    let (text, _) = systemd("a.service", "[Service]\nExecStart=/bin/sleep 1\n");
    assert!(text.contains("autorestart never"), "{text}");
    let (text, _) = systemd(
        "b.service",
        "[Service]\nExecStart=/bin/sleep 1\nRestart=on-failure\nTimeoutStopSec=1min 30s\n\
         KillSignal=SIGINT\nLimitNOFILE=1024:4096\nLimitCORE=infinity\nUser=nobody\n\
         AmbientCapabilities=CAP_NET_BIND_SERVICE\nNoNewPrivileges=yes\n\
         StandardOutput=null\nStandardError=append:/var/log/b.err\nSuccessExitStatus=3 SIGUSR1\n",
    );
    for expected in [
        "autorestart unexpected",
        "stoptime 90",
        "stopsignal SIGINT",
        "nofile 1024 4096",
        "core unlimited",
        "user nobody",
        "capabilities CAP_NET_BIND_SERVICE",
        "no-new-privs #true",
        "stdout discard",
        "stderr \"/var/log/b.err\"",
        "exitcodes 0 3",
    ] {
        assert!(text.contains(expected), "lacks {expected:?}:\n{text}");
    }
    assert!(text.contains("SuccessExitStatus=3 SIGUSR1"), "{text}");
}

#[test]
fn no_task_limit_is_the_default_not_a_warning() {
    let (text, warnings) = systemd(
        "e.service",
        "[Service]\nExecStart=/bin/sleep 1\nTasksMax=infinity\n",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!text.contains("pids-max"), "{text}");
    let (text, _) = systemd(
        "f.service",
        "[Service]\nExecStart=/bin/sleep 1\nTasksMax=64\n",
    );
    assert!(text.contains("pids-max 64"), "{text}");
}

#[test]
fn several_exec_lines_of_a_oneshot_run_in_order() {
    let (text, _) = systemd(
        "c.service",
        "[Service]\nType=oneshot\nExecStart=/bin/echo one\nExecStart=-/bin/false\n\
         ExecStartPre=-/bin/false\nExecStartPre=/bin/echo pre\n",
    );
    assert!(
        text.contains(r#"cmd "/bin/sh" -c "/bin/echo one && { /bin/false || true; }""#),
        "{text}"
    );
    assert!(
        text.contains(r#"pre-start "/bin/sh" -c "{ /bin/false || true; } && /bin/echo pre""#),
        "{text}"
    );
}

#[test]
fn forking_and_unknown_keys_are_warned_about_never_dropped() {
    let (text, warnings) = systemd(
        "d.service",
        "[Service]\nType=forking\nPIDFile=/run/d.pid\nExecStart=/usr/sbin/d\nFrobnicate=yes\n",
    );
    let keys: Vec<&str> = warnings.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(keys, ["PIDFile", "Frobnicate", "Type"]);
    assert!(warnings[2].message.contains("foreground"), "{warnings:?}");
    assert_eq!(warnings[1].line, 5);
    assert!(text.contains("line 5: Frobnicate=yes"), "{text}");
}

#[test]
fn supervisord_expansions() {
    use super::supervisord_expand::{expand, Expander, ProcessNum};
    let env = |name: &str| (name == "HOME").then(|| "/root".to_string());
    let mut names = std::collections::BTreeMap::new();
    names.insert("program_name", "web".to_string());
    let fixed = Expander {
        names: names.clone(),
        here: "/etc/supervisor".into(),
        process_num: ProcessNum::Fixed(5),
        escape_dollars: false,
        env: &env,
    };
    let (text, problems) = expand(
        "%(here)s/%(program_name)s-%(process_num)02d %(ENV_HOME)s 100%% %(nope)s",
        &fixed,
    );
    assert_eq!(text, "/etc/supervisor/web-05 /root 100% %(nope)s");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let for_cmd = Expander {
        names,
        here: String::new(),
        process_num: ProcessNum::Instance,
        escape_dollars: true,
        env: &env,
    };
    let (text, problems) = expand("run --id %(process_num)d $HOME", &for_cmd);
    assert_eq!(text, "run --id ${TASKMASTER_INSTANCE} $$HOME");
    assert!(problems.is_empty());
}

#[test]
fn supervisord_ini_dialect() {
    let sections = super::ini::parse(
        Path::new("s.conf"),
        "; comment\n[program:a]\nCommand = /bin/x ; note\nenvironment: A=1,\n  B=2\nurl=http://h/#x\n",
    )
    .expect("parse");
    let a = &sections[0];
    assert_eq!(a.get("command").map(|k| k.value.as_str()), Some("/bin/x"));
    assert_eq!(a.get("command").map(|k| k.line), Some(3));
    assert_eq!(
        a.get("environment").map(|k| k.value.as_str()),
        Some("A=1,\nB=2")
    );
    assert_eq!(a.get("url").map(|k| k.value.as_str()), Some("http://h/#x"));
    let pairs =
        super::supervisord_program::parse_environment("A=\"x, y\",B='2',\nC=3").expect("env");
    assert_eq!(
        pairs,
        [
            ("A".into(), "x, y".into()),
            ("B".into(), "2".into()),
            ("C".into(), "3".into())
        ]
    );
}

#[test]
fn include_globs() {
    use super::glob::matches;
    assert!(matches("*.conf", "web.conf"));
    assert!(!matches("*.conf", "web.conf.bak"));
    assert!(matches("w?b.[ch]onf", "web.conf"));
    assert!(matches("[!x]*", "web"));
    assert!(!matches("[!w]*", "web"));
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
    for name in ["b.conf", "a.conf", ".hidden.conf", "c.txt"] {
        std::fs::write(dir.path().join("conf.d").join(name), "").expect("write");
    }
    let found = super::glob::expand(dir.path(), "conf.d/*.conf");
    let names: Vec<_> = found
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["a.conf", "b.conf"]);
}
