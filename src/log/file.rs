//! Opening a log file for appending, its directory created first. Used for the event log
//! and for service output files the daemon writes itself (rotation).

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Opens `path` for appending (created when missing, close-on-exec as std always does).
pub fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}
