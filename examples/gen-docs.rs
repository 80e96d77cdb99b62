//! Writes the man pages and shell completions of taskmasterd, tmctl and the power commands
//! from their clap definitions (`taskmaster::cli`), so nothing is written twice:
//!
//!     cargo run --example gen-docs -- OUT_DIR
//!
//! OUT_DIR/man/{tmctl.1, taskmasterd.8, poweroff.8, reboot.8, halt.8, shutdown.8} and
//! OUT_DIR/completions/{bash,zsh,fish}/… . `pkg/build-debs` runs it before cargo-deb.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use taskmaster::cli::{PowerCommand, TaskmasterdArgs, TmctlCli};

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-docs OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-docs: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &Path) -> std::io::Result<()> {
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    let mut pages = vec![
        ("1", TmctlCli::command()),
        ("8", TaskmasterdArgs::command()),
    ];
    pages.extend(PowerCommand::ALL.map(|p| ("8", p.clap_command())));
    for (section, command) in pages {
        let name = command.get_name().to_string();
        let mut roff = Vec::new();
        clap_mangen::Man::new(command)
            .section(section)
            .source(format!("taskmaster {}", env!("CARGO_PKG_VERSION")))
            .manual("taskmaster")
            .render(&mut roff)?;
        fs::write(man.join(format!("{name}.{section}")), roff)?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let dir = out.join("completions").join(shell.to_string());
        fs::create_dir_all(&dir)?;
        for mut command in [TmctlCli::command(), TaskmasterdArgs::command()] {
            let name = command.get_name().to_string();
            clap_complete::generate_to(shell, &mut command, name, &dir)?;
        }
    }
    Ok(())
}
