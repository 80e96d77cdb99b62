//! `taskmasterd import systemd|supervisord …`: run an importer, print or write the service
//! files, then load them exactly as `--check` does.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use super::{import_supervisord, import_systemd, ImportError, Imported};

/// Translate supervisord or systemd configurations into taskmaster service files.
#[derive(Parser, Debug)]
#[command(name = "taskmasterd import", version)]
struct ImportArgs {
    #[command(subcommand)]
    source: Source,
}

#[derive(Subcommand, Debug)]
enum Source {
    /// systemd .service units, as paths or names (`ssh`, `getty@tty1.service`).
    Systemd {
        #[command(flatten)]
        output: Output,
        #[arg(required = true, value_name = "UNIT")]
        units: Vec<String>,
    },
    /// A supervisord.conf with its [include] files.
    Supervisord {
        #[command(flatten)]
        output: Output,
        #[arg(
            value_name = "FILE",
            default_value = "/etc/supervisor/supervisord.conf"
        )]
        file: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct Output {
    /// Write one NAME.kdl per service into DIR (created if missing), then check DIR as a
    /// whole; without it the files are printed.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Replace files that already exist in DIR.
    #[arg(long)]
    force: bool,
}

/// Entry point for `taskmasterd import …` (`args` starts with the program name).
pub fn main(args: impl IntoIterator<Item = String>) -> u8 {
    let args: Vec<String> = args.into_iter().collect();
    // `taskmasterd import systemd …` parses as the program `taskmasterd import`.
    let parsed = ImportArgs::parse_from(args.into_iter().skip(1).enumerate().map(|(i, a)| {
        if i == 0 {
            "taskmasterd import".to_string()
        } else {
            a
        }
    }));
    let (result, output) = match parsed.source {
        Source::Systemd { output, units } => (import_systemd(&units), output),
        Source::Supervisord { output, file } => (import_supervisord(&file), output),
    };
    match result.and_then(|imported| emit(imported, &output)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("taskmasterd import: {error}");
            1
        }
    }
}

fn emit(imported: Imported, output: &Output) -> Result<u8, ImportError> {
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    if imported.services.is_empty() {
        eprintln!("taskmasterd import: no service found");
        return Ok(1);
    }
    let files: Vec<(String, String)> = imported
        .services
        .iter()
        .map(|service| (format!("{}.kdl", service.name), service.render()))
        .collect();
    let checked = match &output.dir {
        Some(dir) => {
            write_files(dir, &files, output.force)?;
            check(dir)
        }
        None => {
            for (name, text) in &files {
                println!("// ---- {name}\n{text}");
            }
            check_privately(&files)?
        }
    };
    eprintln!(
        "imported {} service(s): {} key(s) translated, {} warning(s)",
        files.len(),
        imported.translated,
        imported.warnings.len()
    );
    Ok(checked)
}

fn write_files(dir: &Path, files: &[(String, String)], force: bool) -> Result<(), ImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Read { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (name, _) in files {
        let path = dir.join(name);
        if path.exists() && !force {
            return Err(ImportError::Invalid {
                path,
                message: "exists already (use --force to replace it)".into(),
            });
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(&path))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Writes the files into a fresh private directory, checks it, removes it.
fn check_privately(files: &[(String, String)]) -> Result<u8, ImportError> {
    use std::os::unix::fs::DirBuilderExt;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("taskmaster-import-{}-{stamp}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|source| ImportError::Read {
            path: dir.clone(),
            source,
        })?;
    let result = write_quietly(&dir, files).map(|()| check(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn write_quietly(dir: &Path, files: &[(String, String)]) -> Result<(), ImportError> {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| ImportError::Read { path, source })?;
    }
    Ok(())
}

/// The same load as `taskmasterd --check`; errors are printed, the exit code returned.
fn check(dir: &Path) -> u8 {
    match crate::daemon::load_config(dir) {
        Ok(_) => {
            eprintln!("check: the imported services load");
            0
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            eprintln!("check: {} error(s) in the imported services", errors.len());
            1
        }
    }
}
