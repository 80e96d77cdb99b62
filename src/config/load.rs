//! A whole config directory → [`Config`]: which files are read, strict permissions, names
//! unique across files, and the dependency check. Every error of the load is returned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::parse::{parse_files, ParsedFile};
use super::permissions::check_owned_by_root;
use super::reuse::{stampable, FileStamp, FileStamps, KnownFiles};
use super::{Config, ConfigError, LoadOptions, Origin};
use crate::graph::DependencyGraph;

pub(crate) fn load_dir(dir: &Path, opts: &LoadOptions) -> Result<Config, Vec<ConfigError>> {
    load_dir_reusing(dir, opts, KnownFiles::new()).map(|(config, _)| config)
}

/// [`load_dir`], where a file of `known` whose bytes match its stamp is not parsed: its
/// known specs are taken instead (see `reuse.rs`). Also returns the stamps of the files that
/// loaded clean, for the next load.
pub(crate) fn load_dir_reusing(
    dir: &Path,
    opts: &LoadOptions,
    mut known: KnownFiles,
) -> Result<(Config, FileStamps), Vec<ConfigError>> {
    let mut stamps = FileStamps::new();
    let files = service_files(dir).map_err(|error| vec![error])?;
    let mut errors = Vec::new();
    if opts.strict_permissions {
        errors.extend(check_owned_by_root(dir, "config directory").err());
    }

    let mut config = Config::default();
    let mut names = ServiceNames::default();
    // A service that failed to parse still exists: depending on it is not "unknown".
    let mut broken = BTreeSet::new();
    // Files KDL could not parse: which services they define is unknown, so any name they
    // mention may be one of them.
    let mut unparsed_texts = Vec::new();
    let mut every_file_read = true;
    // Read every file first (in order), then parse the ones not known unchanged, several at
    // a time (see `parse_files`), then take their services in file order as before.
    let mut read = Vec::with_capacity(files.len());
    for file in files {
        let mut problems = Vec::new();
        if opts.strict_permissions {
            // Still parse it, so the user sees every problem in one go.
            problems.extend(check_owned_by_root(&file, "service file").err());
        }
        // Only regular files (a symlink is judged by its target): reading a FIFO would wait
        // for a writer, and the daemon reads its config from its loop (reload).
        let text = if !std::fs::metadata(&file).is_ok_and(|m| m.is_file()) {
            problems.push(ConfigError {
                location: file.display().to_string(),
                message: "not a regular file".to_string(),
            });
            None
        } else {
            match read_service_file(&file) {
                Ok(text) => Some(text),
                Err(error) => {
                    problems.push(ConfigError {
                        location: file.display().to_string(),
                        message: error.to_string(),
                    });
                    None
                }
            }
        };
        let reused = text.as_ref().and_then(|text| match known.remove(&file) {
            Some(same) if same.stamp.matches(text) => Some(ParsedFile {
                defined: (same.specs.iter())
                    .map(|s| (s.name.clone(), s.origin.clone()))
                    .collect(),
                services: same.specs,
                errors: Vec::new(),
                readable: true,
            }),
            _ => None,
        });
        read.push((file, problems, text, reused));
    }
    let to_parse: Vec<(&Path, &str)> = read
        .iter()
        .filter(|(_, _, _, reused)| reused.is_none())
        .filter_map(|(file, _, text, _)| Some((file.as_path(), text.as_deref()?)))
        .collect();
    let mut parsed_files = parse_files(&to_parse).into_iter();
    for (file, problems, text, reused) in read {
        errors.extend(problems);
        let Some(text) = text else {
            every_file_read = false;
            continue;
        };
        let Some(parsed) = reused.or_else(|| parsed_files.next()) else {
            continue;
        };
        if parsed.errors.is_empty() && stampable(&parsed.services, &parsed.defined) {
            stamps.insert(file.clone(), FileStamp::of(&text, &parsed.services));
        }
        errors.extend(parsed.errors);
        if !parsed.readable {
            unparsed_texts.push(text);
        }

        let mut good: BTreeMap<String, _> = parsed
            .services
            .into_iter()
            .map(|spec| (spec.name.clone(), spec))
            .collect();
        for (name, origin) in parsed.defined {
            if let Err(error) = names.claim(&name, &origin) {
                errors.push(error);
                continue;
            }
            match good.remove(&name) {
                Some(spec) => {
                    config.services.insert(name, spec);
                }
                None => {
                    broken.insert(name);
                }
            }
        }
    }

    // A file that could not even be read might define anything: then only cycles among the
    // services we have are reported, no "unknown service".
    let defined_elsewhere = |name: &str| {
        !every_file_read
            || broken.contains(name)
            || unparsed_texts.iter().any(|text| mentions(text, name))
    };
    if let Err(graph_errors) = DependencyGraph::build_checked(&config, &defined_elsewhere) {
        errors.extend(graph_errors);
    }
    errors.extend(super::triggers::shared_sockets(&config));
    if errors.is_empty() {
        Ok((config, stamps))
    } else {
        Err(errors)
    }
}

/// Service names seen so far, with where each was first defined.
#[derive(Default)]
pub(crate) struct ServiceNames {
    first: BTreeMap<String, Origin>,
}

impl ServiceNames {
    /// Take `name` for the service at `origin`, or say where it was defined already.
    pub(crate) fn claim(&mut self, name: &str, origin: &Origin) -> Result<(), ConfigError> {
        if let Some(first) = self.first.get(name) {
            return Err(ConfigError {
                location: origin.to_string(),
                message: format!("service `{name}` is already defined at {first}"),
            });
        }
        self.first.insert(name.to_string(), origin.clone());
        Ok(())
    }
}

/// Whether `text` holds `name` as a whole word (not as part of a longer service name).
fn mentions(text: &str, name: &str) -> bool {
    let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    text.match_indices(name).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| text.as_bytes()[i]);
        let after = text.as_bytes().get(at + name.len()).copied();
        !before.is_some_and(is_name_byte) && !after.is_some_and(is_name_byte)
    })
}

/// The `*.kdl` files directly in `dir`, sorted. Hidden files are skipped: editors leave
/// `.#web.kdl` lock links and `.web.kdl.swp` files next to the ones being edited.
/// A service file larger than this is refused: parsing costs about 0.5 s per MiB, and no
/// service file needs more than a few KiB.
pub(crate) const MAX_SERVICE_FILE_BYTES: u64 = 1024 * 1024;

/// Why a service file could not be read (reported at the file).
#[derive(Debug, thiserror::Error)]
enum ServiceFileError {
    #[error("cannot read service file: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("service file larger than {} KiB; refused", MAX_SERVICE_FILE_BYTES / 1024)]
    TooLarge,
    #[error("cannot read service file: not UTF-8 ({0})")]
    NotUtf8(#[source] std::string::FromUtf8Error),
}

/// Reads a service file, at most [`MAX_SERVICE_FILE_BYTES`] of it (the read is bounded even
/// if the file grows meanwhile), without blocking on the open.
fn read_service_file(file: &Path) -> Result<String, ServiceFileError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(file)
        .map_err(ServiceFileError::Unreadable)?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_SERVICE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ServiceFileError::Unreadable)?;
    if bytes.len() as u64 > MAX_SERVICE_FILE_BYTES {
        return Err(ServiceFileError::TooLarge);
    }
    String::from_utf8(bytes).map_err(ServiceFileError::NotUtf8)
}

fn service_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let unreadable = |error: std::io::Error| ConfigError {
        location: dir.display().to_string(),
        message: format!("cannot read the config directory: {error}"),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let Some(file_name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let is_service_file = file_name.ends_with(".kdl") && !file_name.starts_with('.');
        // A directory named `x.kdl` is not a service file; a dangling symlink is kept so
        // that reading it reports the problem.
        let is_dir = std::fs::metadata(&path).is_ok_and(|metadata| metadata.is_dir());
        if is_service_file && !is_dir {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    //! `load_dir` on real files in a temporary directory.

    use super::super::*;
    use super::{load_dir_reusing, mentions};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        }
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn load(dir: &tempfile::TempDir, strict: bool) -> Result<Config, Vec<String>> {
        let opts = LoadOptions {
            strict_permissions: strict,
        };
        load_dir(dir.path(), &opts)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    fn service(name: &str, extra: &str) -> String {
        format!("service \"{name}\" {{\n    cmd \"/bin/true\"\n{extra}}}\n")
    }

    #[test]
    fn reads_only_kdl_files_sorted() {
        let dir = dir_with(&[
            ("b.kdl", &service("b", "    requires \"a\"\n")),
            ("a.kdl", &service("a", "")),
            ("notes.txt", "not kdl"),
            ("old.kdl.bak", "not kdl {"),
            (".#a.kdl", "editor lock {"),
        ]);
        fs::create_dir(dir.path().join("sub.kdl")).unwrap();
        let config = load(&dir, true).unwrap();
        assert_eq!(config.services.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(config.services["a"].origin.file, dir.path().join("a.kdl"));
    }

    #[test]
    fn missing_directory_is_one_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let errors = load_dir(&missing, &LoadOptions::default()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].location, missing.display().to_string());
        assert!(
            errors[0]
                .message
                .starts_with("cannot read the config directory: No such file"),
            "{errors:?}"
        );
    }

    #[test]
    fn two_services_on_one_port_name_each_other_also_through_a_wildcard_address() {
        let listen = |addr: &str| format!("    listen \"{addr}\"\n");
        for (a, b, clash) in [
            ("tcp:127.0.0.1:8080", "tcp:127.0.0.1:8080", true),
            ("tcp:0.0.0.0:8080", "tcp:127.0.0.1:8080", true),
            ("tcp:[::]:8080", "tcp:10.0.0.1:8080", true),
            ("tcp:127.0.0.1:8080", "tcp:[::1]:8080", false),
            ("tcp:0.0.0.0:8080", "tcp:[::1]:8080", false),
            ("tcp:0.0.0.0:8080", "udp:0.0.0.0:8080", false),
            ("tcp:127.0.0.1:8080", "tcp:127.0.0.2:8080", false),
            ("unix:/run/a.sock", "unix:/run/a.sock", true),
        ] {
            let dir = dir_with(&[
                ("a.kdl", &service("a", &listen(a))),
                ("b.kdl", &service("b", &listen(b))),
            ]);
            match load(&dir, false) {
                Ok(_) => assert!(!clash, "{a} and {b} accepted"),
                Err(errors) => {
                    assert!(clash, "{a} and {b}: {errors:?}");
                    let b_file = dir.path().join("b.kdl").display().to_string();
                    assert_eq!(errors.len(), 1, "{errors:?}");
                    assert!(errors[0].starts_with(&format!("{b_file}:1:")), "{errors:?}");
                    assert!(
                        errors[0].contains(&format!(
                            "field `listen`: \"{b}\" is also the socket of service `a`"
                        )),
                        "{errors:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn duplicate_name_across_files_names_both() {
        let dir = dir_with(&[
            ("a.kdl", &service("web", "")),
            ("b.kdl", &service("web", "")),
        ]);
        let a = dir.path().join("a.kdl").display().to_string();
        let b = dir.path().join("b.kdl").display().to_string();
        assert_eq!(
            load(&dir, false).unwrap_err(),
            vec![format!(
                "{b}:1:1: service `web` is already defined at {a}:1:1"
            )]
        );
    }

    #[test]
    fn all_errors_of_all_files_at_once() {
        let dir = dir_with(&[
            (
                "a.kdl",
                "service \"a\" {\n    cmd \"/bin/true\"\n    autostart true\n}\n",
            ),
            (
                "b.kdl",
                &service("b", "    numprocs \"two\"\n    requires \"nope\"\n"),
            ),
            ("c.kdl", &service("c", "    requires \"a\" \"b\" \"dbb\"\n")),
            ("d.kdl", &service("d", "    after \"e\"\n")),
            ("e.kdl", &service("e", "    after \"d\"\n")),
            ("f.kdl", &service("b", "")),
        ]);
        let errors = load(&dir, false).unwrap_err();
        let file = |name: &str| dir.path().join(name).display().to_string();
        // a.kdl cannot be parsed, but it mentions `a`, which may well be defined there;
        // `dbb` appears nowhere: unknown. `b` is broken but defined, so depending on it is
        // fine, and its own `requires "nope"` is not checked until it parses.
        assert_eq!(
            errors,
            vec![
                format!(
                    "{}:3:15: this looks like KDL v1: a bare `true` is not a value in KDL v2, \
                     which writes `#true`: `autostart #true`",
                    file("a.kdl")
                ),
                format!(
                    "{}:3:5: field `numprocs`: expected an integer ≥ 1 (at most 10000), got \"two\"",
                    file("b.kdl")
                ),
                format!(
                    "{}:1:1: service `b` is already defined at {}:1:1",
                    file("f.kdl"),
                    file("b.kdl")
                ),
                format!("{}:1:1: c: `requires` names unknown service `dbb`", file("c.kdl")),
                format!(
                    "{}:1:1: dependency cycle: d -> e -> d (each waits for the next)",
                    file("d.kdl")
                ),
            ]
        );
    }

    #[test]
    fn dependency_errors_come_with_the_others() {
        let dir = dir_with(&[
            ("b.kdl", &service("b", "    numprocs 0\n")),
            ("c.kdl", &service("c", "    requires \"b\" \"dbb\"\n")),
            ("db.kdl", &service("db", "")),
        ]);
        let errors = load(&dir, false).unwrap_err();
        let file = |name: &str| dir.path().join(name).display().to_string();
        // `b` is broken but defined: depending on it is not an "unknown service" error.
        assert_eq!(
            errors,
            vec![
                format!(
                    "{}:3:5: field `numprocs`: expected an integer ≥ 1 (at most 10000), got 0",
                    file("b.kdl")
                ),
                format!(
                    "{}:1:1: c: `requires` names unknown service `dbb`; did you mean `db`?",
                    file("c.kdl")
                ),
            ]
        );
    }

    #[test]
    fn strict_permissions_refuse_insecure_files_and_directory() {
        let dir = dir_with(&[("a.kdl", &service("a", "")), ("b.kdl", &service("b", ""))]);
        let a = dir.path().join("a.kdl");
        fs::set_permissions(&a, fs::Permissions::from_mode(0o664)).unwrap();
        std::os::unix::fs::chown(dir.path().join("b.kdl"), Some(65534), None).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let errors = load(&dir, true).unwrap_err();
        assert_eq!(
            errors,
            vec![
                format!(
                    "{}: config directory refused: writable by group or others (mode 0777)",
                    dir.path().display()
                ),
                format!(
                    "{}: service file refused: writable by group or others (mode 0664)",
                    a.display()
                ),
                format!(
                    "{}: service file refused: owned by uid 65534, not root",
                    dir.path().join("b.kdl").display()
                ),
            ]
        );
        // The same directory is fine when the daemon is not root.
        assert!(load(&dir, false).is_ok());
    }

    #[test]
    fn empty_directory_is_an_empty_config() {
        let dir = dir_with(&[]);
        assert_eq!(load(&dir, true), Ok(Config::default()));
    }

    /// Loads `dir` with `known` taken from a first load of it, where `web`'s known spec is
    /// marked (its cmd changed), so that whether it was reused or parsed shows.
    fn reload_with_marked_web(dir: &tempfile::TempDir) -> (Config, FileStamps) {
        let opts = LoadOptions::default();
        let (first, stamps) = load_dir_reusing(dir.path(), &opts, KnownFiles::new()).unwrap();
        let known = stamps
            .into_iter()
            .map(|(path, stamp)| {
                let mut specs: Vec<ServiceSpec> = (stamp.names.iter())
                    .map(|n| first.services[n].clone())
                    .collect();
                for spec in specs.iter_mut().filter(|s| s.name == "web") {
                    std::sync::Arc::make_mut(&mut spec.process).cmd = vec!["/marked".into()];
                }
                (path, KnownFile { stamp, specs })
            })
            .collect();
        load_dir_reusing(dir.path(), &opts, known).unwrap()
    }

    #[test]
    fn an_unchanged_file_is_not_parsed_again() {
        let dir = dir_with(&[
            ("web.kdl", &service("web", "")),
            ("db.kdl", &service("db", "")),
        ]);
        let (config, stamps) = reload_with_marked_web(&dir);
        assert_eq!(config.services["web"].process.cmd, ["/marked"]);
        assert_eq!(config.services["db"].process.cmd, ["/bin/true"]);
        assert_eq!(stamps.len(), 2);
        assert_eq!(stamps[&dir.path().join("web.kdl")].names, ["web"]);
    }

    #[test]
    fn a_changed_file_is_parsed_again() {
        let dir = dir_with(&[("web.kdl", &service("web", ""))]);
        let opts = LoadOptions::default();
        let (first, stamps) = load_dir_reusing(dir.path(), &opts, KnownFiles::new()).unwrap();
        // Same length, other bytes.
        fs::write(
            dir.path().join("web.kdl"),
            service("web", "").replace("true", "echo"),
        )
        .unwrap();
        let known = stamps
            .into_iter()
            .map(|(path, stamp)| {
                let specs = vec![first.services["web"].clone()];
                (path, KnownFile { stamp, specs })
            })
            .collect();
        let (config, _) = load_dir_reusing(dir.path(), &opts, known).unwrap();
        assert_eq!(config.services["web"].process.cmd, ["/bin/echo"]);
    }

    #[test]
    fn files_with_users_or_errors_are_not_stamped() {
        let dir = dir_with(&[
            ("web.kdl", &service("web", "    user \"root\"\n")),
            ("db.kdl", &service("db", "")),
        ]);
        let (config, stamps) = reload_with_marked_web(&dir);
        // `user` was resolved through NSS at parse time: always parsed again.
        assert_eq!(config.services["web"].process.cmd, ["/bin/true"]);
        assert_eq!(stamps.len(), 1);
        let broken = dir_with(&[("a.kdl", &service("a", "    numprocs 0\n"))]);
        let errors = load_dir_reusing(broken.path(), &LoadOptions::default(), KnownFiles::new());
        assert!(errors.is_err());
    }

    #[test]
    fn mentions_whole_names_only() {
        let text = "service \"db\" {\n    cmd \"/bin/db-server\"\n}\n";
        assert!(mentions(text, "db"));
        assert!(!mentions(text, "d"));
        assert!(!mentions(text, "server"), "part of `db-server`");
        assert!(mentions("requires web", "web"));
        assert!(!mentions("", "web"));
    }
}
