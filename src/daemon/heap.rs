//! Giving freed heap back to the kernel after a burst of work.
//!
//! A config load (the parsed KDL documents) and a burst of spawns (one exec plan, with its
//! environment, per child until its execve) allocate a lot that is freed soon after; what
//! stays allocated in between keeps the heap from shrinking by itself. With 1,000 services
//! that was about 11 MiB of free heap still resident after the boot (measured with
//! mallinfo2, bench/PROFILES.md). `malloc_trim` returns the free pages of every arena.

/// A config loaded on another thread, copied into this thread's heap: the loader's arena
/// holds the specs among the freed parse of the whole directory (the KDL documents, ten
/// times the size of the specs), so that none of its pages could ever be given back while
/// the specs live. Copied here, the loader's arena is all free and a trim returns it. A
/// spec whose process spec is `shared` (`running` returns the one the core runs, for a
/// reload that took it from the core) is in our heap already and is not copied.
pub fn owned_here(
    config: crate::config::Config,
    running: impl Fn(&str) -> Option<std::sync::Arc<crate::config::ProcessSpec>>,
) -> crate::config::Config {
    use std::sync::Arc;
    // A new map too: its nodes hold the specs themselves.
    let services = (config.services.iter())
        .map(|(name, spec)| {
            let shared = running(name).is_some_and(|p| Arc::ptr_eq(&p, &spec.process));
            let process = match shared {
                true => spec.process.clone(),
                false => Arc::new(crate::config::ProcessSpec::clone(&spec.process)),
            };
            let spec = crate::config::ServiceSpec {
                process,
                ..spec.clone()
            };
            (name.clone(), spec)
        })
        .collect();
    drop(config);
    crate::config::Config { services }
}

/// [`owned_here`] for a whole load: the graph is built again here and the stamps copied,
/// for the same reason.
pub fn load_owned_here(
    (config, graph, stamps): super::loader::LoadedParts,
    running: impl Fn(&str) -> Option<std::sync::Arc<crate::config::ProcessSpec>>,
) -> super::loader::LoadedParts {
    let config = owned_here(config, running);
    // It was built and checked on the loader's thread already: this cannot fail.
    let graph = crate::graph::DependencyGraph::build(&config).unwrap_or(graph);
    (config, graph, stamps.clone())
}

/// Work that leaves freed heap behind, counted until a trim is worth it.
#[derive(Default)]
pub struct HeapChurn {
    count: usize,
    /// A config was loaded and its start has not settled yet: then the code that only a
    /// load runs is given back, with the heap (see code_pages.rs).
    loaded: bool,
}

impl HeapChurn {
    /// Below this much churn a trim is not worth its walk over the heap.
    const WORTH_A_TRIM: usize = 64;

    /// `weight` more units of short-lived allocation (a spawn is 1, a config load is its
    /// number of services).
    pub fn add(&mut self, weight: usize) {
        self.count = self.count.saturating_add(weight);
    }

    /// A config load of `services` services (its parse, then the spawns it brings).
    pub fn add_load(&mut self, services: usize) {
        self.add(services.max(Self::WORTH_A_TRIM));
        self.loaded = true;
    }

    /// Trims when enough churn has built up and `settled` (nothing of the burst is still
    /// alive, e.g. no exec plan is waiting for its child). Cheap when there is nothing to do.
    /// After a load, once `started` too (no instance is still STARTING: the burst's state
    /// changes, their log lines and state files, are done), the heap is trimmed again and
    /// the code pages are given back: given back at the first trim, right after the spawns,
    /// most of them were mapped again a second later, when 1,000 instances became RUNNING.
    pub fn trim_if_settled(&mut self, settled: bool, started: impl FnOnce() -> bool) {
        if self.count >= Self::WORTH_A_TRIM && settled {
            self.count = 0;
            release_free_heap();
        }
        if self.loaded && settled && started() {
            self.loaded = false;
            // Without the trimming threads of `release_free_heap`: started just before the
            // drop, they ran after it and mapped thread start and exit code back (perf's
            // page faults after the drop). The helper arenas of the load were trimmed at
            // its first settled turn, above.
            release_own_free_heap();
            super::code_pages::release_now_and_after_writes();
        }
    }
}

/// Fixed thresholds: by default glibc raises both each time a large block is freed (a config
/// load frees megabytes), after which free memory at the top of a heap stays resident.
#[cfg(target_env = "gnu")]
pub(super) fn fix_thresholds() {
    const BYTES: libc::c_int = 128 * 1024;
    // SAFETY: mallopt only sets the allocator's parameters; any value is valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, BYTES);
        // What a trim leaves on top of an arena (128 KiB by default): each helper thread's
        // arena kept that much resident after its trim.
        libc::mallopt(libc::M_TOP_PAD, 16 * 1024);
    }
}

#[cfg(not(target_env = "gnu"))]
pub(super) fn fix_thresholds() {}

#[cfg(target_env = "gnu")]
pub(super) fn release_free_heap() {
    release_own_free_heap();
    // Then the arenas of the helper threads that are gone.
    arenas::trim_helper_arenas();
}

/// The free pages of every arena and the top of the caller's own, without the trimming
/// threads of [`release_free_heap`]: for the state-files writer after a large batch, and
/// for the loop at its code drop ([`HeapChurn::trim_if_settled`]). The loop trims the
/// helper threads' arenas after a load; started by the writer too, those threads started
/// and exited just as the writer gave the code back (code_pages.rs), and mapped about 0.7
/// MiB of it back (thread start and exit, at N=1000: bench/PROFILES.md).
#[cfg(target_env = "gnu")]
pub(super) fn release_own_free_heap() {
    // SAFETY: malloc_trim only returns free memory of the allocator's own arenas to the
    // kernel; it takes an integer (the padding to keep) and is thread-safe.
    unsafe { libc::malloc_trim(0) };
    arenas::trim_own_arena();
}

#[cfg(not(target_env = "gnu"))]
pub(super) fn release_free_heap() {}

#[cfg(not(target_env = "gnu"))]
pub(super) fn release_own_free_heap() {}

/// The free tops of the malloc arenas that helper threads used.
///
/// glibc gives each thread that allocates while another does its own arena (the config
/// loader, the threads that parse parts of a large file, the state-files writer). Once such
/// a thread is done, what it allocated is freed, but `malloc_trim` gathers it into the
/// arena's top chunk and, for any arena but the main one, leaves that top resident: after a
/// boot of 200 services the part parser's arena kept 1.9 MiB, all of it free (`malloc_info`).
/// glibc trims a thread arena's top only in `free` of a large chunk in that arena, so a
/// thread that takes the arena allocates such a chunk and frees it. An arena is free for a
/// new thread once its thread has exited; the trimming threads are all alive at once, so
/// each takes a different one. They are detached: the loop never waits for them.
#[cfg(target_env = "gnu")]
mod arenas {
    use std::sync::{Arc, Condvar, Mutex};

    /// Large enough that glibc's `free` trims the arena (FASTBIN_CONSOLIDATION_THRESHOLD,
    /// 64 KiB), below the mmap threshold (`fix_thresholds`, 128 KiB) so that it comes from
    /// the arena and not from a mapping of its own.
    const TRIGGER_BYTES: usize = 96 * 1024;

    /// What a trimming thread needs: its stack is mapped, not malloc'd, and is small.
    const STACK_BYTES: usize = 64 * 1024;

    /// A large chunk of the calling thread's arena, freed: glibc then trims that arena's top.
    pub(super) fn trim_own_arena() {
        // SAFETY: a plain allocation, freed at once, never read or written. The compiler
        // would drop a malloc whose pointer is only freed: black_box keeps it.
        unsafe { libc::free(std::hint::black_box(libc::malloc(TRIGGER_BYTES))) };
    }

    /// How many arenas besides the main one malloc has made (`<heap nr="N">` in
    /// `malloc_info`: the main arena is 0).
    fn helper_arenas() -> usize {
        let mut buffer: *mut libc::c_char = std::ptr::null_mut();
        let mut length: libc::size_t = 0;
        // SAFETY: open_memstream writes the buffer's address and length into the two
        // locals; the buffer is valid until it is freed below, after fclose.
        unsafe {
            let stream = libc::open_memstream(&mut buffer, &mut length);
            if stream.is_null() {
                return 0;
            }
            libc::malloc_info(0, stream);
            libc::fclose(stream);
            if buffer.is_null() {
                return 0;
            }
            let text = std::slice::from_raw_parts(buffer as *const u8, length);
            let count = memchr::memmem::find_iter(text, b"<heap nr=").count();
            libc::free(buffer.cast());
            count.saturating_sub(1)
        }
    }

    /// Threads of this process besides the caller's: each holds an arena of its own (or
    /// shares one), which is not free for a trimming thread to take.
    fn other_threads() -> usize {
        std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count().saturating_sub(1))
    }

    pub(super) fn trim_helper_arenas() {
        // One thread too many would make a new arena rather than wait for one.
        let arenas = helper_arenas().saturating_sub(other_threads());
        if arenas == 0 {
            return;
        }
        // Each thread holds its chunk (and the arena with it) until all have theirs: one
        // that freed early would put its arena back for the next to take again.
        let gate = Arc::new((Mutex::new(Gate::default()), Condvar::new()));
        let mut spawned = 0;
        for _ in 0..arenas {
            let gate = Arc::clone(&gate);
            let builder = std::thread::Builder::new()
                .name("heap-trim".into())
                .stack_size(STACK_BYTES);
            let started = super::super::threads::spawn(builder, move || {
                // SAFETY: a plain allocation, freed once, never read or written. The
                // compiler would drop a malloc whose pointer is only freed: black_box keeps it.
                let chunk = std::hint::black_box(unsafe { libc::malloc(TRIGGER_BYTES) });
                let (state, changed) = &*gate;
                if let Ok(mut state) = state.lock() {
                    state.arrived += 1;
                    changed.notify_all();
                    drop(changed.wait_while(state, |state| !state.all_arrived()));
                }
                // SAFETY: `chunk` came from malloc above (free of null does nothing).
                unsafe { libc::free(chunk) };
            });
            if started.is_err() {
                break;
            }
            spawned += 1;
        }
        let (state, changed) = &*gate;
        if let Ok(mut state) = state.lock() {
            state.expected = Some(spawned);
        }
        changed.notify_all();
    }

    /// The trimming threads that have their chunk, and how many there are (once all are
    /// spawned). The loop never waits on it: the last thread to arrive opens the gate.
    #[derive(Default)]
    struct Gate {
        arrived: usize,
        expected: Option<usize>,
    }

    impl Gate {
        fn all_arrived(&self) -> bool {
            self.expected
                .is_some_and(|expected| self.arrived >= expected)
        }
    }
}
