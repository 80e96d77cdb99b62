//! systemd units → service files.

use std::io::Read;

use super::{debian_root, import, imported};
use crate::common::{free_port, set_mode, wait_until_with, Harness};

const DEBIAN_UNITS: [&str; 8] = [
    "ssh.service",
    "cron.service",
    "rsyslog.service",
    "nginx.service",
    "postgresql.service",
    "postgresql@15-main.service",
    "systemd-journald.service",
    "systemd-udevd.service",
];

#[test]
fn debian_units_import_into_files_that_check_accepts() {
    let h = Harness::new();
    let units = debian_root().join("lib/systemd/system");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"systemd", &"-o", &h.services];
    let paths: Vec<_> = DEBIAN_UNITS.iter().map(|u| units.join(u)).collect();
    for path in &paths {
        args.push(path);
    }
    let (_, stderr) = imported(&args);
    assert!(
        stderr.contains("check: the imported services load"),
        "{stderr}"
    );
    let check = h.check();
    assert!(
        check.status.success(),
        "--check refused the imported files: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let ssh = std::fs::read_to_string(h.service_path("ssh")).expect("ssh.kdl");
    // Type=notify, ExecStartPre=sshd -t with RuntimeDirectory=sshd, EnvironmentFile=-…,
    // Restart=on-failure with RestartPreventExitStatus=255.
    for expected in [
        "ready notify",
        r#"cmd "/usr/sbin/sshd" -D "${SSHD_OPTS}""#,
        "install -d -m 0755 /run/sshd && /usr/sbin/sshd -t",
        r#"env-file "-/etc/default/ssh""#,
        "autorestart unexpected",
        "exitcodes 0 255",
    ] {
        assert!(ssh.contains(expected), "ssh.kdl lacks {expected:?}:\n{ssh}");
    }
    // Every directive that was not translated is a warning naming file and line, and a
    // comment in the file.
    assert!(
        stderr.contains("ssh.service:5: ConditionPathExists:"),
        "{stderr}"
    );
    assert!(ssh.contains("line 5: ConditionPathExists="), "{ssh}");
    let journald =
        std::fs::read_to_string(h.service_path("systemd-journald")).expect("journald.kdl");
    assert!(journald.contains("watchdog 180"), "{journald}");
    assert!(journald.contains("nofile 524288"), "{journald}");
    let instance =
        std::fs::read_to_string(h.service_path("postgresql-15-main")).expect("postgresql.kdl");
    assert!(
        instance.contains(r#""15-main" start"#),
        "%i expanded: {instance}"
    );
}

#[test]
fn units_imported_together_keep_their_dependencies() {
    let h = Harness::new();
    let dir = h.path("units");
    std::fs::create_dir(&dir).expect("units dir");
    std::fs::write(
        dir.join("db.service"),
        "[Unit]\nDescription=db\n[Service]\nExecStart=/bin/sleep 100\n",
    )
    .expect("db");
    std::fs::write(
        dir.join("app.service"),
        "[Unit]\nRequires=db.service network.target\nAfter=db.service\n\
         [Service]\nExecStart=/bin/sleep 100\n",
    )
    .expect("app");
    let (stdout, stderr) = imported(&[
        &"systemd",
        &dir.join("app.service"),
        &dir.join("db.service"),
    ]);
    assert!(stdout.contains(r#"requires db"#), "{stdout}");
    assert!(stdout.contains(r#"after db"#), "{stdout}");
    assert!(
        stderr.contains("app.service:2: Requires: not among the imported units: network.target"),
        "{stderr}"
    );
}

#[test]
fn an_unreadable_unit_is_an_error_naming_file_and_line() {
    let h = Harness::new();
    let path = h.path("bad.service");
    std::fs::write(
        &path,
        "[Service]\nExecStart=/bin/true\nthis is not a directive\n",
    )
    .expect("write");
    let out = import(&[&"systemd", &path]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.service:3: expected `Key=Value`"),
        "{stderr}"
    );
    let out = import(&[&"systemd", &h.path("missing.socket")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only .service units"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A oneshot with ExecStartPre, Environment, WorkingDirectory, UMask and a specifier,
/// run by taskmasterd: what it writes shows each was translated.
#[test]
fn an_imported_oneshot_runs_with_its_environment_and_pre_step() {
    let mut h = Harness::new();
    let out = h.p("out");
    std::fs::create_dir(&out).expect("out dir");
    let unit = h.path("note.service");
    std::fs::write(
        &unit,
        format!(
            "[Unit]\nDescription=writes a note\n[Service]\nType=oneshot\n\
             Environment=\"GREETING=hello world\" WHO=%n\n\
             WorkingDirectory={out}\nUMask=0077\n\
             ExecStartPre=/bin/sh -c 'echo pre > pre.txt'\n\
             ExecStart=/bin/sh -c 'echo \"$GREETING from $WHO\" > note.txt'\n\
             [Install]\nWantedBy=multi-user.target\n"
        ),
    )
    .expect("write unit");
    imported(&[&"systemd", &"-o", &h.services, &unit]);
    h.start();
    h.wait_state("note", "EXITED");
    let note = std::fs::read_to_string(h.path("out/note.txt")).expect("note.txt");
    assert_eq!(note, "hello world from note.service\n");
    assert_eq!(
        std::fs::read_to_string(h.path("out/pre.txt")).expect("pre.txt"),
        "pre\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.path("out/note.txt"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "UMask=0077 applied");
}

/// Debian's own ssh.service, with a drop-in that moves it to a free port, runs under
/// taskmasterd: RuntimeDirectory and `sshd -t` as pre-start, Type=notify readiness, and it
/// answers with its banner.
#[test]
fn imported_debian_sshd_runs_and_answers() {
    assert!(
        std::path::Path::new("/usr/sbin/sshd").exists(),
        "openssh-server is missing: run .ci/install-deps"
    );
    let mut h = Harness::new();
    let units = h.path("units");
    std::fs::create_dir_all(units.join("ssh.service.d")).expect("drop-in dir");
    std::fs::copy(
        debian_root().join("lib/systemd/system/ssh.service"),
        units.join("ssh.service"),
    )
    .expect("copy ssh.service");
    let port = free_port();
    std::fs::write(
        units.join("ssh.service.d/test.conf"),
        format!(
            "[Service]\nEnvironment=\"SSHD_OPTS=-p {port} -o ListenAddress=127.0.0.1 -o PidFile=none\"\n"
        ),
    )
    .expect("drop-in");
    set_mode(&units, 0o755);
    imported(&[&"systemd", &"-o", &h.services, &units.join("ssh.service")]);
    h.start();
    h.wait_state("ssh", "RUNNING");
    wait_until_with("sshd's banner", || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut banner = [0u8; 8];
        stream
            .read_exact(&mut banner)
            .map_err(|e| format!("read: {e}"))?;
        if &banner == b"SSH-2.0-" {
            Ok(())
        } else {
            Err(format!("banner {:?}", String::from_utf8_lossy(&banner)))
        }
    });
    h.ok(&["stop", "ssh"]);
}
