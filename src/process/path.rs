//! Finding the program in PATH, in the parent.
//!
//! execvp(3) searches PATH after fork, where its allocations are not safe (git moved to the
//! same approach). Doing it here also lets a missing program fail before anything is forked.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// Used when neither the service nor the daemon has a PATH (as PID 1 the kernel gives none).
/// The same as systemd's default.
pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program execve should run for `name`.
///
/// A name containing `/` is used as it is (relative to `workingdir`, since chdir runs before
/// execve). Otherwise the first executable regular file in PATH wins. Relative and empty PATH
/// entries are skipped: they would mean the daemon's cwd here and the service's `workingdir`
/// at execve, and running whatever sits in a working directory is a classic trap.
///
/// Errors as execvp reports them: ENOENT when nothing was found, EACCES when only files
/// without execute permission were.
pub(super) fn resolve(name: &str, path: Option<&OsStr>) -> Result<PathBuf, Errno> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    let path = path.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut seen_unexecutable = false;
    for dir in path.as_bytes().split(|b| *b == b':') {
        let dir = Path::new(OsStr::from_bytes(dir));
        if !dir.is_absolute() {
            continue;
        }
        let candidate = dir.join(name);
        // metadata() follows symlinks, as execve does.
        match candidate.metadata() {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(candidate)
            }
            Ok(meta) if meta.is_file() => seen_unexecutable = true,
            _ => {}
        }
    }
    Err(if seen_unexecutable {
        Errno::EACCES
    } else {
        Errno::ENOENT
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_name_with_a_slash_is_used_as_is() {
        assert_eq!(resolve("/nope", None), Ok(PathBuf::from("/nope")));
        assert_eq!(resolve("./run.sh", None), Ok(PathBuf::from("./run.sh")));
    }

    #[test]
    fn the_first_executable_in_path_wins() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        fs::write(first.path().join("prog"), "not executable").unwrap();
        fs::create_dir(first.path().join("dir")).unwrap();
        let exe = second.path().join("prog");
        fs::write(&exe, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "relative::{}:{}",
            first.path().display(),
            second.path().display()
        );
        assert_eq!(resolve("prog", Some(OsStr::new(&path))), Ok(exe));
        assert_eq!(
            resolve("dir", Some(OsStr::new(&path))),
            Err(Errno::ENOENT),
            "a directory is not a program"
        );
    }

    #[test]
    fn only_unexecutable_matches_give_eacces() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("prog"), "data").unwrap();
        let path = dir.path().as_os_str();
        assert_eq!(resolve("prog", Some(path)), Err(Errno::EACCES));
        assert_eq!(resolve("missing", Some(path)), Err(Errno::ENOENT));
    }

    #[test]
    fn the_default_path_finds_sh() {
        assert!(resolve("sh", None).is_ok());
    }
}
