//! supervisord.conf → service files: the file and its `[include]`s, the sections that are
//! not programs (warned about key by key), groups (a comment on each member) and
//! `priority` (start order through `after`). `supervisord_program` maps each program.

use std::collections::BTreeMap;
use std::path::Path;

use super::ini::{self, Section};
use super::supervisord_expand::{expand, Expander, ProcessNum};
use super::supervisord_program::{parse_environment, program, Context, Program};
use super::{glob, read_source, ImportError, Imported, Warning};

pub fn import_supervisord(path: &Path) -> Result<Imported, ImportError> {
    let mut imported = Imported::default();
    let mut sections = ini::parse(path, &read_source(path)?)?;
    let includes: Vec<Section> = sections
        .iter()
        .filter(|s| s.name == "include")
        .cloned()
        .collect();
    for include in &includes {
        for key in &include.keys {
            if key.name != "files" {
                warn(&mut imported, include, key, "unknown key");
                continue;
            }
            let here = path.parent().unwrap_or(Path::new("/"));
            let expander = plain_expander(&here.display().to_string());
            let (patterns, _) = expand(&key.value, &expander);
            for pattern in patterns.split_whitespace() {
                let files = glob::expand(here, pattern);
                if files.is_empty() {
                    warn(
                        &mut imported,
                        include,
                        key,
                        &format!("{pattern} matches no file"),
                    );
                }
                for file in files {
                    sections.extend(ini::parse(&file, &read_source(&file)?)?);
                }
            }
            imported.translated += 1;
        }
    }
    let env_of = |name: &str| std::env::var(name).ok();
    let global_env = global_environment(&sections, &mut imported);
    let groups = groups(&sections, &mut imported);
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut programs: Vec<Program> = Vec::new();
    let mut general: Vec<String> = Vec::new();
    for section in &sections {
        let kind = section.name.split(':').next().unwrap_or_default();
        match kind {
            "program" => {
                let name = section.name.trim_start_matches("program:");
                let group = groups
                    .iter()
                    .find(|(_, members)| members.iter().any(|m| m == name))
                    .map(|(group, _)| group.as_str());
                let ctx = Context {
                    global_env: &global_env,
                    group,
                    host: &host,
                    env: &env_of,
                };
                if let Some(mut found) = program(section, &ctx, &mut imported.warnings) {
                    if let Some(group) = group {
                        let members = &groups[group];
                        found.draft.notes.push(format!(
                            "supervisord group {group:?}: {} (taskmaster has no groups: name each service)",
                            members.join(", ")
                        ));
                    }
                    if programs.iter().any(|p| p.draft.name == found.draft.name) {
                        return Err(ImportError::Invalid {
                            path: section.file.clone(),
                            message: format!("program {:?} is defined twice", found.draft.name),
                        });
                    }
                    imported.translated += found.translated;
                    programs.push(found);
                }
            }
            "include" | "group" => {}
            "eventlistener" | "fcgi-program" => {
                let why = section_reason(kind, "");
                let message = format!(
                    "{why}: its {} key(s) are not translated",
                    section.keys.len()
                );
                imported.warnings.push(Warning {
                    file: section.file.clone(),
                    line: section.line,
                    key: format!("[{}]", section.name),
                    message: message.clone(),
                });
                general.push(format!(
                    "line {}: [{}] ({message})",
                    section.line, section.name
                ));
            }
            _ => {
                for key in &section.keys {
                    if section.name == "supervisord" && key.name == "environment" {
                        continue;
                    }
                    let why = section_reason(kind, &key.name);
                    warn(&mut imported, section, key, why);
                    general.push(format!(
                        "line {}: [{}] {}={} ({why})",
                        key.line, section.name, key.name, key.value
                    ));
                }
                if section.keys.is_empty() {
                    let why = section_reason(kind, "");
                    imported.warnings.push(Warning {
                        file: section.file.clone(),
                        line: section.line,
                        key: format!("[{}]", section.name),
                        message: why.into(),
                    });
                    general.push(format!("line {}: [{}] ({why})", section.line, section.name));
                }
            }
        }
    }
    order_by_priority(&mut programs);
    if let Some(first) = programs.first_mut() {
        if !general.is_empty() {
            first
                .draft
                .notes
                .push("supervisord settings that are not services (not translated):".into());
            first
                .draft
                .notes
                .extend(general.into_iter().map(|g| format!("  {g}")));
        }
    }
    imported.services = programs.into_iter().map(|p| p.draft).collect();
    Ok(imported)
}

fn plain_expander(here: &str) -> Expander<'static> {
    Expander {
        names: BTreeMap::new(),
        here: here.to_string(),
        process_num: ProcessNum::Fixed(0),
        escape_dollars: false,
        env: &|name| std::env::var(name).ok(),
    }
}

fn warn(imported: &mut Imported, section: &Section, key: &ini::Key, why: &str) {
    imported.warnings.push(Warning {
        file: section.file.clone(),
        line: key.line,
        key: format!("[{}] {}", section.name, key.name),
        message: why.to_string(),
    });
}

/// Why a key of a section that is not a program has no service equivalent.
fn section_reason(kind: &str, key: &str) -> &'static str {
    match (kind, key) {
        ("supervisord", "logfile") => "taskmasterd -l/--log-file",
        ("supervisord", "nodaemon") => "taskmasterd always stays in the foreground",
        ("supervisord", "minfds") => "per service: limits { nofile N }",
        ("supervisord", "user") => "run taskmasterd as that user",
        ("supervisord", _) => "a supervisord daemon setting",
        ("unix_http_server" | "inet_http_server" | "supervisorctl", _) => {
            "taskmaster's control socket is set with -s (mode 0600, owner and root only)"
        }
        ("rpcinterface", _) => "no XML-RPC interface",
        ("eventlistener", _) => "event listeners are not imported (see `on-event`)",
        ("fcgi-program", _) => "FastCGI programs are not imported (see `listen`)",
        _ => "unknown section",
    }
}

/// `[supervisord] environment=…`: supervisord gives it to every program.
fn global_environment(sections: &[Section], imported: &mut Imported) -> Vec<(String, String)> {
    let Some(section) = sections.iter().find(|s| s.name == "supervisord") else {
        return Vec::new();
    };
    let Some(key) = section.get("environment") else {
        return Vec::new();
    };
    match parse_environment(&key.value) {
        Ok(pairs) => {
            imported.translated += 1;
            pairs
        }
        Err(why) => {
            warn(imported, section, key, &why);
            Vec::new()
        }
    }
}

/// `[group:x] programs=a,b` → x → [a, b]; other group keys are warned about.
fn groups(sections: &[Section], imported: &mut Imported) -> BTreeMap<String, Vec<String>> {
    let mut groups = BTreeMap::new();
    for section in sections {
        let Some(name) = section.name.strip_prefix("group:") else {
            continue;
        };
        for key in &section.keys {
            if key.name == "programs" {
                let members = key
                    .value
                    .split(',')
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect();
                groups.insert(name.to_string(), members);
                imported.translated += 1;
            } else {
                warn(
                    imported,
                    section,
                    key,
                    "groups become a comment on each member; set it on the programs",
                );
            }
        }
    }
    groups
}

/// supervisord starts lower `priority` first (and stops it last): each program is ordered
/// `after` the programs of the next lower priority.
fn order_by_priority(programs: &mut [Program]) {
    let mut levels: Vec<i64> = programs.iter().map(|p| p.priority).collect();
    levels.sort_unstable();
    levels.dedup();
    for index in 0..programs.len() {
        let priority = programs[index].priority;
        let Some(previous) = levels.iter().rev().find(|level| **level < priority) else {
            continue;
        };
        let earlier: Vec<String> = programs
            .iter()
            .filter(|p| p.priority == *previous)
            .map(|p| p.draft.name.clone())
            .collect();
        programs[index].draft.add_names("after", &earlier);
    }
}
