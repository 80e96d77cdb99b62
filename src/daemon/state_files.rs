//! `--state-dir`: one `NAME.json` per instance (its `status --json` object), replaced
//! atomically whenever its state changes, and the daemon's pid in `taskmasterd.pid`, so a
//! script can read a service's state without the socket, and a daemon started again after
//! a crash knows which processes were its own (see `adopt.rs`).
//!
//! The loop only compares a few fields per instance after a turn that touched the core;
//! serialising and writing happen on a thread of its own, so a slow disk never holds the
//! loop. A file is written whole under a temporary name and renamed over the old one: a
//! reader (or a crash) never sees half of it.

use crate::control::proto::InstanceStatus;
use crate::supervisor::{
    ExitStatus, Instance, InstanceId, InstanceName, State, Supervisor, Touched,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// The version of the file format below; a file of another version is never trusted.
pub const STATE_VERSION: u32 = 1;

/// The daemon's own pid file in the state directory.
pub const PID_FILE: &str = "taskmasterd.pid";

/// What `NAME.json` holds: the status object, plus what a later daemon needs to know the
/// process again (a pid alone may have been reused).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateFile {
    #[serde(flatten)]
    pub status: InstanceStatus,
    pub state_version: u32,
    /// The process's start time (field 22 of /proc/PID/stat, clock ticks since boot).
    pub process_start: Option<u64>,
    /// The process group it was spawned with.
    pub process_group: Option<i32>,
    /// The daemon that wrote it.
    pub daemon_pid: u32,
}

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("state dir {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("state dir {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("state dir {0} is writable by others (mode {1:o}): refusing to trust it")]
    Insecure(PathBuf, u32),
    #[error("state dir {0} is owned by uid {1}, not by the daemon's user")]
    WrongOwner(PathBuf, u32),
    #[error("state dir {0} is in use by another taskmasterd (pid {1})")]
    InUse(PathBuf, i32),
}

/// The default: `/run/taskmaster/state` as root, else under `$XDG_RUNTIME_DIR` (or /tmp).
pub fn default_dir() -> PathBuf {
    let uid = nix::unistd::getuid();
    if uid.is_root() {
        return PathBuf::from("/run/taskmaster/state");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("taskmaster/state"),
        None => PathBuf::from(format!("/tmp/taskmaster-{uid}/state")),
    }
}

/// The fields of an instance its file shows, to see whether it must be written again.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    state: State,
    pid: Option<i32>,
    restarts: u32,
    last_exit: Option<ExitStatus>,
    detail: Option<String>,
    notify_status: Option<String>,
    has_last_stderr: bool,
}

impl Seen {
    fn of(i: &Instance) -> Seen {
        Seen {
            state: i.state,
            pid: i.pid,
            restarts: i.restarts,
            last_exit: i.last_exit,
            detail: i.detail.clone(),
            notify_status: i.seldom.notify_status.clone(),
            has_last_stderr: i.seldom.last_stderr.is_some(),
        }
    }

    fn matches(&self, i: &Instance) -> bool {
        self.state == i.state
            && self.pid == i.pid
            && self.restarts == i.restarts
            && self.last_exit == i.last_exit
            && self.detail == i.detail
            && self.notify_status == i.seldom.notify_status
            && self.has_last_stderr == i.seldom.last_stderr.is_some()
    }
}

/// What the writer thread is asked to do.
enum Job {
    Write {
        file: String,
        /// Boxed: a status is much larger than a removal.
        status: Box<InstanceStatus>,
        group: Option<i32>,
    },
    Remove {
        file: String,
    },
}

/// One instance as last written. Its file is named from the entry, because a service a
/// reload removed has no name in the core any more when its file must go; the entry holds
/// the core's shared name of the service and no string of its own. Made at the first sync,
/// in the middle of a boot's spawn burst, an entry's two strings (the instance's name and
/// its file's) each took one of the burst's freed 32-byte holes: 2,000 small blocks
/// spread over the burst's stretch of heap kept nearly every page of it resident at
/// N=1000, free space no trim could give back (bench/PROFILES.md, memory).
struct Entry {
    service: Arc<str>,
    index: u32,
    /// Named with its index (`web:0`, see [`InstanceName`]).
    indexed: bool,
    seen: Seen,
}

impl Entry {
    fn name(&self) -> InstanceName<'_> {
        if self.indexed {
            InstanceName::Indexed(&self.service, self.index)
        } else {
            InstanceName::Whole(&self.service)
        }
    }

    fn file(&self) -> String {
        file_name(self.name())
    }

    fn id(&self) -> InstanceId {
        InstanceId {
            service: self.service.to_string(),
            index: self.index,
        }
    }
}

pub struct StateFiles {
    dir: PathBuf,
    /// What was last sent, per instance, in the core's (name) order.
    seen: Vec<Entry>,
    /// Files found at start that no instance has written since: removed at the first sync.
    stale: Option<HashSet<String>>,
    /// The writer thread's queue; the thread starts with the first job (after the first
    /// spawns, so that as PID 1 in a fresh namespace services get the first pids).
    jobs: Option<mpsc::Sender<Vec<Job>>>,
    /// Disconnected when the writer thread has written everything it was sent and ended.
    written: Option<mpsc::Receiver<()>>,
    /// There was no pid file at start: the daemon before (if any) exited cleanly, all its
    /// instances stopped and every file written out (see [`StateFiles::close`]).
    after_clean_exit: bool,
}

/// How long a clean exit waits for the writer to finish the last files (1,000 instances
/// on this project's ext4 took 100-400 ms).
const WRITE_OUT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl StateFiles {
    /// Makes (or checks) the directory, claims it with the pid file and starts the writer.
    pub fn open(dir: &Path) -> Result<StateFiles, StateDirError> {
        prepare_dir(dir)?;
        if let Some(pid) = live_owner(dir) {
            return Err(StateDirError::InUse(dir.to_path_buf(), pid));
        }
        let after_clean_exit = !dir.join(PID_FILE).exists();
        let own_pid = format!("{}\n", std::process::id());
        write_atomically(dir, PID_FILE, own_pid.as_bytes())
            .map_err(|e| StateDirError::Io(dir.join(PID_FILE), e))?;
        let found = read_dir_once(dir);
        Ok(StateFiles {
            dir: dir.to_path_buf(),
            seen: Vec::new(),
            stale: Some(found),
            jobs: None,
            written: None,
            after_clean_exit,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends the files of every instance that changed since the last sync (and removes
    /// those of instances that are gone). `changed` names the services the core changed
    /// since then (`Supervisor::take_changed`): only their instances are compared, so a
    /// turn costs what it changed, not a look at every instance.
    pub fn sync(&mut self, core: &Supervisor, changed: Touched) {
        let now = Instant::now();
        let mut jobs = Vec::new();
        let names = match changed {
            Touched::Some(names) if self.stale.is_none() => names,
            _ => {
                self.resync_from(0, core, &mut jobs, now);
                return self.send(jobs);
            }
        };
        // `seen` is in the core's order (by service name, then index): each service's
        // entries are found by a binary search.
        let mut ranges = Vec::with_capacity(names.len());
        for name in &names {
            let start = self.seen.partition_point(|e| *e.service < *name.as_str());
            let len = self.seen[start..].partition_point(|e| *e.service == *name.as_str());
            let same_instances = core
                .instances_of(name)
                .map(|(index, _)| index)
                .eq(self.seen[start..start + len].iter().map(|e| e.index));
            if !same_instances {
                // Instances came or went (a reload, a job): everything from the start.
                self.resync_from(0, core, &mut jobs, now);
                return self.send(jobs);
            }
            ranges.push((name, start));
        }
        for (name, start) in ranges {
            for (offset, (_, instance)) in core.instances_of(name).enumerate() {
                let entry = &mut self.seen[start + offset];
                if !entry.seen.matches(instance) {
                    entry.seen = Seen::of(instance);
                    jobs.extend(write_job(core, &entry.id(), instance, now));
                }
            }
        }
        self.send(jobs);
    }

    /// The instances changed (a reload, the first sync): rebuild what was seen from
    /// `from` on, writing each instance there and removing files of the ones gone.
    fn resync_from(&mut self, from: usize, core: &Supervisor, jobs: &mut Vec<Job>, now: Instant) {
        let mut before: HashMap<(Arc<str>, u32), Entry> = self
            .seen
            .drain(from..)
            .map(|e| ((Arc::clone(&e.service), e.index), e))
            .collect();
        // The entries, which live on, are all made first (in one vector, with no block of
        // their own), and then the jobs, which the writer frees.
        let count = core.instances().skip(from).count();
        let mut write = Vec::with_capacity(count);
        self.seen.reserve(count);
        for (service, index, instance) in core.instances().skip(from) {
            let service = core.shared_name(service);
            let indexed = matches!(core.name_of(&service, index), InstanceName::Indexed(..));
            let known = before
                .remove(&(Arc::clone(&service), index))
                .filter(|e| e.indexed == indexed);
            write.push(known.as_ref().is_none_or(|e| !e.seen.matches(instance)));
            self.seen.push(Entry {
                service,
                index,
                indexed,
                seen: Seen::of(instance),
            });
        }
        let made = self.seen[from..].iter().zip(write);
        for ((_, _, instance), (entry, write)) in core.instances().skip(from).zip(made) {
            if write {
                jobs.extend(write_job(core, &entry.id(), instance, now));
            }
        }
        let current: HashSet<String> = self.seen.iter().map(Entry::file).collect();
        for gone in before.into_values() {
            let file = gone.file();
            if !current.contains(&file) {
                jobs.push(Job::Remove { file });
            }
        }
        if let Some(stale) = self.stale.take() {
            for file in stale.into_iter().filter(|f| !current.contains(f)) {
                jobs.push(Job::Remove { file });
            }
        }
    }

    fn send(&mut self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        if self.jobs.is_none() {
            let (sender, receiver) = mpsc::channel();
            let (done, written) = mpsc::channel::<()>();
            let dir = self.dir.clone();
            let started = super::threads::spawn(
                std::thread::Builder::new().name("state-files".into()),
                move || {
                    write_jobs(&dir, receiver);
                    drop(done);
                },
            );
            match started {
                Ok(_) => {
                    self.jobs = Some(sender);
                    self.written = Some(written);
                }
                Err(e) => {
                    eprintln!("taskmasterd: state files: no writer thread: {e}");
                    return;
                }
            }
        }
        if let Some(sender) = &self.jobs {
            // The writer only stops with the process.
            let _ = sender.send(jobs);
        }
    }

    /// Whether the files can name a process still running: not after a clean exit, whose
    /// last files all say STOPPED (a daemon that started after one read 1,000 such files,
    /// 9 ms at N=1000 on the 2-core machine, before it could start anything).
    pub fn may_hold_survivors(&self) -> bool {
        !self.after_clean_exit
    }

    /// Whether the file of `instance` was in the directory when it was opened (before the
    /// first sync; after it, unknown: true). Adoption does not try to open what is not there.
    pub fn found_at_start(&self, instance: &str) -> bool {
        self.stale
            .as_ref()
            .is_none_or(|found| found.contains(&file_name(instance)))
    }

    /// At a clean exit: the last files are written out (the instance files stay, all
    /// STOPPED), then the pid file goes, which tells the next daemon there is nothing to
    /// adopt. Without the wait the process ended while the writer
    /// still had most of a big shutdown's files to write: after a stop of 1,000 services
    /// they said STOPPING or STARTING with a pid, and the next daemon read each one, looked
    /// for its process and logged that it had ended, before it could start anything.
    pub fn close(&mut self) {
        // The writer ends once it has written what it was sent and its queue is closed.
        self.jobs = None;
        if let Some(written) = self.written.take() {
            if let Err(mpsc::RecvTimeoutError::Timeout) = written.recv_timeout(WRITE_OUT_WAIT) {
                // Some files may still name processes: the pid file stays, so the next
                // daemon reads them all (and finds their processes gone).
                return;
            }
        }
        let _ = std::fs::remove_file(self.dir.join(PID_FILE));
    }
}

fn write_job(core: &Supervisor, id: &InstanceId, i: &Instance, now: Instant) -> Option<Job> {
    let status = core.status_of(id, now)?;
    Some(Job::Write {
        file: file_name(&status.name),
        status: Box::new(status.into()),
        group: i.group,
    })
}

fn file_name(instance: impl std::fmt::Display) -> String {
    format!("{instance}.json")
}

/// The writer thread. Jobs wait in `Pending`, the newest per file; before each file is
/// written, whatever the loop has sent since is taken in, so a job superseded before its
/// turn came is never written (at a stop of 1,000 services, most STOPPING files are
/// replaced by STOPPED before the writer reaches them: one write per service, not two).
/// Never inlined: it is where the writer waits after the code drop, and inlined into its
/// thread's closure it lay among code that only ran once (`link/taskmasterd.idle`).
#[inline(never)]
fn write_jobs(dir: &Path, receiver: mpsc::Receiver<Vec<Job>>) {
    let mut pending = Pending::default();
    // Once: `getpid` is a system call at every use.
    let daemon_pid = std::process::id();
    while let Ok(first) = receiver.recv() {
        pending.add(first);
        let mut written = write_all(dir, &receiver, &mut pending, daemon_pid);
        if super::code_pages::take_request() {
            // The loop sent the load's last files before it asked for the drop: those not
            // written yet are in the queue now. Written after the drop, they mapped the
            // writer's code back for as long as the daemon sat idle (bench/PROFILES.md,
            // memory).
            written += write_all(dir, &receiver, &mut pending, daemon_pid);
            release_heap_after(written, &mut pending);
            super::code_pages::release();
        } else {
            release_heap_after(written, &mut pending);
        }
    }
}

/// Writes what is pending and whatever comes meanwhile, until both are empty; how many.
fn write_all(
    dir: &Path,
    receiver: &mpsc::Receiver<Vec<Job>>,
    pending: &mut Pending,
    daemon_pid: u32,
) -> usize {
    let mut written = 0;
    loop {
        for jobs in receiver.try_iter() {
            pending.add(jobs);
        }
        let Some(job) = pending.next() else {
            return written;
        };
        perform(dir, job, daemon_pid);
        written += 1;
    }
}

/// After a large batch (a boot, a reload, a shutdown), the free pages it left in this
/// thread's arena given back: the loop's trims may have run too early for them.
fn release_heap_after(written: usize, pending: &mut Pending) {
    if written >= 64 {
        // Empty now, but with room for the whole batch: at 1,000 instances its table
        // kept 130 KiB of this thread's arena for good (heaptrack, bench/PROFILES.md).
        *pending = Pending::default();
        super::heap::release_own_free_heap();
    }
}

/// The jobs not done yet: the newest per file, files in the order they first came.
#[derive(Default)]
struct Pending {
    order: std::collections::VecDeque<String>,
    newest: HashMap<String, Job>,
}

impl Pending {
    fn add(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            let (Job::Write { file, .. } | Job::Remove { file }) = &job;
            if !self.newest.contains_key(file) {
                self.order.push_back(file.clone());
            }
            self.newest.insert(file.clone(), job);
        }
    }

    fn next(&mut self) -> Option<Job> {
        let file = self.order.pop_front()?;
        self.newest.remove(&file)
    }
}

fn perform(dir: &Path, job: Job, daemon_pid: u32) {
    match job {
        Job::Write {
            file,
            status,
            group,
        } => {
            let state = StateFile {
                process_start: status.pid.and_then(process_start),
                process_group: group,
                daemon_pid,
                state_version: STATE_VERSION,
                status: *status,
            };
            if let Ok(mut json) = serde_json::to_vec_pretty(&state) {
                json.push(b'\n');
                if let Err(e) = super::state_swap::replace(dir, &file, &json) {
                    eprintln!("taskmasterd: state file {}: {e}", dir.join(&file).display());
                }
            }
        }
        Job::Remove { file } => super::state_swap::remove(dir, &file),
    }
}

/// Writes `NAME` whole under a temporary name, then renames it over the old one (the pid
/// file, written once; instance files are swapped with a spare, see state_swap.rs).
fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temporary)?;
    file.write_all(data)?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name))
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. With
/// the pid it names one process for good: a reused pid has another start time.
pub fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` has ended and only waits to be reaped (or is gone): it owns nothing and
/// is nothing to adopt.
pub fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(')')?.1.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// Creates the directory (0755) if missing and refuses one that is not a directory or that
/// others could write (they could plant a state that makes the daemon adopt their process).
fn prepare_dir(dir: &Path) -> Result<(), StateDirError> {
    let io = |e| StateDirError::Io(dir.to_path_buf(), e);
    let meta = match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(io)?;
            std::fs::symlink_metadata(dir).map_err(io)?
        }
        other => other.map_err(io)?,
    };
    if !meta.is_dir() {
        return Err(StateDirError::NotADirectory(dir.to_path_buf()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(StateDirError::Insecure(dir.to_path_buf(), mode));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(StateDirError::WrongOwner(dir.to_path_buf(), meta.uid()));
    }
    Ok(())
}

/// The pid in `taskmasterd.pid` when that process still lives and is not us.
fn live_owner(dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join(PID_FILE)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    let us = std::process::id() as i32;
    // A zombie (a daemon killed but not yet waited for by its parent) owns nothing.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (pid != us && comm.trim() == "taskmasterd" && !is_zombie(pid)).then_some(pid)
}

/// The `*.json` files in the directory; removes the spares (`.NAME.spare`, see
/// state_swap.rs) whose `NAME` is not there (left by a daemon that ended between making a
/// first file and naming it) and temporary files (`.NAME.tmp`) a daemon that ended in the
/// middle of a write left. One pass over the directory: after a run of 1,000 services it
/// holds 2,000 entries, and a second pass cost 0.65 ms before the first spawn.
fn read_dir_once(dir: &Path) -> HashSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashSet::new();
    };
    let mut found = HashSet::new();
    let mut hidden = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            hidden.push(name);
        } else if name.ends_with(".json") {
            found.insert(name);
        }
    }
    for name in hidden {
        let Some(rest) = name.strip_prefix('.') else {
            continue;
        };
        let lone = match rest.strip_suffix(".spare") {
            Some(of) => of.ends_with(".json") && !found.contains(of),
            None => rest.ends_with(".json.tmp"),
        };
        if lone {
            let _ = std::fs::remove_file(dir.join(&name));
        }
    }
    found
}

/// Reads the state file of one instance; `None` when missing, unreadable, of another
/// version or not ours to trust.
pub fn read(dir: &Path, instance: &str) -> Result<Option<StateFile>, String> {
    read_if(dir, instance, |_| true)
}

/// [`read`], for a file that names a process: `None` as well when it names none (a stopped
/// instance), found without reading the whole status (a daemon starting after a clean
/// stop of 1,000 services reads 1,000 such files before it starts anything).
pub fn read_with_pid(dir: &Path, instance: &str) -> Result<Option<StateFile>, String> {
    #[derive(Deserialize)]
    struct Pid {
        pid: Option<i32>,
    }
    read_if(dir, instance, |text| {
        serde_json::from_str::<Pid>(text).map_or(true, |p| p.pid.is_some())
    })
}

fn read_if(
    dir: &Path,
    instance: &str,
    wanted: impl FnOnce(&str) -> bool,
) -> Result<Option<StateFile>, String> {
    let path = dir.join(file_name(instance));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    // What does not parse as a pid is read whole below, and its error said.
    if !wanted(&text) {
        return Ok(None);
    }
    let state: StateFile = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a state file ({e})", path.display()))?;
    if state.state_version != STATE_VERSION {
        return Err(format!(
            "{}: state version {} (this taskmasterd reads {STATE_VERSION})",
            path.display(),
            state.state_version
        ));
    }
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::{read_dir_once, Job, Pending};

    #[test]
    fn the_directory_read_at_start_finds_the_files_and_drops_lone_spares_and_temporaries() {
        let dir = tempfile::tempdir().expect("temp dir");
        let names = [
            "a.json",
            ".a.json.spare",
            ".b.json.spare",
            ".c.json.tmp",
            ".editor-swap",
            "notes.txt",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), "{}").expect("write");
        }
        let found = read_dir_once(dir.path());
        assert_eq!(found.into_iter().collect::<Vec<_>>(), vec!["a.json"]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![".a.json.spare", ".editor-swap", "a.json", "notes.txt"]
        );
    }

    fn remove(file: &str) -> Job {
        Job::Remove {
            file: file.to_string(),
        }
    }

    fn write(file: &str, pid: i32) -> Job {
        let status = crate::control::proto::InstanceStatus {
            pid: Some(pid),
            ..Default::default()
        };
        Job::Write {
            file: file.to_string(),
            status: Box::new(status),
            group: None,
        }
    }

    fn taken(pending: &mut Pending) -> Vec<(String, Option<i32>)> {
        std::iter::from_fn(|| pending.next())
            .map(|job| match job {
                Job::Write { file, status, .. } => (file, status.pid),
                Job::Remove { file } => (file, None),
            })
            .collect()
    }

    #[test]
    fn a_job_superseded_before_its_turn_is_never_done() {
        let mut pending = Pending::default();
        pending.add(vec![write("a.json", 1), write("b.json", 2)]);
        // What a later turn sent: b changed again, a went, c is new.
        pending.add(vec![
            write("b.json", 3),
            remove("a.json"),
            write("c.json", 4),
        ]);
        assert_eq!(
            taken(&mut pending),
            vec![
                ("a.json".to_string(), None),
                ("b.json".to_string(), Some(3)),
                ("c.json".to_string(), Some(4)),
            ]
        );
    }

    #[test]
    fn a_file_written_already_is_written_again_when_it_changes_again() {
        let mut pending = Pending::default();
        pending.add(vec![write("a.json", 1)]);
        assert_eq!(taken(&mut pending), vec![("a.json".to_string(), Some(1))]);
        pending.add(vec![write("a.json", 2)]);
        assert_eq!(taken(&mut pending), vec![("a.json".to_string(), Some(2))]);
    }
}
