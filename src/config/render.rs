//! `tmctl show NAME`: a service's effective configuration written back as KDL, every field
//! of SPEC.md's table in its order, with its value or its default. A field whose default is
//! "nothing" or "inherited" has no value to write: it is a `// field: …` comment saying so.
//! The text is a service file the loader accepts (the tests load it back), so it can be
//! copied into `services.d` as it is.

use std::fmt::Write as _;
use std::time::Duration;

use super::values::UNLIMITED;
use super::{Credentials, Output, Readiness, RestartPolicy, Rotation, ServiceSpec, ServiceType};

/// The whole `service "NAME" { … }` node.
pub fn service_kdl(spec: &ServiceSpec) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "// {}: defined at {}", spec.name, spec.origin);
    let _ = writeln!(out, "service {} {{", quote(&spec.name));
    let mut body = Body::default();
    fields(spec, &mut body);
    out.push_str(&body.text);
    out.push_str("}\n");
    out
}

#[derive(Default)]
struct Body {
    text: String,
}

impl Body {
    /// `field value value…`; values are already KDL.
    fn field(&mut self, name: &str, values: &[String]) {
        if values.is_empty() {
            let _ = writeln!(self.text, "    {name}");
        } else {
            let _ = writeln!(self.text, "    {name} {}", values.join(" "));
        }
    }

    /// A field that has no value to write, and why.
    fn none(&mut self, name: &str, meaning: &str) {
        let _ = writeln!(self.text, "    // {name}: {meaning}");
    }

    fn block(&mut self, name: &str, lines: &[String]) {
        let _ = writeln!(self.text, "    {name} {{");
        for line in lines {
            let _ = writeln!(self.text, "        {line}");
        }
        let _ = writeln!(self.text, "    }}");
    }

    fn strings(&mut self, name: &str, items: &[String], otherwise: &str) {
        if items.is_empty() {
            self.none(name, otherwise);
        } else {
            let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
            self.field(name, &quoted);
        }
    }
}

fn fields(spec: &ServiceSpec, b: &mut Body) {
    let process = &spec.process;
    let policy = &spec.policy;
    let oneshot = process.kind == ServiceType::Oneshot;
    b.field("cmd", &command(&process.cmd));
    b.field("type", &[quote(if oneshot { "oneshot" } else { "simple" })]);
    b.field("numprocs", &[spec.numprocs.to_string()]);
    match process.umask {
        Some(mask) => b.field("umask", &[quote(&format!("{mask:03o}"))]),
        None => b.none("umask", "inherited from taskmasterd"),
    }
    b.field("workingdir", &[path(&process.workingdir)]);
    b.field("autostart", &[flag(policy.autostart)]);
    let restart = match policy.autorestart {
        RestartPolicy::Always => "always",
        RestartPolicy::Never => "never",
        RestartPolicy::Unexpected => "unexpected",
    };
    b.field("autorestart", &[quote(restart)]);
    let codes: Vec<String> = policy.exitcodes.iter().map(i32::to_string).collect();
    b.field("exitcodes", &codes);
    b.field("startretries", &[policy.startretries.to_string()]);
    b.field("starttime", &[seconds(policy.starttime)]);
    b.field("stopsignal", &[signal(policy.stopsignal)]);
    b.field("stoptime", &[seconds(policy.stoptime)]);
    output(b, "stdout", &process.stdout);
    output(b, "stderr", &process.stderr);
    if process.env.is_empty() {
        b.none("env", "nothing added to the environment");
    } else {
        let lines: Vec<String> = process
            .env
            .iter()
            .map(|(key, value)| format!("{} {}", node_name(key), quote(value)))
            .collect();
        b.block("env", &lines);
    }
    credentials(b, process.credentials.as_ref());
    match &*process.capabilities {
        Some(list) => {
            // An empty list (none at all) is the field with no value.
            let names: Vec<String> = list.iter().map(|c| quote(&c.to_string())).collect();
            b.field("capabilities", &names);
        }
        None => b.none("capabilities", "all when root, none for another user"),
    }
    b.field("no-new-privs", &[flag(process.no_new_privs)]);
    if process.limits.is_empty() {
        b.none("limits", "inherited from taskmasterd");
    } else {
        let lines: Vec<String> = process
            .limits
            .iter()
            .map(|l| {
                if l.soft == l.hard {
                    format!("{} {}", l.resource.name(), limit(l.soft))
                } else {
                    format!("{} {} {}", l.resource.name(), limit(l.soft), limit(l.hard))
                }
            })
            .collect();
        b.block("limits", &lines);
    }
    rotation(b, "stdout", process.stdout_rotation);
    rotation(b, "stderr", process.stderr_rotation);
    b.field("essential", &[flag(policy.essential)]);
    let deps = &spec.deps;
    b.strings("requires", &deps.requires, "none");
    b.strings("wants", &deps.wants, "none");
    b.strings("after", &deps.after, "none");
    b.strings("before", &deps.before, "none");
    match &spec.pre_start {
        Some(argv) => b.field("pre-start", &command(argv)),
        None => b.none("pre-start", "none"),
    }
    b.strings("binds-to", &deps.binds_to, "none");
    let ready = match process.ready {
        Readiness::Started => "started".to_string(),
        Readiness::Notify => "notify".to_string(),
        Readiness::Fd(n) => format!("fd:{n}"),
    };
    b.field("ready", &[quote(&ready)]);
    if process.ready.is_reported() {
        b.field("ready-timeout", &[seconds(policy.ready_timeout)]);
    } else {
        b.none("ready-timeout", "notify and fd:N only");
    }
    match process.watchdog {
        Some(every) => b.field("watchdog", &[seconds(every)]),
        None => b.none("watchdog", "none"),
    }
    let env_files: Vec<String> = process
        .env_files
        .iter()
        .map(|f| {
            let path = f.path.to_string_lossy();
            if f.optional {
                format!("-{path}")
            } else {
                path.into_owned()
            }
        })
        .collect();
    b.strings("env-file", &env_files, "none");
    match policy.restart_limit {
        Some(limit) => b.field(
            "restart-limit",
            &[limit.count.to_string(), seconds(limit.window)],
        ),
        None => b.none("restart-limit", "none"),
    }
    match &policy.schedule {
        Some(schedule) => b.field("schedule", &[quote(schedule.text())]),
        None => b.none("schedule", "none"),
    }
    b.field("rescue", &[flag(policy.rescue)]);
    let resources = &process.resources;
    let size = |bytes: Option<u64>| bytes.map(super::size_text).map(|s| quote(&s));
    optional(b, "memory-max", size(resources.memory_max));
    optional(b, "memory-high", size(resources.memory_high));
    optional(b, "cpu-weight", resources.cpu_weight.map(|w| w.to_string()));
    optional(
        b,
        "cpu-max",
        resources.cpu_max_percent.map(|p| quote(&format!("{p}%"))),
    );
    optional(b, "pids-max", resources.pids_max.map(|n| n.to_string()));
    let triggers = &spec.triggers;
    if triggers.hooks.is_empty() {
        b.none("on-event", "none");
    }
    for hook in &triggers.hooks {
        let mut values: Vec<String> = hook.events.iter().map(|e| quote(e)).collect();
        values.push(quote(&joined(&hook.cmd)));
        b.field("on-event", &values);
    }
    let watched: Vec<String> = triggers
        .watch
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    b.strings("watch", &watched, "none");
    match triggers.watch_signal {
        Some(sig) => b.field("watch-signal", &[signal(sig)]),
        None => b.none("watch-signal", "none: a change restarts the service"),
    }
    let listen: Vec<String> = triggers.listen.iter().map(|a| a.to_string()).collect();
    b.strings("listen", &listen, "none");
    if triggers.listen.is_empty() {
        b.none("start-on-demand", "listen only");
    } else {
        b.field("start-on-demand", &[flag(triggers.start_on_demand)]);
    }
    b.field("console", &[flag(process.console)]);
}

fn optional(b: &mut Body, name: &str, value: Option<String>) {
    match value {
        Some(value) => b.field(name, &[value]),
        None => b.none(name, "none"),
    }
}

fn output(b: &mut Body, name: &str, output: &Output) {
    let value = match output {
        Output::Capture => return b.none(name, "captured for tmctl tail"),
        Output::EventLog => return b.none(name, "the event log (an on-event hook's run)"),
        Output::Discard => "discard".to_string(),
        Output::Syslog => "syslog".to_string(),
        Output::Inherit => "inherit".to_string(),
        Output::Stdout => "stdout".to_string(),
        Output::File(path) => path.to_string_lossy().into_owned(),
    };
    b.field(name, &[quote(&value)]);
}

fn rotation(b: &mut Body, stream: &str, rotation: Rotation) {
    b.field(
        &format!("{stream}-maxbytes"),
        &[rotation.maxbytes.to_string()],
    );
    b.field(
        &format!("{stream}-backups"),
        &[rotation.backups.to_string()],
    );
}

fn credentials(b: &mut Body, credentials: Option<&Credentials>) {
    let Some(c) = credentials else {
        b.none("user", "root's (taskmasterd's own)");
        b.none("group", "root's (taskmasterd's own)");
        return;
    };
    match (&c.user, c.uid) {
        (Some(name), _) => b.field("user", &[quote(name)]),
        (None, 0) => b.none("user", "root's (taskmasterd's own)"),
        (None, uid) => b.field("user", &[uid.to_string()]),
    }
    b.field("group", &[c.gid.to_string()]);
}

/// One argument: a single string (split by the loader with shell-word rules, so it is
/// quoted for them); several: each its own string, taken literally.
fn command(argv: &[String]) -> Vec<String> {
    match argv {
        [one] => vec![quote(&joined(std::slice::from_ref(one)))],
        many => many.iter().map(|a| quote(a)).collect(),
    }
}

/// Shell words the loader's splitter gives back as `argv`.
fn joined(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

fn flag(on: bool) -> String {
    if on { "#true" } else { "#false" }.to_string()
}

/// Whole seconds as an integer, else a decimal (`0.25`).
fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        duration.as_secs().to_string()
    } else {
        format!("{:?}", duration.as_secs_f64())
    }
}

fn signal(number: i32) -> String {
    let name = crate::signals::name(number);
    if name.parse::<i32>().is_ok() {
        name
    } else {
        quote(&name)
    }
}

fn limit(value: u64) -> String {
    if value == UNLIMITED {
        quote("unlimited")
    } else {
        value.to_string()
    }
}

fn path(path: &std::path::Path) -> String {
    quote(&path.to_string_lossy())
}

/// An `env` key as a node name: bare when KDL allows it, else quoted.
fn node_name(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(key, "inf" | "nan" | "true" | "false" | "null");
    if plain {
        key.to_string()
    } else {
        quote(key)
    }
}

/// A KDL v2 quoted string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Loads `text`, renders the one service, loads that back: the same spec.
    fn round_trip(text: &str) -> String {
        let file = Path::new("a.kdl");
        let specs = super::super::parse_str(file, text).expect("the original loads");
        let shown = service_kdl(&specs[0]);
        let again =
            super::super::parse_str(file, &shown).unwrap_or_else(|e| panic!("{e:?}\n---\n{shown}"));
        let (mut a, mut b) = (specs[0].clone(), again[0].clone());
        a.origin = b.origin.clone();
        b.origin = a.origin.clone();
        assert_eq!(a, b, "\n---\n{shown}");
        shown
    }

    #[test]
    fn defaults_are_written_and_load_back() {
        let shown = round_trip("service \"web\" { cmd \"/bin/sleep 10\"; }\n");
        for line in [
            "    cmd \"/bin/sleep\" \"10\"",
            "    type \"simple\"",
            "    numprocs 1",
            "    // umask: inherited from taskmasterd",
            "    workingdir \"/\"",
            "    autostart #true",
            "    autorestart \"unexpected\"",
            "    exitcodes 0",
            "    startretries 3",
            "    starttime 1",
            "    stopsignal \"TERM\"",
            "    stoptime 10",
            "    // stdout: captured for tmctl tail",
            "    stdout-backups 10",
            "    ready \"started\"",
            "    console #false",
        ] {
            assert!(shown.lines().any(|l| l == line), "{line:?} in\n{shown}");
        }
    }

    #[test]
    fn every_kind_of_value_loads_back() {
        round_trip(
            r#"service "every" {
    cmd "/bin/echo" "a b" "c\"d" "$x"
    type "oneshot"
    numprocs 2
    umask "027"
    workingdir "/tmp"
    autostart #false
    autorestart "never"
    exitcodes 0 2
    startretries 0
    stoptime 0.25
    stopsignal "RTMIN+2"
    stdout "/tmp/out.log"
    stderr "stdout"
    env { PATH "/usr/bin"; _X1 "x\ny"; }
    capabilities "CAP_NET_BIND_SERVICE"
    no-new-privs #true
    limits { nofile 1024 2048; core "unlimited"; }
    stdout-maxbytes "1MB"
    stdout-backups 3
    essential #true
    pre-start "/bin/test -d '/tmp/a b'"
    env-file "/etc/default/x" "-/etc/default/y"
    restart-limit 5 60
    schedule "*/5 * * * *"
    memory-max "512M"
    memory-high 1000000
    cpu-weight 200
    cpu-max "50%"
    pids-max 64
    on-event "FATAL" "exit" "/bin/echo ${TASKMASTER_NAME} failed"
    watch "/tmp/a.conf"
    watch-signal "HUP"
    listen "tcp:127.0.0.1:8080"
    start-on-demand #true
}
"#,
        );
        round_trip(
            "service \"n\" {\n    cmd \"/bin/x\"\n    ready \"notify\"\n    watchdog 5\n    ready-timeout 7.5\n}\n",
        );
    }
}
