//! Who the program runs as and which capabilities it keeps, decided before fork.
//!
//! SPEC: `capabilities` given → the program gets exactly those (permitted, effective, and
//! ambient when it does not run as root) and the bounding set is reduced to them, root
//! included. Not given → a root program keeps root's capabilities and a program dropped to
//! another user has none. The child (`child.rs`) carries this out with raw system calls.

use caps::{Capability, CapsHashSet};

use crate::config::Credentials;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set, for capabilities 0..64.
pub(super) const CAP_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct` (libc does not define it).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct CapHeader {
    pub version: u32,
    /// 0: the calling thread.
    pub pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; capset(2) takes two of them for version 3.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct CapData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}

/// The permitted, effective and inheritable sets, all equal to one mask, as capset(2) wants
/// them. Inheritable must hold a capability for it to be raised in the ambient set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CapSets(pub [CapData; 2]);

impl CapSets {
    fn all_equal_to(mask: u64) -> CapSets {
        // Word 0 holds capabilities 0..32, word 1 holds 32..64: the truncations are the split.
        let word = |bits: u64| CapData {
            effective: bits as u32,
            permitted: bits as u32,
            inheritable: bits as u32,
        };
        CapSets([word(mask), word(mask >> 32)])
    }
}

/// uid, gid and supplementary groups to switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ids {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
}

/// Every privilege change the child makes, in the order it makes them (see `child.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Privileges {
    /// Dropped from the bounding set one by one: every capability the kernel supports that is
    /// not kept. Empty when `capabilities` is not given.
    pub bounding_drop: Vec<Capability>,
    /// PR_SET_KEEPCAPS before setresuid, so the permitted set survives the switch away from
    /// uid 0 and can then be trimmed to `keep`.
    pub keepcaps: bool,
    pub ids: Option<Ids>,
    /// capset(2) after the uid switch: the kept set, or all empty for a non-root user without
    /// `capabilities` (setresuid clears permitted/effective/ambient; this clears inheritable
    /// too, so file capabilities cannot hand anything back).
    pub capsets: Option<CapSets>,
    /// Raised in the ambient set, so they survive execve of an ordinary program. Only for a
    /// non-root target: root gets its permitted set from the bounding set at execve.
    pub ambient: Vec<Capability>,
    /// The kept capabilities, sorted, for messages.
    pub keep: Vec<Capability>,
}

impl Privileges {
    /// `daemon_uid` is who the program runs as when `credentials` is not given; `supported`
    /// (`caps::runtime::thread_all_supported`) is only called when `capabilities` is given.
    pub fn new(
        credentials: Option<&Credentials>,
        capabilities: Option<&[Capability]>,
        daemon_uid: libc::uid_t,
        supported: impl FnOnce() -> CapsHashSet,
    ) -> Privileges {
        let ids = credentials.map(|c| Ids {
            uid: c.uid,
            gid: c.gid,
            groups: c.groups.clone(),
        });
        let target_uid = ids.as_ref().map_or(daemon_uid, |ids| ids.uid);
        let Some(capabilities) = capabilities else {
            return Privileges {
                capsets: (target_uid != 0 && ids.is_some()).then(|| CapSets::all_equal_to(0)),
                ids,
                ..Privileges::default()
            };
        };
        let keep = sorted(capabilities.iter().copied());
        let mask = keep.iter().fold(0, |mask, cap| mask | cap.bitmask());
        let supported = supported();
        Privileges {
            bounding_drop: sorted(supported.into_iter().filter(|c| !keep.contains(c))),
            keepcaps: ids.is_some() && target_uid != 0 && mask != 0,
            ids,
            capsets: Some(CapSets::all_equal_to(mask)),
            ambient: if target_uid != 0 {
                keep.clone()
            } else {
                Vec::new()
            },
            keep,
        }
    }

    /// `CAP_CHOWN,CAP_NET_BIND_SERVICE` (or `none`), for messages.
    pub fn describe_keep(&self) -> String {
        if self.keep.is_empty() {
            return "none".to_owned();
        }
        let names: Vec<String> = self.keep.iter().map(ToString::to_string).collect();
        names.join(",")
    }
}

/// Deduplicated and sorted by number, so the child's order is deterministic.
fn sorted(caps: impl Iterator<Item = Capability>) -> Vec<Capability> {
    let mut caps: Vec<Capability> = caps.collect();
    caps.sort_by_key(Capability::index);
    caps.dedup();
    caps
}

#[cfg(test)]
mod tests {
    use super::*;
    use caps::Capability::{CAP_CHOWN, CAP_NET_BIND_SERVICE, CAP_SETPCAP};

    fn nobody() -> Credentials {
        Credentials {
            user: Some("nobody".into()),
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        }
    }

    fn supported() -> CapsHashSet {
        [CAP_CHOWN, CAP_SETPCAP, CAP_NET_BIND_SERVICE].into()
    }

    fn unused() -> CapsHashSet {
        panic!("supported capabilities are only needed when `capabilities` is given")
    }

    #[test]
    fn nothing_given_changes_nothing() {
        assert_eq!(
            Privileges::new(None, None, 0, unused),
            Privileges::default()
        );
    }

    #[test]
    fn another_user_without_capabilities_gets_none() {
        let p = Privileges::new(Some(&nobody()), None, 0, unused);
        assert_eq!(
            p,
            Privileges {
                ids: Some(Ids {
                    uid: 65534,
                    gid: 65534,
                    groups: vec![65534]
                }),
                capsets: Some(CapSets::all_equal_to(0)),
                ..Privileges::default()
            }
        );
    }

    #[test]
    fn another_user_keeps_exactly_the_given_capabilities() {
        let caps = [CAP_NET_BIND_SERVICE, CAP_NET_BIND_SERVICE];
        let p = Privileges::new(Some(&nobody()), Some(&caps), 0, supported);
        assert_eq!(p.bounding_drop, vec![CAP_CHOWN, CAP_SETPCAP]);
        assert!(p.keepcaps);
        assert_eq!(
            p.capsets,
            Some(CapSets([
                CapData {
                    effective: 0x400,
                    permitted: 0x400,
                    inheritable: 0x400
                },
                CapData::default()
            ]))
        );
        assert_eq!(p.ambient, vec![CAP_NET_BIND_SERVICE]);
        assert_eq!(p.describe_keep(), "CAP_NET_BIND_SERVICE");
    }

    #[test]
    fn root_with_capabilities_gets_a_reduced_bounding_set_and_no_ambient() {
        let p = Privileges::new(None, Some(&[CAP_CHOWN]), 0, supported);
        assert_eq!(p.bounding_drop, vec![CAP_SETPCAP, CAP_NET_BIND_SERVICE]);
        assert!(!p.keepcaps, "no uid change");
        assert!(p.ids.is_none());
        assert!(p.ambient.is_empty());
        assert_eq!(p.capsets, Some(CapSets::all_equal_to(CAP_CHOWN.bitmask())));
    }

    #[test]
    fn an_empty_capability_list_drops_everything() {
        let p = Privileges::new(Some(&nobody()), Some(&[]), 0, supported);
        assert_eq!(p.bounding_drop.len(), 3);
        assert!(!p.keepcaps, "nothing to keep across setresuid");
        assert_eq!(p.capsets, Some(CapSets::all_equal_to(0)));
        assert_eq!(p.describe_keep(), "none");
    }

    #[test]
    fn a_high_capability_lands_in_the_second_word() {
        let sets = CapSets::all_equal_to(Capability::CAP_BPF.bitmask());
        assert_eq!(sets.0[0], CapData::default());
        assert_eq!(sets.0[1].permitted, 1 << (Capability::CAP_BPF.index() - 32));
    }
}
