//! A whole config directory → [`Config`]: which files are read, strict permissions, names
//! unique across files, and the dependency check. Every error of the load is returned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::parse::parse_file;
use super::permissions::check_owned_by_root;
use super::{Config, ConfigError, LoadOptions, Origin};
use crate::graph::DependencyGraph;

pub(crate) fn load_dir(dir: &Path, opts: &LoadOptions) -> Result<Config, Vec<ConfigError>> {
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
    for file in files {
        if opts.strict_permissions {
            // Still parse it, so the user sees every problem in one go.
            errors.extend(check_owned_by_root(&file, "service file").err());
        }
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) => {
                errors.push(ConfigError {
                    location: file.display().to_string(),
                    message: format!("cannot read service file: {error}"),
                });
                every_file_read = false;
                continue;
            }
        };
        let parsed = parse_file(&file, &text);
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
    if errors.is_empty() {
        Ok(config)
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
    use super::mentions;

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
