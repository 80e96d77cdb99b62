//! taskmasterd's command line.

use std::path::PathBuf;

use clap::Parser;

/// The taskmaster supervisor. Stays in the foreground; can run as PID 1.
#[derive(Parser, Debug)]
#[command(
    name = "taskmasterd",
    version,
    args_override_self = true,
    after_help = "Import supervisord or systemd configurations: taskmasterd import --help"
)]
pub struct Args {
    /// Directory of *.kdl service files.
    #[arg(
        short = 'c',
        long = "config-dir",
        default_value = "/etc/taskmaster/services.d"
    )]
    pub config_dir: PathBuf,
    /// Control socket [default: /run/taskmaster.sock for root, else
    /// $XDG_RUNTIME_DIR/taskmaster.sock or /tmp/taskmaster-UID.sock; env TASKMASTER_SOCKET].
    #[arg(short = 's', long = "socket")]
    pub socket: Option<PathBuf>,
    /// Event log, appended [default: /var/log/taskmaster.log for root, else ./taskmaster.log].
    #[arg(short = 'l', long = "log-file")]
    pub log_file: Option<PathBuf>,
    /// Where syslog messages go (tag `taskmaster`).
    #[arg(long = "syslog-socket", default_value = "/dev/log")]
    pub syslog_socket: PathBuf,
    /// Do not log to syslog.
    #[arg(long = "no-syslog")]
    pub no_syslog: bool,
    /// Also run the control shell on this terminal; leaving it shuts the daemon down.
    #[arg(long)]
    pub shell: bool,
    /// Validate the config dir, print the start order, exit 0 (valid) or 1 (errors).
    #[arg(long)]
    pub check: bool,
    /// As PID 1: seconds between SIGTERM and SIGKILL for processes left at shutdown.
    #[arg(long = "kill-grace", default_value_t = 5.0, value_parser = parse_seconds)]
    pub kill_grace: f64,
    /// As PID 1 with a missing or invalid config: the shell started on /dev/console.
    #[arg(long = "emergency-shell", default_value = "/bin/sh")]
    pub emergency_shell: PathBuf,
    /// One NAME.json per instance and taskmasterd.pid [default: /run/taskmaster/state for
    /// root, else $XDG_RUNTIME_DIR/taskmaster/state or /tmp/taskmaster-UID/state].
    #[arg(long = "state-dir")]
    pub state_dir: Option<PathBuf>,
    /// Keep this file current with metrics in the Prometheus text format (for
    /// node_exporter's textfile collector), rewritten atomically when something changes.
    #[arg(long = "metrics-file", value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Words the kernel passes to init: as PID 1 `single`, `S` and `1` ask for rescue mode
    /// and the others (`splash`, a runlevel) are ignored; an error otherwise.
    #[arg(hide = true)]
    pub stray: Vec<String>,
    /// Internal (`tmctl upgrade`): take over the state in this fd instead of starting.
    #[arg(long = "handover", hide = true)]
    pub handover: Option<i32>,
    /// Internal (`tmctl upgrade`): say whether this binary can take over, with this config.
    #[arg(long = "upgrade-check", hide = true)]
    pub upgrade_check: bool,
    /// Internal: the control shell process started by --shell.
    #[arg(long = "shell-client", hide = true)]
    pub shell_client: bool,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..=3600.0).contains(&secs) => Ok(secs),
        _ => Err(format!("expected seconds between 0 and 3600, got {text:?}")),
    }
}
