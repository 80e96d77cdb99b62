//! `user` and `group` → uid, gid and supplementary groups, resolved once at load.
//!
//! Lookups go through NSS (getpwnam_r, getgrouplist), which may open files and sockets; that
//! is why they happen here, in the parent at load time, and never between fork and exec.

use std::ffi::CString;

use nix::unistd::{getgrouplist, Gid, Group, Uid, User};

use super::Credentials;

/// A user or group as written: a name, or a numeric id (`1000` or `"1000"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Account {
    Name(String),
    Id(u32),
}

impl Account {
    /// `"1000"` is an id, anything else a name.
    pub(crate) fn from_text(text: &str) -> Account {
        match text.parse::<u32>() {
            Ok(id) => Account::Id(id),
            Err(_) => Account::Name(text.to_string()),
        }
    }
}

/// A user found in the passwd database, or a bare uid that has no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedUser {
    name: Option<String>,
    uid: u32,
    /// The passwd entry's primary group, when there is an entry.
    primary_gid: Option<u32>,
}

/// Why `user` or `group` could not be resolved (reported at the field's position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UserError {
    #[error("{what} id {id} is reserved (it means \"no change\")")]
    ReservedId { what: &'static str, id: u32 },
    #[error("no such {what} {name:?}")]
    Unknown { what: &'static str, name: String },
    #[error("cannot look up {what} {name}: {errno}")]
    Lookup {
        what: &'static str,
        /// The name (quoted) or the id as written.
        name: String,
        errno: nix::errno::Errno,
    },
    #[error("user name {0:?} contains a NUL")]
    NulInName(String),
    #[error("cannot list the groups of user {name:?}: {errno}")]
    Groups {
        name: String,
        errno: nix::errno::Errno,
    },
}

/// `(uid_t)-1` means "leave unchanged" to setresuid/setresgid, so it is never a real id.
fn check_id(id: u32, what: &'static str) -> Result<u32, UserError> {
    if id == u32::MAX {
        Err(UserError::ReservedId { what, id })
    } else {
        Ok(id)
    }
}

pub(crate) fn resolve_user(account: &Account) -> Result<ResolvedUser, UserError> {
    match account {
        Account::Name(name) => match User::from_name(name) {
            Ok(Some(user)) => Ok(ResolvedUser {
                name: Some(user.name),
                uid: user.uid.as_raw(),
                primary_gid: Some(user.gid.as_raw()),
            }),
            Ok(None) => Err(UserError::Unknown {
                what: "user",
                name: name.clone(),
            }),
            Err(errno) => Err(UserError::Lookup {
                what: "user",
                name: format!("{name:?}"),
                errno,
            }),
        },
        Account::Id(uid) => {
            let uid = check_id(*uid, "user")?;
            match User::from_uid(Uid::from_raw(uid)) {
                Ok(Some(user)) => Ok(ResolvedUser {
                    name: Some(user.name),
                    uid,
                    primary_gid: Some(user.gid.as_raw()),
                }),
                // A uid without a passwd entry is legitimate (containers, minimal systems).
                Ok(None) => Ok(ResolvedUser {
                    name: None,
                    uid,
                    primary_gid: None,
                }),
                Err(errno) => Err(UserError::Lookup {
                    what: "uid",
                    name: uid.to_string(),
                    errno,
                }),
            }
        }
    }
}

pub(crate) fn resolve_group(account: &Account) -> Result<u32, UserError> {
    match account {
        Account::Name(name) => match Group::from_name(name) {
            Ok(Some(group)) => Ok(group.gid.as_raw()),
            Ok(None) => Err(UserError::Unknown {
                what: "group",
                name: name.clone(),
            }),
            Err(errno) => Err(UserError::Lookup {
                what: "group",
                name: format!("{name:?}"),
                errno,
            }),
        },
        // Any gid can be set, whether or not /etc/group names it.
        Account::Id(gid) => check_id(*gid, "group"),
    }
}

/// The credentials a service runs with, given what `user` and `group` resolved to.
///
/// - `user` with a passwd entry: its uid; `group` or else its primary gid; supplementary
///   groups from getgrouplist with that gid (as systemd does with `User=` and `Group=`).
/// - a bare uid without an entry: `group` or else the gid equal to the uid (never root's
///   group by accident); no other groups.
/// - `group` alone: uid 0 stays, that gid, and no other supplementary groups.
pub(crate) fn credentials(
    user: Option<&ResolvedUser>,
    group: Option<u32>,
) -> Result<Credentials, UserError> {
    let Some(user) = user else {
        let gid = group.unwrap_or(0);
        return Ok(Credentials {
            user: None,
            uid: 0,
            gid,
            groups: vec![gid],
        });
    };
    let gid = group.or(user.primary_gid).unwrap_or(user.uid);
    let groups = match (&user.name, user.primary_gid) {
        (Some(name), Some(_)) => supplementary_groups(name, gid)?,
        _ => vec![gid],
    };
    Ok(Credentials {
        user: user.name.clone(),
        uid: user.uid,
        gid,
        groups,
    })
}

fn supplementary_groups(name: &str, gid: u32) -> Result<Vec<u32>, UserError> {
    let c_name = CString::new(name).map_err(|_| UserError::NulInName(name.to_string()))?;
    let mut groups: Vec<u32> = getgrouplist(&c_name, Gid::from_raw(gid))
        .map_err(|errno| UserError::Groups {
            name: name.to_string(),
            errno,
        })?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Debian's `nobody` is uid 65534 in group `nogroup` (65534), in no other group.
    #[test]
    fn nobody_by_name_and_by_id() {
        let expected = Credentials {
            user: Some("nobody".into()),
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        };
        for account in [Account::Name("nobody".into()), Account::from_text("65534")] {
            let user = resolve_user(&account).unwrap();
            assert_eq!(credentials(Some(&user), None), Ok(expected.clone()));
        }
    }

    #[test]
    fn group_overrides_primary_gid() {
        let user = resolve_user(&Account::Name("nobody".into())).unwrap();
        let daemon = resolve_group(&Account::Name("daemon".into())).unwrap();
        let found = credentials(Some(&user), Some(daemon)).unwrap();
        assert_eq!((found.uid, found.gid), (65534, daemon));
        assert!(found.groups.contains(&daemon), "{found:?}");
    }

    #[test]
    fn bare_uid_without_passwd_entry() {
        let user = resolve_user(&Account::Id(54321)).unwrap();
        let expected = Credentials {
            user: None,
            uid: 54321,
            gid: 54321,
            groups: vec![54321],
        };
        assert_eq!(credentials(Some(&user), None), Ok(expected));
    }

    #[test]
    fn group_alone_keeps_root() {
        let found = credentials(None, Some(65534)).unwrap();
        assert_eq!(found.uid, 0);
        assert_eq!(found.groups, vec![65534]);
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve_user(&Account::Name("no-such-user-x".into())),
            Err(UserError::Unknown {
                what: "user",
                name: "no-such-user-x".into()
            })
        );
        assert!(resolve_group(&Account::Name("no-such-group-x".into())).is_err());
        assert!(resolve_user(&Account::Id(u32::MAX)).is_err());
    }
}
