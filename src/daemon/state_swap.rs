//! Replacing an instance's state file atomically without making and freeing an inode at every
//! change. Each `NAME` has a hidden spare, `.NAME.spare`: the new text is written into the spare,
//! which is then swapped with `NAME` in one step (`renameat2(RENAME_EXCHANGE)`), so the spare
//! holds the old text and is written again at the next change.
//!
//! Why: rename over the old file frees the old inode and every write makes a new one. On a
//! journal-less ext4 (this project's VMs keep /run there) each new inode is searched for past
//! every inode freed in the last minutes (`recently_deleted`), and each freed block is
//! discarded: 1,000 replaces cost 130-310 ms of CPU there and grew with every stop and start,
//! against about 27 ms swapped (tmpfs: 18-25 ms either way).
//!
//! A reader never sees half a file: the spare is only ever written while it has no name a
//! reader opens, and only when nobody has it open: a reader that opened `NAME` before the last
//! swap still holds that inode (the spare now). The write takes a write lease on the spare
//! first (`F_SETLEASE`), which the kernel grants only when no other open file refers to it, and
//! an open that comes after it waits until the lease is let go (after the write). When the
//! lease is refused (a reader holds the old text, or the filesystem has no leases), the spare
//! is unlinked and made anew, as a plain atomic replace does.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The spare of `name` in `dir`.
pub(super) fn spare_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.spare"))
}

/// Replaces `dir/name` with `data`, atomically for every reader.
pub(super) fn replace(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let spare = spare_path(dir, name);
    let target = dir.join(name);
    let mut file = match reusable(&spare) {
        Some((file, old_len)) => {
            // In place: the block the old text had is kept (no block freed and discarded).
            file.write_all_at(data, 0)?;
            // Only a longer old text leaves a tail to cut: ext4 runs its whole truncate
            // (`ext4_truncate`) even for a length that does not change, the dearest call of
            // a state file's write (a sixth of the writer's CPU at a stop of 1,000).
            if old_len > data.len() as u64 {
                file.set_len(data.len() as u64)?;
            }
            file
        }
        None => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&spare)?;
            file.write_all(data)?;
            file
        }
    };
    file.flush()?;
    // Closing lets the lease go: an open of the spare that waited for it finds a whole text.
    drop(file);
    let swapped = nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        &spare,
        nix::fcntl::AT_FDCWD,
        &target,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    );
    match swapped {
        Ok(()) => Ok(()),
        // No `NAME` yet (the first write), or a filesystem that cannot swap: a plain rename,
        // which leaves no spare (the next write makes one).
        Err(_) => std::fs::rename(&spare, &target),
    }
}

/// The spare, open for writing under a write lease (nobody else has it open), with its
/// length; `None` when there is none or it cannot be leased, after unlinking it (then it is
/// made anew).
fn reusable(spare: &Path) -> Option<(File, u64)> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(spare)
        .ok()?;
    let metadata = file.metadata().ok().filter(|m| m.is_file());
    let regular = metadata.is_some();
    // SAFETY: fcntl(F_SETLEASE) on an fd this function owns, with an integer argument.
    let leased =
        regular && unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) } == 0;
    if leased {
        // Taking a lease makes this process the file's owner, to be told of a breaking open
        // by SIGIO, whose default action would end the daemon (`cat` of the spare at the
        // wrong moment). Nobody needs telling: the lease goes with the file in microseconds.
        // The loop's signal mask holds SIGIO too, for a break between these two calls.
        // SAFETY: fcntl(F_SETOWN) on an fd this function owns, with an integer argument.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETOWN, 0) };
        let len = metadata.map_or(0, |m| m.len());
        return Some((file, len));
    }
    drop(file);
    let _ = std::fs::remove_file(spare);
    None
}

/// Removes `dir/name` and its spare.
pub(super) fn remove(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(dir.join(name));
    let _ = std::fs::remove_file(spare_path(dir, name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};
    use std::os::unix::fs::MetadataExt;

    fn inode(path: &Path) -> u64 {
        std::fs::metadata(path).expect("metadata").ino()
    }

    #[test]
    fn the_spare_is_swapped_in_and_reused_so_two_inodes_take_turns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("web.json");
        replace(dir.path(), "web.json", b"one").expect("first");
        replace(dir.path(), "web.json", b"second").expect("second");
        let after_second = inode(&target);
        replace(dir.path(), "web.json", b"3").expect("third");
        replace(dir.path(), "web.json", b"fourth!").expect("fourth");
        assert_eq!(std::fs::read(&target).expect("read"), b"fourth!");
        // Longer text then shorter: no tail of an older one is left.
        assert_eq!(inode(&target), after_second);
        assert_eq!(
            std::fs::read(spare_path(dir.path(), "web.json")).expect("spare"),
            b"3"
        );
    }

    #[test]
    fn a_reader_holding_the_old_file_never_sees_it_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("web.json");
        replace(dir.path(), "web.json", b"old").expect("first");
        replace(dir.path(), "web.json", b"current").expect("second");
        let mut reader = File::open(&target).expect("open");
        // Twice: the second write would reuse the inode the reader holds, were it not open.
        replace(dir.path(), "web.json", b"newer").expect("third");
        replace(dir.path(), "web.json", b"newest text").expect("fourth");
        let mut seen = String::new();
        reader.rewind().expect("rewind");
        reader.read_to_string(&mut seen).expect("read");
        assert_eq!(seen, "current");
        assert_eq!(std::fs::read(&target).expect("read"), b"newest text");
    }

    #[test]
    fn removing_takes_the_spare_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        replace(dir.path(), "web.json", b"1").expect("first");
        replace(dir.path(), "web.json", b"2").expect("second");
        remove(dir.path(), "web.json");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn an_open_that_breaks_the_lease_waits_for_the_whole_text_and_signals_no_one() {
        // The kernel tells a lease's owner of a breaking open with SIGIO, whose default
        // action ends the process: this test process (like taskmasterd) would die here.
        let dir = tempfile::tempdir().expect("tempdir");
        replace(dir.path(), "web.json", b"one").expect("first");
        replace(dir.path(), "web.json", b"two").expect("second");
        let spare = spare_path(dir.path(), "web.json");
        let (file, _) = reusable(&spare).expect("the spare, leased");
        let reader = std::process::Command::new("cat")
            .arg(&spare)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("cat");
        // Until cat's open waits for the lease.
        let wchan = format!("/proc/{}/wchan", reader.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::fs::read_to_string(&wchan).is_ok_and(|w| w.contains("lease")) {
            assert!(
                std::time::Instant::now() < deadline,
                "cat never waited for the lease"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        file.write_all_at(b"three", 0).expect("write");
        drop(file);
        let out = reader.wait_with_output().expect("cat's output");
        assert_eq!(out.stdout, b"three");
    }
}
