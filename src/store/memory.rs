//! [`MemoryStore`]: a token store inside one process, for several clients of the same account and for
//! tests. Leases run out on the tokio clock, so a paused clock drives them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{
    Codec, DEFAULT_LEASE, EncryptionKey, Lease, LeaseAttempt, StoreKey, StoreResult, TokenStore,
    random_hex,
};
use crate::credential::Credential;
use crate::future::BoxFuture;

/// A token store in this process's memory.
pub struct MemoryStore {
    codec: Codec,
    lease: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<StoreKey, Vec<u8>>,
    leases: HashMap<StoreKey, (String, Instant)>,
}

/// Names the number of entries and leases, never their bytes (without a key an entry holds the token in
/// clear).
impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (entries, leases) = self
            .state
            .lock()
            .map(|state| (state.entries.len(), state.leases.len()))
            .unwrap_or_default();
        f.debug_struct("MemoryStore")
            .field("entries", &entries)
            .field("leases", &leases)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store whose leases last [`DEFAULT_LEASE`].
    pub fn new() -> Self {
        Self {
            codec: Codec::new(None),
            lease: DEFAULT_LEASE,
            state: Mutex::new(State::default()),
        }
    }

    /// Seals entries with `key`. Defaults to no encryption.
    #[must_use]
    pub fn encryption_key(mut self, key: EncryptionKey) -> Self {
        self.codec = Codec::new(Some(key));
        self
    }

    /// How long a lease lasts. Defaults to [`DEFAULT_LEASE`].
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The stored bytes of `key` (fingerprint, then the entry), for tests that look at what is kept.
    pub fn raw(&self, key: &StoreKey) -> Option<Vec<u8>> {
        self.state().entries.get(key).cloned()
    }

    /// How many entries the store holds.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    /// True when the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn holds(state: &State, lease: &Lease) -> bool {
        state
            .leases
            .get(lease.key())
            .is_some_and(|(holder, until)| holder == lease.holder() && Instant::now() < *until)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn lease_duration(&self) -> Duration {
        self.lease
    }

    fn read<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<Option<Credential>>> {
        let bytes = self.state().entries.get(key).cloned();
        let credential = bytes.and_then(|bytes| self.codec.decode(key, &bytes));
        Box::pin(async move { Ok(credential) })
    }

    fn try_lease<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<LeaseAttempt>> {
        let mut state = self.state();
        let now = Instant::now();
        let attempt = match state.leases.get(key) {
            Some((_, until)) if now < *until => LeaseAttempt::Busy,
            _ => {
                let holder = random_hex(16);
                state
                    .leases
                    .insert(key.clone(), (holder.clone(), now + self.lease));
                LeaseAttempt::Acquired(Lease::new(key.clone(), holder, None))
            }
        };
        Box::pin(async move { Ok(attempt) })
    }

    fn write<'a>(
        &'a self,
        lease: Lease,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let result = self.codec.encode(lease.key(), credential).map(|bytes| {
            let mut state = self.state();
            if Self::holds(&state, &lease) {
                state.entries.insert(lease.key().clone(), bytes);
                state.leases.remove(lease.key());
            }
        });
        Box::pin(async move { result })
    }

    fn release(&self, lease: Lease) -> BoxFuture<'_, StoreResult<()>> {
        let mut state = self.state();
        if Self::holds(&state, &lease) {
            state.leases.remove(lease.key());
        }
        Box::pin(async { Ok(()) })
    }

    fn remove_if<'a>(
        &'a self,
        key: &'a StoreKey,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let fingerprint = self.codec.fingerprint(key, credential.secret());
        let mut state = self.state();
        let matches = state
            .entries
            .get(key)
            .and_then(|bytes| Codec::stored_fingerprint(bytes))
            .is_some_and(|stored| stored == fingerprint.as_bytes());
        if matches {
            state.entries.remove(key);
        }
        Box::pin(async move { Ok(matches) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::Placement;
    use crate::store::LoginIdentity;
    use secrecy::{ExposeSecret, SecretString};

    fn key(user: &str) -> StoreKey {
        StoreKey::new(
            "uipath",
            &url::Url::parse("https://orch.example.com/").unwrap(),
            &LoginIdentity::new(user),
        )
    }

    fn token(text: &str) -> Credential {
        Credential::new(SecretString::from(text.to_owned()), Placement::Bearer)
            .expires_in(Duration::from_secs(3600))
    }

    fn acquired(attempt: LeaseAttempt) -> Lease {
        match attempt {
            LeaseAttempt::Acquired(lease) => lease,
            LeaseAttempt::Busy => panic!("lease was busy"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn debug_never_shows_a_stored_token() {
        let store = MemoryStore::new();
        let lease = acquired(store.try_lease(&key("a")).await.unwrap());
        store
            .write(lease, &token("plain-stored-token"))
            .await
            .unwrap();
        let text = format!("{store:?}");
        assert!(text.contains("entries: 1"), "{text}");
        let bytes = format!("{:?}", b"plain-stored-token");
        assert!(
            !text.contains("plain-stored-token") && !text.contains(&bytes[1..20]),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lease_is_exclusive_until_written_released_or_run_out() {
        let store = MemoryStore::new().lease(Duration::from_secs(10));
        let lease = acquired(store.try_lease(&key("a")).await.unwrap());
        assert!(matches!(
            store.try_lease(&key("a")).await.unwrap(),
            LeaseAttempt::Busy
        ));
        // Another key is independent.
        let other = acquired(store.try_lease(&key("b")).await.unwrap());
        store.release(other).await.unwrap();

        store.write(lease, &token("t1")).await.unwrap();
        let read = store.read(&key("a")).await.unwrap().unwrap();
        assert_eq!(read.secret().expose_secret(), "t1");

        // A holder that never comes back loses the lease when it runs out.
        let _stuck = acquired(store.try_lease(&key("a")).await.unwrap());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(matches!(
            store.try_lease(&key("a")).await.unwrap(),
            LeaseAttempt::Busy
        ));
        tokio::time::advance(Duration::from_secs(2)).await;
        let taken_over = acquired(store.try_lease(&key("a")).await.unwrap());
        // The old holder's late write is refused: the entry stays as the new holder writes it.
        store.write(_stuck, &token("stale")).await.unwrap();
        assert_eq!(
            store
                .read(&key("a"))
                .await
                .unwrap()
                .unwrap()
                .secret()
                .expose_secret(),
            "t1"
        );
        store.write(taken_over, &token("t2")).await.unwrap();
        assert_eq!(
            store
                .read(&key("a"))
                .await
                .unwrap()
                .unwrap()
                .secret()
                .expose_secret(),
            "t2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn compare_and_delete_only_removes_the_token_it_names() {
        let store = MemoryStore::new();
        let lease = acquired(store.try_lease(&key("a")).await.unwrap());
        store.write(lease, &token("new")).await.unwrap();
        // A stale process answering a 401 on the old token removes nothing.
        assert!(!store.remove_if(&key("a"), &token("old")).await.unwrap());
        assert!(store.read(&key("a")).await.unwrap().is_some());
        assert!(store.remove_if(&key("a"), &token("new")).await.unwrap());
        assert!(store.read(&key("a")).await.unwrap().is_none());
        assert!(!store.remove_if(&key("a"), &token("new")).await.unwrap());
    }
}
