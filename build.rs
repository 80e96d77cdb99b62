//! Links taskmasterd (release builds only) with its hot code together: the functions listed
//! in `link/taskmasterd.order` (those a real run of the daemon executed, found by
//! `link/profile-hot-text`) are placed first in `.text`, in that order, and everything else
//! after them.
//!
//! Why: the kernel maps a binary's pages 64 KiB at a time around each page it touches
//! (fault-around), so a hot function every few pages makes nearly all of the 3.9 MiB of text
//! resident and counted in the daemon's memory. With the 1.4 MiB the daemon runs packed
//! together, the code it never runs as a daemon (`import`, `--shell`, clap's help, error
//! paths) is never mapped (bench/PROFILES.md, memory).
//!
//! How: the list is turned into a linker script for the default linker (rust-lld on
//! x86_64-unknown-linux-gnu since Rust 1.90) that only adds to the default layout (`INSERT`):
//! an output section `.text` whose first input sections are the listed functions' (with
//! function sections, each function is `.text.SYMBOL`, or `.text.unlikely.SYMBOL` when LLVM
//! thinks it cold), one pattern after another; every other `.text.*` section joins the same
//! `.text` after them. Not lld's `--symbol-ordering-file`: it takes exact names only, and the
//! list writes Rust's symbol hash as a wildcard (`17h*E`) where the name alone is unique,
//! because a new `Cargo.lock` or rustc changes every hash but not the names.
//!
//! A list that has gone stale (functions renamed or gone) only places less code together: a
//! pattern that matches nothing is no error. Without the list, the link is the default one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const ORDER: &str = "link/taskmasterd.order";
/// Placed before ORDER's functions: what runs after the code drop (`src/daemon/code_pages.rs`)
/// until the daemon sleeps, each thread's way from the drop back to its wait. That code is
/// mapped again as it runs, 64 KiB around each page it touches, and stays mapped for as long
/// as the daemon is idle: spread over the steady-state block, it kept 0.4-0.7 MiB of the
/// binary mapped at N=1000 (bench/PROFILES.md, memory). Written by hand, from the page faults
/// after the drop (`perf record -e minor-faults -c 1 -g`): `link/profile-hot-text` cannot
/// tell that path from the rest of the steady state.
const IDLE: &str = "link/taskmasterd.idle";
/// The same for tmctl, from what a one-shot `tmctl status` runs (`link/profile-tmctl-text`):
/// its 100 KiB of hot code was spread over the 1.6 MiB of text, a page fault (3–4 µs in a
/// VM) every 64 KiB it touched, in a command whose whole budget is a millisecond.
const TMCTL_ORDER: &str = "link/tmctl.order";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-changed={IDLE}");
    println!("cargo:rerun-if-changed={TMCTL_ORDER}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(tmctl_static_pie)");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "x86_64");
    if native && linux && gnu && x86_64 {
        link_tmctl_static_pie();
    }
    if !(release && native && linux) {
        return;
    }
    let (Ok(dir), Ok(out)) = (
        std::env::var("CARGO_MANIFEST_DIR"),
        std::env::var("OUT_DIR"),
    ) else {
        return;
    };
    for (bin, orders) in [
        ("taskmasterd", &[IDLE, ORDER][..]),
        ("tmctl", &[TMCTL_ORDER]),
    ] {
        let lists: Vec<(&str, String)> = (orders.iter())
            .filter_map(|order| {
                let list = std::fs::read_to_string(Path::new(&dir).join(order)).ok()?;
                Some((*order, list))
            })
            .collect();
        if lists.is_empty() {
            continue;
        }
        let script = PathBuf::from(&out).join(format!("{bin}-hot-text.ld"));
        if let Err(e) = std::fs::write(&script, hot_text_script(&lists)) {
            println!(
                "cargo:warning=cannot write {}: {e}; {bin} is linked without its hot-code order",
                script.display()
            );
            continue;
        }
        println!("cargo:rustc-link-arg-bin={bin}=-Wl,-T,{}", script.display());
    }
}

/// Links tmctl as a static PIE (glibc linked in, no dynamic loader), in every profile so that
/// the tests run the binary that ships. Why: tmctl is a one-shot command whose budget is a
/// millisecond, and the start of a dynamically linked program is most of it on a virtual
/// machine (the loader's mappings, symbol lookups and relocations: 20 of its 73 page faults,
/// about 0.16 ms of a `tmctl status`; bench/PROFILES.md). taskmasterd stays dynamic: it
/// looks up services' users and groups through NSS, and a static glibc has only the `files`
/// and `dns` modules (loading another crashes it: src/ctl/passwd_home.rs).
///
/// How, as Cargo links every binary of a package with the same target features (so not
/// with `crt-static`, which would make taskmasterd static too): two halves that only work
/// together. `tmctl_static_pie` makes `src/bin/tmctl.rs` link `libc.a` (`-Bstatic -lc`)
/// right after tmctl's own objects, ahead of the `-Bdynamic -lc` that std asks for, so
/// every libc symbol is taken from the archive and the shared libc is left unused (and
/// dropped by `--as-needed`); `-static-pie` makes the compiler driver start from
/// `rcrt1.o` (which relocates the binary itself) and link with `-static -pie
/// --no-dynamic-linker`. std's shared libraries are still on the line, so lld would make
/// the undefined weak symbols dynamic (`gettid`, `statx`, libc's `_nl_current_*_used`),
/// which a static PIE relocates against its own image (to its base address, not 0: the
/// shell crashed), and export libc's symbols: `-z nodynamic-undefined-weak` and
/// `--exclude-libs=ALL` leave relative relocations only, as `crt-static` does.
/// `tests/static_tmctl.rs` holds the binary to that (no interpreter, relative relocations).
fn link_tmctl_static_pie() {
    println!("cargo:rustc-cfg=tmctl_static_pie");
    println!("cargo:rustc-link-arg-bin=tmctl=-static-pie");
    println!("cargo:rustc-link-arg-bin=tmctl=-Wl,-z,nodynamic-undefined-weak,--exclude-libs=ALL");
}

/// The linker script that places the functions of the lists (one symbol name a line, `*` and
/// `?` as wildcards; `#` starts a comment line) first in `.text`, in the lists' order (a
/// function listed twice is placed where it is first listed). A line that is not a symbol
/// name (anything but the characters of Rust's and C's mangled names) is left out rather
/// than written into the script, where it could break the link.
fn hot_text_script(lists: &[(&str, String)]) -> String {
    let orders: Vec<&str> = lists.iter().map(|(order, _)| *order).collect();
    let mut script = format!(
        "/* Made by build.rs from {}: their functions first in .text, in their order. */\nSECTIONS {{\n  .text : {{\n",
        orders.join(", ")
    );
    for (order, list) in lists {
        let names = list.lines().map(str::trim);
        for name in names.filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_$.*?".contains(c))
            {
                let _ = writeln!(script, "    *(.text.{name} .text.unlikely.{name})");
            } else {
                println!("cargo:warning={order}: not a symbol name, left out: {name}");
            }
        }
    }
    // `INSERT` keeps the rest of the default layout, in which lld puts `.text` before `.init`,
    // `.fini` and `.plt`. After them instead, they share the hot code's first 64 KiB: the
    // loader runs `_init` and the exit `__cxa_finalize@plt`, one page fault each at the far
    // end of the text (tmctl, `perf trace -F all`). Every glibc program has a `.plt`: crt's
    // `__cxa_finalize`, and the unwinder's `malloc`, `dl_find_object` (libgcc_eh).
    script.push_str("  }\n} INSERT AFTER .plt;\n");
    script
}
