//! Giving freed heap back to the kernel after a burst of work.
//!
//! A config load (the parsed KDL documents) and a burst of spawns (one exec plan, with its
//! environment, per child until its execve) allocate a lot that is freed soon after; what
//! stays allocated in between keeps the heap from shrinking by itself. With 1,000 services
//! that was about 11 MiB of free heap still resident after the boot (measured with
//! mallinfo2, README "Performance"). `malloc_trim` returns the free pages of every arena.

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

#[cfg(target_env = "gnu")]
fn release_free_heap() {
    // SAFETY: malloc_trim only returns free memory of the allocator's own arenas to the
    // kernel; it takes an integer (the padding to keep) and is thread-safe.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(target_env = "gnu"))]
fn release_free_heap() {}
