//! A service output file the daemon writes itself so that it can rotate it, as
//! supervisord does with `logfile_maxbytes`/`logfile_backups`: once the file holds
//! `maxbytes`, `file.N-1` → `file.N`, …, `file` → `file.1`, and a new `file` is started
//! (what would become `file.N+1` is overwritten, so at most N backups exist). With 0 backups
//! the file is truncated in place.
//!
//! Files are cut at exactly `maxbytes` (not at line ends): sizes are predictable and no
//! byte is held back waiting for a newline.
//!
//! Writes go to a regular file opened with O_APPEND: they never wait for a reader, and
//! whatever else appends to the same file (another instance, logrotate's copytruncate)
//! does not make us overwrite it.

use crate::config::Rotation;
use crate::log::open_append;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A step of writing or rotating an output file that failed, with the path it acted on.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("reopen {}: {source}", path.display())]
    Reopen { path: PathBuf, source: io::Error },
    #[error("truncate {}: {source}", path.display())]
    Truncate { path: PathBuf, source: io::Error },
    #[error("rotate {}: {source}", path.display())]
    Rotate { path: PathBuf, source: io::Error },
    /// The first failure of a run of them (the next ones are not reported).
    #[error("{0}; output is lost until it works again")]
    Failing(Box<RotationError>),
}

pub struct RotatingFile {
    path: PathBuf,
    file: File,
    /// Bytes in the current file (from its size when opened, then counted).
    size: u64,
    rotation: Rotation,
    /// The mode a new file is created with (after rotation too).
    mode: u32,
    /// A write error was reported and nothing has succeeded since: don't repeat it.
    failing: bool,
}

impl RotatingFile {
    pub fn open(path: &Path, rotation: Rotation, mode: u32) -> io::Result<RotatingFile> {
        let file = open_append(path, mode)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
            mode,
            failing: false,
        })
    }

    /// A reload may have changed the sizes; the file stays the same.
    pub fn set_rotation(&mut self, rotation: Rotation) {
        self.rotation = rotation;
    }

    /// Appends everything, rotating on the way. `Err` (to log) only for the first failure
    /// in a row; the bytes that could not be written are lost (a full disk must not stop
    /// the daemon).
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), RotationError> {
        let mut problem = None;
        while !data.is_empty() {
            let max = self.rotation.maxbytes;
            if max > 0 && self.size >= max {
                if let Err(e) = self.rotate() {
                    problem.get_or_insert(e);
                }
            }
            // At least one byte: the file was just rotated (or counted as empty if that failed).
            let room = if max > 0 {
                max.saturating_sub(self.size).max(1)
            } else {
                u64::MAX
            };
            let n = usize::try_from(room).map_or(data.len(), |room| data.len().min(room));
            let (now, rest) = data.split_at(n);
            match self.file.write_all(now) {
                Ok(()) => {
                    self.size += now.len() as u64;
                    if problem.is_none() {
                        self.failing = false;
                    }
                }
                Err(e) => {
                    problem.get_or_insert(RotationError::Write {
                        path: self.path.clone(),
                        source: e,
                    });
                }
            }
            data = rest;
        }
        match problem {
            Some(error) if !self.failing => {
                self.failing = true;
                Err(RotationError::Failing(Box::new(error)))
            }
            _ => Ok(()),
        }
    }

    /// Opens the path again (logrotate renamed or removed the file).
    pub fn reopen(&mut self) -> Result<(), RotationError> {
        let file = open_append(&self.path, self.mode).map_err(|source| RotationError::Reopen {
            path: self.path.clone(),
            source,
        })?;
        self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = file;
        self.failing = false;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), RotationError> {
        // Counted as empty whatever happens, so that a failing rename is retried only after
        // another `maxbytes`, not before every write.
        self.size = 0;
        if self.rotation.backups == 0 {
            return self
                .file
                .set_len(0)
                .map_err(|source| RotationError::Truncate {
                    path: self.path.clone(),
                    source,
                });
        }
        for n in (1..self.rotation.backups).rev() {
            match std::fs::rename(backup(&self.path, n), backup(&self.path, n + 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(RotationError::Rotate {
                        path: backup(&self.path, n),
                        source,
                    })
                }
            }
        }
        std::fs::rename(&self.path, backup(&self.path, 1)).map_err(|source| {
            RotationError::Rotate {
                path: self.path.clone(),
                source,
            }
        })?;
        self.reopen()
    }
}

/// `file.N`
pub fn backup(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation(maxbytes: u64, backups: u32) -> Rotation {
        Rotation { maxbytes, backups }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn rotates_at_exactly_maxbytes_and_keeps_n_backups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.log");
        let mut file = RotatingFile::open(&path, rotation(4, 2), 0o644).expect("open");
        file.write(b"0123456789").expect("write");
        file.write(b"abcdef").expect("write");
        // 16 bytes: 0123 4567 89ab cdef → kept: file, .1, .2
        assert_eq!(read(&path), "cdef");
        assert_eq!(read(&backup(&path, 1)), "89ab");
        assert_eq!(read(&backup(&path, 2)), "4567");
        assert!(!backup(&path, 3).exists());
    }

    #[test]
    fn zero_backups_truncates_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.log");
        let mut file = RotatingFile::open(&path, rotation(4, 0), 0o644).expect("open");
        file.write(b"0123456789").expect("write");
        assert_eq!(read(&path), "89");
        assert!(!backup(&path, 1).exists());
    }

    #[test]
    fn counts_what_was_there_and_reopens_after_a_rename() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.log");
        std::fs::write(&path, "xyz").expect("seed");
        let mut file = RotatingFile::open(&path, rotation(4, 1), 0o644).expect("open");
        file.write(b"ab").expect("write");
        assert_eq!(read(&backup(&path, 1)), "xyza");
        assert_eq!(read(&path), "b");
        std::fs::rename(&path, dir.path().join("moved")).expect("rename");
        file.write(b"c").expect("write");
        assert_eq!(read(&dir.path().join("moved")), "bc", "still the old file");
        file.reopen().expect("reopen");
        file.write(b"d").expect("write");
        assert_eq!(read(&path), "d");
    }
}
