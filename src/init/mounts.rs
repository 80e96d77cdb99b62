//! The filesystems init must mount, and taking them all down again at shutdown.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// What init mounts when it is not there yet: (target, fstype, source, flags, data).
const ESSENTIAL: &[(&str, &str, &str, u64, &str)] = &[
    ("/proc", "proc", "proc", NOSUID_NODEV_NOEXEC, ""),
    ("/sys", "sysfs", "sysfs", NOSUID_NODEV_NOEXEC, ""),
    ("/dev", "devtmpfs", "devtmpfs", libc::MS_NOSUID, "mode=0755"),
    (
        "/dev/pts",
        "devpts",
        "devpts",
        NOSUID_NOEXEC,
        "mode=0620,ptmxmode=0666",
    ),
    (
        "/dev/shm",
        "tmpfs",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=1777",
    ),
    (
        "/run",
        "tmpfs",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=0755",
    ),
    // systemd-journald (and much else) refuses to run without the cgroup2 hierarchy.
    (
        "/sys/fs/cgroup",
        "cgroup2",
        "cgroup2",
        NOSUID_NODEV_NOEXEC,
        "",
    ),
];

const NOSUID_NODEV_NOEXEC: u64 = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
const NOSUID_NOEXEC: u64 = libc::MS_NOSUID | libc::MS_NOEXEC;

/// One line of /proc/self/mountinfo: where, and what kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// Any bytes but NUL: a mount point need not be UTF-8.
    pub target: PathBuf,
    pub fstype: String,
}

/// Parses /proc/self/mountinfo (fields: id parent major:minor root target opts
/// [optional...] - fstype source superopts). The kernel writes paths as raw bytes with
/// space, tab, newline and backslash escaped as `\ooo`; the escapes decode to bytes, so a
/// name in UTF-8 (or in no encoding at all) comes back as it is on disk.
pub fn parse_mountinfo(text: &[u8]) -> Vec<MountPoint> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let split = line.windows(3).position(|w| w == b" - ")?;
            let (left, right) = (&line[..split], &line[split + 3..]);
            let target = left.split(|&b| b == b' ').nth(4)?;
            let fstype = right.split(|&b| b == b' ').next()?;
            Some(MountPoint {
                target: PathBuf::from(OsString::from_vec(unescape(target))),
                fstype: String::from_utf8_lossy(fstype).into_owned(),
            })
        })
        .collect()
}

fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' {
            let code = field.get(i + 1..i + 4).and_then(|digits| {
                let digits = std::str::from_utf8(digits).ok()?;
                u8::from_str_radix(digits, 8).ok()
            });
            if let Some(code) = code {
                out.push(code);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

pub fn current_mounts() -> Vec<MountPoint> {
    std::fs::read("/proc/self/mountinfo")
        .map(|text| parse_mountinfo(&text))
        .unwrap_or_default()
}

/// Mounts what is missing. Returns one message per step (done or failed); a failure never
/// stops the boot.
pub fn mount_essentials() -> Vec<(bool, String)> {
    let mut report = Vec::new();
    for &(target, fstype, source, flags, data) in ESSENTIAL {
        // Read again each time: /proc itself is the first thing mounted.
        let mounted = current_mounts()
            .iter()
            .any(|m| m.target == Path::new(target));
        if mounted {
            continue;
        }
        let _ = std::fs::create_dir_all(target);
        let data = (!data.is_empty()).then_some(data);
        let result = mount(
            Some(source),
            target,
            Some(fstype),
            MsFlags::from_bits_truncate(flags),
            data,
        );
        report.push(match result {
            Ok(()) => (true, format!("mounted {fstype} on {target}")),
            Err(e) => (false, format!("cannot mount {fstype} on {target}: {e}")),
        });
    }
    report
}

/// Unmounts everything it can, innermost first; what cannot be unmounted (the root, busy
/// filesystems) is remounted read-only so that nothing is left dirty.
///
/// In a container (a pid namespace other than the machine's), nothing is remounted: a
/// remount changes the filesystem itself, which the host shares; unmounting only touches
/// the container's own mount namespace.
pub fn unmount_all(mounts: &[MountPoint]) -> Vec<(bool, String)> {
    let mut report = Vec::new();
    if in_container() {
        // The mounts go with the namespace, and one shared with the host (`unshare --pid`
        // without `--mount`) is not ours to unmount: trying gives a page of EINVAL for
        // locked, duplicate and host mounts. The data was synced just before.
        report.push((
            true,
            "in a container: mounts are left to the namespace (synced, nothing unmounted)"
                .to_string(),
        ));
        return report;
    }
    for m in mounts.iter().rev() {
        if m.target == Path::new("/") {
            continue;
        }
        let shown = m.target.display();
        match umount2(&m.target, MntFlags::empty()) {
            Ok(()) => report.push((true, format!("unmounted {shown}"))),
            Err(_) => report.push(remount_read_only(&m.target)),
        }
    }
    report.push(remount_read_only(Path::new("/")));
    report
}

/// Whether this is PID 1 of a pid namespace other than the initial one: the initial pid
/// namespace always has inode PROC_PID_INIT_INO (0xEFFFFFFC).
pub fn in_container() -> bool {
    use std::os::unix::fs::MetadataExt;
    const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;
    std::fs::metadata("/proc/self/ns/pid").is_ok_and(|m| m.ino() != PROC_PID_INIT_INO)
}

fn remount_read_only(target: &Path) -> (bool, String) {
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let target_shown = target.display();
    match mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
        Ok(()) => (true, format!("remounted {target_shown} read-only")),
        Err(e) => (
            false,
            format!("cannot unmount or remount {target_shown} read-only: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_lines() {
        let text = b"22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw\n\
                    30 22 0:30 / /mnt/my\\040disk rw - ext4 /dev/sda1 rw\n";
        assert_eq!(
            parse_mountinfo(text),
            vec![
                MountPoint {
                    target: "/proc".into(),
                    fstype: "proc".into()
                },
                MountPoint {
                    target: "/mnt/my disk".into(),
                    fstype: "ext4".into()
                },
            ]
        );
    }

    #[test]
    fn non_ascii_mount_points_keep_their_bytes() {
        // As the kernel writes them: UTF-8 raw, an escaped space, a byte that is not UTF-8.
        let mut text = b"30 22 0:30 / /mnt/caf\xc3\xa9\\040bar rw - ext4 /dev/sda1 rw\n".to_vec();
        text.extend_from_slice(b"31 22 0:31 / /mnt/\xff rw - tmpfs tmpfs rw\n");
        let mounts = parse_mountinfo(&text);
        assert_eq!(mounts[0].target, Path::new("/mnt/caf\u{e9} bar"));
        assert_eq!(
            mounts[1].target.as_os_str().as_encoded_bytes(),
            b"/mnt/\xff"
        );
    }
}
