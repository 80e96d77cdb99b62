//! Service files whose bytes have not changed since the config now running was loaded are
//! not parsed again at reload: their services are taken as the daemon runs them.
//!
//! KDL parsing is nearly all of a reload's cost (97 % of its instructions with 1,000
//! services in one file, about 0.5 s per MiB), and a reload usually touches one file of
//! many. What is kept between loads is only a stamp per file (its length, a hash of its
//! bytes and the names it defines); the specs themselves come from the running config
//! (the caller's [`KnownFile::specs`]), so nothing is held twice.
//!
//! A file is stamped only when its parse depended on nothing but its bytes: no errors, and
//! no `user`/`group` (resolved through NSS at parse time; `/etc/passwd` may have changed).

use super::{Origin, ServiceSpec};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

/// What a file was, when it was loaded clean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub len: usize,
    /// SipHash of the bytes (std's, fixed keys). Service files are root's own in strict
    /// mode; an accidental collision together with an equal length is not a concern.
    pub hash: u64,
    /// The services it defines, in file order.
    pub names: Vec<String>,
}

impl FileStamp {
    pub(crate) fn of(text: &str, specs: &[ServiceSpec]) -> FileStamp {
        FileStamp {
            len: text.len(),
            hash: hash_of(text),
            names: specs.iter().map(|s| s.name.clone()).collect(),
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        self.len == text.len() && self.hash == hash_of(text)
    }
}

fn hash_of(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// A stamped file with the specs it yielded, as the daemon runs them now.
#[derive(Debug, Clone)]
pub struct KnownFile {
    pub stamp: FileStamp,
    pub specs: Vec<ServiceSpec>,
}

/// Files that need no parsing if they are unchanged, by path.
pub type KnownFiles = HashMap<PathBuf, KnownFile>;

/// The stamps of a load's clean files, by path.
pub type FileStamps = HashMap<PathBuf, FileStamp>;

/// Whether a parsed file may be stamped: clean, and from its bytes alone.
pub(crate) fn stampable(specs: &[ServiceSpec], defined: &[(String, Origin)]) -> bool {
    specs.len() == defined.len() && specs.iter().all(|s| s.process.credentials.is_none())
}
