//! `tmctl metrics` and `--metrics-file`: the Prometheus text exposition format (version
//! 0.0.4), per instance and for the daemon. The file is rewritten (to a temporary file,
//! then renamed over it) at the end of a loop turn in which some state changed, so a
//! textfile collector never reads half of it and an idle daemon writes nothing.

use super::Daemon;
use crate::control::proto::InstanceStatus;
use crate::log::Level;
use crate::supervisor::{InstanceId, State};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub(super) struct Metrics {
    /// `--metrics-file`.
    pub(super) file: Option<PathBuf>,
    /// Something changed since the file was last written.
    dirty: bool,
    /// State changes published since the daemon started.
    events: u64,
    /// The last write failed: said once, until one succeeds.
    failing: bool,
}

impl Metrics {
    pub(super) fn new(file: Option<PathBuf>) -> Metrics {
        Metrics {
            dirty: file.is_some(),
            file,
            ..Default::default()
        }
    }

    /// A state change was published.
    pub(super) fn event(&mut self) {
        self.events += 1;
        self.dirty = true;
    }
}

/// Why `--metrics-file PATH` cannot be used: its directory is missing or not a directory.
#[derive(Debug, thiserror::Error)]
pub enum MetricsFileError {
    #[error("--metrics-file {}: not a file name", .0.display())]
    NotAFileName(PathBuf),
    #[error("--metrics-file {}: {} is not a directory", path.display(), dir.display())]
    NotADirectory { path: PathBuf, dir: PathBuf },
    #[error("--metrics-file {}: directory {}: {error}", path.display(), dir.display())]
    Directory {
        path: PathBuf,
        dir: PathBuf,
        error: std::io::Error,
    },
}

/// Checks `--metrics-file PATH` before the daemon starts.
pub fn check_metrics_file(path: &Path) -> Result<(), MetricsFileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if path.file_name().is_none() {
        return Err(MetricsFileError::NotAFileName(path.to_path_buf()));
    }
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(MetricsFileError::NotADirectory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        }),
        Err(error) => Err(MetricsFileError::Directory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            error,
        }),
    }
}

impl Daemon {
    /// The whole exposition, as `tmctl metrics` prints it.
    pub(super) fn metrics_text(&self) -> String {
        let now = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let ids: Vec<InstanceId> = self.core.resolve(&["all".to_string()]).unwrap_or_default();
        let mut instances: Vec<InstanceStatus> = ids
            .iter()
            .filter_map(|id| self.core.status_of(id, now))
            .map(InstanceStatus::from)
            .collect();
        self.cgroups.account(&mut instances);
        let oneshot = |service: &str| {
            self.core
                .process_spec(service)
                .is_some_and(|p| p.kind == crate::config::ServiceType::Oneshot)
        };
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let each = |value: &dyn Fn(&InstanceStatus) -> Option<String>| {
            instances
                .iter()
                .filter_map(|i| Some((labels(i, None), value(i)?)))
                .collect::<Vec<_>>()
        };
        family(
            "taskmaster_instance_up",
            "gauge",
            "1 when the instance is up (RUNNING, or a oneshot that succeeded), else 0.",
            each(&|i| {
                let up = i.state == "RUNNING" || (i.state == "EXITED" && oneshot(&i.service));
                Some(u8::from(up).to_string())
            }),
        );
        family(
            "taskmaster_instance_state",
            "gauge",
            "1 for the state the instance is in (label state).",
            instances
                .iter()
                .map(|i| (labels(i, Some(&i.state)), "1".to_string()))
                .collect(),
        );
        family(
            "taskmaster_instance_restarts_total",
            "counter",
            "Automatic restarts of the instance since the daemon started.",
            each(&|i| Some(i.restarts.to_string())),
        );
        family(
            "taskmaster_instance_last_exit_code",
            "gauge",
            "Exit code of the instance's last process (absent when it died of a signal).",
            each(&|i| i.exit_code.map(|c| c.to_string())),
        );
        family(
            "taskmaster_instance_last_exit_signal",
            "gauge",
            "Signal number that ended the instance's last process (absent after an exit).",
            each(&|i| {
                let name = i.exit_signal.as_deref()?;
                crate::signals::parse(name).map(|n| n.to_string())
            }),
        );
        family(
            "taskmaster_instance_start_time_seconds",
            "gauge",
            "Unix time when the instance's current process was started.",
            each(&|i| Some(format!("{:.0}", wall - i.uptime_secs? as f64))),
        );
        family(
            "taskmaster_instance_memory_bytes",
            "gauge",
            "Memory the instance's cgroup uses (memory.current).",
            each(&|i| i.memory_bytes.map(|b| b.to_string())),
        );
        family(
            "taskmaster_instance_cpu_seconds_total",
            "counter",
            "CPU time the instance's cgroup has used (cpu.stat usage_usec).",
            each(&|i| i.cpu_usec.map(|u| format!("{:.6}", u as f64 / 1e6))),
        );
        family(
            "taskmaster_instance_tasks",
            "gauge",
            "Processes and threads in the instance's cgroup.",
            each(&|i| i.tasks.map(|t| t.to_string())),
        );
        let mut services: Vec<&str> = instances.iter().map(|i| i.service.as_str()).collect();
        services.dedup();
        family(
            "taskmaster_services",
            "gauge",
            "Services loaded.",
            vec![(String::new(), services.len().to_string())],
        );
        let states = [
            State::Stopped,
            State::Pending,
            State::Starting,
            State::Running,
            State::Backoff,
            State::Stopping,
            State::Exited,
            State::Fatal,
            State::Paused,
        ];
        family(
            "taskmaster_instances",
            "gauge",
            "Instances in each state.",
            states
                .iter()
                .map(|s| {
                    let n = instances.iter().filter(|i| i.state == s.word()).count();
                    (format!("{{state=\"{}\"}}", s.word()), n.to_string())
                })
                .collect(),
        );
        family(
            "taskmaster_events_total",
            "counter",
            "State changes of instances since the daemon started.",
            vec![(String::new(), self.metrics.events.to_string())],
        );
        out
    }

    /// Rewrites `--metrics-file` if something changed since the last time.
    pub(super) fn write_metrics_file(&mut self) {
        if !self.metrics.dirty {
            return;
        }
        let Some(path) = self.metrics.file.clone() else {
            return;
        };
        self.metrics.dirty = false;
        let text = self.metrics_text();
        match write_atomically(&path, text.as_bytes()) {
            Ok(()) => self.metrics.failing = false,
            Err(e) if !self.metrics.failing => {
                self.metrics.failing = true;
                self.log.write(
                    Level::Error,
                    &format!("metrics file {}: {e}", path.display()),
                );
            }
            Err(_) => {}
        }
    }
}

/// `{name="web:0",service="web"}`, with `state` when given.
fn labels(i: &InstanceStatus, state: Option<&str>) -> String {
    let mut text = format!(
        "{{name=\"{}\",service=\"{}\"",
        escape(&i.name),
        escape(&i.service)
    );
    if let Some(state) = state {
        let _ = write!(text, ",state=\"{}\"", escape(state));
    }
    text.push('}');
    text
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Written beside, then renamed over: a reader sees the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}
