//! Real users and groups for the privilege tests: created with useradd/groupadd under
//! unique names, removed when the guard drops.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

/// useradd and groupadd lock /etc/passwd and /etc/group: one at a time in this process
/// (each takes this for writing). A test that needs the files to stay as they are holds it
/// for reading (see [`accounts_unchanged`]).
static ACCOUNTS: RwLock<()> = RwLock::new(());

/// Holds off every account change of this process until dropped. useradd and userdel
/// replace /etc/passwd with a new file: a bind mount over the old one (robustness's
/// HungPasswd) no longer covers the path, and lookups read the new file instead of waiting.
pub fn accounts_unchanged() -> RwLockReadGuard<'static, ()> {
    ACCOUNTS.read().unwrap_or_else(|e| e.into_inner())
}
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name nobody else uses: this test process's pid and a counter.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs an account tool, retrying while another process holds the lock on the files.
fn run(tool: &str, args: &[&str]) {
    let _guard = ACCOUNTS.write().unwrap_or_else(|e| e.into_inner());
    let mut last = String::new();
    for _ in 0..50 {
        let out = Command::new(tool).args(args).output().expect(tool);
        if out.status.success() {
            return;
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{tool} {args:?} failed: {last}");
}

fn id_of(flag: &str, name: &str) -> u32 {
    let out = Command::new("id").arg(flag).arg(name).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("id {flag} {name}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// A user with its own primary group and the given number of supplementary groups.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: (name, gid).
    pub groups: Vec<(String, u32)>,
}

impl TestUser {
    pub fn create(supplementary: usize) -> TestUser {
        let groups: Vec<String> = (0..supplementary).map(|_| unique("tmg")).collect();
        for group in &groups {
            run("groupadd", &[group]);
        }
        let name = unique("tmu");
        let list = groups.join(",");
        let mut args = vec![
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
        ];
        if !groups.is_empty() {
            args.extend(["--groups", &list]);
        }
        args.push(&name);
        run("useradd", &args);
        let groups = groups
            .into_iter()
            .map(|g| {
                let out = Command::new("getent")
                    .args(["group", &g])
                    .output()
                    .expect("getent");
                let line = String::from_utf8_lossy(&out.stdout).into_owned();
                let gid = line.split(':').nth(2).and_then(|s| s.trim().parse().ok());
                (g, gid.expect("gid of a group we created"))
            })
            .collect();
        TestUser {
            uid: id_of("-u", &name),
            gid: id_of("-g", &name),
            name,
            groups,
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // userdel also removes the user's own group (USERGROUPS_ENAB).
        let _guard = ACCOUNTS.write().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).output();
        for (group, _) in &self.groups {
            let _ = Command::new("groupdel").arg(group).output();
        }
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}
