//! The client's side of a [`TokenStore`]: consulted only when the in-memory credential cannot be used.
//! It reads the store, takes the lease for a login, waits for another holder's login, and falls back to a
//! login of its own when the store fails (warning once, trying the store again later).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::time::Instant;

use crate::credential::Credential;
use crate::error::Error;
use crate::store::{LeaseAttempt, StoreError, StoreKey, TokenStore, WAIT_MARGIN, poll_wait};

/// How long one store operation may take before the store counts as failed: 5 s.
pub(crate) const STORE_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// After the store fails, how long the client logs in by itself before trying the store again: 30 s.
pub(crate) const STORE_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// A store and the key of this client's login in it.
pub(crate) struct SharedStore {
    store: Arc<dyn TokenStore>,
    key: StoreKey,
    paused_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
    retry_interval: Duration,
}

/// Where a credential came from.
pub(crate) enum Obtained {
    /// Another process's login, read from the store.
    Found(Credential),
    /// This process's login (written to the store when it could be).
    LoggedIn(Credential),
}

/// Why no credential came through the store.
pub(crate) enum SharedFailure {
    /// The login itself failed: the caller treats it as any failed login.
    Login(Error),
    /// The store failed: the caller logs in by itself.
    Store(StoreError),
}

impl SharedStore {
    pub(crate) fn new(store: Arc<dyn TokenStore>, key: StoreKey, retry_interval: Duration) -> Self {
        Self {
            store,
            key,
            paused_until: Mutex::new(None),
            warned: AtomicBool::new(false),
            retry_interval,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        self.store.kind()
    }

    /// False while the store is resting after a failure.
    pub(crate) fn available(&self) -> bool {
        let paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        paused.is_none_or(|until| Instant::now() >= until)
    }

    /// Notes a store failure: warns the first time, and rests the store for the retry interval.
    pub(crate) fn failed(&self, backend: &'static str, error: &StoreError) {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + self.retry_interval);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                backend,
                store = self.store.kind(),
                error = %error,
                retry_s = self.retry_interval.as_secs(),
                "token store failed; logging in without it and trying it again later"
            );
        } else {
            tracing::debug!(backend, store = self.store.kind(), error = %error, "token store still failing");
        }
    }

    fn succeeded(&self, backend: &'static str) {
        if self.warned.swap(false, Ordering::Relaxed) {
            tracing::info!(
                backend,
                store = self.store.kind(),
                "token store is working again"
            );
        }
    }

    async fn timed<T>(
        &self,
        what: &str,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(STORE_OPERATION_TIMEOUT, operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::new(format!(
                "{what} took longer than {} s",
                STORE_OPERATION_TIMEOUT.as_secs()
            ))),
        }
    }

    /// A credential for this login: one in the store that `usable` accepts and that is not `rejected`,
    /// else this process's `login` made under the store's lease and written to it. While another process
    /// holds the lease, polls for its entry for up to the lease plus a margin.
    pub(crate) async fn obtain<F, Fut>(
        &self,
        backend: &'static str,
        rejected: Option<&Credential>,
        usable: impl Fn(&Credential) -> bool,
        login: F,
    ) -> Result<Obtained, SharedFailure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = crate::Result<Credential>>,
    {
        let accept = |credential: Option<Credential>| {
            credential.filter(|c| {
                usable(c)
                    && rejected
                        .is_none_or(|r| r.secret().expose_secret() != c.secret().expose_secret())
            })
        };
        let deadline = Instant::now() + self.store.lease_duration() + WAIT_MARGIN;
        let mut round = 0;
        let outcome = loop {
            let found = self
                .timed("reading the entry", self.store.read(&self.key))
                .await
                .map_err(SharedFailure::Store)?;
            if let Some(credential) = accept(found) {
                break Ok(Obtained::Found(credential));
            }
            let attempt = self
                .timed("taking the lease", self.store.try_lease(&self.key))
                .await
                .map_err(SharedFailure::Store)?;
            match attempt {
                LeaseAttempt::Acquired(lease) => {
                    // Someone may have written the entry between the read and the lease.
                    let again = self
                        .timed("reading the entry", self.store.read(&self.key))
                        .await;
                    let again = match again {
                        Ok(found) => found,
                        Err(error) => {
                            let _ = self.store.release(lease).await;
                            return Err(SharedFailure::Store(error));
                        }
                    };
                    if let Some(credential) = accept(again) {
                        let _ = self.timed("releasing", self.store.release(lease)).await;
                        break Ok(Obtained::Found(credential));
                    }
                    match login().await {
                        Ok(credential) => {
                            let written = self
                                .timed("writing the entry", self.store.write(lease, &credential))
                                .await;
                            if let Err(error) = written {
                                self.failed(backend, &error);
                                return Ok(Obtained::LoggedIn(credential));
                            }
                            break Ok(Obtained::LoggedIn(credential));
                        }
                        Err(error) => {
                            let _ = self.timed("releasing", self.store.release(lease)).await;
                            break Err(SharedFailure::Login(error));
                        }
                    }
                }
                LeaseAttempt::Busy => {
                    if Instant::now() >= deadline {
                        return Err(SharedFailure::Store(StoreError::new(format!(
                            "another process held the lease for longer than {} s",
                            (self.store.lease_duration() + WAIT_MARGIN).as_secs()
                        ))));
                    }
                    tracing::trace!(
                        backend,
                        store = self.store.kind(),
                        "another process is logging in; waiting for its entry"
                    );
                    tokio::time::sleep(poll_wait(round)).await;
                    round += 1;
                }
            }
        };
        self.succeeded(backend);
        outcome
    }

    /// Removes `credential` from the store if it is still the stored one (after a 401 or a logout).
    pub(crate) async fn discard(&self, backend: &'static str, credential: &Credential) {
        if !self.available() {
            return;
        }
        match self
            .timed(
                "removing the entry",
                self.store.remove_if(&self.key, credential),
            )
            .await
        {
            Ok(removed) => {
                tracing::debug!(
                    backend,
                    store = self.store.kind(),
                    removed,
                    "rejected credential removed from the token store if still there"
                );
            }
            Err(error) => self.failed(backend, &error),
        }
    }
}
