//! Readers for what makes the daemon act on a service besides its own process (SPEC.md,
//! "Events, files, sockets, consoles"): `on-event` hooks, `watch`ed files, `listen`
//! sockets and `start-on-demand`, and the checks between these fields.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::fields::{describe, Field};
use super::readers;
use super::{Config, ConfigError, EventHook, ListenAddr, Output, ProcessSpec, Triggers};

/// The words `on-event` accepts: the states an instance can enter, and `exit`.
pub(crate) const EVENT_WORDS: [&str; 10] = [
    "STOPPED", "PENDING", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
    "PAUSED", "exit",
];

/// At most this many `on-event` hooks per service (each may run once per instance at a time).
pub(crate) const MAX_HOOKS: usize = 16;
/// At most this many `watch` paths and `listen` sockets per service.
pub(crate) const MAX_WATCHES: usize = 64;
pub(crate) const MAX_LISTEN: usize = 16;

/// `on-event "FATAL" "BACKOFF" "/usr/local/bin/alert --service ${TASKMASTER_NAME}"`: the
/// last argument is the command (split like `cmd`), the others are events.
pub(crate) fn on_event(field: &Field<'_>) -> Result<EventHook, ConfigError> {
    const EXPECTED: &str = "expected one or more states (FATAL, EXITED, BACKOFF, RUNNING, …) or \
                            \"exit\", then the command, e.g. on-event \"FATAL\" \"/usr/local/bin/alert\"";
    let entries = field.arguments()?;
    let Some((command, words)) = entries.split_last() else {
        return Err(field.error(format!("{EXPECTED}, got nothing")));
    };
    if words.is_empty() {
        // One argument: a state without its command, or a command without its states.
        let only = field.string_of(command, EXPECTED)?;
        if EVENT_WORDS.contains(&only) {
            return Err(field.error(format!(
                "{EXPECTED}, got the state {only:?} and no command to run"
            )));
        }
        return Err(field.error(format!("{EXPECTED}, got no state or no command")));
    }
    let mut events = Vec::new();
    for entry in words {
        let word = field.string_of(entry, EXPECTED)?;
        if !EVENT_WORDS.contains(&word) {
            let upper = word.to_ascii_uppercase();
            let hint = if EVENT_WORDS.contains(&upper.as_str()) {
                format!(" (write it {upper:?})")
            } else {
                String::new()
            };
            return Err(field.error(format!(
                "unknown state {word:?}{hint}; expected one of {}",
                EVENT_WORDS.join(", ")
            )));
        }
        if !events.iter().any(|e| e == word) {
            events.push(word.to_string());
        }
    }
    let text = field.string_of(command, EXPECTED)?;
    if EVENT_WORDS.contains(&text) {
        return Err(field.error(format!(
            "the last argument is the command to run, got the state {text:?}"
        )));
    }
    let cmd = shlex::split(text)
        .filter(|argv| argv.first().is_some_and(|p| !p.is_empty()))
        .ok_or_else(|| field.error(format!("{EXPECTED}, got the command {text:?}")))?;
    Ok(EventHook { events, cmd })
}

/// `watch "/etc/app.conf" "/usr/sbin/app"`: absolute paths (a file that does not exist
/// yet is watched for its creation).
pub(crate) fn watch(field: &Field<'_>) -> Result<Vec<PathBuf>, ConfigError> {
    const EXPECTED: &str = "expected one or more absolute paths such as \"/etc/app/app.conf\"";
    let entries = field.arguments()?;
    if entries.is_empty() {
        return Err(field.error(format!("{EXPECTED}, got nothing")));
    }
    if entries.len() > MAX_WATCHES {
        return Err(field.error(format!("at most {MAX_WATCHES} paths")));
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let text = field.string_of(entry, EXPECTED)?;
        if !text.starts_with('/') {
            return Err(field.error(format!(
                "{EXPECTED}, got the relative path {text:?} (relative to what? write it from /)"
            )));
        }
        let path = PathBuf::from(text);
        if path.parent().is_none() {
            return Err(field.error("cannot watch / itself; name a file"));
        }
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    Ok(paths)
}

const LISTEN_EXPECTED: &str =
    "expected \"tcp:ADDR:PORT\", \"udp:ADDR:PORT\" or \"unix:/absolute/path\", e.g. \"tcp:127.0.0.1:8080\"";

/// `listen "tcp:0.0.0.0:80" "unix:/run/app.sock"`.
pub(crate) fn listen(field: &Field<'_>) -> Result<Vec<ListenAddr>, ConfigError> {
    let entries = field.arguments()?;
    if entries.is_empty() {
        return Err(field.error(format!("{LISTEN_EXPECTED}, got nothing")));
    }
    if entries.len() > MAX_LISTEN {
        return Err(field.error(format!("at most {MAX_LISTEN} sockets")));
    }
    let mut found: Vec<ListenAddr> = Vec::new();
    for entry in entries {
        let text = field.string_of(entry, LISTEN_EXPECTED)?;
        let addr = listen_addr(text).map_err(|why| field.error(why))?;
        if found.contains(&addr) {
            return Err(field.error(format!("{text:?} is given twice")));
        }
        found.push(addr);
    }
    Ok(found)
}

/// One `listen` value; the error says what is wrong with it.
pub(crate) fn listen_addr(text: &str) -> Result<ListenAddr, String> {
    let bad = |why: &str| format!("{LISTEN_EXPECTED}, got {text:?}: {why}");
    let (kind, rest) = text
        .split_once(':')
        .ok_or_else(|| bad("no tcp:, udp: or unix: prefix"))?;
    match kind {
        "unix" => {
            if !rest.starts_with('/') {
                return Err(bad("a unix socket needs an absolute path"));
            }
            // sun_path holds 108 bytes with its NUL.
            if rest.len() > 107 {
                return Err(bad("the path is longer than 107 bytes"));
            }
            Ok(ListenAddr::Unix(PathBuf::from(rest)))
        }
        "tcp" | "udp" => {
            let (_, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("no :PORT after the address"))?;
            match port.parse::<u64>() {
                Ok(0) => return Err(bad("port 0 would be a different port at every load")),
                Ok(1..=65535) => {}
                Ok(_) => return Err(bad("a port is from 1 to 65535")),
                Err(_) => return Err(bad("the port is not a number")),
            }
            let addr: SocketAddr = rest
                .parse()
                .map_err(|_| bad("not an IP address and port (write IPv6 as [::1]:80)"))?;
            Ok(if kind == "tcp" {
                ListenAddr::Tcp(addr)
            } else {
                ListenAddr::Udp(addr)
            })
        }
        _ => Err(bad("unknown kind")),
    }
}

/// Reads every trigger field of one service. `hooks` are the `on-event` fields (the one
/// field that may be given several times), in file order.
pub(crate) fn read(
    fields: &BTreeMap<&str, Field<'_>>,
    hooks: &[Field<'_>],
    errors: &mut Vec<ConfigError>,
) -> Triggers {
    let mut triggers = Triggers::default();
    for field in hooks {
        match on_event(field) {
            Ok(hook) => triggers.hooks.push(hook),
            Err(e) => errors.push(e),
        }
    }
    if hooks.len() > MAX_HOOKS {
        errors.push(hooks[MAX_HOOKS].error(format!("at most {MAX_HOOKS} hooks per service")));
    }
    let take = |name: &str| fields.get(name);
    if let Some(field) = take("watch") {
        match watch(field) {
            Ok(paths) => triggers.watch = paths,
            Err(e) => errors.push(e),
        }
    }
    if let Some(field) = take("watch-signal") {
        match readers::signal(field) {
            Ok(signal) => triggers.watch_signal = Some(signal),
            Err(e) => errors.push(e),
        }
        if !fields.contains_key("watch") {
            errors.push(
                field.error("needs `watch`: it says what to send when a watched file changes"),
            );
        }
    }
    if let Some(field) = take("listen") {
        match listen(field) {
            Ok(addrs) => triggers.listen = addrs,
            Err(e) => errors.push(e),
        }
    }
    if let Some(field) = take("start-on-demand") {
        match field.bool() {
            Ok(on) => triggers.start_on_demand = on,
            Err(e) => errors.push(e),
        }
        if !fields.contains_key("listen") && triggers.start_on_demand {
            errors.push(field.error(
                "needs `listen`: the service is started by the first connection to its sockets",
            ));
        }
    }
    triggers
}

/// `console #true`: the process runs on a pseudo-terminal, its output captured for `tail`
/// and `attach`; an output sent elsewhere is refused rather than silently ignored.
pub(crate) fn check_console(
    fields: &BTreeMap<&str, Field<'_>>,
    process: &ProcessSpec,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if !process.console {
        return errors;
    }
    for (name, output) in [("stdout", &process.stdout), ("stderr", &process.stderr)] {
        let elsewhere = !matches!(output, Output::Capture);
        if let (true, Some(field)) = (elsewhere, fields.get(name)) {
            let entry = field.node.entries().first();
            let got = entry.map(describe).unwrap_or_default();
            errors.push(field.error(format!(
                "a service with `console #true` writes to its terminal, captured for tail and \
                 attach; remove `{name}` (got {got})"
            )));
        }
    }
    errors
}

/// Two services whose `listen` sockets would take the same port are an error naming both:
/// only one of them could bind it. Besides the same address twice, a wildcard address
/// (`0.0.0.0`, `[::]`) takes its port on every address of its family, and `[::]` takes the
/// IPv4 port too (Linux binds it dual-stack unless `net.ipv6.bindv6only` is set).
pub(crate) fn shared_sockets(config: &Config) -> Vec<ConfigError> {
    // By protocol and port (or the unix path): the sockets seen so far and their service.
    let mut seen: BTreeMap<String, Vec<(&ListenAddr, &str)>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, spec) in &config.services {
        let mut mine: Vec<(String, &ListenAddr)> = Vec::new();
        for addr in &spec.triggers.listen {
            let key = match addr {
                ListenAddr::Tcp(at) => format!("tcp:{}", at.port()),
                ListenAddr::Udp(at) => format!("udp:{}", at.port()),
                ListenAddr::Unix(path) => format!("unix:{}", path.display()),
            };
            let taken = seen
                .get(&key)
                .and_then(|list| list.iter().find(|(other, _)| overlap(addr, other)));
            if let Some((other, service)) = taken {
                let why = if *other == addr {
                    String::new()
                } else {
                    format!(" (which holds port {} on that address too)", port_of(other))
                };
                errors.push(ConfigError {
                    location: spec.origin.to_string(),
                    message: format!(
                        "field `listen`: \"{addr}\" is also the socket of service `{service}`: \
                         it listens on \"{other}\"{why}; one port can be handed to one service \
                         only"
                    ),
                });
            }
            mine.push((key, addr));
        }
        // Added after the service's own are checked: within one service, `listen` itself
        // refuses an address given twice.
        for (key, addr) in mine {
            seen.entry(key).or_default().push((addr, name));
        }
    }
    errors
}

fn port_of(addr: &ListenAddr) -> u16 {
    match addr {
        ListenAddr::Tcp(at) | ListenAddr::Udp(at) => at.port(),
        ListenAddr::Unix(_) => 0,
    }
}

/// Whether two sockets of the same protocol and port (or path) could not both be bound.
fn overlap(a: &ListenAddr, b: &ListenAddr) -> bool {
    let (x, y) = match (a, b) {
        (ListenAddr::Tcp(x), ListenAddr::Tcp(y)) | (ListenAddr::Udp(x), ListenAddr::Udp(y)) => {
            (x.ip(), y.ip())
        }
        (a, b) => return a == b,
    };
    // A wildcard covers its family; the IPv6 one covers IPv4 too.
    let covers = |wild: std::net::IpAddr, other: std::net::IpAddr| {
        wild.is_unspecified() && (wild.is_ipv6() || other.is_ipv4())
    };
    x == y || covers(x, y) || covers(y, x)
}

/// `ready "fd:N"` must not be one of the fds the sockets are handed on (3, 4, …).
pub(crate) fn check_ready_fd(
    fields: &BTreeMap<&str, Field<'_>>,
    process: &ProcessSpec,
    triggers: &Triggers,
) -> Option<ConfigError> {
    let crate::config::Readiness::Fd(n) = process.ready else {
        return None;
    };
    let last = 2 + triggers.listen.len() as i32;
    (n <= last).then(|| {
        fields.get("ready").map(|f| {
            f.error(format!(
                "fd {n} is where a `listen` socket goes (3 to {last}); use fd:{} or above",
                last + 1
            ))
        })
    })?
}
