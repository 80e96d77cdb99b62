//! Giving freed heap back to the kernel after a burst of work.
//!
//! A config load (the parsed KDL documents) and a burst of spawns (one exec plan, with its
//! environment, per child until its execve) allocate a lot that is freed soon after; what
//! stays allocated in between keeps the heap from shrinking by itself. With 1,000 services
//! that was about 11 MiB of free heap still resident after the boot (measured with
//! mallinfo2, README "Performance"). `malloc_trim` returns the free pages of every arena.

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
}

impl HeapChurn {
    /// Below this much churn a trim is not worth its walk over the heap.
    const WORTH_A_TRIM: usize = 64;

    /// `weight` more units of short-lived allocation (a spawn is 1, a config load is its
    /// number of services).
    pub fn add(&mut self, weight: usize) {
        self.count = self.count.saturating_add(weight);
    }

    /// Trims when enough churn has built up and `settled` (nothing of the burst is still
    /// alive, e.g. no exec plan is waiting for its child). Cheap when there is nothing to do.
    pub fn trim_if_settled(&mut self, settled: bool) {
        if self.count < Self::WORTH_A_TRIM || !settled {
            return;
        }
        self.count = 0;
        release_free_heap();
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
    }
}

#[cfg(not(target_env = "gnu"))]
pub(super) fn fix_thresholds() {}

#[cfg(target_env = "gnu")]
pub(super) fn release_free_heap() {
    // SAFETY: malloc_trim only returns free memory of the allocator's own arenas to the
    // kernel; it takes an integer (the padding to keep) and is thread-safe.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(target_env = "gnu"))]
pub(super) fn release_free_heap() {}
