//! The child's environment: the daemon's own, with the service's `env` on top.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

use nix::errno::Errno;

use super::error::{SpawnError, Step};

/// The daemon's own environment, read once. Nothing in the daemon changes it (it never
/// calls `setenv`), and reading it again at each spawn (`vars_os` copies every entry) was
/// a tenth of the daemon's CPU for a restart.
pub fn daemon_vars() -> &'static BTreeMap<OsString, OsString> {
    static VARS: OnceLock<BTreeMap<OsString, OsString>> = OnceLock::new();
    VARS.get_or_init(|| std::env::vars_os().collect())
}

/// What a child inherits of the daemon's environment, each entry made into its
/// `KEY=value` string once: a spawn hands these to execve as they are, and copies only
/// what the service adds. Not the notify variables the daemon itself may have got
/// (taskmasterd run by systemd): only a `ready "notify"` service gets them, set to
/// taskmasterd's own socket; nor the socket activation ones (only a `listen` service gets
/// them, for its sockets). An entry the kernel gave us has no NUL byte.
fn inherited() -> &'static BTreeMap<OsString, CString> {
    const NOT_INHERITED: [&str; 6] = [
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
    ];
    static ENTRIES: OnceLock<BTreeMap<OsString, CString>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        daemon_vars()
            .iter()
            .filter(|(key, _)| !NOT_INHERITED.iter().any(|n| key.as_os_str() == *n))
            .filter_map(|(key, value)| {
                let entry = CString::new(entry_bytes(key, value)).ok()?;
                Some((key.clone(), entry))
            })
            .collect()
    })
}

fn entry_bytes(key: &OsStr, value: &OsStr) -> Vec<u8> {
    let mut entry = Vec::with_capacity(key.len() + 1 + value.len());
    entry.extend_from_slice(key.as_bytes());
    entry.push(b'=');
    entry.extend_from_slice(value.as_bytes());
    entry
}

/// One variable of the child's environment.
enum Entry<'a> {
    /// The daemon's, `KEY=value` ready.
    Inherited(&'static CStr),
    /// The service's value.
    Own(&'a OsStr),
}

/// The merged environment, by name (so the child's order is sorted and stable); it
/// borrows the daemon's entries and the service's.
pub(super) struct Environment<'a>(BTreeMap<&'a OsStr, Entry<'a>>);

impl<'a> Environment<'a> {
    /// The daemon's environment (see [`inherited`]) with `overrides` replacing or adding
    /// entries.
    pub fn inherit_with(overrides: &'a BTreeMap<String, String>) -> Environment<'a> {
        let mut vars: BTreeMap<&'a OsStr, Entry<'a>> = inherited()
            .iter()
            .map(|(key, entry)| (key.as_os_str(), Entry::Inherited(entry.as_c_str())))
            .collect();
        vars.extend(
            overrides
                .iter()
                .map(|(k, v)| (OsStr::new(k.as_str()), Entry::Own(OsStr::new(v.as_str())))),
        );
        Environment(vars)
    }

    /// The PATH the program is searched in: the service's if it sets one, else the daemon's.
    pub fn path(&self) -> Option<&'a OsStr> {
        let key = OsStr::new("PATH");
        match self.0.get(key)? {
            Entry::Own(value) => Some(value),
            Entry::Inherited(entry) => entry.to_bytes().get(key.len() + 1..).map(OsStr::from_bytes),
        }
    }

    /// `KEY=value` strings for execve: the daemon's borrowed, the service's made now.
    pub fn to_cstrings(&self) -> Result<Vec<Cow<'static, CStr>>, SpawnError> {
        self.0
            .iter()
            .map(|(key, entry)| match entry {
                Entry::Inherited(entry) => Ok(Cow::Borrowed(*entry)),
                Entry::Own(value) => CString::new(entry_bytes(key, value))
                    .map(Cow::Owned)
                    .map_err(|_| {
                        let subject = format!("{} (contains a NUL byte)", key.to_string_lossy());
                        SpawnError::new(Step::Environment, subject, Errno::EINVAL)
                    }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_env_overrides_the_daemons() {
        let overrides = BTreeMap::from([
            ("PATH".to_owned(), "/opt/bin".to_owned()),
            ("TM_TEST_EXTRA".to_owned(), "1".to_owned()),
        ]);
        let env = Environment::inherit_with(&overrides);
        assert_eq!(env.path(), Some(std::ffi::OsStr::new("/opt/bin")));
        let strings = env.to_cstrings().unwrap();
        assert!(strings.contains(&Cow::Borrowed(c"PATH=/opt/bin")));
        assert!(strings.contains(&Cow::Borrowed(c"TM_TEST_EXTRA=1")));
        assert_eq!(
            strings
                .iter()
                .filter(|s| s.to_bytes().starts_with(b"PATH="))
                .count(),
            1
        );
    }

    #[test]
    fn the_daemons_entries_are_passed_on_and_its_path_is_found() {
        let none = BTreeMap::new();
        let env = Environment::inherit_with(&none);
        let strings = env.to_cstrings().unwrap();
        let daemon_path = std::env::var_os("PATH");
        assert_eq!(env.path(), daemon_path.as_deref());
        if let Some(path) = daemon_path {
            let mut entry = b"PATH=".to_vec();
            entry.extend_from_slice(path.as_bytes());
            let entry = CString::new(entry).unwrap();
            assert!(strings.iter().any(|s| s.as_ref() == entry.as_c_str()));
        }
        assert!(!strings
            .iter()
            .any(|s| s.to_bytes().starts_with(b"NOTIFY_SOCKET=")));
    }

    #[test]
    fn a_nul_byte_is_an_error_naming_the_variable() {
        let overrides = BTreeMap::from([("BAD".to_owned(), "a\0b".to_owned())]);
        let err = Environment::inherit_with(&overrides)
            .to_cstrings()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "env BAD (contains a NUL byte): Invalid argument"
        );
    }
}
