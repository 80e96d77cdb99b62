//! What the kernel command line asks of taskmasterd as init: a rescue boot (`single`, `S`,
//! `1`, `taskmaster.rescue`) and another config dir (`taskmaster.config=DIR`).
//!
//! The kernel hands init only the words it does not know that have no `.` and no `=`
//! (`single`, `S`, `1`), as arguments; a word with a dot is taken for a module parameter and
//! kept from init, so `taskmaster.*` is read from `/proc/cmdline`. Both are read: the words
//! init got as arguments (which is also how a container's init is told) and, outside a
//! container (whose `/proc/cmdline` is the host's), the kernel's own line.

use std::path::PathBuf;

/// What the words ask for, and what was wrong with them (logged, never fatal: a typo at the
/// boot prompt must still boot).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BootRequest {
    /// Start only the services marked `rescue #true`, plus a root shell on the console.
    pub rescue: bool,
    /// `taskmaster.config=DIR`: the config dir instead of the command line's.
    pub config_dir: Option<PathBuf>,
    /// One line per word that was meant for us and could not be used.
    pub problems: Vec<String>,
}

/// The words of a rescue boot: systemd's `rescue`-alikes that sysvinit's init and the
/// kernel's documentation name (`single`, runlevel `S` or `1`), and our own.
const RESCUE_WORDS: [&str; 4] = ["taskmaster.rescue", "single", "S", "1"];

const CONFIG_KEY: &str = "taskmaster.config";

/// Reads the request from init's stray arguments and, outside a container, /proc/cmdline.
/// Call it once /proc is mounted.
pub fn read(arguments: &[String]) -> BootRequest {
    let mut words: Vec<String> = arguments.to_vec();
    if !super::in_container() {
        match std::fs::read_to_string("/proc/cmdline") {
            Ok(line) => words.extend(split(&line)),
            Err(e) => {
                let mut request = parse(&words);
                request
                    .problems
                    .push(format!("cannot read /proc/cmdline: {e}"));
                return request;
            }
        }
    }
    parse(&words)
}

/// The request the words make. A later `taskmaster.config=` wins over an earlier one, as the
/// kernel's own parameters do.
pub fn parse<S: AsRef<str>>(words: &[S]) -> BootRequest {
    let mut request = BootRequest::default();
    for word in words.iter().map(AsRef::as_ref) {
        if RESCUE_WORDS.contains(&word) {
            request.rescue = true;
            continue;
        }
        let (key, value) = match word.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (word, None),
        };
        if key == CONFIG_KEY {
            match value.map(PathBuf::from) {
                Some(dir) if dir.is_absolute() => request.config_dir = Some(dir),
                _ => request.problems.push(format!(
                    "kernel command line: {word:?}: expected {CONFIG_KEY}=/ABSOLUTE/DIR, ignored"
                )),
            }
        } else if key.starts_with("taskmaster.") {
            request.problems.push(format!(
                "kernel command line: unknown parameter {word:?} (known: taskmaster.rescue, {CONFIG_KEY}=DIR), ignored"
            ));
        }
    }
    request
}

/// Splits a kernel command line into words the way the kernel does (`next_arg` in
/// lib/cmdline.c): spaces separate words except inside double quotes, and the quotes around
/// a word or around its value after `=` are removed (`key="a b"` is `key=a b`).
pub fn split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(line: &str) -> BootRequest {
        parse(&split(line))
    }

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(
            split("BOOT_IMAGE=/vmlinuz root=/dev/vda ro  quiet\n"),
            ["BOOT_IMAGE=/vmlinuz", "root=/dev/vda", "ro", "quiet"]
        );
        assert_eq!(
            split(r#"a taskmaster.config="/etc/my services" "b c" d"#),
            ["a", "taskmaster.config=/etc/my services", "b c", "d"]
        );
        assert_eq!(split("   "), Vec::<String>::new());
        // An empty quoted value is still a word.
        assert_eq!(split(r#"x="" y"#), ["x=", "y"]);
    }

    #[test]
    fn a_normal_boot_asks_for_nothing() {
        let normal = request("BOOT_IMAGE=/vmlinuz root=/dev/vda ro console=ttyS0 loglevel=1");
        assert_eq!(normal, BootRequest::default());
    }

    #[test]
    fn rescue_words() {
        for line in [
            "root=/dev/vda single",
            "S root=/dev/vda",
            "ro 1",
            "quiet taskmaster.rescue",
        ] {
            assert!(request(line).rescue, "{line}");
        }
        // Only whole words: a value of 1 or a word containing `single` is not one.
        for line in ["loglevel=1 s", "singleuser", "S1", "taskmaster.rescue=1"] {
            let r = request(line);
            assert!(!r.rescue, "{line}");
        }
    }

    #[test]
    fn config_dir() {
        let r = request("ro taskmaster.config=/etc/taskmaster/minimal.d quiet");
        assert_eq!(
            r.config_dir,
            Some(PathBuf::from("/etc/taskmaster/minimal.d"))
        );
        assert!(r.problems.is_empty());
        // The last one wins, as with the kernel's own parameters.
        let r = request("taskmaster.config=/a taskmaster.config=/b");
        assert_eq!(r.config_dir, Some(PathBuf::from("/b")));
        let r = request(r#"taskmaster.config="/etc/my dir""#);
        assert_eq!(r.config_dir, Some(PathBuf::from("/etc/my dir")));
    }

    #[test]
    fn bad_words_are_reported_and_ignored() {
        for (line, says) in [
            (
                "taskmaster.config=",
                "expected taskmaster.config=/ABSOLUTE/DIR",
            ),
            ("taskmaster.config=etc/x", "\"taskmaster.config=etc/x\""),
            (
                "taskmaster.config",
                "expected taskmaster.config=/ABSOLUTE/DIR",
            ),
            ("taskmaster.rescu", "unknown parameter \"taskmaster.rescu\""),
        ] {
            let r = request(line);
            assert_eq!(r.config_dir, None, "{line}");
            assert!(!r.rescue, "{line}");
            assert_eq!(r.problems.len(), 1, "{line}: {:?}", r.problems);
            assert!(r.problems[0].contains(says), "{line}: {:?}", r.problems);
        }
        // Words of other programs are none of our business.
        assert!(request("systemd.unit=rescue.target rd.break foo.bar=1")
            .problems
            .is_empty());
    }
}
