//! The inotify fd of `watch`: one more fd of the loop, never polled on a timer.
//!
//! Each watched file is watched through its directory, not itself: a file replaced by
//! rename (vim, `sed -i`, dpkg, config managers) or deleted and created again is a new
//! inode, which a watch on the old one would never see; the directory sees every name it
//! holds. A file whose directory does not exist yet is watched through its nearest
//! existing ancestor, and the watches move down as the directories appear.

use crate::supervisor::Event;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Reads of the inotify fd per loop turn; what is left is read in the next turn.
const READS_PER_TURN: usize = 16;
/// Directories watched at most (the kernel's own default limit per user is 8192).
pub const MAX_DIRECTORIES: usize = 1024;

pub struct Watches {
    inotify: Inotify,
    /// (file, service) for every `watch` path of every service.
    targets: Vec<(PathBuf, String)>,
    dirs: HashMap<WatchDescriptor, PathBuf>,
}

/// What the kernel tells of in a watched directory.
fn directory_mask() -> WatchMask {
    WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
}

impl Watches {
    pub fn new() -> std::io::Result<Watches> {
        Ok(Watches {
            inotify: Inotify::init()?,
            targets: Vec::new(),
            dirs: HashMap::new(),
        })
    }

    /// The fd to poll, while anything is watched.
    pub fn polled(&self) -> Option<BorrowedFd<'_>> {
        (!self.dirs.is_empty()).then(|| self.inotify.as_fd())
    }

    /// Replaces the watched files (at start and after each reload); returns the problems
    /// to log (a directory that cannot be watched).
    pub fn set(&mut self, watched: Vec<(String, Vec<PathBuf>)>) -> Vec<String> {
        self.targets = watched
            .into_iter()
            .flat_map(|(service, paths)| paths.into_iter().map(move |p| (p, service.clone())))
            .collect();
        self.arm()
    }

    /// Watches the directory each target needs (its parent, or the nearest ancestor that
    /// exists), and no other.
    fn arm(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut wanted: Vec<PathBuf> = Vec::new();
        for (path, _) in &self.targets {
            let Some(dir) = nearest_existing_dir(path) else {
                continue;
            };
            if !wanted.contains(&dir) {
                wanted.push(dir);
            }
        }
        let stale: Vec<WatchDescriptor> = self
            .dirs
            .iter()
            .filter(|(_, dir)| !wanted.contains(dir))
            .map(|(wd, _)| wd.clone())
            .collect();
        for wd in stale {
            self.dirs.remove(&wd);
            let _ = self.inotify.watches().remove(wd);
        }
        for dir in wanted {
            if self.dirs.values().any(|d| *d == dir) {
                continue;
            }
            if self.dirs.len() >= MAX_DIRECTORIES {
                problems.push(format!(
                    "watch: more than {MAX_DIRECTORIES} directories; {} not watched",
                    dir.display()
                ));
                continue;
            }
            match self.inotify.watches().add(&dir, directory_mask()) {
                Ok(wd) => {
                    self.dirs.insert(wd, dir);
                }
                Err(e) => problems.push(format!("watch: cannot watch {}: {e}", dir.display())),
            }
        }
        problems
    }

    /// Reads what the kernel reported; returns a change event for each service whose file
    /// changed, and the problems to log.
    pub fn read(&mut self) -> (Vec<Event>, Vec<String>) {
        let mut buffer = [0u8; 4096];
        let mut changed: Vec<(String, PathBuf)> = Vec::new();
        let mut rearm = false;
        for _ in 0..READS_PER_TURN {
            let events = match self.inotify.read_events(&mut buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return (Vec::new(), vec![format!("watch: reading inotify: {e}")]),
            };
            let mut any = false;
            for event in events {
                any = true;
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    // Events were lost: count every watched file as changed.
                    for (path, service) in &self.targets {
                        changed.push((service.clone(), path.clone()));
                    }
                    continue;
                }
                if event
                    .mask
                    .intersects(EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF)
                {
                    // The directory itself went: watch further up until it is back.
                    if event.mask.contains(EventMask::IGNORED) {
                        self.dirs.remove(&event.wd);
                    }
                    rearm = true;
                    continue;
                }
                let Some(dir) = self.dirs.get(&event.wd) else {
                    continue;
                };
                let Some(name) = event.name else { continue };
                self.note(dir.join(name), event.mask, &mut changed, &mut rearm);
            }
            if !any {
                break;
            }
        }
        let mut problems = Vec::new();
        if rearm {
            let before: Vec<PathBuf> = self.dirs.values().cloned().collect();
            problems = self.arm();
            // A file written into a directory before its watch was added is only seen by
            // looking: it counts as a change once its directory is watched.
            for (path, service) in &self.targets {
                let fresh = path.parent().is_some_and(|dir| {
                    !before.iter().any(|d| d == dir) && self.dirs.values().any(|d| d == dir)
                });
                if fresh && path.exists() {
                    changed.push((service.clone(), path.clone()));
                }
            }
        }
        changed.sort();
        changed.dedup();
        let events = changed
            .into_iter()
            .map(|(service, path)| Event::WatchedChanged { service, path })
            .collect();
        (events, problems)
    }

    /// One name in a watched directory changed: a watched file, or a directory on the way
    /// to one that does not exist yet.
    fn note(
        &self,
        full: PathBuf,
        mask: EventMask,
        changed: &mut Vec<(String, PathBuf)>,
        rearm: &mut bool,
    ) {
        for (path, service) in &self.targets {
            if *path == full {
                changed.push((service.clone(), path.clone()));
            } else if path.starts_with(&full)
                && mask.intersects(EventMask::CREATE | EventMask::MOVED_TO)
            {
                *rearm = true;
                // Created with the file already in it (mkdir -p then a rename): a change.
                if path.exists() {
                    changed.push((service.clone(), path.clone()));
                }
            }
        }
    }
}

/// The directory to watch for `path`: its parent, or the nearest ancestor that exists.
fn nearest_existing_dir(path: &Path) -> Option<PathBuf> {
    let mut dir = path.parent()?;
    loop {
        if dir.is_dir() {
            return Some(dir.to_path_buf());
        }
        dir = dir.parent()?;
    }
}
