//! A global allocator that counts, while switched on, the allocations made and the bytes allocated
#![allow(dead_code, reason = "each benchmark uses part of it")]
//! and freed; switched off it costs one relaxed load per call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Install with `#[global_allocator] static GLOBAL: Counting = Counting;`.
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
            ALLOCATED.fetch_add(layout.size() as u64, Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ON.load(Relaxed) {
            FREED.fetch_add(layout.size() as u64, Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
            ALLOCATED.fetch_add(new_size as u64, Relaxed);
            FREED.fetch_add(layout.size() as u64, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What was allocated between [`start`] and [`stop`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Calls to `alloc` and `realloc`.
    pub allocations: u64,
    /// Bytes allocated.
    pub allocated: u64,
    /// Bytes freed.
    pub freed: u64,
}

impl Counts {
    /// Bytes still held: allocated minus freed.
    pub fn live(&self) -> i64 {
        self.allocated as i64 - self.freed as i64
    }
}

/// Zeroes the counters and switches counting on.
pub fn start() {
    ALLOCATIONS.store(0, Relaxed);
    ALLOCATED.store(0, Relaxed);
    FREED.store(0, Relaxed);
    ON.store(true, Relaxed);
}

/// Switches counting off and returns the counts since [`start`].
pub fn stop() -> Counts {
    ON.store(false, Relaxed);
    Counts {
        allocations: ALLOCATIONS.load(Relaxed),
        allocated: ALLOCATED.load(Relaxed),
        freed: FREED.load(Relaxed),
    }
}
