//! The `reqwest::Client` an [`AuthClient`](crate::AuthClient) uses when none is given: one per tokio
//! runtime, built on first use and shared by every client built on that runtime, so a program with
//! hundreds of clients loads the TLS root certificates and keeps a connection pool once.
//!
//! One per *runtime* rather than per process: a pooled connection belongs to the runtime that opened
//! it, and a `reqwest::Client` used from a second runtime after the first has stopped can wait on a
//! connection whose task is gone. A client built outside any runtime gets a `reqwest::Client` of its own.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::runtime::{Handle, Id};

use crate::error::{Error, Result};

/// Request timeout of the `reqwest::Client` built when none is given: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connect timeout of the `reqwest::Client` built when none is given: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared default client and the runtime it belongs to: the most recent runtime that asked.
type Slot = Mutex<Option<(Id, reqwest::Client)>>;

static SHARED: Slot = Mutex::new(None);

/// The default `reqwest::Client`: no redirects, [`DEFAULT_TIMEOUT`], [`DEFAULT_CONNECT_TIMEOUT`].
///
/// # Errors
/// [`Error::Config`] naming `backend` when reqwest cannot build it (no TLS backend available).
pub(crate) fn default_client(backend: &'static str) -> Result<reqwest::Client> {
    shared(&SHARED, Handle::try_current().ok().map(|h| h.id()), || {
        build(backend)
    })
}

/// The client in `slot` when it belongs to `runtime`, else a new one from `build` (kept in `slot` when
/// there is a runtime).
fn shared(
    slot: &Slot,
    runtime: Option<Id>,
    build: impl FnOnce() -> Result<reqwest::Client>,
) -> Result<reqwest::Client> {
    let Some(runtime) = runtime else {
        return build();
    };
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, http)) = &*slot
        && *owner == runtime
    {
        return Ok(http.clone());
    }
    let http = build()?;
    *slot = Some((runtime, http.clone()));
    Ok(http)
}

fn build(backend: &'static str) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DEFAULT_TIMEOUT)
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .build()
        .map_err(|e| Error::config(backend, format!("could not build the HTTP client ({e})")))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn counting<'a>(built: &'a Cell<u32>) -> impl FnOnce() -> Result<reqwest::Client> + 'a {
        move || {
            built.set(built.get() + 1);
            Ok(reqwest::Client::new())
        }
    }

    #[test]
    fn one_client_per_runtime_and_none_shared_outside_a_runtime() {
        let slot = Slot::new(None);
        let built = Cell::new(0);
        let first = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let second = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (a, b) = (first.handle().id(), second.handle().id());

        for _ in 0..100 {
            shared(&slot, Some(a), counting(&built)).unwrap();
        }
        assert_eq!(built.get(), 1, "a hundred clients on one runtime share one");

        shared(&slot, Some(b), counting(&built)).unwrap();
        shared(&slot, Some(b), counting(&built)).unwrap();
        assert_eq!(built.get(), 2, "another runtime gets its own");

        shared(&slot, None, counting(&built)).unwrap();
        shared(&slot, None, counting(&built)).unwrap();
        assert_eq!(built.get(), 4, "outside a runtime, each gets its own");
        shared(&slot, Some(b), counting(&built)).unwrap();
        assert_eq!(built.get(), 4, "and the runtime's shared one is kept");
    }

    #[test]
    fn a_build_failure_is_returned_and_not_kept() {
        let slot = Slot::new(None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let id = runtime.handle().id();
        let error = shared(&slot, Some(id), || Err(Error::config("fake", "no TLS"))).unwrap_err();
        assert!(error.to_string().contains("no TLS"));
        let built = Cell::new(0);
        shared(&slot, Some(id), counting(&built)).unwrap();
        assert_eq!(built.get(), 1);
    }
}
