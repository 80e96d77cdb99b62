//! `taskmasterd import`: real configurations from Debian's packages, imported, checked by
//! the loader, and some of them run.

mod supervisord;
mod systemd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{taskmasterd_bin, wait_output};

/// Debian's packages unpacked by `.ci/install-deps` (unit files, sample configs).
pub fn debian_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/import/root");
    assert!(
        root.join(".complete").exists(),
        "{} is missing: run .ci/install-deps",
        root.display()
    );
    root
}

/// `taskmasterd import ARGS…`.
pub fn import(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let child = Command::new(taskmasterd_bin())
        .arg("import")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run taskmasterd import");
    wait_output(child, "taskmasterd import")
}

/// The import must succeed; returns (stdout, stderr).
pub fn imported(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (String, String) {
    let out = import(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "import {:?} failed:\n{stdout}\n{stderr}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>()
    );
    (stdout, stderr)
}
