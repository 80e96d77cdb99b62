//! Links taskmasterd (release builds only) with its hot code together: gold's
//! `--section-ordering-file` places the functions listed in `link/taskmasterd.order` (those a
//! real run of the daemon executed, found by `link/profile-hot-text`) first in `.text`, in
//! that order, and everything else after them.
//!
//! Why: the kernel maps a binary's pages 64 KiB at a time around each page it touches
//! (fault-around), so a hot function every few pages makes nearly all of the 3.9 MiB of text
//! resident and counted in the daemon's memory. With the 1.4 MiB the daemon runs packed
//! together, the code it never runs as a daemon (`import`, `--shell`, clap's help, error
//! paths) is never mapped (bench/PROFILES.md, memory).
//!
//! A list that has gone stale (functions renamed or gone) only places less code together:
//! the linker ignores names it does not find. Without gold or the list, the link is the
//! default one.

use std::path::Path;

const ORDER: &str = "link/taskmasterd.order";
/// The same for tmctl, from what a one-shot `tmctl status` runs (`link/profile-tmctl-text`):
/// its 100 KiB of hot code was spread over the 1.6 MiB of text, a page fault (3–4 µs in a
/// VM) every 64 KiB it touched, in a command whose whole budget is a millisecond.
const TMCTL_ORDER: &str = "link/tmctl.order";
const GOLD: &str = "/usr/bin/ld.gold";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-changed={TMCTL_ORDER}");
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(release && native && linux) {
        return;
    }
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    if !Path::new(GOLD).is_file() {
        println!("cargo:warning=no {GOLD}: taskmasterd and tmctl are linked without their hot-code order");
        return;
    }
    for (bin, order) in [("taskmasterd", ORDER), ("tmctl", TMCTL_ORDER)] {
        let order = Path::new(&dir).join(order);
        if !order.is_file() {
            continue;
        }
        println!("cargo:rustc-link-arg-bin={bin}=-fuse-ld=gold");
        println!(
            "cargo:rustc-link-arg-bin={bin}=-Wl,--section-ordering-file={}",
            order.display()
        );
    }
}
