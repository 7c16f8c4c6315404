//! The `AuthClient` with a token store, on a paused clock: clients sharing a store make one login, a
//! holder that never finishes loses its lease, and a failing store falls back to a login of its own and
//! is tried again later.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rpa_auth::store::memory::MemoryStore;
use rpa_auth::store::{
    Lease, LeaseAttempt, LoginIdentity, StoreError, StoreKey, StoreResult, TokenStore,
};
use rpa_auth::{AuthClient, Authenticator, BoxFuture, Credential, ExposeSecret, Result};
use support::{Counting, bearer};

const BASE: &str = "http://127.0.0.1:9/";

/// An authenticator that names its account (so it may use a store) and counts its logins.
#[derive(Debug)]
struct Account<A> {
    inner: A,
    user: &'static str,
}

impl<A: Authenticator> Authenticator for Account<A> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn base_url(&self) -> &url::Url {
        self.inner.base_url()
    }
    fn authenticate<'a>(&'a self, http: &'a reqwest::Client) -> BoxFuture<'a, Result<Credential>> {
        self.inner.authenticate(http)
    }
    fn store_identity(&self) -> Option<LoginIdentity> {
        Some(LoginIdentity::new(self.user))
    }
}

fn client(
    counting: &Counting,
    delay: Duration,
    store: Arc<dyn TokenStore>,
    user: &'static str,
) -> AuthClient {
    let inner = counting.authenticator(BASE, delay, |n| Ok(bearer(n, Duration::from_secs(3600))));
    AuthClient::builder(Account { inner, user })
        .token_store(store)
        .build()
        .unwrap()
}

async fn token(client: &AuthClient) -> String {
    client
        .credential()
        .await
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn clients_sharing_a_store_make_one_login() {
    let counting = Counting::new();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let clients: Vec<_> = (0..5)
        .map(|_| client(&counting, Duration::from_secs(2), store.clone(), "u"))
        .collect();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(async move { token(&c).await }))
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap());
    }
    assert!(tokens.iter().all(|t| t == "token-1"), "{tokens:?}");
    assert_eq!(counting.count(), 1);
    // Another account has its own entry.
    let other = client(&counting, Duration::ZERO, store.clone(), "v");
    assert_eq!(token(&other).await, "token-2");
    assert_eq!(counting.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_holder_that_never_finishes_loses_its_lease() {
    let counting = Counting::new();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new().lease(Duration::from_secs(10)));
    // The first client's login never ends while it holds the lease.
    let stuck = client(&counting, Duration::from_secs(3600), store.clone(), "u");
    let stuck_task = tokio::spawn(async move { token(&stuck).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(counting.count(), 1);

    let waiter = client(&counting, Duration::ZERO, store.clone(), "u");
    let started = tokio::time::Instant::now();
    assert_eq!(token(&waiter).await, "token-2");
    let waited = started.elapsed();
    // It waited for the lease to run out (10 s from the start, 1 s of which had passed), no longer.
    assert!(waited >= Duration::from_secs(8), "{waited:?}");
    assert!(waited <= Duration::from_secs(11), "{waited:?}");
    assert_eq!(counting.count(), 2);
    // Its login is the stored one.
    let third = client(&counting, Duration::ZERO, store.clone(), "u");
    assert_eq!(token(&third).await, "token-2");
    assert_eq!(counting.count(), 2);
    stuck_task.abort();
}

/// A memory store that can be broken: every operation then fails.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStore,
    broken: AtomicBool,
    reads: AtomicU64,
}

impl Flaky {
    fn check(&self) -> StoreResult<()> {
        if self.broken.load(Ordering::SeqCst) {
            Err(StoreError::new("store unreachable"))
        } else {
            Ok(())
        }
    }
}

impl TokenStore for Flaky {
    fn kind(&self) -> &'static str {
        "flaky"
    }
    fn read<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<Option<Credential>>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        match self.check() {
            Ok(()) => self.inner.read(key),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
    fn try_lease<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<LeaseAttempt>> {
        match self.check() {
            Ok(()) => self.inner.try_lease(key),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
    fn write<'a>(
        &'a self,
        lease: Lease,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<()>> {
        match self.check() {
            Ok(()) => self.inner.write(lease, credential),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
    fn release(&self, lease: Lease) -> BoxFuture<'_, StoreResult<()>> {
        self.inner.release(lease)
    }
    fn remove_if<'a>(
        &'a self,
        key: &'a StoreKey,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        match self.check() {
            Ok(()) => self.inner.remove_if(key, credential),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_falls_back_and_is_tried_again_later() {
    let counting = Counting::new();
    let flaky = Arc::new(Flaky {
        inner: MemoryStore::new(),
        broken: AtomicBool::new(true),
        reads: AtomicU64::new(0),
    });
    let store: Arc<dyn TokenStore> = flaky.clone();
    let client = client(&counting, Duration::ZERO, store, "u");

    // The store fails: the request still gets a credential, from a login of the client's own.
    assert_eq!(token(&client).await, "token-1");
    assert_eq!(flaky.reads.load(Ordering::SeqCst), 1);
    assert!(flaky.inner.is_empty());

    // The store works again, but rests for the retry interval: the next miss does not ask it.
    flaky.broken.store(false, Ordering::SeqCst);
    client.invalidate();
    assert_eq!(token(&client).await, "token-2");
    assert_eq!(flaky.reads.load(Ordering::SeqCst), 1);

    // After the interval the store is used again and receives the next login.
    tokio::time::advance(Duration::from_secs(31)).await;
    client.invalidate();
    assert_eq!(token(&client).await, "token-3");
    assert_eq!(flaky.reads.load(Ordering::SeqCst), 3);
    assert_eq!(flaky.inner.len(), 1);
    // The cached path does not touch the store.
    assert_eq!(token(&client).await, "token-3");
    assert_eq!(flaky.reads.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn logout_removes_the_entry_only_if_it_is_still_this_token() {
    let counting = Counting::new();
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn TokenStore> = memory.clone();
    let first = client(&counting, Duration::ZERO, store.clone(), "u");
    assert_eq!(token(&first).await, "token-1");
    assert_eq!(memory.len(), 1);
    first.logout().await.unwrap();
    assert!(memory.is_empty());

    // A newer token written by another client survives an older client's logout.
    let old = client(&counting, Duration::ZERO, store.clone(), "u");
    assert_eq!(token(&old).await, "token-2");
    let newer = client(&counting, Duration::ZERO, store.clone(), "u");
    newer.invalidate();
    assert_eq!(token(&newer).await, "token-2");
    // Another process replaces the entry with token-3.
    assert!(
        memory
            .remove_if(&key("u"), &bearer(2, Duration::from_secs(3600)))
            .await
            .unwrap()
    );
    newer.invalidate();
    assert_eq!(token(&newer).await, "token-3");
    old.logout().await.unwrap();
    assert_eq!(
        memory.len(),
        1,
        "the older token's logout left the newer entry"
    );
}

fn key(user: &str) -> StoreKey {
    StoreKey::new(
        "fake",
        &url::Url::parse(BASE).unwrap(),
        &LoginIdentity::new(user),
    )
}
