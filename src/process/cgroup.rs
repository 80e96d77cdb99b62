//! cgroup v2 for services: each instance in `taskmaster/SERVICE/INSTANCE` under the
//! daemon's own cgroup, its limits written there, the whole group killed, frozen and
//! measured. Only file operations on cgroupfs (kernfs: in memory, they do not block);
//! the loop calls them as actions, the core never sees them.
//!
//! What a machine allows differs: as PID 1 the root cgroup has every controller; a host
//! with the hybrid layout has a `unified` cgroup2 mount without any. [`Cgroups::detect`]
//! finds the mount from /proc/self/mountinfo, the daemon's cgroup from /proc/self/cgroup,
//! enables what it can and says what is missing; a service whose limits need a missing
//! controller fails to start with that reason.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::config::{size_text, Resources};

/// The controllers limits and accounting use, in the order they are enabled.
const WANTED: [&str; 3] = ["memory", "cpu", "pids"];

/// The subtree a daemon owns: `<its cgroup>/taskmaster`.
#[derive(Debug)]
pub struct Cgroups {
    /// `<mount><own cgroup>/taskmaster`.
    root: PathBuf,
    /// Controllers enabled for the services' cgroups.
    controllers: Vec<&'static str>,
    /// Held while the daemon runs: a second daemon in the same cgroup gets none (their
    /// `taskmaster/web/0` would be the same directory, and one's stop would kill the other's).
    /// The root directory itself, opened: files below are opened relative to it.
    lock: Flock<File>,
}

/// What one instance's cgroup measures; `None` where the kernel does not say (a
/// controller that is not enabled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    pub memory_peak: Option<u64>,
    pub cpu_usec: Option<u64>,
    pub tasks: Option<u64>,
}

/// Why there are no cgroups for the services, or why one instance's cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("not running as root")]
    NotRoot,
    #[error("{}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cgroup2 is not mounted")]
    NotMounted,
    #[error("no cgroup v2 entry in /proc/self/cgroup")]
    NoEntry,
    #[error("{} is used by another taskmasterd in the same cgroup", .0.display())]
    InUse(PathBuf),
    #[error("{}: lock: {errno}", path.display())]
    Lock {
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error("the kernel has no cgroup.kill (Linux 5.14 or later needed)")]
    NoKill,
    #[error("{field} needs the cgroup v2 {controller} controller, which is not available here")]
    MissingController {
        field: String,
        controller: &'static str,
    },
    #[error("cgroup {}: {error}", path.display())]
    Dir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cgroup {}: +{controller}: {error}", path.display())]
    Enable {
        path: PathBuf,
        controller: &'static str,
        error: std::io::Error,
    },
    #[error("cgroup {}/{file} {value}: {error}", dir.display())]
    Limit {
        dir: PathBuf,
        file: &'static str,
        value: String,
        error: std::io::Error,
    },
}

fn read(path: &str) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|error| CgroupError::Read {
        path: path.into(),
        error,
    })
}

fn dir_error(path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError + '_ {
    move |error| CgroupError::Dir {
        path: path.to_path_buf(),
        error,
    }
}

impl Cgroups {
    /// Sets up the daemon's subtree, or says why there is none.
    pub fn detect() -> Result<Cgroups, CgroupError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(CgroupError::NotRoot);
        }
        let mountinfo = read("/proc/self/mountinfo")?;
        let (mount, mount_root) = cgroup2_mount(&mountinfo).ok_or(CgroupError::NotMounted)?;
        let own = read("/proc/self/cgroup")?;
        let own = own_cgroup(&own).ok_or(CgroupError::NoEntry)?;
        let relative = own
            .strip_prefix(&mount_root)
            .unwrap_or(&own)
            .trim_start_matches('/')
            .to_string();
        let base = mount.join(&relative);
        let root = base.join("taskmaster");
        make_dir(&root).map_err(|error| CgroupError::Read {
            path: root.clone(),
            error,
        })?;
        let lock = lock(&root)?;
        if !root.join("cgroup.kill").exists() {
            return Err(CgroupError::NoKill);
        }
        let available = read_words(&base.join("cgroup.controllers"));
        let mut controllers = Vec::new();
        for controller in WANTED {
            if available.iter().any(|c| c == controller)
                && enable(&base, controller).is_ok()
                && enable(&root, controller).is_ok()
            {
                controllers.push(controller);
            }
        }
        let cgroups = Cgroups {
            root,
            controllers,
            lock,
        };
        // What an earlier daemon left here (it may have ended without cleaning up: PID 1 of
        // a namespace ends at reboot(2)) is removed when empty: a cgroup it killed through
        // `cgroup.kill` would kill at birth every child cloned into it (see the daemon's
        // `killed`, which only knows this daemon's kills). Busy ones (survivors) stay.
        cgroups.remove_empty();
        Ok(cgroups)
    }

    /// Where the subtree is, for the log.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The controllers services get (`memory cpu pids`, or fewer).
    pub fn controllers(&self) -> &[&'static str] {
        &self.controllers
    }

    /// `taskmaster/SERVICE/INSTANCE`.
    pub fn dir(&self, service: &str, index: u32) -> PathBuf {
        self.root.join(service).join(index.to_string())
    }

    /// Makes the instance's cgroup with its limits (and resets those no longer asked for),
    /// and opens its directory, for the child to be born in it (`CLONE_INTO_CGROUP`) or to
    /// join it before exec. The error says which limit could not be applied and why.
    pub fn prepare(
        &self,
        service: &str,
        index: u32,
        limits: &Resources,
    ) -> Result<OwnedFd, CgroupError> {
        for (controller, field) in needed(limits) {
            if !self.controllers.contains(&controller) {
                return Err(CgroupError::MissingController { field, controller });
            }
        }
        // Made and opened relative to the open root, as every call at a spawn: a path walk
        // down the whole cgroupfs mount revalidates each component in kernfs, three walks
        // per spawn.
        let service_dir = self.root.join(service);
        self.make_dir_at(service).map_err(dir_error(&service_dir))?;
        for controller in &self.controllers {
            enable(&service_dir, controller).map_err(|error| CgroupError::Enable {
                path: service_dir.clone(),
                controller,
                error,
            })?;
        }
        // cpu.weight weighs the service against its siblings, the other services, so it is
        // set on the service's cgroup: on the instance's, whose only siblings are the same
        // service's instances, it would change nothing (systemd's CPUWeight= is on the
        // unit's cgroup too). The instance gets it as well, for instances of equal weight.
        if self.controllers.contains(&"cpu") {
            let value = limits.cpu_weight.unwrap_or(100).to_string();
            if let Err(error) = write(&service_dir.join("cpu.weight"), &value) {
                return Err(CgroupError::Limit {
                    dir: service_dir,
                    file: "cpu.weight",
                    value,
                    error,
                });
            }
        }
        let dir = self.dir(service, index);
        self.make_dir_at(&format!("{service}/{index}"))
            .map_err(dir_error(&dir))?;
        for (file, value) in self.limit_files(limits) {
            if let Err(error) = write(&dir.join(file), &value) {
                return Err(CgroupError::Limit {
                    dir,
                    file,
                    value,
                    error,
                });
            }
        }
        self.open(service, index).map_err(dir_error(&dir))
    }

    /// The instance's cgroup directory, opened for a child to be born in it (or to join
    /// it), as [`Cgroups::prepare`] made it.
    pub fn open(&self, service: &str, index: u32) -> std::io::Result<OwnedFd> {
        use nix::fcntl::OFlag;
        nix::fcntl::openat(
            self.lock.as_fd(),
            format!("{service}/{index}").as_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(std::io::Error::from)
    }

    /// A directory below the root (`SERVICE` or `SERVICE/INSTANCE`); one already there is
    /// fine.
    fn make_dir_at(&self, relative: &str) -> std::io::Result<()> {
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o777);
        match nix::sys::stat::mkdirat(self.lock.as_fd(), relative, mode) {
            Err(nix::errno::Errno::EEXIST) => Ok(()),
            other => other.map_err(std::io::Error::from),
        }
    }

    /// Every limit file of an enabled controller with its value: the one asked for, else
    /// the kernel's default (a limit removed by a reload must not linger).
    fn limit_files(&self, limits: &Resources) -> Vec<(&'static str, String)> {
        let bytes = |v: Option<u64>| v.map_or("max".to_string(), |b| b.to_string());
        let mut files = Vec::new();
        if self.controllers.contains(&"memory") {
            files.push(("memory.max", bytes(limits.memory_max)));
            files.push(("memory.high", bytes(limits.memory_high)));
        }
        if self.controllers.contains(&"cpu") {
            let weight = limits.cpu_weight.unwrap_or(100);
            files.push(("cpu.weight", weight.to_string()));
            // 100% of one CPU = the whole of each 100 ms period.
            let max = limits
                .cpu_max_percent
                .map_or("max 100000".to_string(), |p| {
                    format!("{} 100000", u64::from(p) * 1000)
                });
            files.push(("cpu.max", max));
        }
        if self.controllers.contains(&"pids") {
            files.push(("pids.max", bytes(limits.pids_max)));
        }
        files
    }

    /// Removes the instance's cgroup, which must be empty (EBUSY if not).
    pub fn remove(&self, service: &str, index: u32) -> std::io::Result<()> {
        // Relative to the open root, like `populated`: no walk down the whole mount.
        nix::unistd::unlinkat(
            self.lock.as_fd(),
            format!("{service}/{index}").as_str(),
            nix::unistd::UnlinkatFlags::RemoveDir,
        )
        .map_err(std::io::Error::from)
    }

    /// Removes the service's cgroup if no instance cgroup is left in it (best effort).
    pub fn remove_service(&self, service: &str) {
        let _ = nix::unistd::unlinkat(
            self.lock.as_fd(),
            service,
            nix::unistd::UnlinkatFlags::RemoveDir,
        );
    }

    /// SIGKILL to every process in the instance's cgroup, wherever they went (setsid,
    /// double fork): what a process group cannot do.
    pub fn kill(&self, service: &str, index: u32) -> std::io::Result<()> {
        write(&self.dir(service, index).join("cgroup.kill"), "1")
    }

    /// Freezes (`true`) or thaws the whole cgroup.
    pub fn freeze(&self, service: &str, index: u32, frozen: bool) -> std::io::Result<()> {
        let value = if frozen { "1" } else { "0" };
        write(&self.dir(service, index).join("cgroup.freeze"), value)
    }

    /// How many times the OOM killer killed in this cgroup (`memory.events` `oom_kill`).
    pub fn oom_kills(&self, service: &str, index: u32) -> Option<u64> {
        let text = fs::read_to_string(self.dir(service, index).join("memory.events")).ok()?;
        keyed(&text, "oom_kill")
    }

    pub fn usage(&self, service: &str, index: u32) -> Usage {
        let dir = self.dir(service, index);
        let number = |file: &str| {
            fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
        };
        let cpu_usec = fs::read_to_string(dir.join("cpu.stat"))
            .ok()
            .and_then(|t| keyed(&t, "usage_usec"));
        let tasks = number("pids.current").or_else(|| {
            // Without the pids controller: count the members.
            fs::read_to_string(dir.join("cgroup.procs"))
                .ok()
                .map(|t| t.lines().count() as u64)
        });
        Usage {
            memory_bytes: number("memory.current"),
            memory_peak: number("memory.peak"),
            cpu_usec,
            tasks,
        }
    }

    /// Sends `signal` to every process in the instance's cgroup (SIGKILL: [`Cgroups::kill`]),
    /// thawed first: a frozen process would not act on it. Returns how many were signalled.
    pub fn signal_all(&self, service: &str, index: u32, signal: i32) -> std::io::Result<usize> {
        if signal == libc::SIGKILL {
            return self.kill(service, index).map(|()| 0);
        }
        let dir = self.dir(service, index);
        let _ = write(&dir.join("cgroup.freeze"), "0");
        let pids = fs::read_to_string(dir.join("cgroup.procs"))?;
        let mut sent = 0;
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let pid = nix::unistd::Pid::from_raw(pid);
            if super::signal::signal_process(pid, signal).is_ok() {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// The instance's `cgroup.events`, whose change (a modify event) tells that
    /// `populated` may have changed.
    pub fn events_file(&self, service: &str, index: u32) -> PathBuf {
        self.dir(service, index).join("cgroup.events")
    }

    /// How many processes are in the instance's cgroup (`cgroup.procs`).
    pub fn processes(&self, service: &str, index: u32) -> usize {
        fs::read_to_string(self.dir(service, index).join("cgroup.procs"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// Whether the instance's cgroup still has a process in it.
    pub fn populated(&self, service: &str, index: u32) -> bool {
        // Relative to the open root: at every exit, a path walk down the whole cgroupfs
        // mount (each component revalidated by kernfs) was most of this call's cost.
        let relative = format!("{service}/{index}/cgroup.events");
        read_short_at(&self.lock, &relative)
            .and_then(|t| keyed(&t, "populated"))
            .is_some_and(|n| n > 0)
    }

    /// The instance a process is in, from /proc/PID/cgroup (a process a `MAINPID=` named).
    pub fn instance_of(&self, pid: i32) -> Option<(String, u32)> {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let own = own_cgroup(&text)?;
        // Compare by the last components: `.../taskmaster/SERVICE/INSTANCE`.
        let mut parts = own.rsplit('/');
        let index = parts.next()?.parse().ok()?;
        let service = parts.next()?.to_string();
        (parts.next()? == "taskmaster" && self.root.join(&service).exists())
            .then_some((service, index))
    }

    /// Removes an instance that is gone for good: its cgroup, and its service's when that is
    /// left empty (rmdir on cgroupfs fails at once, without waiting, while a process is in it).
    pub fn remove_gone(&self, service: &str, index: u32) {
        let _ = self.remove(service, index);
        let _ = fs::remove_dir(self.root.join(service));
    }

    /// Removes the empty cgroups of instances that are gone (best effort: a busy one stays
    /// and is reused).
    pub fn remove_empty(&self) {
        let Ok(services) = fs::read_dir(&self.root) else {
            return;
        };
        for service in services.flatten() {
            if !service.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Ok(instances) = fs::read_dir(service.path()) {
                for instance in instances.flatten() {
                    if instance.file_type().is_ok_and(|t| t.is_dir()) {
                        let _ = fs::remove_dir(instance.path());
                    }
                }
            }
            let _ = fs::remove_dir(service.path());
        }
    }
}

/// The limits a service sets and the controller each needs.
fn needed(limits: &Resources) -> Vec<(&'static str, String)> {
    let mut needed = Vec::new();
    if let Some(bytes) = limits.memory_max {
        needed.push(("memory", format!("memory-max {}", size_text(bytes))));
    }
    if let Some(bytes) = limits.memory_high {
        needed.push(("memory", format!("memory-high {}", size_text(bytes))));
    }
    if let Some(weight) = limits.cpu_weight {
        needed.push(("cpu", format!("cpu-weight {weight}")));
    }
    if let Some(percent) = limits.cpu_max_percent {
        needed.push(("cpu", format!("cpu-max {percent}%")));
    }
    if let Some(max) = limits.pids_max {
        needed.push(("pids", format!("pids-max {max}")));
    }
    needed
}

/// The first cgroup2 mount: where, and which cgroup is its root (`/` unless the mount
/// was made inside a cgroup namespace).
fn cgroup2_mount(mountinfo: &str) -> Option<(PathBuf, String)> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        if after.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let fields: Vec<&str> = before.split_whitespace().collect();
        let root = unescape(fields.get(3)?);
        let point = unescape(fields.get(4)?);
        Some((PathBuf::from(point), root))
    })
}

/// mountinfo escapes spaces and such as `\040`.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(byte as char);
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `0::/path` line of /proc/PID/cgroup.
fn own_cgroup(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(|path| path.trim().to_string())
}

/// `key N` from a flat keyed file (`cpu.stat`, `memory.events`, `cgroup.events`).
/// A small cgroup file (`cgroup.events`: two lines) below `dir`, in one read: asked at
/// every exit, where `read_to_string` also stats the file and reads a second time to see
/// its end.
fn read_short_at(dir: &File, relative: &str) -> Option<String> {
    use std::io::Read;
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        relative,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let mut file = File::from(fd);
    let mut buffer = [0u8; 256];
    let read = file.read(&mut buffer).ok()?;
    if read == buffer.len() {
        // Longer than expected: the rest too.
        let mut text = buffer.to_vec();
        file.read_to_end(&mut text).ok()?;
        return String::from_utf8(text).ok();
    }
    String::from_utf8(buffer[..read].to_vec()).ok()
}

fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

fn read_words(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|t| t.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Enables a controller for the children of `dir` (already enabled: nothing to do).
fn enable(dir: &Path, controller: &str) -> std::io::Result<()> {
    if read_words(&dir.join("cgroup.subtree_control"))
        .iter()
        .any(|c| c == controller)
    {
        return Ok(());
    }
    write(
        &dir.join("cgroup.subtree_control"),
        &format!("+{controller}"),
    )
}

fn make_dir(dir: &Path) -> std::io::Result<()> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// One write(2) of the whole value, as cgroupfs wants it.
fn write(path: &Path, value: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}

/// An exclusive lock on the subtree, without waiting; held as long as the value lives
/// (the descriptor is close-on-exec: no service holds it).
fn lock(root: &Path) -> Result<Flock<File>, CgroupError> {
    let dir = File::open(root).map_err(|error| CgroupError::Read {
        path: root.to_path_buf(),
        error,
    })?;
    Flock::lock(dir, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| match errno {
        nix::errno::Errno::EWOULDBLOCK => CgroupError::InUse(root.to_path_buf()),
        errno => CgroupError::Lock {
            path: root.to_path_buf(),
            errno,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_of_a_hybrid_host() {
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        assert_eq!(
            cgroup2_mount(mountinfo),
            Some((PathBuf::from("/sys/fs/cgroup/unified"), "/".to_string()))
        );
        assert_eq!(cgroup2_mount("31 23 0:28 / /x rw - tmpfs tmpfs rw\n"), None);
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }

    #[test]
    fn reads_the_own_cgroup_and_keyed_files() {
        let text = "4:memory:/x\n0::/system.slice/tm.service\n";
        assert_eq!(
            own_cgroup(text).as_deref(),
            Some("/system.slice/tm.service")
        );
        let stat = "usage_usec 1234\nuser_usec 1000\n";
        assert_eq!(keyed(stat, "usage_usec"), Some(1234));
        assert_eq!(keyed(stat, "nope"), None);
    }

    #[test]
    fn cpu_weight_is_set_on_the_service_cgroup_where_other_services_are_its_siblings() {
        // A stand-in for cgroupfs: the files prepare writes exist already, as the kernel's do.
        let root = tempfile::tempdir().expect("tempdir");
        let service = root.path().join("udevd");
        std::fs::create_dir_all(service.join("0")).expect("dirs");
        std::fs::write(service.join("cgroup.subtree_control"), "cpu").expect("file");
        for file in ["udevd/cpu.weight", "udevd/0/cpu.weight", "udevd/0/cpu.max"] {
            std::fs::write(root.path().join(file), "").expect("file");
        }
        let cgroups = Cgroups {
            root: root.path().to_path_buf(),
            controllers: vec!["cpu"],
            lock: lock(root.path()).expect("lock"),
        };
        let limits = Resources {
            cpu_weight: Some(20),
            ..Resources::default()
        };
        cgroups.prepare("udevd", 0, &limits).expect("prepare");
        let read = |f: &str| std::fs::read_to_string(service.join(f)).expect("read");
        assert_eq!(read("cpu.weight"), "20");
        assert_eq!(read("0/cpu.weight"), "20");
        // Without the field the kernel's default comes back (a reload removed it).
        cgroups
            .prepare("udevd", 0, &Resources::default())
            .expect("prepare");
        assert_eq!(read("cpu.weight"), "100");
    }

    #[test]
    fn limits_need_their_controllers() {
        let limits = Resources {
            memory_max: Some(512 << 20),
            pids_max: Some(10),
            ..Resources::default()
        };
        assert_eq!(
            needed(&limits),
            [
                ("memory", "memory-max 512M".to_string()),
                ("pids", "pids-max 10".to_string())
            ]
        );
    }
}
