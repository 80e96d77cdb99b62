//! One unit's directives → one [`ServiceDraft`]. Single-valued keys are set as they come;
//! keys that combine (Type, ExecStart, ExecStartPre, Restart, capabilities, directories)
//! are collected and settled in [`UnitMapping::finish`].

use std::collections::BTreeSet;
use std::path::Path;

use kdl::KdlValue;

use super::draft::ServiceDraft;
use super::systemd::unit_service_name;
use super::systemd_exec::{parse_exec, ExecLine};
use super::unit_file::{is_true, seconds, words, Directive};
use super::{sh_quote, Warning};

pub struct UnitMapping<'w> {
    pub draft: ServiceDraft,
    imported: &'w BTreeSet<String>,
    warnings: &'w mut Vec<Warning>,
    file: std::path::PathBuf,
    translated: usize,
    kind: Option<Directive>,
    exec_start: Vec<(ExecLine, Directive)>,
    exec_pre: Vec<(ExecLine, Directive)>,
    restart: Option<String>,
    restart_prevent: Option<Directive>,
    user: Option<String>,
    ambient: Vec<String>,
    bounding: Vec<String>,
    /// (`install -d` mode, path) for RuntimeDirectory= and friends.
    directories: Vec<(String, String, Directive)>,
    directory_modes: Vec<(String, String)>,
    start_limit: (Option<u32>, Option<f64>),
    timeout_start: Option<(f64, Directive)>,
    watchdog: Option<(f64, Directive)>,
    installed: bool,
    remain_after_exit: Option<Directive>,
}

impl<'w> UnitMapping<'w> {
    pub fn new(
        name: &str,
        file: &Path,
        imported: &'w BTreeSet<String>,
        warnings: &'w mut Vec<Warning>,
    ) -> Self {
        UnitMapping {
            draft: ServiceDraft::new(name),
            imported,
            warnings,
            file: file.to_path_buf(),
            translated: 0,
            kind: None,
            exec_start: Vec::new(),
            exec_pre: Vec::new(),
            restart: None,
            restart_prevent: None,
            user: None,
            ambient: Vec::new(),
            bounding: Vec::new(),
            directories: Vec::new(),
            directory_modes: Vec::new(),
            start_limit: (None, None),
            timeout_start: None,
            watchdog: None,
            installed: false,
            remain_after_exit: None,
        }
    }

    /// A directive with no (or only a partial) equivalent: a warning, and a comment above
    /// the service.
    pub fn warn(&mut self, d: &Directive, why: &str) {
        self.warnings.push(Warning::at(d, why.to_string()));
        let shown = if d.value.chars().count() > 60 {
            let cut: String = d.value.chars().take(57).collect();
            format!("{cut}...")
        } else {
            d.value.clone()
        };
        self.draft
            .not_translated(format!("line {}: {}={} ({why})", d.line, d.key, shown));
    }

    fn ok(&mut self) {
        self.translated += 1;
    }

    pub fn directive(&mut self, d: &Directive) {
        match d.section.as_str() {
            "Unit" => self.unit_key(d),
            "Service" => self.service_key(d),
            "Install" => self.install_key(d),
            _ => self.warn(d, "section not translated"),
        }
    }

    fn unit_key(&mut self, d: &Directive) {
        match d.key.as_str() {
            "Description" => {
                self.draft.notes.push(d.value.clone());
                self.ok();
            }
            "Documentation" => {
                self.draft.notes.push(format!("Documentation: {}", d.value));
                self.ok();
            }
            "Requires" | "Requisite" => self.dependency(d, "requires"),
            "Wants" => self.dependency(d, "wants"),
            "After" => self.dependency(d, "after"),
            "Before" => self.dependency(d, "before"),
            "BindsTo" => self.dependency(d, "binds-to"),
            "StartLimitBurst" => match d.value.parse() {
                Ok(burst) => {
                    self.start_limit.0 = Some(burst);
                    self.ok();
                }
                Err(_) => self.warn(d, "not a number"),
            },
            "StartLimitIntervalSec" | "StartLimitInterval" => match seconds(&d.value) {
                Some(interval) => {
                    self.start_limit.1 = Some(interval);
                    self.ok();
                }
                None => self.warn(d, "not a time span taskmaster can use"),
            },
            "DefaultDependencies" => self.warn(d, "taskmaster adds no implicit dependencies"),
            key if key.starts_with("Condition") || key.starts_with("Assert") => self.warn(
                d,
                "conditions are not evaluated: the service is always started",
            ),
            _ => self.warn(d, "no equivalent"),
        }
    }

    /// `Requires=a.service b.target`: units imported together become dependencies; the
    /// others (targets, sockets, units not imported) are named in a warning.
    fn dependency(&mut self, d: &Directive, field: &str) {
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for unit in words(&d.value) {
            let service = unit_service_name(&unit);
            let is_service = unit.ends_with(".service") || !unit.contains('.');
            if is_service && self.imported.contains(&service) && service != self.draft.name {
                kept.push(service);
            } else {
                dropped.push(unit);
            }
        }
        self.draft.add_names(field, &kept);
        if dropped.is_empty() {
            self.ok();
        } else {
            self.warn(
                d,
                &format!("not among the imported units: {}", dropped.join(" ")),
            );
        }
    }

    fn install_key(&mut self, d: &Directive) {
        match d.key.as_str() {
            "WantedBy" | "RequiredBy" => {
                self.installed = true;
                self.ok();
            }
            "Alias" => self.warn(d, "no aliases: use the service name"),
            _ => self.warn(d, "no equivalent"),
        }
    }

    fn service_key(&mut self, d: &Directive) {
        let v = d.value.as_str();
        match d.key.as_str() {
            "Type" => self.kind = Some(d.clone()),
            "ExecStart" => self.exec(d, false),
            "ExecStartPre" => self.exec(d, true),
            "Restart" => self.restart = Some(v.to_string()),
            "RestartPreventExitStatus" => self.restart_prevent = Some(d.clone()),
            "ExecReload" => self.warn(
                d,
                "no reload command: `tmctl signal HUP NAME` signals the service, `watch` and \
                 `watch-signal` do it when files change",
            ),
            "RemainAfterExit" => self.remain_after_exit = Some(d.clone()),
            "User" => {
                self.user = Some(v.to_string());
                self.draft.set_str("user", v);
                self.ok();
            }
            "Group" => {
                self.draft.set_str("group", v);
                self.ok();
            }
            "WorkingDirectory" => self.working_directory(d),
            "UMask" => {
                self.draft.set_str("umask", v);
                self.ok();
            }
            "Environment" => self.environment(d),
            "EnvironmentFile" => {
                let mut files: Vec<String> = self
                    .draft
                    .field("env-file")
                    .map(|n| {
                        n.entries()
                            .iter()
                            .filter_map(|e| e.value().as_string().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                files.push(v.to_string());
                self.draft.set_strs("env-file", &files);
                self.ok();
            }
            "TimeoutStopSec" => self.seconds_field(d, "stoptime"),
            "TimeoutStartSec" => self.timeout_start(d),
            "TimeoutSec" => {
                self.seconds_field(d, "stoptime");
                self.timeout_start(d);
            }
            "WatchdogSec" => match seconds(v) {
                Some(secs) if secs > 0.0 => self.watchdog = Some((secs, d.clone())),
                _ => self.warn(d, "no watchdog"),
            },
            "KillSignal" => {
                self.draft.set_str("stopsignal", v);
                self.ok();
            }
            "KillMode" => match v {
                "control-group" | "mixed" => self.ok(),
                _ => self.warn(
                    d,
                    "taskmaster always signals the whole process group (and cgroup)",
                ),
            },
            "SuccessExitStatus" => self.success_status(d),
            "NoNewPrivileges" => {
                self.draft.set_bool("no-new-privs", is_true(v));
                self.ok();
            }
            "AmbientCapabilities" => {
                self.ambient.extend(words(v));
                self.ok();
            }
            "CapabilityBoundingSet" => {
                if v.starts_with('~') {
                    self.warn(
                        d,
                        "an inverted set cannot be expressed: list the capabilities kept",
                    );
                } else {
                    self.bounding.extend(words(v));
                    self.ok();
                }
            }
            "NotifyAccess" => self.ok(),
            "StandardOutput" => self.output(d, "stdout"),
            "StandardError" => self.output(d, "stderr"),
            "StandardInput" if v == "null" => self.ok(),
            "RuntimeDirectory"
            | "StateDirectory"
            | "CacheDirectory"
            | "LogsDirectory"
            | "ConfigurationDirectory" => self.directory(d),
            "RuntimeDirectoryMode"
            | "StateDirectoryMode"
            | "CacheDirectoryMode"
            | "LogsDirectoryMode"
            | "ConfigurationDirectoryMode" => {
                let kind = d.key.trim_end_matches("Mode").to_string();
                self.directory_modes.push((kind, v.to_string()));
                self.ok();
            }
            "RuntimeDirectoryPreserve" => self.warn(d, "the directory is never removed"),
            "PIDFile" | "GuessMainPID" => self.warn(
                d,
                "taskmaster supervises the process it starts; run the daemon in the foreground",
            ),
            "RestartSec" => self.warn(
                d,
                "taskmaster restarts at once, with its own back-off after failed starts",
            ),
            "MemoryMax" => self.resource(d, "memory-max", v),
            "MemoryHigh" => self.resource(d, "memory-high", v),
            "TasksMax" => self.resource(d, "pids-max", v),
            "CPUWeight" => self.resource(d, "cpu-weight", v),
            "CPUQuota" => self.resource(d, "cpu-max", v),
            key if key.starts_with("Limit") => self.limit(d),
            key if is_sandboxing(key) => self.warn(d, "sandboxing has no equivalent in taskmaster"),
            _ => self.warn(d, "no equivalent"),
        }
    }

    fn exec(&mut self, d: &Directive, pre: bool) {
        let list = if pre {
            &mut self.exec_pre
        } else {
            &mut self.exec_start
        };
        // An empty assignment resets the list (drop-ins use it to replace ExecStart).
        if d.value.is_empty() {
            list.clear();
            return;
        }
        match parse_exec(&d.value) {
            Ok(line) => list.push((line, d.clone())),
            Err(why) => self.warn(d, &why.to_string()),
        }
    }

    fn working_directory(&mut self, d: &Directive) {
        let path = d.value.trim_start_matches('-');
        if path.starts_with('/') {
            self.draft.set_str("workingdir", path);
            self.ok();
        } else {
            self.warn(d, "only an absolute path can be translated");
        }
    }

    fn environment(&mut self, d: &Directive) {
        for assignment in words(&d.value) {
            match assignment.split_once('=') {
                Some((key, value)) if !key.is_empty() => {
                    self.draft
                        .set_child("env", key, vec![KdlValue::String(value.to_string())]);
                }
                _ => {
                    self.warn(d, &format!("{assignment:?} is not KEY=VALUE"));
                    return;
                }
            }
        }
        self.ok();
    }

    fn seconds_field(&mut self, d: &Directive, field: &str) {
        match seconds(&d.value) {
            Some(secs) if secs <= 86400.0 => {
                self.draft.set_seconds(field, secs);
                self.ok();
            }
            _ => self.warn(d, &format!("`{field}` takes 0 to 86400 seconds")),
        }
    }

    fn timeout_start(&mut self, d: &Directive) {
        match seconds(&d.value) {
            Some(secs) if secs > 0.0 && secs <= 86400.0 => {
                self.timeout_start = Some((secs, d.clone()));
            }
            _ => self.warn(d, "`ready-timeout` takes 0 to 86400 seconds"),
        }
    }

    fn success_status(&mut self, d: &Directive) {
        let mut codes: Vec<KdlValue> = vec![KdlValue::Integer(0)];
        let mut others = Vec::new();
        for word in words(&d.value) {
            match word.parse::<i128>() {
                Ok(code) if (0..=255).contains(&code) => codes.push(KdlValue::Integer(code)),
                _ => others.push(word),
            }
        }
        self.draft.set("exitcodes", codes);
        if others.is_empty() {
            self.ok();
        } else {
            self.warn(
                d,
                &format!("only exit codes are translated, not {}", others.join(" ")),
            );
        }
    }

    /// With `autorestart "unexpected"`, an exit code listed in `exitcodes` is not restarted:
    /// the same as RestartPreventExitStatus= for codes.
    fn restart_prevent_status(&mut self, d: &Directive, oneshot: bool) {
        let policy = self
            .draft
            .field("autorestart")
            .and_then(|n| n.get(0))
            .and_then(|v| v.as_string().map(String::from));
        if oneshot || policy.as_deref() != Some("unexpected") {
            self.warn(
                d,
                "only translated with a Restart= that restarts on failure",
            );
            return;
        }
        let mut codes: Vec<KdlValue> = self
            .draft
            .field("exitcodes")
            .map(|n| n.entries().iter().map(|e| e.value().clone()).collect())
            .unwrap_or_else(|| vec![KdlValue::Integer(0)]);
        let mut others = Vec::new();
        for word in words(&d.value) {
            match word.parse::<i128>() {
                Ok(code) if (0..=255).contains(&code) => {
                    if !codes.contains(&KdlValue::Integer(code)) {
                        codes.push(KdlValue::Integer(code));
                    }
                }
                _ => others.push(word),
            }
        }
        self.draft.set("exitcodes", codes);
        if others.is_empty() {
            self.ok();
        } else {
            self.warn(
                d,
                &format!("signals are not translated: {}", others.join(" ")),
            );
        }
    }

    fn output(&mut self, d: &Directive, field: &str) {
        let v = d.value.as_str();
        let target = match v {
            "journal" | "syslog" | "journal+console" | "syslog+console" | "kmsg" => {
                Some("syslog".to_string())
            }
            "null" => Some("discard".into()),
            "inherit" | "tty" | "console" => Some("inherit".into()),
            _ => v
                .strip_prefix("file:")
                .or_else(|| v.strip_prefix("append:"))
                .map(String::from),
        };
        match target {
            Some(target) => {
                self.draft.set_str(field, &target);
                self.ok();
            }
            None => self.warn(d, "no equivalent"),
        }
    }

    fn directory(&mut self, d: &Directive) {
        let base = match d.key.as_str() {
            "RuntimeDirectory" => "/run",
            "StateDirectory" => "/var/lib",
            "CacheDirectory" => "/var/cache",
            "LogsDirectory" => "/var/log",
            _ => "/etc",
        };
        for name in words(&d.value) {
            self.directories
                .push((d.key.clone(), format!("{base}/{name}"), d.clone()));
        }
    }

    /// cgroup limits: translated only when this build has the field.
    fn resource(&mut self, d: &Directive, field: &str, value: &str) {
        if !crate::config::is_field(field) {
            self.warn(d, &format!("`{field}` is not supported by this build"));
            return;
        }
        match field {
            // No limit: what a service has without the field.
            "pids-max" if value == "infinity" => self.ok(),
            "cpu-weight" | "pids-max" => match value.parse::<i128>() {
                Ok(number) => {
                    self.draft.set_int(field, number);
                    self.ok();
                }
                Err(_) => self.warn(d, "not a number"),
            },
            _ => {
                self.draft.set_str(field, value);
                self.ok();
            }
        }
    }

    fn limit(&mut self, d: &Directive) {
        let name = d.key.trim_start_matches("Limit").to_ascii_lowercase();
        let known = [
            "nofile", "nproc", "core", "cpu", "fsize", "data", "stack", "as", "memlock", "rss",
        ];
        if !known.contains(&name.as_str()) {
            self.warn(d, "no such limit in taskmaster");
            return;
        }
        let value = |text: &str| -> Option<KdlValue> {
            match text {
                "infinity" | "unlimited" => Some(KdlValue::String("unlimited".into())),
                _ => text.parse::<i128>().ok().map(KdlValue::Integer),
            }
        };
        let values: Option<Vec<KdlValue>> = d.value.split(':').map(value).collect();
        match values {
            Some(values) if (1..=2).contains(&values.len()) => {
                self.draft.set_child("limits", &name, values);
                self.ok();
            }
            _ => self.warn(d, "only numbers and infinity are translated"),
        }
    }

    /// Settles what depends on several keys and returns the draft with the number of keys
    /// translated.
    pub fn finish(mut self) -> (ServiceDraft, usize) {
        let kind = self.kind.clone();
        let kind_value = kind.as_ref().map_or("simple", |d| d.value.as_str());
        let oneshot = kind_value == "oneshot";
        match (kind_value, &kind) {
            ("oneshot", _) => {
                self.draft.set_str("type", "oneshot");
                self.ok();
            }
            ("notify" | "notify-reload", _) => {
                self.draft.set_str("ready", "notify");
                self.ok();
            }
            ("simple" | "exec" | "idle", Some(_)) => self.ok(),
            (_, Some(d)) => {
                let why = if kind_value == "forking" {
                    "taskmaster supervises the process it starts: run the daemon in the \
                     foreground (its -D/--nodaemon/-f option) and drop Type=forking"
                } else {
                    "readiness counted after `starttime`"
                };
                self.warn(d, why);
            }
            _ => {}
        }
        self.finish_exec(oneshot);
        self.finish_pre_start();
        if !oneshot {
            let policy = match self.restart.as_deref() {
                None | Some("no") => "never",
                Some("always") => "always",
                Some(_) => "unexpected",
            };
            self.draft.set_str("autorestart", policy);
        }
        if self.restart.is_some() {
            self.ok();
        }
        if let Some(d) = self.restart_prevent.take() {
            self.restart_prevent_status(&d, oneshot);
        }
        if let Some(d) = self.remain_after_exit.take() {
            if oneshot {
                self.ok();
            } else {
                self.warn(&d, "only a oneshot stays up after it exits");
            }
        }
        let notify = self.draft.has("ready");
        if let Some((secs, d)) = self.timeout_start.take() {
            if notify {
                self.draft.set_seconds("ready-timeout", secs);
                self.ok();
            } else {
                self.warn(
                    &d,
                    "only a notify service has a start timeout (`ready-timeout`)",
                );
            }
        }
        if let Some((secs, d)) = self.watchdog.take() {
            if notify {
                self.draft.set_seconds("watchdog", secs);
                self.ok();
            } else {
                self.warn(&d, "`watchdog` needs Type=notify");
            }
        }
        self.finish_capabilities();
        // systemd's defaults: 5 starts within 10 s.
        let (burst, interval) = self.start_limit;
        if burst.is_some() || interval.is_some() {
            let burst = burst.unwrap_or(5);
            let interval = interval.unwrap_or(10.0).round().max(1.0);
            self.draft.set(
                "restart-limit",
                vec![
                    KdlValue::Integer(i128::from(burst)),
                    KdlValue::Integer(interval as i128),
                ],
            );
        }
        if !self.installed {
            self.draft.notes.push(
                "No [Install] section: systemd starts it only when another unit pulls it in; \
                 here it starts with the others (set `autostart #false` to change that)."
                    .into(),
            );
        }
        (self.draft, self.translated)
    }

    fn finish_exec(&mut self, oneshot: bool) {
        let starts = std::mem::take(&mut self.exec_start);
        for (line, d) in &starts {
            self.exec_notes(line, d, false);
        }
        match starts.as_slice() {
            [] => {
                self.draft.set_strs("cmd", &["/bin/true".to_string()]);
                self.warnings.push(Warning {
                    file: self.file.clone(),
                    line: 0,
                    key: "ExecStart".into(),
                    message: "missing: the service runs /bin/true".into(),
                });
            }
            [(line, _)] => {
                self.draft.set_strs("cmd", &line.argv);
                if line.ignore_failure && oneshot {
                    self.draft
                        .set("exitcodes", (0..=255).map(KdlValue::Integer).collect());
                }
            }
            several => {
                // Only a oneshot may have several: they run one after the other.
                let script = shell_chain(several.iter().map(|(line, _)| line));
                self.draft
                    .set_strs("cmd", &["/bin/sh".to_string(), "-c".to_string(), script]);
            }
        }
        self.translated += starts.len();
    }

    fn exec_notes(&mut self, line: &ExecLine, d: &Directive, pre: bool) {
        if let Some(argv0) = &line.argv0_dropped {
            self.warn(
                d,
                &format!("argv[0] {argv0:?} cannot be set; the program's path is used"),
            );
        }
        let runs_as_user = self
            .user
            .as_deref()
            .is_some_and(|u| u != "root" && u != "0");
        if line.privileged && runs_as_user {
            let what = if pre { "pre-start" } else { "cmd" };
            self.warn(
                d,
                &format!(
                    "runs with full privileges in systemd; the {what} runs as the service's user"
                ),
            );
        }
    }

    /// ExecStartPre= lines and RuntimeDirectory= and friends → one `pre-start`.
    fn finish_pre_start(&mut self) {
        let pres = std::mem::take(&mut self.exec_pre);
        for (line, d) in &pres {
            self.exec_notes(line, d, true);
        }
        let mut steps: Vec<String> = Vec::new();
        let runs_as_user = self
            .user
            .as_deref()
            .is_some_and(|u| u != "root" && u != "0");
        let directories = std::mem::take(&mut self.directories);
        for (kind, path, d) in &directories {
            let mode = self
                .directory_modes
                .iter()
                .rfind(|(k, _)| k == kind)
                .map_or("0755", |(_, mode)| mode.as_str());
            let mut step = format!("install -d -m {} ", sh_quote(mode));
            if let Some(user) = self.user.clone().filter(|_| runs_as_user) {
                step.push_str(&format!("-o {} ", sh_quote(&user)));
                self.warn(
                    d,
                    "created by `pre-start`, which runs as the service's user: create it \
                     beforehand if that user cannot",
                );
            } else {
                self.ok();
            }
            step.push_str(&sh_quote(path));
            steps.push(step);
        }
        self.translated += pres.len();
        if steps.is_empty() && pres.len() == 1 && !pres[0].0.ignore_failure {
            self.draft.set_strs("pre-start", &pres[0].0.argv);
            return;
        }
        for (line, _) in &pres {
            steps.push(shell_step(line));
        }
        if !steps.is_empty() {
            let script = steps.join(" && ");
            self.draft.set_strs(
                "pre-start",
                &["/bin/sh".to_string(), "-c".to_string(), script],
            );
        }
    }

    fn finish_capabilities(&mut self) {
        let runs_as_user = self
            .user
            .as_deref()
            .is_some_and(|u| u != "root" && u != "0");
        // For a non-root user the ambient set is what the program gets; for root the
        // bounding set limits what it keeps.
        let caps = if runs_as_user || self.bounding.is_empty() {
            if !self.ambient.is_empty() {
                self.ambient.clone()
            } else {
                self.bounding.clone()
            }
        } else {
            self.bounding.clone()
        };
        if !caps.is_empty() {
            self.draft.set_strs("capabilities", &caps);
        }
    }
}

/// A `/bin/sh -c` step for a command; `-` commands may fail.
fn shell_step(line: &ExecLine) -> String {
    let words: Vec<String> = line.argv.iter().map(|w| sh_quote(w)).collect();
    let command = words.join(" ");
    if line.ignore_failure {
        format!("{{ {command} || true; }}")
    } else {
        command
    }
}

fn shell_chain<'a>(lines: impl Iterator<Item = &'a ExecLine>) -> String {
    lines.map(shell_step).collect::<Vec<_>>().join(" && ")
}

/// systemd's sandboxing and isolation directives, none of which taskmaster has.
fn is_sandboxing(key: &str) -> bool {
    const PREFIXES: [&str; 14] = [
        "Protect",
        "Private",
        "Restrict",
        "SystemCall",
        "ReadWrite",
        "ReadOnly",
        "Inaccessible",
        "MemoryDeny",
        "LockPersonality",
        "DynamicUser",
        "IPAddress",
        "Device",
        "Keyring",
        "RemoveIPC",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p))
}
