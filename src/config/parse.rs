//! One service file → [`ServiceSpec`]s: the top level, `service "NAME" { ... }` nodes, and
//! the table of fields with their defaults. Every problem is collected, none stops the walk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kdl::{KdlNode, KdlValue};

use super::fields::{describe, Field};
use super::nesting::{too_deep, MAX_NESTING};
use super::source::SourceText;
use super::suggest::{did_you_mean, did_you_mean_field};
use super::users;
use super::{blocks, readers, readiness, schedule, split, syntax, triggers, values, workers};
use super::{
    ConfigError, Credentials, Deps, Origin, Output, Policy, ProcessSpec, RestartPolicy, Rotation,
    ServiceSpec, ServiceType,
};
use super::{EnvVars, Rare};

/// Every field a service may hold (SPEC.md, "Service files").
pub(crate) const FIELDS: [&str; 49] = [
    "cmd",
    "type",
    "numprocs",
    "umask",
    "workingdir",
    "autostart",
    "autorestart",
    "exitcodes",
    "startretries",
    "starttime",
    "stopsignal",
    "stoptime",
    "stdout",
    "stderr",
    "env",
    "user",
    "group",
    "capabilities",
    "no-new-privs",
    "limits",
    "stdout-maxbytes",
    "stderr-maxbytes",
    "stdout-backups",
    "stderr-backups",
    "essential",
    "requires",
    "wants",
    "after",
    "before",
    "pre-start",
    "binds-to",
    "ready",
    "ready-timeout",
    "watchdog",
    "env-file",
    "restart-limit",
    "schedule",
    "memory-max",
    "memory-high",
    "cpu-weight",
    "cpu-max",
    "pids-max",
    "on-event",
    "watch",
    "watch-signal",
    "listen",
    "start-on-demand",
    "console",
    "rescue",
];

/// What one file yielded. A service with a bad field is not in `services`, but its name is
/// in `defined`, so that it still counts for duplicate names and for services depending on it.
pub(crate) struct ParsedFile {
    /// Every service node that has a valid name, in file order.
    pub(crate) defined: Vec<(String, Origin)>,
    pub(crate) services: Vec<ServiceSpec>,
    pub(crate) errors: Vec<ConfigError>,
    /// False when KDL itself failed: the file's service names are then unknown.
    pub(crate) readable: bool,
}

pub(crate) fn parse_file(file: &Path, text: &str) -> ParsedFile {
    let source = SourceText::new(file, text);
    if let Some(parsed) = parse_in_parts(&source) {
        return parsed;
    }
    parse_whole(&source)
}

/// [`parse_file`] of every `(file, text)`, in their order. Many files (a directory with one
/// file per service) are parsed on one thread per CPU, each thread taking the next file not
/// taken (see `workers.rs`); a single file may be cut in parts instead (see `split.rs`).
pub(crate) fn parse_files(files: &[(&Path, &str)]) -> Vec<ParsedFile> {
    let bytes: usize = files.iter().map(|(_, text)| text.len()).sum();
    // A file of more than half the bytes is better cut in parts by `parse_file`.
    let one_large = files.iter().any(|(_, text)| text.len() * 2 > bytes);
    let whole = |(file, text): &(&Path, &str)| parse_whole(&SourceText::new(file, text));
    if files.len() < 2 || bytes < split::MIN_SPLIT_BYTES || one_large {
        return files
            .iter()
            .map(|(file, text)| parse_file(file, text))
            .collect();
    }
    // The files are the threads' work: no file is cut in parts as well.
    let done = workers::share(files.len(), cpus(), |at| Some(whole(&files[at])));
    // A file whose thread died (a panic in the parser) is parsed here, where the same panic
    // reaches the caller as before.
    (done.into_iter().zip(files))
        .map(|(parsed, file)| parsed.unwrap_or_else(|| whole(file)))
        .collect()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One file parsed whole.
fn parse_whole(source: &SourceText<'_>) -> ParsedFile {
    let mut parsed = ParsedFile::empty();
    match syntax::parse_document(source) {
        Ok(document) => read_nodes(document.nodes(), source, &mut parsed),
        Err(errors) => {
            parsed.errors = errors;
            parsed.readable = false;
            return parsed;
        }
    }
    sort_by_position(&mut parsed.errors);
    parsed
}

/// A large file is cut in parts of about this many bytes, many more than there are CPUs:
/// parsed one after the other on a thread, small parts cost about a tenth less than one
/// part per CPU (the heap of each part's document is reused for the next instead of
/// faulting in megabytes: bench/PROFILES.md, "Cold start"), and the threads share them
/// out to the end.
const PART_BYTES: usize = 8 * 1024;

/// [`parse_file`] of a large file in parts, taken by one thread per CPU, the caller one of
/// them (see `split.rs` and `workers.rs`). `None` when the file is not cut, or when a part
/// does not parse: the whole file is parsed then, so that its errors are its own.
fn parse_in_parts(source: &SourceText<'_>) -> Option<ParsedFile> {
    let text = source.text();
    if text.len() < split::MIN_SPLIT_BYTES {
        return None;
    }
    let starts = split::part_starts(text, text.len() / PART_BYTES)?;
    // The bound on nesting holds for every part (the whole file's parse checks it first).
    if too_deep(text, MAX_NESTING).is_some() {
        return None;
    }
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    let parts: Vec<(usize, usize)> = starts.iter().copied().zip(ends).collect();
    let results = workers::share(parts.len(), cpus(), |at| {
        let (start, end) = parts[at];
        parse_part(source, start, end)
    });
    let mut whole = ParsedFile::empty();
    for part in results {
        let part = part?;
        whole.defined.extend(part.defined);
        whole.services.extend(part.services);
        whole.errors.extend(part.errors);
    }
    sort_by_position(&mut whole.errors);
    Some(whole)
}

/// The services of `text[start..end]`, a part that parses alone; `None` when it does not.
fn parse_part(source: &SourceText<'_>, start: usize, end: usize) -> Option<ParsedFile> {
    let document: kdl::KdlDocument = source.text().get(start..end)?.parse().ok()?;
    let mut parsed = ParsedFile::empty();
    read_nodes(document.nodes(), &source.part(start), &mut parsed);
    Some(parsed)
}

impl ParsedFile {
    fn empty() -> ParsedFile {
        ParsedFile {
            defined: Vec::new(),
            services: Vec::new(),
            errors: Vec::new(),
            readable: true,
        }
    }
}

/// The `service` nodes of a parsed file (or part): what each defines, or why it cannot.
fn read_nodes(nodes: &[KdlNode], source: &SourceText<'_>, parsed: &mut ParsedFile) {
    for node in nodes {
        let offset = node.span().offset();
        let kind = node.name().value();
        if kind != "service" {
            parsed.errors.push(source.error(
                offset,
                format!(
                    "unexpected `{kind}`: a service file holds only `service \"NAME\" {{ ... }}` \
                     nodes{}",
                    did_you_mean(kind, ["service"])
                ),
            ));
            continue;
        }
        let name = match service_name(node) {
            Ok(name) => name,
            Err(message) => {
                parsed.errors.push(source.error(offset, message));
                continue;
            }
        };
        let origin = source.origin(offset);
        parsed.defined.push((name.clone(), origin.clone()));
        match parse_service(name, origin, node, source) {
            Ok(spec) => parsed.services.push(spec),
            Err(errors) => parsed.errors.extend(errors),
        }
    }
}

/// Fields are read in the order the code needs them (`user` with `group`…), not the order
/// of the file; a reader expects file order. All these errors are in this one file and
/// carry `file:line:col`, so the trailing numbers order them (stable for equal positions).
fn sort_by_position(errors: &mut [ConfigError]) {
    fn position(location: &str) -> (usize, usize) {
        let mut parts = location.rsplitn(3, ':');
        let column = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let line = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        (line, column)
    }
    errors.sort_by_key(|error| position(&error.location));
}

/// The `"NAME"` of `service "NAME" { ... }`.
fn service_name(node: &KdlNode) -> Result<String, String> {
    const USAGE: &str = "expected `service \"NAME\" { ... }` with NAME made of [A-Za-z0-9_.-]";
    match node.entries() {
        [entry] if entry.name().is_none() => match entry.value() {
            // `all` names every service in tmctl: a service called so could not be named.
            KdlValue::String(name) if name == "all" => {
                Err("the name \"all\" is reserved (tmctl uses it for every service)".into())
            }
            KdlValue::String(name) if values::is_service_name(name) => Ok(name.clone()),
            _ => Err(format!("{USAGE}, got {}", describe(entry))),
        },
        [] => Err(format!("{USAGE}, got no name")),
        _ => Err(format!("{USAGE}, got {} values", node.entries().len())),
    }
}

/// Collects errors while fields are read, so one pass reports them all.
pub(super) struct ServiceReader<'a> {
    fields: BTreeMap<&'a str, Field<'a>>,
    errors: Vec<ConfigError>,
}

impl<'a> ServiceReader<'a> {
    /// A field that was given and read well, else `None` (its error kept).
    pub(super) fn read<T>(
        &mut self,
        name: &str,
        read: impl FnOnce(&Field<'a>) -> Result<T, ConfigError>,
    ) -> Option<T> {
        let field = self.fields.get(name)?;
        read(field).map_err(|error| self.errors.push(error)).ok()
    }

    /// Same for readers that report several errors (child blocks).
    fn read_all<T>(
        &mut self,
        name: &str,
        read: impl FnOnce(&Field<'a>) -> Result<T, Vec<ConfigError>>,
    ) -> Option<T> {
        let field = self.fields.get(name)?;
        read(field)
            .map_err(|errors| self.errors.extend(errors))
            .ok()
    }
}

fn parse_service(
    name: String,
    origin: Origin,
    node: &KdlNode,
    source: &SourceText<'_>,
) -> Result<ServiceSpec, Vec<ConfigError>> {
    let offset = node.span().offset();
    let Some(body) = node.children() else {
        return Err(vec![source.error(
            offset,
            format!("service `{name}` has no body; write `service \"{name}\" {{ cmd \"...\" }}`"),
        )]);
    };
    let mut reader = ServiceReader {
        fields: BTreeMap::new(),
        errors: Vec::new(),
    };
    // `on-event` is the one field given once per hook.
    let mut hooks = Vec::new();
    for child in body.nodes() {
        let field = child.name().value();
        let position = child.span().offset();
        if field == "on-event" {
            hooks.push(Field::new(child, source));
        } else if let Some(known) = FIELDS.iter().find(|known| **known == field) {
            if let Some(first) = reader.fields.get(known) {
                let first = source.origin(first.node.span().offset());
                reader.errors.push(source.error(
                    position,
                    format!(
                        "field `{field}` is given twice (first at line {}:{})",
                        first.line, first.column
                    ),
                ));
            } else {
                reader.fields.insert(known, Field::new(child, source));
            }
        } else {
            reader.errors.push(source.error(
                position,
                format!(
                    "unknown field `{field}`{}",
                    did_you_mean_field(field, FIELDS)
                ),
            ));
        }
    }

    let cmd = reader.read("cmd", readers::cmd);
    if !reader.fields.contains_key("cmd") {
        reader
            .errors
            .push(source.error(offset, format!("service `{name}`: field `cmd` is required")));
    }
    let pre_start = reader.read("pre-start", readers::cmd);
    let process = read_process(&mut reader, source, cmd.unwrap_or_default());
    let policy = read_policy(&mut reader);
    let numprocs = reader
        .read("numprocs", |f| {
            let max = i128::from(values::MAX_NUMPROCS);
            f.integer(1..=max, &format!("expected an integer ≥ 1 (at most {max})"))
        })
        .map_or(1, |n| n as u32);
    let deps = Deps {
        requires: reader
            .read("requires", Field::service_names)
            .unwrap_or_default(),
        wants: reader
            .read("wants", Field::service_names)
            .unwrap_or_default(),
        after: reader
            .read("after", Field::service_names)
            .unwrap_or_default(),
        before: reader
            .read("before", Field::service_names)
            .unwrap_or_default(),
        binds_to: reader
            .read("binds-to", Field::service_names)
            .unwrap_or_default(),
    };
    if let Err(errors) = readiness::check_fields(&reader.fields, &process, offset, source, &name) {
        reader.errors.extend(errors);
    }
    let triggers = triggers::read(&reader.fields, &hooks, &mut reader.errors);
    if process.stdout == Output::Stdout {
        if let Some(field) = reader.fields.get("stdout") {
            reader.errors.push(field.error(
                "\"stdout\" is for `stderr` only (stderr \"stdout\" joins stderr to stdout)",
            ));
        }
    }
    reader.errors.extend(triggers::check_ready_fd(
        &reader.fields,
        &process,
        &triggers,
    ));
    // Started by its first connection, never at boot.
    let mut policy = policy;
    if triggers.start_on_demand {
        policy.autostart = false;
    }
    if policy.schedule.is_some() {
        if process.kind != ServiceType::Oneshot {
            if let Some(field) = reader.fields.get("schedule") {
                reader.errors.push(
                    field.error(
                        "only a oneshot service can have a schedule (add `type \"oneshot\"`)",
                    ),
                );
            }
        }
        // A scheduled job runs when its time comes, not at boot, unless the file says so.
        if !reader.fields.contains_key("autostart") {
            policy.autostart = false;
        }
    }
    reader
        .errors
        .extend(triggers::check_console(&reader.fields, &process));
    if !reader.errors.is_empty() {
        return Err(reader.errors);
    }
    Ok(ServiceSpec {
        name,
        origin,
        numprocs,
        process: std::sync::Arc::new(process),
        policy,
        deps: Rare::new(deps),
        pre_start,
        triggers: Rare::new(triggers),
    })
}

fn read_process(
    reader: &mut ServiceReader<'_>,
    source: &SourceText<'_>,
    cmd: Vec<String>,
) -> ProcessSpec {
    let stdout = reader.read("stdout", |f| {
        f.word(values::OUTPUT_EXPECTED, values::output)
    });
    let stderr = reader.read("stderr", |f| {
        f.word(values::OUTPUT_EXPECTED, values::output)
    });
    ProcessSpec {
        cmd,
        kind: reader
            .read("type", |f| {
                f.word(values::TYPE_EXPECTED, values::service_type)
            })
            .unwrap_or(ServiceType::Simple),
        umask: reader.read("umask", readers::umask),
        workingdir: reader
            .read("workingdir", readers::absolute_path)
            .unwrap_or_else(|| PathBuf::from("/")),
        stdout: stdout.unwrap_or(Output::Capture),
        stderr: stderr.unwrap_or(Output::Capture),
        env: reader
            .read_all("env", |f| blocks::env(f, source))
            .map(EnvVars::from)
            .unwrap_or_default(),
        credentials: Rare::new(read_credentials(reader)),
        capabilities: Rare::new(reader.read("capabilities", readers::capabilities)),
        no_new_privs: reader.read("no-new-privs", Field::bool).unwrap_or(false),
        limits: Rare::new(
            reader
                .read_all("limits", |f| blocks::limits(f, source))
                .unwrap_or_default(),
        ),
        stdout_rotation: read_rotation(reader, "stdout-maxbytes", "stdout-backups"),
        stderr_rotation: read_rotation(reader, "stderr-maxbytes", "stderr-backups"),
        ready: reader
            .read("ready", |f| {
                f.word(readiness::READY_EXPECTED, readiness::ready)
            })
            .unwrap_or_default(),
        watchdog: reader.read("watchdog", readiness::positive_seconds),
        env_files: Rare::new(
            reader
                .read("env-file", readiness::env_files)
                .unwrap_or_default(),
        ),
        resources: Rare::new(super::resources::read(reader)),
        console: reader.read("console", Field::bool).unwrap_or(false),
    }
}

fn read_policy(reader: &mut ServiceReader<'_>) -> Policy {
    Policy {
        autostart: reader.read("autostart", Field::bool).unwrap_or(true),
        autorestart: reader
            .read("autorestart", |f| {
                f.word(values::RESTART_EXPECTED, values::restart_policy)
            })
            .unwrap_or(RestartPolicy::Unexpected),
        exitcodes: reader
            .read("exitcodes", readers::exitcodes)
            .unwrap_or_else(|| vec![0]),
        startretries: reader
            .read("startretries", |f| {
                f.integer(0..=i128::from(u32::MAX), "expected an integer ≥ 0")
            })
            .map_or(3, |n| n as u32),
        starttime: reader
            .read("starttime", readers::seconds)
            .unwrap_or(Duration::from_secs(1)),
        stopsignal: reader
            .read("stopsignal", readers::signal)
            .unwrap_or(libc::SIGTERM),
        stoptime: reader
            .read("stoptime", readers::seconds)
            .unwrap_or(Duration::from_secs(10)),
        essential: reader.read("essential", Field::bool).unwrap_or(false),
        ready_timeout: reader
            .read("ready-timeout", readiness::positive_seconds)
            .unwrap_or(Duration::from_secs(90)),
        restart_limit: reader.read("restart-limit", readiness::restart_limit),
        schedule: reader.read("schedule", schedule::read),
        rescue: reader.read("rescue", Field::bool).unwrap_or(false),
    }
}

fn read_rotation(reader: &mut ServiceReader<'_>, maxbytes: &str, backups: &str) -> Rotation {
    let default = Rotation::default();
    Rotation {
        maxbytes: reader
            .read(maxbytes, readers::size)
            .unwrap_or(default.maxbytes),
        backups: reader
            .read(backups, |f| {
                // Each rotation renames every backup: keep that a bounded amount of work.
                f.integer(0..=1000, "expected an integer from 0 to 1000")
            })
            .map_or(default.backups, |n| n as u32),
    }
}

/// `user` and `group` together: the uid, gid and groups the service runs with.
fn read_credentials(reader: &mut ServiceReader<'_>) -> Option<Credentials> {
    let user = reader.read("user", |f| {
        let account = readers::account(f, "user")?;
        users::resolve_user(&account).map_err(|message| f.error(message))
    });
    let group = reader.read("group", |f| {
        let account = readers::account(f, "group")?;
        users::resolve_group(&account).map_err(|message| f.error(message))
    });
    let failed = |field, found: bool| reader.fields.contains_key(field) && !found;
    if failed("user", user.is_some()) || failed("group", group.is_some()) {
        return None; // already reported
    }
    if user.is_none() && group.is_none() {
        return None;
    }
    // Report against `user` when given: that is where supplementary groups come from.
    let position = if reader.fields.contains_key("user") {
        "user"
    } else {
        "group"
    };
    reader.read(position, |f| {
        users::credentials(user.as_ref(), group).map_err(|m| f.error(m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` services, every 7th with a bad field, in one file.
    fn file(count: usize) -> String {
        (0..count)
            .map(|i| {
                let bad = if i % 7 == 3 { "    umask \"x\"\n" } else { "" };
                format!(
                    "service \"s{i:04}\" {{\n    cmd \"/bin/sleep\" \"1\"\n{bad}    env {{\n        N \"{i}\"\n    }}\n}}\n"
                )
            })
            .collect()
    }

    fn whole(text: &str) -> ParsedFile {
        let source = SourceText::new(Path::new("big.kdl"), text);
        let mut parsed = ParsedFile::empty();
        let document = syntax::parse_document(&source).expect("parses");
        read_nodes(document.nodes(), &source, &mut parsed);
        sort_by_position(&mut parsed.errors);
        parsed
    }

    #[test]
    fn a_file_parsed_in_parts_yields_what_the_whole_does() {
        let text = file(600);
        let source = SourceText::new(Path::new("big.kdl"), &text);
        let parts = parse_in_parts(&source).expect("parsed in parts");
        let whole = whole(&text);
        assert_eq!(parts.services.len(), 600 - 86);
        assert_eq!(parts.services, whole.services);
        assert_eq!(parts.defined, whole.defined);
        let errors = |p: &ParsedFile| p.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        assert_eq!(errors(&parts), errors(&whole));
        // Service 598 (six lines each, one more for every bad one before it) is in the
        // last part: its line counts from the start of the file.
        let last = errors(&parts).pop().unwrap_or_default();
        assert!(last.starts_with("big.kdl:3676:5: field `umask`"), "{last}");
    }

    #[test]
    fn many_files_parsed_on_several_threads_yield_what_one_by_one_does() {
        let texts: Vec<(PathBuf, String)> = (0..300)
            .map(|i| {
                (
                    PathBuf::from(format!("s{i}.kdl")),
                    file(1).replace("s0000", &format!("s{i}")),
                )
            })
            .collect();
        let files: Vec<(&Path, &str)> = texts
            .iter()
            .map(|(f, t)| (f.as_path(), t.as_str()))
            .collect();
        let together = parse_files(&files);
        assert_eq!(together.len(), 300);
        for ((file, text), parsed) in files.iter().zip(&together) {
            let alone = parse_whole(&SourceText::new(file, text));
            assert_eq!(parsed.services, alone.services, "{}", file.display());
            assert_eq!(parsed.defined, alone.defined);
        }
        assert_eq!(together[299].defined[0].0, "s299");
    }

    #[test]
    fn a_part_that_does_not_parse_leaves_the_errors_to_the_whole_file() {
        let text = format!("{}service \"broken\" {{ cmd }}}}\n{}", file(300), file(300));
        let source = SourceText::new(Path::new("big.kdl"), &text);
        assert!(parse_in_parts(&source).is_none());
        let parsed = parse_file(Path::new("big.kdl"), &text);
        assert!(!parsed.readable);
    }

    #[test]
    fn a_syntax_error_far_into_a_large_file_is_reported_once_at_its_line() {
        // Past many 8 KiB parts: the parts that parse are thrown away with what they read.
        let before = file(600);
        let text = format!(
            "{before}service \"broken\" {{ cmd /bin/true }}\n{}",
            file(50)
        );
        let parsed = parse_file(Path::new("big.kdl"), &text);
        assert!(!parsed.readable);
        assert!(parsed.services.is_empty() && parsed.defined.is_empty());
        let line = before.lines().count() + 1;
        let errors: Vec<String> = parsed.errors.iter().map(|e| e.to_string()).collect();
        let at_line = format!("big.kdl:{line}:");
        assert!(errors.iter().any(|e| e.starts_with(&at_line)), "{errors:?}");
        let mut unique = errors.clone();
        unique.dedup();
        assert_eq!(unique, errors);
    }
}
