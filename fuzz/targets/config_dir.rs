//! A whole config directory load, as `taskmasterd --check` and every reload do it: up to
//! four service files (the input split at NUL bytes), then names, dependencies and cycles
//! across them. Errors are expected; a panic, an overflow or a hang is a bug.

use std::path::PathBuf;
use taskmaster::config::{load_dir, LoadOptions};

/// A scratch directory of this target (one fuzzer per target at a time, see `fuzz/run`).
fn scratch() -> PathBuf {
    let dir = std::env::var_os("TASKMASTER_FUZZ_SCRATCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("taskmaster-fuzz-config"));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn main() {
    let dir = scratch();
    let options = LoadOptions {
        strict_permissions: false,
    };
    afl::fuzz!(|data: &[u8]| {
        for entry in std::fs::read_dir(&dir)
            .expect("scratch directory")
            .flatten()
        {
            let _ = std::fs::remove_file(entry.path());
        }
        for (index, part) in data.split(|&b| b == 0).take(4).enumerate() {
            std::fs::write(dir.join(format!("{index}.kdl")), part).expect("write a service file");
        }
        if let Ok(config) = load_dir(&dir, &options) {
            // What a reload does next with a config: build the core from it.
            let _ = taskmaster::supervisor::Supervisor::new(config);
        }
    });
}
