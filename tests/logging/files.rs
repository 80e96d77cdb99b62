//! Output files: rotation by size, reopening after logrotate, and a big writer copied to
//! the byte, through the daemon (rotated) and straight (direct fd).

use crate::common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn backup(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn rotates_at_maxbytes_and_keeps_the_backups_asked_for() {
    let mut h = Harness::new();
    let out = h.path("seq.log");
    h.service(
        "seq",
        &format!(
            r#"service "seq" {{
    cmd "/usr/bin/seq" "1" "2000"
    type "oneshot"
    stdout "{}"
    stdout-maxbytes 1000
    stdout-backups 3
}}"#,
            out.display()
        ),
    );
    h.start();
    let all: Vec<u8> = (1..=2000)
        .map(|i| format!("{i}\n"))
        .collect::<String>()
        .into_bytes();
    // 8893 bytes: eight full files and 893 bytes; the newest four are kept.
    let kept = &all[all.len() - 3893..];
    wait_until("the newest output in seq.log and its 3 backups", || {
        let mut joined = Vec::new();
        for n in [3, 2, 1] {
            joined.extend(read(&backup(&out, n)));
        }
        joined.extend(read(&out));
        joined == kept
    });
    for n in 1..=3 {
        assert_eq!(read(&backup(&out, n)).len(), 1000, "seq.log.{n}");
    }
    assert!(!backup(&out, 4).exists(), "only 3 backups");
    // Its last bytes may be read before its exit is reaped.
    h.wait_state("seq", "EXITED");
}

#[test]
fn reopen_and_sigusr1_follow_files_that_logrotate_moved() {
    let mut h = Harness::new();
    let out = h.path("web.log");
    h.service(
        "web",
        &format!(
            r#"service "web" {{
    cmd "/bin/sh" "-c" "while :; do echo line; sleep 0.02; done"
    starttime 0
    stdout "{}"
    stdout-maxbytes "10MB"
}}"#,
            out.display()
        ),
    );
    h.start();
    wait_until("web.log grows", || read(&out).len() > 10);

    for (round, how) in ["tmctl", "SIGUSR1"].iter().enumerate() {
        // What logrotate's `create` mode does: move the files away, then ask to reopen.
        let moved_out = h.path(&format!("web.log.moved{round}"));
        let moved_log = h.path(&format!("tm.log.moved{round}"));
        std::fs::rename(&out, &moved_out).expect("rename web.log");
        std::fs::rename(&h.log, &moved_log).expect("rename tm.log");
        if *how == "tmctl" {
            let reply = h.ok(&["reopen"]);
            assert!(reply.contains("1 rotated output file"), "{reply}");
        } else {
            h.signal_daemon(libc::SIGUSR1);
        }
        wait_until("a new web.log with new lines", || read(&out).len() > 10);
        h.wait_log(&["log files reopened"]);
        let old = String::from_utf8_lossy(&read(&moved_log)).into_owned();
        // The moved file has the previous round's event, not this one's.
        assert_eq!(
            old.matches("log files reopened").count(),
            round,
            "{how}: the event went to the new file"
        );
    }
    // Writing went on the whole time and nothing else was said.
    assert!(!h.log_text().contains("warning"), "{}", h.log_text());
}

/// A pseudo-random file (xorshift), so that a lost, repeated or reordered block shows.
fn random_file(path: &Path, bytes: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create input"));
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 16];
    for _ in 0..bytes / block.len() {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block).expect("write input");
    }
    file.flush().expect("flush input");
}

/// Whether the concatenation of `parts` is exactly `expected`, compared block by block.
fn same_bytes(expected: &Path, parts: &[PathBuf]) -> bool {
    let Ok(mut want) = std::fs::File::open(expected) else {
        return false;
    };
    let total: u64 = parts
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    if std::fs::metadata(expected).map(|m| m.len()).ok() != Some(total) {
        return false;
    }
    let mut a = vec![0u8; 1 << 20];
    let mut b = vec![0u8; 1 << 20];
    for part in parts {
        let Ok(mut got) = std::fs::File::open(part) else {
            return false;
        };
        loop {
            let n = got.read(&mut b).expect("read output");
            if n == 0 {
                break;
            }
            if want.read_exact(&mut a[..n]).is_err() || a[..n] != b[..n] {
                return false;
            }
        }
    }
    true
}

#[test]
fn a_200_mib_writer_is_copied_byte_for_byte_rotated_or_not() {
    const SIZE: usize = 200 * 1024 * 1024;
    let mut h = Harness::new();
    let input = h.path("input");
    random_file(&input, SIZE);
    let direct = h.path("direct.out");
    let rotated = h.path("rotated.out");
    h.service(
        "writers",
        &format!(
            r#"service "direct" {{
    cmd "/bin/cat" "{input}"
    type "oneshot"
    stdout "{direct}"
}}
service "rotated" {{
    cmd "/bin/cat" "{input}"
    type "oneshot"
    stdout "{rotated}"
    stdout-maxbytes "64MB"
    stdout-backups 5
}}"#,
            input = input.display(),
            direct = direct.display(),
            rotated = rotated.display()
        ),
    );
    h.start();
    // cat exits right after its last write: those bytes must still arrive.
    h.wait_state("direct", "EXITED");
    h.wait_state("rotated", "EXITED");
    assert!(
        same_bytes(&input, std::slice::from_ref(&direct)),
        "direct file"
    );
    let parts: Vec<PathBuf> = vec![
        backup(&rotated, 3),
        backup(&rotated, 2),
        backup(&rotated, 1),
        rotated.clone(),
    ];
    wait_until("the rotated copy is complete and exact", || {
        same_bytes(&input, &parts)
    });
    for n in 1..=3 {
        assert_eq!(read_len(&backup(&rotated, n)), 64 * 1024 * 1024);
    }
    assert!(!backup(&rotated, 4).exists());
}

fn read_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
