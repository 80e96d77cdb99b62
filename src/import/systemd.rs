//! systemd units → service files: finding the unit files (by path or by name, with
//! drop-ins), naming the services, then `systemd_keys` translates each directive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::systemd_exec::{expand_specifiers, Specifiers};
use super::systemd_keys::UnitMapping;
use super::unit_file::{self, Directive};
use super::{read_source, service_name, ImportError, Imported, Warning};

/// Where units are looked up by name, in systemd's order of precedence.
const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// One unit to import.
struct Unit {
    /// `ssh.service`, `getty@tty1.service`.
    unit_name: String,
    path: PathBuf,
    drop_in_dirs: Vec<PathBuf>,
}

/// Imports units given as paths or as names (`ssh`, `ssh.service`, `getty@tty1.service`).
pub fn import_systemd(args: &[String]) -> Result<Imported, ImportError> {
    let units = args
        .iter()
        .map(|arg| resolve(arg))
        .collect::<Result<Vec<_>, _>>()?;
    let mut names = BTreeSet::new();
    for unit in &units {
        if !names.insert(unit_service_name(&unit.unit_name)) {
            return Err(ImportError::Invalid {
                path: unit.path.clone(),
                message: format!(
                    "service {:?} is imported twice",
                    unit_service_name(&unit.unit_name)
                ),
            });
        }
    }
    let mut imported = Imported::default();
    for unit in &units {
        let directives = load(unit)?;
        let (prefix, instance) = split_instance(&unit.unit_name);
        let user = directives
            .iter()
            .rfind(|d| d.section == "Service" && d.key == "User")
            .map(|d| d.value.clone());
        let specifiers = Specifiers {
            unit: unit.unit_name.clone(),
            prefix,
            instance,
            user,
        };
        if specifiers.instance.is_empty() && unit.unit_name.contains("@.") {
            imported.warnings.push(Warning {
                file: unit.path.clone(),
                line: 0,
                key: "%i".into(),
                message: format!(
                    "a template without an instance: %i is empty (import {}INSTANCE.service \
                     to fill it)",
                    unit.unit_name.trim_end_matches(".service")
                ),
            });
        }
        let mut mapping = UnitMapping::new(
            &unit_service_name(&unit.unit_name),
            &unit.path,
            &names,
            &mut imported.warnings,
        );
        mapping.draft.notes.push(format!(
            "Imported from {} by taskmasterd import systemd.",
            unit.path.display()
        ));
        for directive in directives {
            let (value, unknown) = expand_specifiers(&directive.value, &specifiers);
            if !unknown.is_empty() {
                let codes: Vec<String> = unknown.iter().map(|c| format!("%{c}")).collect();
                mapping.warn(
                    &directive,
                    &format!("specifier {} left as written", codes.join(" ")),
                );
            }
            mapping.directive(&Directive { value, ..directive });
        }
        let (draft, translated) = mapping.finish();
        imported.translated += translated;
        imported.services.push(draft);
    }
    Ok(imported)
}

/// `ssh.service` → `ssh`; `getty@tty1.service` → `getty-tty1`; a template without an
/// instance, `getty@.service` → `getty-template`.
pub(crate) fn unit_service_name(unit: &str) -> String {
    let stem = unit.strip_suffix(".service").unwrap_or(unit);
    match stem.strip_suffix('@') {
        Some(prefix) => service_name(&format!("{prefix}-template")),
        None => service_name(stem),
    }
}

/// `getty@tty1.service` → (`getty`, `tty1`).
fn split_instance(unit: &str) -> (String, String) {
    let stem = unit.rsplit_once('.').map_or(unit, |(stem, _)| stem);
    match stem.split_once('@') {
        Some((prefix, instance)) => (prefix.to_string(), instance.to_string()),
        None => (stem.to_string(), String::new()),
    }
}

fn resolve(arg: &str) -> Result<Unit, ImportError> {
    let as_path = Path::new(arg);
    if arg.contains('/') || as_path.is_file() {
        let unit_name = as_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg.to_string());
        check_service_unit(&unit_name, as_path)?;
        let sibling = as_path.with_file_name(format!("{unit_name}.d"));
        // `dir/getty@tty1.service` is read from `dir/getty@.service`.
        let (prefix, instance) = split_instance(&unit_name);
        let template = as_path.with_file_name(format!("{prefix}@.service"));
        let path = if !as_path.exists() && !instance.is_empty() && template.is_file() {
            template
        } else {
            as_path.to_path_buf()
        };
        return Ok(Unit {
            unit_name,
            path,
            drop_in_dirs: vec![sibling],
        });
    }
    let unit_name = if arg.contains('.') {
        arg.to_string()
    } else {
        format!("{arg}.service")
    };
    check_service_unit(&unit_name, Path::new(&unit_name))?;
    // A template instance (`getty@tty1.service`) is read from `getty@.service`.
    let (prefix, instance) = split_instance(&unit_name);
    let template = format!("{prefix}@.service");
    let candidates = [unit_name.clone(), template];
    for name in candidates
        .iter()
        .take(if instance.is_empty() { 1 } else { 2 })
    {
        for dir in UNIT_DIRS {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                let drop_in_dirs = UNIT_DIRS
                    .iter()
                    .rev()
                    .map(|d| Path::new(d).join(format!("{unit_name}.d")))
                    .collect();
                return Ok(Unit {
                    unit_name,
                    path,
                    drop_in_dirs,
                });
            }
        }
    }
    Err(ImportError::NotFound(format!(
        "{unit_name}: no such unit in {}",
        UNIT_DIRS.join(", ")
    )))
}

fn check_service_unit(unit_name: &str, path: &Path) -> Result<(), ImportError> {
    if unit_name.ends_with(".service") {
        return Ok(());
    }
    Err(ImportError::Invalid {
        path: path.to_path_buf(),
        message: "only .service units can be imported (sockets: `listen`, timers: `schedule`, \
                  targets: dependencies between services)"
            .into(),
    })
}

/// The unit's directives, then those of its drop-ins (`*.conf`, sorted by file name).
fn load(unit: &Unit) -> Result<Vec<Directive>, ImportError> {
    let mut directives = unit_file::parse(&unit.path, &read_source(&unit.path)?)?;
    let mut drop_ins: Vec<PathBuf> = Vec::new();
    for dir in &unit.drop_in_dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "conf") {
                drop_ins.push(path);
            }
        }
    }
    drop_ins.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    for path in drop_ins {
        directives.extend(unit_file::parse(&path, &read_source(&path)?)?);
    }
    Ok(directives)
}

impl Warning {
    pub(crate) fn at(directive: &Directive, message: String) -> Warning {
        Warning {
            file: directive.file.clone(),
            line: directive.line,
            key: directive.key.clone(),
            message,
        }
    }
}
