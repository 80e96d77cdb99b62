//! Service files end to end: whole specs compared field by field, and every error message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Vec<ServiceSpec>, Vec<String>> {
    parse_str(Path::new("services.d/web.kdl"), text)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

/// The errors of `service "web" { <body> }`, whose fields start on line 2, column 5.
fn errors_in(body: &str) -> Vec<String> {
    let text = format!("service \"web\" {{\n    cmd \"/bin/true\"\n{body}\n}}\n");
    match parse(&text) {
        Ok(specs) => panic!("expected errors, parsed {specs:?}"),
        Err(errors) => errors,
    }
}

/// The single error of a one-line body (on line 3, after `cmd`).
fn error_in(body: &str) -> String {
    let errors = errors_in(body);
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].clone()
}

fn origin(line: usize, column: usize) -> Origin {
    Origin {
        file: PathBuf::from("services.d/web.kdl"),
        line,
        column,
    }
}

#[test]
fn defaults() {
    let specs = parse("service \"web\" {\n    cmd \"/bin/sleep 10\"\n}\n").unwrap();
    let expected = ServiceSpec {
        name: "web".into(),
        origin: origin(1, 1),
        numprocs: 1,
        process: std::sync::Arc::new(ProcessSpec {
            cmd: vec!["/bin/sleep".into(), "10".into()],
            kind: ServiceType::Simple,
            umask: None,
            workingdir: PathBuf::from("/"),
            stdout: Output::Capture,
            stderr: Output::Capture,
            env: Default::default(),
            credentials: Default::default(),
            capabilities: Default::default(),
            no_new_privs: false,
            limits: Default::default(),
            stdout_rotation: Rotation {
                maxbytes: 0,
                backups: 10,
            },
            stderr_rotation: Rotation {
                maxbytes: 0,
                backups: 10,
            },
            ready: Default::default(),
            watchdog: None,
            env_files: Default::default(),
            resources: Default::default(),
            console: false,
        }),
        policy: Policy {
            autostart: true,
            autorestart: RestartPolicy::Unexpected,
            exitcodes: vec![0],
            startretries: 3,
            starttime: Duration::from_secs(1),
            stopsignal: libc::SIGTERM,
            stoptime: Duration::from_secs(10),
            essential: false,
            ready_timeout: Duration::from_secs(90),
            restart_limit: None,
            schedule: None,
            rescue: false,
        },
        deps: Default::default(),
        pre_start: None,
        triggers: Default::default(),
    };
    assert_eq!(specs, vec![expected]);
}

const FULL: &str = r#"// Every field, none at its default.
service "web" {
    cmd "/usr/bin/python3 -m http.server --bind '127.0.0.1' 8080"
    type "oneshot"
    numprocs 2
    umask "027"
    workingdir "/srv/web"
    autostart #false
    autorestart "always"
    exitcodes 0 2
    startretries 5
    starttime 2.5
    stopsignal "INT"
    stoptime 20
    stdout "/var/log/web.out"
    stderr "syslog"
    env PYTHONUNBUFFERED=1 {
        PORT 8080
        MODE "prod"
    }
    user "nobody"
    capabilities "CAP_NET_BIND_SERVICE" "sys_time"
    no-new-privs #true
    limits {
        nofile 1024
        nproc 512 1024
        core "unlimited"
    }
    stdout-maxbytes "50MB"
    stdout-backups 3
    stderr-maxbytes 1000
    stderr-backups 0
    essential #true
    rescue #true
    requires "db"
    wants "cache" "metrics"
    after "net"
    before "proxy"
}

service "db" {
    cmd "/usr/sbin/db" "--data" "/var/lib/db" 5432
    umask 0o077
    stopsignal 2
    group "nogroup"
}
"#;

#[test]
fn every_field() {
    let specs = parse(FULL).unwrap();
    let web = ServiceSpec {
        name: "web".into(),
        origin: origin(2, 1),
        numprocs: 2,
        process: std::sync::Arc::new(ProcessSpec {
            cmd: [
                "/usr/bin/python3",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "8080",
            ]
            .map(String::from)
            .to_vec(),
            kind: ServiceType::Oneshot,
            umask: Some(0o027),
            workingdir: PathBuf::from("/srv/web"),
            stdout: Output::File(PathBuf::from("/var/log/web.out")),
            stderr: Output::Syslog,
            env: [
                ("PYTHONUNBUFFERED", "1"),
                ("PORT", "8080"),
                ("MODE", "prod"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
            credentials: Some(Credentials {
                user: Some("nobody".into()),
                uid: 65534,
                gid: 65534,
                groups: vec![65534],
            })
            .into(),
            capabilities: Some(vec![
                caps::Capability::CAP_NET_BIND_SERVICE,
                caps::Capability::CAP_SYS_TIME,
            ])
            .into(),
            no_new_privs: true,
            limits: vec![
                Limit {
                    resource: LimitKind::Nofile,
                    soft: 1024,
                    hard: 1024,
                },
                Limit {
                    resource: LimitKind::Nproc,
                    soft: 512,
                    hard: 1024,
                },
                Limit {
                    resource: LimitKind::Core,
                    soft: libc::RLIM_INFINITY,
                    hard: libc::RLIM_INFINITY,
                },
            ]
            .into(),
            stdout_rotation: Rotation {
                maxbytes: 50 * 1024 * 1024,
                backups: 3,
            },
            stderr_rotation: Rotation {
                maxbytes: 1000,
                backups: 0,
            },
            ready: Default::default(),
            watchdog: None,
            env_files: Default::default(),
            resources: Default::default(),
            console: false,
        }),
        policy: Policy {
            autostart: false,
            autorestart: RestartPolicy::Always,
            exitcodes: vec![0, 2],
            startretries: 5,
            starttime: Duration::from_millis(2500),
            stopsignal: libc::SIGINT,
            stoptime: Duration::from_secs(20),
            essential: true,
            ready_timeout: Duration::from_secs(90),
            restart_limit: None,
            schedule: None,
            rescue: true,
        },
        deps: Deps {
            requires: vec!["db".into()],
            wants: vec!["cache".into(), "metrics".into()],
            after: vec!["net".into()],
            before: vec!["proxy".into()],
            binds_to: Vec::new(),
        }
        .into(),
        pre_start: None,
        triggers: Default::default(),
    };
    assert_eq!(specs[0], web);

    let db = &specs[1];
    assert_eq!(db.origin, origin(41, 1));
    assert_eq!(
        db.process.cmd,
        ["/usr/sbin/db", "--data", "/var/lib/db", "5432"]
    );
    assert_eq!(db.process.umask, Some(0o077));
    assert_eq!(db.policy.stopsignal, libc::SIGINT);
    assert_eq!(
        *db.process.credentials,
        Some(Credentials {
            user: None,
            uid: 0,
            gid: 65534,
            groups: vec![65534],
        })
    );
}

#[test]
fn bare_identifiers_and_alternate_spellings() {
    let text = "service web {\n    cmd \"/bin/true\"\n    stopsignal SIGHUP\n    \
                autorestart never\n    user 65534\n    exitcodes 1 1 2\n    requires db db\n}\n";
    let spec = &parse(text).unwrap()[0];
    assert_eq!(spec.policy.stopsignal, libc::SIGHUP);
    assert_eq!(spec.policy.autorestart, RestartPolicy::Never);
    assert_eq!(
        spec.process.credentials.as_ref().map(|c| c.uid),
        Some(65534)
    );
    assert_eq!(spec.policy.exitcodes, vec![1, 2]);
    assert_eq!(spec.deps.requires, vec!["db".to_string()]);
}

#[test]
fn wrong_types_and_values_name_field_and_value() {
    let at = |message: &str| format!("services.d/web.kdl:3:5: field {message}");
    let cases = [
        ("numprocs \"two\"", "`numprocs`: expected an integer ≥ 1 (at most 10000), got \"two\""),
        ("numprocs 0", "`numprocs`: expected an integer ≥ 1 (at most 10000), got 0"),
        ("numprocs 20000", "`numprocs`: expected an integer ≥ 1 (at most 10000), got 20000"),
        (
            "autorestart \"sometimes\"",
            "`autorestart`: expected one of \"always\", \"never\", \"unexpected\", got \"sometimes\"",
        ),
        ("type \"forking\"", "`type`: expected \"simple\" or \"oneshot\", got \"forking\""),
        (
            "stopsignal \"BOGUS\"",
            "`stopsignal`: expected a signal name such as \"TERM\" or \"SIGTERM\", or a number, \
             got \"BOGUS\"",
        ),
        (
            "umask \"999\"",
            "`umask`: expected an octal umask from \"000\" to \"777\", such as \"022\" (or 0o022), \
             got \"999\"",
        ),
        ("autostart \"yes\"", "`autostart`: expected #true or #false, got \"yes\""),
        ("exitcodes 0 256", "`exitcodes`: expected one or more exit codes from 0 to 255, got 256"),
        ("startretries -1", "`startretries`: expected an integer ≥ 0, got -1"),
        (
            "starttime \"5s\"",
            "`starttime`: expected seconds (an integer or decimal number from 0 to 86400), got \"5s\"",
        ),
        (
            "stoptime -0.5",
            "`stoptime`: expected seconds (an integer or decimal number from 0 to 86400), got -0.5",
        ),
        (
            "stdout \"out.log\"",
            "`stdout`: expected an absolute path, \"discard\", \"syslog\" or \"inherit\", got \"out.log\"",
        ),
        ("workingdir \"srv\"", "`workingdir`: expected an absolute path such as \"/srv/web\", got \"srv\""),
        (
            "capabilities \"CAP_BOGUS\"",
            "`capabilities`: expected a capability name such as \"CAP_NET_BIND_SERVICE\" or \
             \"net_bind_service\", got \"CAP_BOGUS\"",
        ),
        (
            "stdout-maxbytes \"50XB\"",
            "`stdout-maxbytes`: expected a size such as \"50MB\", \"10KB\", \"1GB\", \"512B\" or a \
             number of bytes, got \"50XB\"",
        ),
        ("stderr-backups #null", "`stderr-backups`: expected an integer from 0 to 1000, got #null"),
        ("stdout-backups 30000000", "`stdout-backups`: expected an integer from 0 to 1000, got 30000000"),
        ("essential 1", "`essential`: expected #true or #false, got 1"),
        ("requires \"a b\"", "`requires`: expected one or more service names ([A-Za-z0-9_.-]+), got \"a b\""),
        ("wants", "`wants`: expected one or more service names, got nothing"),
        ("user \"no-such-user-x\"", "`user`: no such user \"no-such-user-x\""),
        ("group \"no-such-group-x\"", "`group`: no such group \"no-such-group-x\""),
        ("user #true", "`user`: expected a user name or a numeric id, got #true"),
        ("no-new-privs #true #false", "`no-new-privs`: expected #true or #false, got 2 values"),
        ("autostart", "`autostart`: expected #true or #false, got nothing"),
        ("numprocs count=2", "`numprocs`: takes no properties, got `count=2`"),
        ("type \"simple\" { }", "`type`: takes no child block"),
        (
            "umask 022",
            "`umask`: expected an octal umask from \"000\" to \"777\", such as \"022\" (or 0o022); \
             a bare integer is decimal in KDL, write \"022\" or 0o022 if you mean octal, got 022",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(
            error_in(&format!("    {body}")),
            at(message),
            "for `{body}`"
        );
    }
}

#[test]
fn cmd_problems() {
    let text = |cmd: &str| format!("service \"web\" {{\n    cmd {cmd}\n}}\n");
    let first_error = |cmd: &str| parse(&text(cmd)).unwrap_err().remove(0);
    assert!(first_error("\"\"").ends_with("got an empty command"));
    assert!(first_error("\"\" \"x\"").ends_with("got an empty command"));
    assert!(first_error("").ends_with("got nothing"));
    assert!(first_error("#true").ends_with("got #true"));
    assert_eq!(
        first_error("\"/bin/echo 'unclosed\""),
        "services.d/web.kdl:2:5: field `cmd`: unbalanced quotes or a trailing backslash in \
         \"/bin/echo 'unclosed\""
    );
    assert_eq!(
        parse("service \"web\" {\n    numprocs 2\n}\n").unwrap_err(),
        vec!["services.d/web.kdl:1:1: service `web`: field `cmd` is required"]
    );
}

#[test]
fn env_and_limits_blocks() {
    let errors = errors_in(
        "    env BAD-NAME=\"x\" {\n        OK \"1\"\n        OK \"2\"\n        FLAG #true\n        \
         TWO \"a\" \"b\"\n    }\n    limits {\n        nofile 2048 1024\n        files 10\n        \
         nproc -1\n        core 1 2 3\n        nofile 1\n    }",
    );
    assert_eq!(
        errors,
        vec![
            "services.d/web.kdl:3:5: field `env`: `BAD-NAME` is not a valid variable name \
             ([A-Za-z_][A-Za-z0-9_]*)",
            "services.d/web.kdl:5:9: field `env`: `OK` is given twice",
            "services.d/web.kdl:6:9: field `env`: `FLAG`: expected a string or a number, got #true",
            "services.d/web.kdl:7:9: field `env`: expected `TWO \"value\"`, one value per line",
            "services.d/web.kdl:10:9: field `limits`: `nofile`: the soft limit 2048 is above the \
             hard limit 1024",
            "services.d/web.kdl:11:9: field `limits`: unknown limit `files` (known: nofile nproc \
             core cpu fsize data stack as memlock rss)",
            "services.d/web.kdl:12:9: field `limits`: `nproc`: expected an integer ≥ 0 or \
             \"unlimited\", got -1",
            "services.d/web.kdl:13:9: field `limits`: `core` takes one or two values (soft, hard), got 3",
            "services.d/web.kdl:14:9: field `limits`: `nofile` is given twice",
        ]
    );
    assert_eq!(
        error_in("    limits 5"),
        "services.d/web.kdl:3:5: field `limits`: expected a block such as `limits { nofile 1024 }`"
    );
}

#[test]
fn unknown_field_suggests_the_closest() {
    assert_eq!(
        error_in("    autostrat #true"),
        "services.d/web.kdl:3:5: unknown field `autostrat`; did you mean `autostart`?"
    );
    assert_eq!(
        error_in("    no_new_privs #true"),
        "services.d/web.kdl:3:5: unknown field `no_new_privs`; did you mean `no-new-privs`?"
    );
    assert_eq!(
        error_in("    program \"x\""),
        "services.d/web.kdl:3:5: unknown field `program`"
    );
}

#[test]
fn field_given_twice() {
    assert_eq!(
        error_in("    numprocs 2\n    numprocs 3"),
        "services.d/web.kdl:4:5: field `numprocs` is given twice (first at line 3:5)"
    );
}

#[test]
fn several_errors_at_once_in_file_order() {
    let text = "service \"a\" {\n    cmd \"/bin/true\"\n    numprocs 0\n    autorestart \"x\"\n}\n\
                service \"b\" {\n    cmdd \"/bin/true\"\n}\nprogram \"c\" {\n}\nservice \"bad name\" {\n}\n";
    let errors = parse(text).unwrap_err();
    let locations: Vec<&str> = errors
        .iter()
        .map(|e| e.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        locations,
        [
            "services.d/web.kdl:3:5",
            "services.d/web.kdl:4:5",
            "services.d/web.kdl:6:1",
            "services.d/web.kdl:7:5",
            "services.d/web.kdl:9:1",
            "services.d/web.kdl:11:1",
        ],
        "{errors:#?}"
    );
    assert!(errors[2].ends_with("service `b`: field `cmd` is required"));
    assert!(errors[4].contains("unexpected `program`: a service file holds only"));
    assert!(errors[5].contains("got \"bad name\""));
}

#[test]
fn duplicate_name_in_one_file() {
    let text = "service \"web\" {\n    cmd \"/bin/true\"\n}\nservice \"web\" {\n    cmd \"/bin/false\"\n}\n";
    assert_eq!(
        parse(text).unwrap_err(),
        vec!["services.d/web.kdl:4:1: service `web` is already defined at services.d/web.kdl:1:1"]
    );
}

#[test]
fn kdl_v1_file_gets_a_v2_hint() {
    let errors =
        parse("service \"web\" {\n    cmd \"/bin/true\"\n    autostart true\n}\n").unwrap_err();
    assert_eq!(
        errors,
        vec![
            "services.d/web.kdl:3:15: this looks like KDL v1: a bare `true` is not a value in KDL \
             v2, which writes `#true`: `autostart #true`"
        ]
    );
}

#[test]
fn pre_start_is_a_command_like_cmd() {
    let text = "service \"web\" {\n    cmd \"/usr/sbin/nginx\"\n    \
                pre-start \"/usr/sbin/nginx -t -c '/etc/nginx/my site.conf'\"\n}\n";
    let specs = parse(text).expect("valid");
    assert_eq!(
        specs[0].pre_start,
        Some(vec![
            "/usr/sbin/nginx".to_string(),
            "-t".to_string(),
            "-c".to_string(),
            "/etc/nginx/my site.conf".to_string()
        ])
    );
    let literal =
        "service \"web\" {\n    cmd \"/bin/x\"\n    pre-start \"/bin/check\" \"--port\" 80\n}\n";
    assert_eq!(
        parse(literal).expect("valid")[0].pre_start,
        Some(vec!["/bin/check".into(), "--port".into(), "80".into()])
    );
    assert!(
        error_in("    pre-start \"\"").ends_with("field `pre-start`: expected a command line such as \"/usr/bin/env python3 -m http.server\", or the program and its arguments as separate strings, got an empty command"),
        "{}",
        error_in("    pre-start \"\"")
    );
    assert!(error_in("    pre-start \"/bin/x 'unbalanced\"")
        .contains("field `pre-start`: unbalanced quotes"));
}
