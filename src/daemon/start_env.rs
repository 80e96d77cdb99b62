//! What a process gets on top of its service file at each start: the `env-file` contents,
//! the `TASKMASTER_*` names, the notify variables, and `${VAR}` replaced in `cmd`
//! (SPEC.md, "Readiness"). Env files are read here, at each start, so that a file that
//! changed or appeared since the load counts; each is small and bounded.

use crate::config::{
    expand_vars, parse_env_file, Output, ProcessSpec, Readiness, MAX_ENV_FILE_BYTES,
};
use crate::supervisor::{InstanceId, SpawnFailure};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The spec as this start runs it: `env` holds everything added to the daemon's own
/// environment, and `cmd` has its variables replaced.
pub fn for_start(
    spec: &ProcessSpec,
    id: &InstanceId,
    name: &str,
    notify_socket: Option<&Path>,
) -> Result<ProcessSpec, SpawnFailure> {
    let mut env = BTreeMap::new();
    for file in spec.env_files.iter() {
        match read_env_file(&file.path) {
            Ok(Some(vars)) => env.extend(vars),
            Ok(None) if file.optional => {}
            Ok(None) => {
                return Err(fatal(format!(
                    "env-file {}: No such file or directory",
                    file.path.display()
                )))
            }
            Err(message) => return Err(fatal(message)),
        }
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    // An `on-event` hook's run (its spec carries the event) is told about the instance the
    // event is about, not about its own job (SPEC.md, "Events").
    if !spec.env.contains_key("TASKMASTER_EVENT") || spec.stdout != Output::EventLog {
        env.insert("TASKMASTER_SERVICE".into(), id.service.clone());
        env.insert("TASKMASTER_INSTANCE".into(), id.index.to_string());
        env.insert("TASKMASTER_NAME".into(), name.to_string());
    }
    if spec.ready == Readiness::Notify {
        if let Some(socket) = notify_socket {
            env.insert("NOTIFY_SOCKET".into(), socket.display().to_string());
        }
        if let Some(period) = spec.watchdog {
            env.insert("WATCHDOG_USEC".into(), period.as_micros().to_string());
        }
    }
    let mut started = spec.clone();
    started.cmd = expand_cmd(&spec.cmd, &env);
    started.env = env.into();
    Ok(started)
}

/// `${VAR}` from the service's environment (its own additions, then the daemon's). An
/// argument that is exactly `${VAR}` becomes the value's words, none when it is empty, as
/// systemd's `$VAR` does: `sshd -D ${SSHD_OPTS}` with an empty SSHD_OPTS runs `sshd -D`.
pub fn expand_cmd(cmd: &[String], env: &BTreeMap<String, String>) -> Vec<String> {
    if !cmd.iter().any(|arg| arg.contains('$')) {
        return cmd.to_vec();
    }
    let daemon = crate::process::daemon_vars();
    // A daemon variable that is not UTF-8 cannot be part of a `cmd` (a String): none.
    let lookup = |name: &str| {
        env.get(name).map(String::as_str).or_else(|| {
            daemon
                .get(std::ffi::OsStr::new(name))
                .and_then(|value| value.to_str())
        })
    };
    let mut argv = Vec::with_capacity(cmd.len());
    for (index, arg) in cmd.iter().enumerate() {
        let whole = arg
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .filter(|name| !name.contains(['$', '{', '}']));
        match whole {
            // The program itself is never split: it is one path.
            Some(name) if index > 0 => {
                let value = lookup(name).unwrap_or("");
                argv.extend(value.split_whitespace().map(str::to_string));
            }
            _ => argv.push(expand_vars(arg, lookup)),
        }
    }
    argv
}

fn fatal(reason: String) -> SpawnFailure {
    SpawnFailure {
        reason,
        transient: false,
    }
}

/// `Ok(None)`: the file does not exist.
fn read_env_file(path: &Path) -> Result<Option<Vec<(String, String)>>, String> {
    let shown = path.display();
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO put there by mistake must not wait for a writer.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("env-file {shown}: {e}")),
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(format!("env-file {shown}: not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_ENV_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("env-file {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_ENV_FILE_BYTES {
        return Err(format!(
            "env-file {shown}: larger than {} KiB",
            MAX_ENV_FILE_BYTES / 1024
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("env-file {shown}: not UTF-8 text"))?;
    parse_env_file(&text)
        .map(Some)
        .map_err(|e| format!("env-file {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_argument_variable_becomes_words() {
        let env = BTreeMap::from([
            ("SSHD_OPTS".to_string(), "".to_string()),
            ("TWO".to_string(), "-p 2222".to_string()),
            ("N".to_string(), "3".to_string()),
        ]);
        let cmd = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(
            expand_cmd(&cmd(&["/usr/sbin/sshd", "-D", "${SSHD_OPTS}"]), &env),
            cmd(&["/usr/sbin/sshd", "-D"])
        );
        assert_eq!(
            expand_cmd(&cmd(&["sshd", "${TWO}", "--id=${N}", "$$1"]), &env),
            cmd(&["sshd", "-p", "2222", "--id=3", "$1"])
        );
    }
}
