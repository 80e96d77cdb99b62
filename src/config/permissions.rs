//! Strict mode (like sshd's StrictModes): when the daemon runs as root, whoever can write a
//! service file can run anything as root, so the files and their directory must be owned by
//! root and writable by nobody else.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::ConfigError;

/// Refuse `path` unless it (or, for a symlink, its target) is owned by root and not
/// writable by group or others. `what` says what it is: "config directory", "service file".
pub(crate) fn check_owned_by_root(path: &Path, what: &str) -> Result<(), ConfigError> {
    let refuse = |reason: String| ConfigError {
        location: path.display().to_string(),
        message: format!("{what} refused: {reason}"),
    };
    // A symlink's own mode and owner mean nothing; judge what it points to, and say so.
    let symlink_note = match std::fs::read_link(path) {
        Ok(target) => format!(" (it is a symlink to {})", target.display()),
        Err(_) => String::new(),
    };
    let metadata =
        std::fs::metadata(path).map_err(|error| refuse(format!("cannot stat it: {error}")))?;

    let mut reasons = Vec::new();
    if metadata.uid() != 0 {
        reasons.push(format!("owned by uid {}, not root", metadata.uid()));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        reasons.push(format!("writable by group or others (mode {mode:04o})"));
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(refuse(format!("{}{symlink_note}", reasons.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, Permissions};
    use std::os::unix::fs::{chown, PermissionsExt};

    // These tests run as root (see DESIGN.md); chown needs it.
    fn service_file(dir: &Path, mode: u32, owner: u32) -> std::path::PathBuf {
        let path = dir.join("web.kdl");
        fs::write(&path, "").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
        chown(&path, Some(owner), Some(0)).unwrap();
        path
    }

    #[test]
    fn root_owned_and_not_writable_by_others_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = service_file(dir.path(), 0o644, 0);
        assert_eq!(check_owned_by_root(&path, "service file"), Ok(()));
    }

    #[test]
    fn group_writable_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = service_file(dir.path(), 0o664, 0);
        let error = check_owned_by_root(&path, "service file").unwrap_err();
        assert_eq!(error.location, path.display().to_string());
        assert_eq!(
            error.message,
            "service file refused: writable by group or others (mode 0664)"
        );
    }

    #[test]
    fn not_owned_by_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = service_file(dir.path(), 0o644, 65534);
        let error = check_owned_by_root(&path, "service file").unwrap_err();
        assert_eq!(
            error.message,
            "service file refused: owned by uid 65534, not root"
        );
    }

    #[test]
    fn symlink_is_judged_by_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = service_file(dir.path(), 0o666, 0);
        let link = dir.path().join("link.kdl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = check_owned_by_root(&link, "service file").unwrap_err();
        assert_eq!(error.location, link.display().to_string());
        assert_eq!(
            error.message,
            format!(
                "service file refused: writable by group or others (mode 0666) \
                 (it is a symlink to {})",
                target.display()
            )
        );
    }

    #[test]
    fn missing_path_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let error = check_owned_by_root(&dir.path().join("gone"), "config directory").unwrap_err();
        assert!(error
            .message
            .starts_with("config directory refused: cannot stat it"));
    }
}
