//! One `[program:x]` section → one [`ServiceDraft`].

use std::collections::BTreeMap;

use kdl::KdlValue;

use super::draft::ServiceDraft;
use super::ini::{Key, Section};
use super::supervisord_expand::{expand, Expander, ProcessNum};
use super::{service_name, Warning};

/// What a program's section needs from the rest of the file.
pub struct Context<'a> {
    /// `[supervisord] environment`, given to every program first.
    pub global_env: &'a [(String, String)],
    /// The group the program belongs to, if any.
    pub group: Option<&'a str>,
    pub host: &'a str,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

pub struct Program {
    pub draft: ServiceDraft,
    pub priority: i64,
    pub translated: usize,
}

/// `None` when the section cannot become a service (no `command`); the reason is a warning.
pub fn program(
    section: &Section,
    ctx: &Context<'_>,
    warnings: &mut Vec<Warning>,
) -> Option<Program> {
    let program_name = section.name.trim_start_matches("program:").to_string();
    let mut mapping = Mapping {
        draft: ServiceDraft::new(&service_name(&program_name)),
        section,
        warnings,
        translated: 0,
    };
    mapping.draft.notes.push(format!(
        "Imported from {} by taskmasterd import supervisord.",
        section.file.display()
    ));
    let numprocs: u32 = section
        .get("numprocs")
        .and_then(|k| k.value.parse().ok())
        .unwrap_or(1);
    let numprocs_start: u32 = section
        .get("numprocs_start")
        .and_then(|k| k.value.parse().ok())
        .unwrap_or(0);
    let mut names = BTreeMap::new();
    names.insert("program_name", program_name.clone());
    names.insert("group_name", ctx.group.unwrap_or(&program_name).to_string());
    names.insert("host_node_name", ctx.host.to_string());
    names.insert("numprocs", numprocs.to_string());
    let here = section
        .file
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let plain = Expander {
        names: names.clone(),
        here: here.clone(),
        process_num: ProcessNum::Fixed(numprocs_start),
        escape_dollars: false,
        env: ctx.env,
    };
    let for_cmd = Expander {
        names,
        here,
        process_num: ProcessNum::Instance,
        escape_dollars: true,
        env: ctx.env,
    };
    if section.get("command").is_none() {
        mapping.warnings.push(Warning {
            file: section.file.clone(),
            line: section.line,
            key: section.name.clone(),
            message: "no `command`: not imported".into(),
        });
        return None;
    }
    for (key, value) in ctx.global_env {
        mapping
            .draft
            .set_child("env", key, vec![KdlValue::String(value.clone())]);
    }
    let mut priority = 999;
    for key in &section.keys {
        let expander = if key.name == "command" {
            &for_cmd
        } else {
            &plain
        };
        let (value, problems) = expand(&key.value, expander);
        for problem in problems {
            mapping.warn(key, &problem);
        }
        let varies = key.value.contains("%(process_num)") && numprocs > 1;
        if varies && key.name != "command" && key.name != "process_name" {
            mapping.warn(
                key,
                &format!("%(process_num) is {numprocs_start} for every instance here: only `command` can vary per instance"),
            );
        }
        if key.name == "priority" {
            match value.parse() {
                Ok(number) => {
                    priority = number;
                    mapping.translated += 1;
                }
                Err(_) => mapping.warn(key, "not a number"),
            }
            continue;
        }
        mapping.key(key, &value, numprocs_start);
    }
    mapping.rotation_defaults();
    Some(Program {
        priority,
        translated: mapping.translated,
        draft: mapping.draft,
    })
}

struct Mapping<'s, 'w> {
    draft: ServiceDraft,
    section: &'s Section,
    warnings: &'w mut Vec<Warning>,
    translated: usize,
}

impl Mapping<'_, '_> {
    fn warn(&mut self, key: &Key, why: &str) {
        self.warnings.push(Warning {
            file: self.section.file.clone(),
            line: key.line,
            key: key.name.clone(),
            message: why.to_string(),
        });
        self.draft.not_translated(format!(
            "line {}: {}={} ({why})",
            key.line, key.name, key.value
        ));
    }

    fn ok(&mut self) {
        self.translated += 1;
    }

    fn key(&mut self, key: &Key, value: &str, numprocs_start: u32) {
        match key.name.as_str() {
            "command" => {
                self.draft.set_str("cmd", value);
                self.ok();
            }
            "process_name" => {
                let raw = key.value.replace(' ', "");
                if raw.starts_with("%(program_name)s") {
                    self.ok();
                } else {
                    self.warn(
                        key,
                        "instances are named NAME, or NAME:0, NAME:1… with numprocs",
                    );
                }
            }
            "numprocs" => self.integer(key, value, "numprocs", 1),
            "numprocs_start" => {
                if numprocs_start == 0 {
                    self.ok();
                } else {
                    self.warn(key, "instances are numbered from 0 (TASKMASTER_INSTANCE)");
                }
            }
            "autostart" => self.boolean(key, value, "autostart"),
            "autorestart" => {
                let policy = match value.to_ascii_lowercase().as_str() {
                    "true" => "always",
                    "false" => "never",
                    "unexpected" => "unexpected",
                    _ => return self.warn(key, "expected true, false or unexpected"),
                };
                self.draft.set_str("autorestart", policy);
                self.ok();
            }
            "startsecs" => self.seconds(key, value, "starttime"),
            "stopwaitsecs" => self.seconds(key, value, "stoptime"),
            "startretries" => self.integer(key, value, "startretries", 0),
            "exitcodes" => {
                let codes: Result<Vec<KdlValue>, _> = value
                    .split(',')
                    .map(|code| code.trim().parse::<i128>().map(KdlValue::Integer))
                    .collect();
                match codes {
                    Ok(codes) => {
                        self.draft.set("exitcodes", codes);
                        self.ok();
                    }
                    Err(_) => self.warn(key, "expected exit codes separated by commas"),
                }
            }
            "stopsignal" => {
                self.draft.set_str("stopsignal", value);
                self.ok();
            }
            "stopasgroup" | "killasgroup" => {
                if is_true(value) {
                    self.ok();
                } else {
                    self.warn(key, "taskmaster always signals the whole process group");
                }
            }
            "user" => {
                self.draft.set_str("user", value);
                self.ok();
            }
            "directory" => {
                self.draft.set_str("workingdir", value);
                self.ok();
            }
            "umask" => {
                self.draft.set_str("umask", value);
                self.ok();
            }
            "redirect_stderr" => {
                if !is_true(value) {
                    self.ok();
                } else if stderr_to_stdout_supported() {
                    self.draft.set_str("stderr", "stdout");
                    self.ok();
                } else {
                    self.warn(key, "`stderr \"stdout\"` is not supported by this build");
                }
            }
            "stdout_logfile" | "stderr_logfile" => self.logfile(key, value),
            // redirect_stderr=true wins, as in supervisord: there is no stderr file.
            "stderr_logfile_maxbytes" | "stderr_logfile_backups" if self.stderr_redirected() => {
                self.warn(key, "ignored: redirect_stderr sends stderr to stdout")
            }
            "stdout_logfile_maxbytes" | "stderr_logfile_maxbytes" => {
                let field = format!("{}-maxbytes", stream(&key.name));
                self.draft.set_str(&field, value);
                self.ok();
            }
            "stdout_logfile_backups" | "stderr_logfile_backups" => {
                let field = format!("{}-backups", stream(&key.name));
                self.integer(key, value, &field, 0);
            }
            "stdout_syslog" | "stderr_syslog" => {
                let field = stream(&key.name);
                if !is_true(value) {
                    self.ok();
                } else if self.draft.has(field) {
                    self.warn(key, "an output goes to one place: the log file is kept");
                } else {
                    self.draft.set_str(field, "syslog");
                    self.ok();
                }
            }
            "stdout_capture_maxbytes" | "stderr_capture_maxbytes" if value == "0" => self.ok(),
            "stdout_events_enabled" | "stderr_events_enabled" if !is_true(value) => self.ok(),
            "stdout_capture_maxbytes" | "stderr_capture_maxbytes" => {
                self.warn(key, "no capture mode (see `on-event` for events)")
            }
            "stdout_events_enabled" | "stderr_events_enabled" => {
                self.warn(key, "no output events (see `on-event` for state events)")
            }
            "environment" => match parse_environment(value) {
                Ok(pairs) => {
                    for (k, v) in pairs {
                        self.draft.set_child("env", &k, vec![KdlValue::String(v)]);
                    }
                    self.ok();
                }
                Err(why) => self.warn(key, &why),
            },
            "serverurl" if value == "AUTO" => self.ok(),
            "serverurl" => self.warn(key, "no XML-RPC server"),
            _ => self.warn(key, "unknown key"),
        }
    }

    /// AUTO: taskmaster captures the output for `tmctl tail`; NONE: discarded.
    fn logfile(&mut self, key: &Key, value: &str) {
        let field = stream(&key.name);
        if field == "stderr" && self.stderr_redirected() {
            // redirect_stderr=true wins, as in supervisord.
            return self.warn(key, "ignored: redirect_stderr sends stderr to stdout");
        }
        match value {
            "AUTO" => {}
            "NONE" => self.draft.set_str(field, "discard"),
            "syslog" => self.draft.set_str(field, "syslog"),
            path => self.draft.set_str(field, path),
        }
        self.ok();
    }

    fn stderr_redirected(&self) -> bool {
        self.section
            .get("redirect_stderr")
            .is_some_and(|k| is_true(&k.value))
    }

    /// supervisord rotates log files at 50MB by default; taskmaster never does unless told.
    fn rotation_defaults(&mut self) {
        for field in ["stdout", "stderr"] {
            let is_file = self
                .draft
                .field(field)
                .and_then(|node| node.get(0))
                .and_then(|v| v.as_string())
                .is_some_and(|path| path.starts_with('/'));
            let maxbytes = format!("{field}-maxbytes");
            if is_file && !self.draft.has(&maxbytes) {
                self.draft.set_str(&maxbytes, "50MB");
            }
        }
    }

    fn integer(&mut self, key: &Key, value: &str, field: &str, min: i128) {
        match value.parse::<i128>() {
            Ok(number) if number >= min => {
                self.draft.set_int(field, number);
                self.ok();
            }
            _ => self.warn(key, &format!("expected an integer ≥ {min}")),
        }
    }

    fn seconds(&mut self, key: &Key, value: &str, field: &str) {
        match value.parse::<f64>() {
            Ok(secs) if (0.0..=86400.0).contains(&secs) => {
                self.draft.set_seconds(field, secs);
                self.ok();
            }
            _ => self.warn(key, "expected seconds from 0 to 86400"),
        }
    }

    fn boolean(&mut self, key: &Key, value: &str, field: &str) {
        match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => self.draft.set_bool(field, true),
            "false" | "no" | "off" | "0" => self.draft.set_bool(field, false),
            _ => return self.warn(key, "expected true or false"),
        }
        self.ok();
    }
}

/// Whether this build's loader takes `stderr "stdout"` (asked of the loader itself).
fn stderr_to_stdout_supported() -> bool {
    let probe = "service \"probe\" {\n    cmd \"/bin/true\"\n    stderr \"stdout\"\n}\n";
    crate::config::parse_str(std::path::Path::new("probe.kdl"), probe).is_ok()
}

fn stream(key: &str) -> &'static str {
    if key.starts_with("stdout") {
        "stdout"
    } else {
        "stderr"
    }
}

fn is_true(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "true" | "yes" | "on" | "1"
    )
}

/// `A="1",B='two, three',C=4` → pairs; commas inside quotes belong to the value.
pub fn parse_environment(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut items = Vec::new();
    for c in text.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => items.push(std::mem::take(&mut current)),
            // Quotes group; they are not part of the value.
            _ => current.push(c),
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    items.push(current);
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                pairs.push((key.trim().to_string(), value.trim().to_string()));
            }
            _ => return Err(format!("{item:?} is not KEY=VALUE")),
        }
    }
    Ok(pairs)
}
