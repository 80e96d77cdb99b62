//! Giving back the mapped pages of code that only a config load ran.
//!
//! Loading a config runs code the loop never needs again until the next load: the KDL
//! parser, the checks of every field, the dependency graph, clap's parse of the command
//! line, and the spawn burst that follows. Each page of the binary the daemon touched stays
//! mapped in it, and the kernel maps the file 64 KiB around each page touched (fault-around):
//! after a boot of 200 services about 2 MiB of the binary's 4.7 MiB were mapped, most of it
//! code that had run once (bench/PROFILES.md, memory).
//!
//! Once the load has settled (the heap trim after it), the daemon unmaps the pages of its
//! own file mappings that are not writable, its code and read-only data (`MADV_DONTNEED`:
//! clean file pages, so nothing is lost and they stay in the page cache). What the loop runs
//! afterwards is mapped again by its first page fault (3-4 µs each in this VM, a few dozen
//! after a boot): the daemon then maps what it uses, not what it once used. The read-only
//! data counts since the link is lld's (`build.rs`): it puts `.rodata`, the unwind tables
//! and what only the loader reads (`.rela.dyn`, `.dynsym`) in a read-only mapping of their
//! own before the code, where gold had them in the code's mapping.
//!
//! Only pages that are still the file's are dropped (`/proc/self/pagemap` tells them apart):
//! RELRO (`.data.rel.ro`, `.got`) is mapped read-only too, but the pages the loader
//! relocated are private copies, which would come back from the file unrelocated; and a
//! debugger's breakpoint or a uprobe (perf, bpftrace, `link/profile-hot-text`) is written
//! into a private copy of its page of code, which a drop would silently replace with the
//! file's, breakpoint gone.

/// Set by the loop when it gives its code back after a load, cleared by the state-files
/// writer, which gives the code back again once it has written what it was sent: the
/// load's last state files (its instances becoming RUNNING) are sent in the very turn the
/// loop drops the code, and written after it. What the writer ran then stayed mapped while
/// the daemon sat idle: at N=1000, 1.5 of the 1.6 MiB of the binary still mapped in most
/// starts (bench/PROFILES.md, memory).
static AGAIN_AFTER_WRITES: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// [`release`] now, and again once the state-files writer has nothing left to write.
///
/// The flag is raised before the drop, not after: a writer that finished its batch while
/// the drop walked the mappings (mapping its code back behind it) and looked at the flag
/// before it was raised would keep that code mapped until its next batch. Raised first, a
/// writer that looks too early has run nothing since that the drop, which follows, does
/// not take back. (At N=1000 about one start in ten kept some 1 MiB of the binary mapped
/// while idle; this race is one way to that, not shown to be the only one: see
/// bench/PROFILES.md, memory.)
pub fn release_now_and_after_writes() {
    AGAIN_AFTER_WRITES.store(true, std::sync::atomic::Ordering::SeqCst);
    release();
}

/// For the state-files writer, with nothing left to write: whether the loop asked for a
/// [`release`] since (the writer then writes what the queue holds first, and releases).
pub fn take_request() -> bool {
    AGAIN_AFTER_WRITES.swap(false, std::sync::atomic::Ordering::SeqCst)
}

/// Unmaps the file's own pages of the daemon's binary's mappings that are not writable (the
/// code; the read-only data and unwind tables; RELRO). Errors are ignored: the pages then
/// simply stay mapped.
#[cfg(target_os = "linux")]
pub fn release() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    // The binary is the file of the mapping that holds this very function.
    let here = release as fn() as usize;
    let Some(binary) = maps.lines().map(Mapping::parse).find_map(|m| {
        m.filter(|m| m.start <= here && here < m.end)
            .and_then(|m| m.path)
    }) else {
        return;
    };
    let Ok(pagemap) = std::fs::File::open("/proc/self/pagemap") else {
        return;
    };
    // Every run is found before the first is dropped: the parse of the next line of the
    // maps, run between two drops, mapped its own code back with the 64 KiB around it, and
    // that stayed mapped while the daemon sat idle (perf's page faults after the drop:
    // `str`'s searcher and a closure of the parse, among code that had run once).
    let runs: Vec<(usize, usize)> = maps
        .lines()
        .filter_map(Mapping::parse)
        .filter(|m| m.path == Some(binary) && !m.writable)
        .flat_map(|m| file_page_runs(&pagemap, m.start, m.end))
        .collect();
    for (start, end) in runs {
        // SAFETY: the range lies in a mapping of this process that is file-backed and
        // not writable, and holds only pages that are the file's own (not private
        // copies: what the loader relocated, a breakpoint): MADV_DONTNEED only drops
        // their page table entries, and the next access maps the same, unchanged file
        // page again.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// The runs of pages in `start..end` that are mapped and the file's own, from
/// `/proc/self/pagemap` (one 64-bit entry per page: bit 63 present, bit 61 a file page).
/// A private copy (a breakpoint, a relocated page) ends a run; so does a page not mapped,
/// which needs no drop. No runs when the page size is unknown.
#[cfg(target_os = "linux")]
fn file_page_runs(pagemap: &std::fs::File, start: usize, end: usize) -> Vec<(usize, usize)> {
    use std::os::unix::fs::FileExt;
    const PRESENT: u64 = 1 << 63;
    const FILE_PAGE: u64 = 1 << 61;
    // The kernel's page, not 4 KiB: pagemap has one entry per page of the running kernel,
    // and aarch64 kernels may use 16 or 64 KiB pages. Read at 4 KiB there, the entries
    // would be other pages' and could mark a relocated (RELRO) page as the file's.
    let Some(page) = page_size() else {
        return Vec::new();
    };
    let pages = end.saturating_sub(start) / page;
    let mut entries = vec![0u8; pages * 8];
    let offset = (start / page * 8) as u64;
    if pagemap.read_exact_at(&mut entries, offset).is_err() {
        return Vec::new();
    }
    let mut runs = Vec::new();
    let mut run: Option<usize> = None;
    for (i, entry) in entries.chunks_exact(8).enumerate() {
        let bits = u64::from_ne_bytes(entry.try_into().unwrap_or([0; 8]));
        let droppable = bits & PRESENT != 0 && bits & FILE_PAGE != 0;
        match (droppable, run) {
            (true, None) => run = Some(start + i * page),
            (false, Some(from)) => {
                runs.push((from, start + i * page));
                run = None;
            }
            _ => {}
        }
    }
    if let Some(from) = run {
        runs.push((from, end));
    }
    runs
}

/// The size of a page of memory, from `sysconf(_SC_PAGESIZE)`.
#[cfg(target_os = "linux")]
fn page_size() -> Option<usize> {
    let size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok()??;
    usize::try_from(size).ok().filter(|s| *s > 0)
}

#[cfg(not(target_os = "linux"))]
pub fn release() {}

/// One line of `/proc/self/maps`: `start-end perms offset dev inode path`.
#[derive(Debug, PartialEq, Eq)]
struct Mapping<'a> {
    start: usize,
    end: usize,
    writable: bool,
    path: Option<&'a str>,
}

impl<'a> Mapping<'a> {
    fn parse(line: &'a str) -> Option<Mapping<'a>> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        // offset, device, inode; the path is the rest (absent for anonymous memory).
        let path = fields.nth(3);
        Some(Mapping {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            writable: perms.as_bytes().get(1) == Some(&b'w'),
            path: path.filter(|p| p.starts_with('/')),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maps_line_gives_its_range_rights_and_file() {
        let text = "55d4c8a00000-55d4c8ea1000 r-xp 00000000 08:01 1234 /usr/sbin/taskmasterd";
        assert_eq!(
            Mapping::parse(text),
            Some(Mapping {
                start: 0x55d4c8a00000,
                end: 0x55d4c8ea1000,
                writable: false,
                path: Some("/usr/sbin/taskmasterd"),
            })
        );
        let data = "55d4c8ea2000-55d4c8eaf000 rw-p 004a1000 08:01 1234 /usr/sbin/taskmasterd";
        assert!(Mapping::parse(data).is_some_and(|m| m.writable));
        let relro = "55d4c8ea1000-55d4c8ea2000 r--p 004a0000 08:01 1234 /usr/sbin/taskmasterd";
        assert!(Mapping::parse(relro).is_some_and(|m| !m.writable));
        let heap = "55d4ca000000-55d4ca4b0000 rw-p 00000000 00:00 0 [heap]";
        assert_eq!(Mapping::parse(heap).and_then(|m| m.path), None);
        let anonymous = "7f0000000000-7f0000021000 rw-p 00000000 00:00 0";
        assert_eq!(Mapping::parse(anonymous).and_then(|m| m.path), None);
        assert_eq!(Mapping::parse("garbage"), None);
    }

    #[test]
    fn the_runs_to_drop_are_mapped_pages_of_the_code_itself() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let here = the_runs_to_drop_are_mapped_pages_of_the_code_itself as fn() as usize;
        let code = maps.lines().filter_map(Mapping::parse);
        let Some(code) = code.into_iter().find(|m| m.start <= here && here < m.end) else {
            panic!("no mapping holds this test's code");
        };
        let pagemap = std::fs::File::open("/proc/self/pagemap").expect("pagemap");
        let runs = file_page_runs(&pagemap, code.start, code.end);
        // This very function is running: its page is mapped, and is the file's.
        assert!(
            runs.iter().any(|(from, to)| *from <= here && here < *to),
            "{runs:x?}"
        );
        assert!(runs
            .iter()
            .all(|(from, to)| code.start <= *from && from < to && *to <= code.end));
    }

    #[test]
    fn a_written_page_of_a_read_only_file_mapping_is_not_dropped() {
        // What RELRO is: a private file mapping whose pages the loader wrote, then made
        // read-only. The written page is a private copy; the one only read is the file's.
        use std::io::Write;
        let page = page_size().expect("page size");
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(&vec![7u8; 2 * page]).expect("two pages");
        // SAFETY: a new private mapping of a file this test owns, at an address the kernel
        // picks; nothing else refers to it.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            )
        };
        assert_ne!(at, libc::MAP_FAILED);
        let start = at as usize;
        // SAFETY: both pages lie in the mapping made above, readable and writable.
        let read = unsafe {
            let read = std::ptr::read_volatile(start as *const u8);
            std::ptr::write_volatile((start + page) as *mut u8, 9);
            read
        };
        assert_eq!(read, 7);
        // SAFETY: the mapping made above, made read-only as the loader does RELRO.
        assert_eq!(unsafe { libc::mprotect(at, 2 * page, libc::PROT_READ) }, 0);
        let pagemap = std::fs::File::open("/proc/self/pagemap").expect("pagemap");
        let runs = file_page_runs(&pagemap, start, start + 2 * page);
        // SAFETY: the mapping made above, not used after this.
        unsafe { libc::munmap(at, 2 * page) };
        assert_eq!(
            runs,
            [(start, start + page)],
            "only the page read is the file's"
        );
    }

    #[test]
    fn the_code_still_runs_after_its_pages_are_given_back() {
        release();
        // Running code, reading constants (`.rodata`, dropped too) and relocated pointers
        // (a trait object's vtable in RELRO, which a drop would bring back unrelocated, and
        // formatting) all still work: nothing but the file's own pages was dropped.
        let shown: Box<dyn std::fmt::Display> = Box::new(94u8);
        assert_eq!(format!("{shown}"), "94");
        assert_eq!(
            Mapping::parse("1-2 r--p 0 0:0 0 /x").map(|m| m.end),
            Some(2)
        );
    }
}
