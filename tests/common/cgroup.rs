//! Each test daemon in a cgroup of its own (as root, where cgroup v2 is mounted), so that
//! its `taskmaster/SERVICE/INSTANCE` subtree is its own: tests run in parallel with the
//! same service names, and one daemon's `cgroup.kill` must never reach another's.

use std::path::{Path, PathBuf};

/// Where cgroup2 is mounted, if it is.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        if after.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        before.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// The cgroup to start a test's daemon in (`<mount>/tm-test-<dir>`), made now; `None`
/// when this is not root or there is no cgroup v2.
pub fn test_cgroup(dir: &Path) -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let path = test_cgroup_path(dir)?;
    match std::fs::create_dir(&path) {
        Ok(()) => Some(path),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Some(path),
        Err(_) => None,
    }
}

/// Where [`test_cgroup`] makes the cgroup of the test in `dir`.
pub fn test_cgroup_path(dir: &Path) -> Option<PathBuf> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    Some(cgroup2_mount()?.join(format!("tm-test-{name}")))
}

/// The controllers the test cgroup of `dir` offers (`cgroup.controllers`), empty when there
/// is none.
pub fn test_controllers(dir: &Path) -> String {
    test_cgroup(dir)
        .and_then(|cgroup| std::fs::read_to_string(cgroup.join("cgroup.controllers")).ok())
        .unwrap_or_default()
}

/// Kills whatever is left in a test cgroup and removes it with everything below.
pub fn remove_test_cgroup(path: &Path) {
    if !path.exists() {
        return;
    }
    let _ = std::fs::write(path.join("cgroup.kill"), "1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if remove_tree(path) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Depth first; true once `path` is gone.
fn remove_tree(path: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    std::fs::remove_dir(path).is_ok() || !path.exists()
}
