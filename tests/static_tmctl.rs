//! tmctl is linked as a static PIE on x86_64 glibc (build.rs says why and how): the binary
//! must start without the dynamic loader, and its one NSS lookup must not load a module.

use std::os::unix::process::CommandExt;

use object::elf;
use object::read::elf::{ElfFile64, ProgramHeader, SectionHeader};

use crate::common::pty::Pty;
use crate::common::*;

/// No interpreter, and only relocations that the binary applies to itself at its start
/// (`rcrt1.o`): a relocation against a symbol would be bound to nothing, there being no
/// loader, and a weak one to the image's base rather than to 0 (the link leaves them out
/// with `-z nodynamic-undefined-weak`).
#[test]
fn tmctl_starts_without_the_dynamic_loader() {
    let data = std::fs::read(tmctl_bin()).expect("read the tmctl binary");
    let file = ElfFile64::<object::Endianness>::parse(&*data).expect("tmctl is a 64-bit ELF");
    let endian = file.endian();
    let segments: Vec<elf::ProgramType> = file
        .elf_program_headers()
        .iter()
        .map(|p| p.p_type(endian))
        .collect();
    assert!(
        !segments.contains(&elf::PT_INTERP),
        "tmctl asks for a loader"
    );
    assert!(
        segments.contains(&elf::PT_DYNAMIC),
        "not a PIE: {segments:?}"
    );
    let mut relocations = 0;
    for section in file.elf_section_table().iter() {
        if section.sh_flags(endian).0 & elf::SHF_ALLOC.0 == 0 {
            continue;
        }
        let Some((relas, _)) = section.rela(endian, &*data).expect("a relocation section") else {
            continue;
        };
        for rela in relas {
            let kind = rela.r_type(endian, false);
            assert!(
                kind == elf::R_X86_64_RELATIVE || kind == elf::R_X86_64_IRELATIVE,
                "relocation of type {kind} against symbol {}",
                rela.r_sym(endian, false)
            );
            relocations += 1;
        }
    }
    assert!(relocations > 0, "no relocations: not position-independent?");
}

/// A shell with no `$HOME`, run by a user the password file does not know: glibc's NSS
/// would go on to the modules after `files` (`systemd` on Debian), which the static tmctl
/// must not load (it crashed there). It keeps no history and says so.
#[test]
fn shell_of_a_user_unknown_to_the_password_file_starts_without_home() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: only root can run tmctl as another user");
        return;
    }
    let uid = 4242;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    assert!(
        !passwd.lines().any(|l| l.split(':').nth(2) == Some("4242")),
        "uid {uid} is in /etc/passwd: pick another"
    );
    let mut cmd = std::process::Command::new(tmctl_bin());
    cmd.args(["-s", "/nonexistent/tm.sock"])
        .env_remove("HOME")
        .env_remove("XDG_STATE_HOME")
        .uid(uid)
        .gid(uid);
    let (mut pty, mut child) = Pty::spawn(cmd);
    pty.expect("history not saved");
    pty.expect("taskmaster> ");
    pty.send("exit\r");
    let mut status = None;
    wait_until("the shell to exit", || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}
