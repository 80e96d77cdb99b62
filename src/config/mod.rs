//! Service files: KDL v2 → validated [`Config`]. Every error names file:line:col and the field.
//!
//! The pieces, one idea each: `source` (offsets → line:col), `syntax` (KDL errors and
//! hints), `parse` (service nodes and the field table), `fields`, `readers` and `blocks`
//! (reading one field), `values` (signals, sizes, umasks…), `users` (user/group lookup),
//! `permissions` (strict mode), `load` (the directory, names across files), `split` and
//! `workers` (a large file cut in parts, and the threads that take the parts or files in turn).

mod blocks;
mod env_file;
mod env_vars;
mod fields;
mod load;
mod nesting;
mod parse;
mod permissions;
mod rare;
mod readers;
mod readiness;
mod render;
mod resources;
mod reuse;
mod schedule;
mod source;
mod spec;
mod split;
pub(crate) mod suggest;
mod syntax;
mod triggers;
mod users;
mod values;
mod workers;

#[cfg(test)]
mod tests;

pub use env_file::{expand_vars, parse_env_file, EnvFileError, MAX_ENV_FILE_BYTES};
pub use env_vars::EnvVars;
pub use rare::{Empty, Rare};
pub use render::service_kdl;
pub use resources::size_text;
pub use reuse::{FileStamp, FileStamps, KnownFile, KnownFiles};
pub use schedule::CronSchedule;
pub use spec::*;
pub(crate) use values::{is_env_name, is_service_name};

use std::path::Path;

/// Whether `name` is a field of a service in this build (the importers translate to
/// optional fields only when they exist).
pub fn is_field(name: &str) -> bool {
    parse::FIELDS.contains(&name)
}

/// A field's place in SPEC.md's table, so that generated files list fields in that order.
pub fn field_rank(name: &str) -> usize {
    parse::FIELDS
        .iter()
        .position(|field| *field == name)
        .unwrap_or(usize::MAX)
}

/// One problem found while loading the config directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// `file:line:col`, or just the file / directory when there is no position.
    pub location: String,
    /// What is wrong, naming the field (e.g. "field `numprocs`: expected an integer ≥ 1, got \"two\"").
    pub message: String,
}

/// How strict a load is.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// When the daemon runs as root: refuse service files and the directory unless owned by
    /// root and not writable by group/others (like sshd's StrictModes).
    pub strict_permissions: bool,
}

/// Load every `*.kdl` file in `dir` (sorted, not recursive; hidden files and other files are
/// ignored), check names are unique and dependencies exist and form no cycle.
/// All errors of the load are returned at once.
pub fn load_dir(dir: &Path, opts: &LoadOptions) -> Result<Config, Vec<ConfigError>> {
    load::load_dir(dir, opts)
}

/// [`load_dir`] that does not parse again the files of `known` whose bytes are unchanged
/// (reload), and returns the stamps of this load's clean files for the next one.
pub fn load_dir_reusing(
    dir: &Path,
    opts: &LoadOptions,
    known: KnownFiles,
) -> Result<(Config, FileStamps), Vec<ConfigError>> {
    load::load_dir_reusing(dir, opts, known)
}

/// Parse the text of one service file (`file` is only used in messages). Names must be
/// unique within it; dependencies are not checked (they may name services of other files).
/// Pure apart from resolving `user` and `group`.
pub fn parse_str(file: &Path, src: &str) -> Result<Vec<ServiceSpec>, Vec<ConfigError>> {
    let parsed = parse::parse_file(file, src);
    let mut errors = parsed.errors;
    let mut names = load::ServiceNames::default();
    for (name, origin) in &parsed.defined {
        errors.extend(names.claim(name, origin).err());
    }
    if errors.is_empty() {
        Ok(parsed.services)
    } else {
        Err(errors)
    }
}
