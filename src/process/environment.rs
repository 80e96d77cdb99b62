//! The child's environment: the daemon's own, with the service's `env` on top.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
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

/// The merged environment, by name (so the child's order is sorted and stable); it
/// borrows the daemon's entries and the service's.
pub(super) struct Environment<'a>(BTreeMap<&'a OsStr, &'a OsStr>);

impl<'a> Environment<'a> {
    /// `std::env::vars_os()` with `overrides` replacing or adding entries. The notify
    /// variables the daemon itself may have got (taskmasterd run by systemd) are not passed
    /// on: only a `ready "notify"` service gets them, set to taskmasterd's own socket; nor
    /// are the socket activation ones (only a `listen` service gets them, for its sockets).
    pub fn inherit_with(overrides: &'a BTreeMap<String, String>) -> Environment<'a> {
        const NOT_INHERITED: [&str; 6] = [
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
        ];
        let mut vars: BTreeMap<&'a OsStr, &'a OsStr> = daemon_vars()
            .iter()
            .filter(|(key, _)| !NOT_INHERITED.iter().any(|n| key.as_os_str() == *n))
            .map(|(key, value)| (key.as_os_str(), value.as_os_str()))
            .collect();
        vars.extend(
            overrides
                .iter()
                .map(|(k, v)| (OsStr::new(k.as_str()), OsStr::new(v.as_str()))),
        );
        Environment(vars)
    }

    /// The PATH the program is searched in: the service's if it sets one, else the daemon's.
    pub fn path(&self) -> Option<&'a OsStr> {
        self.0.get(OsStr::new("PATH")).copied()
    }

    /// `KEY=value` strings for execve.
    pub fn to_cstrings(&self) -> Result<Vec<CString>, SpawnError> {
        self.0
            .iter()
            .map(|(key, value)| {
                let mut entry = Vec::with_capacity(key.len() + 1 + value.len());
                entry.extend_from_slice(key.as_bytes());
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                CString::new(entry).map_err(|_| {
                    let subject = format!("{} (contains a NUL byte)", key.to_string_lossy());
                    SpawnError::new(Step::Environment, subject, Errno::EINVAL)
                })
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
        assert!(strings.contains(&c"PATH=/opt/bin".to_owned()));
        assert!(strings.contains(&c"TM_TEST_EXTRA=1".to_owned()));
        assert_eq!(
            strings
                .iter()
                .filter(|s| s.to_bytes().starts_with(b"PATH="))
                .count(),
            1
        );
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
