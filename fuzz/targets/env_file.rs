//! `env-file` contents and `${VAR}` expansion: any text.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(vars) = taskmaster::config::parse_env_file(text) else {
            return;
        };
        for (key, value) in &vars {
            assert!(!key.is_empty(), "an empty key was accepted");
            // Expanding a value with the file's own variables, as `cmd` is expanded.
            let lookup = |name: &str| {
                vars.iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let _ = taskmaster::config::expand_vars(value, lookup);
        }
    });
}
