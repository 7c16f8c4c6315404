//! In-process servers that speak each vendor's login protocol, for tests, demos and your own test suites.
//!
//! Enabled by the `emulator` feature. Each emulator starts on a free loopback port, counts what it sees
//! (logins, rejected calls, requests it did not expect) and can be told to misbehave for its next answers
//! with a [`Fault`]: 429 with `Retry-After`, 503, an HTML page, truncated JSON, an oversized body, a delay.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use rpa_auth::emulator::uipath::UiPathEmulator;
//!
//! let orchestrator = UiPathEmulator::builder().user("admin", "secret").start().await?;
//! println!("Orchestrator emulator at {}", orchestrator.url());
//! # Ok(()) }
//! ```

pub mod automation_anywhere;
pub mod pyramid;
mod server;
pub mod uipath;
pub mod windows;

pub use server::{EmuRequest, EmuResponse, Fault, Handler, RecordedRequest, Server};
pub use windows::{WindowsAuthMode, WindowsGate};

pub(crate) use server::{html_response, json_response, text_response};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// `Debug` (name, URL, settings; never users or secrets) and `Deref` to the [`Server`] for a vendor
/// emulator's handle, a struct with a `server` field and a `$state` field whose `settings` are `Debug`.
macro_rules! emulator_handle {
    ($handle:ident, $state:ident) => {
        impl std::fmt::Debug for $handle {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($handle))
                    .field("url", &self.server.url().as_str())
                    .field("settings", &self.$state.settings)
                    .finish_non_exhaustive()
            }
        }

        impl std::ops::Deref for $handle {
            type Target = $crate::emulator::Server;

            /// The server's URL, fault injection, request log and counters.
            fn deref(&self) -> &Self::Target {
                &self.server
            }
        }
    };
}
use emulator_handle;

/// Locks `mutex`, also after a panic elsewhere (an emulator's state stays usable).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An unpredictable token: per-process random SipHash keys over a counter and the clock.
pub(crate) fn random_token(bytes: usize) -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut out = Vec::with_capacity(bytes + 8);
    while out.len() < bytes {
        let mut hasher = state.build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.extend_from_slice(&hasher.finish().to_le_bytes());
    }
    out.truncate(bytes);
    out
}
