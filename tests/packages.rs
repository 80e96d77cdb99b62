//! The Debian packages (`pkg/build-debs`, cargo-deb): built once per test run, then their
//! files, control fields, links and generated docs checked; the systemd unit verified by
//! systemd itself against the packaged binary; the packaged Debian services.d loaded by the
//! packaged taskmasterd.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use clap::CommandFactory;
use taskmaster::cli::TmctlCli;

struct Debs {
    taskmaster: PathBuf,
    init: PathBuf,
}

/// Builds both packages once (a release build and cargo-deb: minutes on a busy machine).
fn debs() -> &'static Debs {
    static DEBS: OnceLock<Debs> = OnceLock::new();
    DEBS.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(repo.join("pkg/build-debs"))
            .output()
            .expect("run pkg/build-debs");
        assert!(
            out.status.success(),
            "pkg/build-debs failed (cargo-deb comes from .ci/install-deps):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let paths: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
        let find = |name: &str| {
            paths
                .iter()
                .find(|p| {
                    p.file_name()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| f.starts_with(&format!("{name}_")))
                })
                .unwrap_or_else(|| panic!("no {name} package in {stdout}"))
                .clone()
        };
        Debs {
            taskmaster: find("taskmaster"),
            init: find("taskmaster-init"),
        }
    })
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("dpkg-deb");
    assert!(out.status.success(), "dpkg-deb {args:?} {}", deb.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dpkg-deb -c`: path (without the leading `.`) → the listing line.
fn contents(deb: &Path) -> Vec<(String, String)> {
    dpkg_deb(&["-c"], deb)
        .lines()
        .filter_map(|line| {
            let path = line.split_whitespace().nth(5)?;
            Some((path.trim_start_matches('.').to_string(), line.to_string()))
        })
        .collect()
}

fn field(deb: &Path, name: &str) -> String {
    dpkg_deb(&["-f"], deb)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
        .unwrap_or_default()
}

fn extract_to(deb: &Path, root: &Path) {
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(root)
        .output()
        .expect("dpkg-deb -x");
    assert!(out.status.success(), "dpkg-deb -x {}", deb.display());
}

#[test]
fn taskmaster_package_holds_the_binaries_docs_unit_and_logrotate() {
    let deb = &debs().taskmaster;
    let files = contents(deb);
    let paths: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for wanted in [
        "/usr/sbin/taskmasterd",
        "/usr/bin/tmctl",
        "/etc/taskmaster/services.d/",
        "/usr/share/man/man8/taskmasterd.8.gz",
        "/usr/share/man/man1/tmctl.1.gz",
        "/usr/share/man/man5/taskmaster.kdl.5.gz",
        "/usr/share/bash-completion/completions/tmctl",
        "/usr/share/zsh/vendor-completions/_tmctl",
        "/usr/share/fish/vendor_completions.d/tmctl.fish",
        "/lib/systemd/system/taskmaster.service",
        "/etc/logrotate.d/taskmaster",
    ] {
        assert!(paths.contains(wanted), "{wanted} missing from {paths:#?}");
    }
    for exe in ["/usr/sbin/taskmasterd", "/usr/bin/tmctl"] {
        let line = &files.iter().find(|(p, _)| p == exe).expect("listed").1;
        assert!(line.starts_with("-rwxr-xr-x 0/0"), "{line}");
    }
    // Nothing of the init package: installing this one on a systemd machine adds a service.
    assert!(!paths.iter().any(|p| p.starts_with("/sbin/")), "{paths:#?}");
    assert_eq!(field(deb, "Package"), "taskmaster");
    assert!(field(deb, "Depends").contains("libc6"));
    assert!(dpkg_deb(&["-I"], deb).contains("conffiles"));
}

#[test]
fn init_package_links_init_and_the_power_commands_and_conflicts_with_other_inits() {
    let deb = &debs().init;
    let files = contents(deb);
    // `lrwxrwxrwx 0/0 0 DATE TIME ./sbin/init -> /usr/sbin/taskmasterd`
    let link = |path: &str| {
        let line = &files
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("no {path} in the package"))
            .1;
        assert!(line.starts_with('l'), "{path} is not a link: {line}");
        line.rsplit(" -> ").next().unwrap_or_default().to_string()
    };
    assert_eq!(link("/sbin/init"), "/usr/sbin/taskmasterd");
    for name in ["poweroff", "reboot", "halt", "shutdown"] {
        assert_eq!(link(&format!("/sbin/{name}")), "/usr/bin/tmctl", "{name}");
        let page = format!("/usr/share/man/man8/{name}.8.gz");
        assert!(files.iter().any(|(p, _)| *p == page), "{page}");
    }
    assert_eq!(field(deb, "Package"), "taskmaster-init");
    for other in ["systemd-sysv", "sysvinit-core", "runit-init"] {
        assert!(field(deb, "Conflicts").contains(other), "Conflicts {other}");
        assert!(field(deb, "Replaces").contains(other), "Replaces {other}");
    }
    assert!(field(deb, "Depends").contains("taskmaster"));
}

#[test]
fn man_page_and_completions_come_from_the_clap_definitions() {
    let root = tempfile::tempdir().expect("tempdir");
    extract_to(&debs().taskmaster, root.path());
    let page = Command::new("zcat")
        .arg(root.path().join("usr/share/man/man1/tmctl.1.gz"))
        .output()
        .expect("zcat");
    let page = String::from_utf8_lossy(&page.stdout);
    let bash = std::fs::read_to_string(
        root.path()
            .join("usr/share/bash-completion/completions/tmctl"),
    )
    .expect("bash completion");
    // Every subcommand clap knows is in both; a command added to tmctl shows up by itself.
    let cli = TmctlCli::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    assert!(names.len() > 10, "{names:?}");
    for name in names {
        assert!(
            page.contains(&format!("tmctl\\-{name}(1)")),
            "man page lacks {name}"
        );
        assert!(bash.contains(name), "bash completion lacks {name}");
    }
}

#[test]
fn systemd_accepts_the_unit_with_the_packaged_binary() {
    let root = tempfile::tempdir().expect("tempdir");
    extract_to(&debs().taskmaster, root.path());
    let unit = root.path().join("lib/systemd/system/taskmaster.service");
    // systemd-analyze checks that ExecStart's binary exists: lay the package's /usr over
    // this machine's in a private mount namespace, so the host itself is untouched.
    let script = format!(
        "mount -t overlay overlay -o lowerdir={}:/usr /usr && exec systemd-analyze verify --man=no {}",
        root.path().join("usr").display(),
        unit.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare systemd-analyze");
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn packaged_debian_services_load_and_their_helpers_are_shipped() {
    let root = tempfile::tempdir().expect("tempdir");
    extract_to(&debs().taskmaster, root.path());
    extract_to(&debs().init, root.path());
    let services = root.path().join("etc/taskmaster/services.d");
    let out = Command::new(root.path().join("usr/sbin/taskmasterd"))
        .arg("--check")
        .arg("-c")
        .arg(&services)
        .output()
        .expect("taskmasterd --check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // sshd starts only after the root is writable and the filesystems are mounted.
    let layer = |name: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .and_then(|l| l.split('.').next()?.trim().parse::<u32>().ok())
            .unwrap_or_else(|| panic!("{name} not in the start order:\n{stdout}"))
    };
    assert!(layer("journald") < layer("devlog"));
    assert!(layer("udevd") < layer("udev-coldplug"));
    assert!(layer("root-rw") < layer("mount-all"));
    assert!(layer("mount-all") < layer("sshd"));
    // Every helper a service runs is in the package, executable.
    for entry in std::fs::read_dir(&services).expect("services.d") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        for helper in text
            .split('"')
            .filter(|w| w.starts_with("/usr/lib/taskmaster/"))
        {
            let path = root.path().join(helper.trim_start_matches('/'));
            let mode = std::fs::metadata(&path)
                .unwrap_or_else(|_| panic!("{helper} is not in the package"))
                .permissions();
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(mode.mode() & 0o777, 0o755, "{helper}");
        }
    }
}
