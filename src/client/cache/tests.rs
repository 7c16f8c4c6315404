//! Unit tests of `client::cache`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::credential::Placement;
use crate::future::BoxFuture;

const TEN_MINUTES: Duration = Duration::from_secs(600);

type Outcome = Arc<dyn Fn(u64) -> Result<Credential> + Send + Sync>;

/// A fake server: the n-th login or refresh (1-based, counted together) takes `delay` and answers
/// `outcome(n)`; refreshes fail while `refresh_fails` is set.
#[derive(Clone)]
struct Fake {
    base: url::Url,
    logins: Arc<AtomicU64>,
    refreshes: Arc<AtomicU64>,
    refresh_fails: Arc<AtomicBool>,
    delay: Duration,
    outcome: Outcome,
}

impl fmt::Debug for Fake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fake").finish_non_exhaustive()
    }
}

impl Fake {
    fn new(
        delay: Duration,
        outcome: impl Fn(u64) -> Result<Credential> + Send + Sync + 'static,
    ) -> Self {
        Self {
            base: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            logins: Arc::default(),
            refreshes: Arc::default(),
            refresh_fails: Arc::default(),
            delay,
            outcome: Arc::new(outcome),
        }
    }

    fn cache(&self) -> Arc<CredentialCache> {
        let auth: Arc<dyn Authenticator> = Arc::new(self.clone());
        Arc::new(CredentialCache::new(
            reqwest::Client::new(),
            auth,
            Config::default(),
        ))
    }

    /// Logins and refreshes so far.
    fn count(&self) -> u64 {
        self.logins.load(Ordering::SeqCst) + self.refreshes.load(Ordering::SeqCst)
    }

    async fn answer(&self, refresh: bool) -> Result<Credential> {
        let n = self.count() + 1;
        let counter = if refresh {
            &self.refreshes
        } else {
            &self.logins
        };
        counter.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if refresh && self.refresh_fails.load(Ordering::SeqCst) {
            return Err(down());
        }
        (self.outcome)(n)
    }
}

impl Authenticator for Fake {
    fn backend(&self) -> &'static str {
        "fake"
    }
    fn base_url(&self) -> &url::Url {
        &self.base
    }
    fn authenticate<'a>(&'a self, _: &'a reqwest::Client) -> BoxFuture<'a, Result<Credential>> {
        Box::pin(self.answer(false))
    }
    fn refresh<'a>(
        &'a self,
        _: &'a reqwest::Client,
        _: &'a Credential,
    ) -> BoxFuture<'a, Result<Credential>> {
        Box::pin(self.answer(true))
    }
}

fn token(n: u64, lifetime: Duration) -> Result<Credential> {
    Ok(
        Credential::new(SecretString::from(format!("token-{n}")), Placement::Bearer)
            .expires_in(lifetime),
    )
}

fn down() -> Error {
    Error::config("fake", "the login server is down")
}

fn secret_of(cached: &Cached) -> String {
    cached.credential().secret().expose_secret().to_owned()
}

async fn secret(cache: &Arc<CredentialCache>) -> String {
    secret_of(&cache.get(None).await.unwrap())
}

/// Lets every spawned task run until it waits on a timer (the paused clock then jumps).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// The earliest refresh point of a credential of `lifetime` issued now, with the default buffer.
fn earliest_refresh(lifetime: Duration) -> Duration {
    let buffer = DEFAULT_REFRESH_BUFFER.min(lifetime / 2);
    lifetime - buffer - buffer / REFRESH_JITTER_DIVISOR
}

#[tokio::test(start_paused = true)]
async fn reuses_the_credential_until_its_refresh_window() {
    let fake = Fake::new(Duration::ZERO, |n| token(n, TEN_MINUTES));
    let cache = fake.cache();
    assert_eq!(secret(&cache).await, "token-1");
    tokio::time::advance(earliest_refresh(TEN_MINUTES) - Duration::from_secs(1)).await;
    assert_eq!(secret(&cache).await, "token-1");
    settle().await;
    assert_eq!(fake.count(), 1);

    // Past the latest refresh point (5 minutes before expiry): renewed in the background.
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(secret(&cache).await, "token-1", "served at once");
    settle().await;
    assert_eq!(fake.count(), 2);
    assert_eq!(secret(&cache).await, "token-2");
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_first_callers_cause_one_login() {
    let fake = Fake::new(Duration::from_millis(50), |n| token(n, TEN_MINUTES));
    let cache = fake.cache();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { secret(&cache).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "token-1");
    }
    assert_eq!(fake.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_generation_causes_one_new_login() {
    let fake = Fake::new(Duration::from_millis(20), |n| token(n, TEN_MINUTES));
    let cache = fake.cache();
    let generation = cache.get(None).await.unwrap().generation();
    // Ten requests answered 401 for the same credential: one new login between them.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get(Some(generation)).await.unwrap().generation() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), generation + 1);
    }
    assert_eq!(fake.count(), 2);
    // A late 401 for the old generation drops nothing.
    cache.reject(generation);
    assert_eq!(secret(&cache).await, "token-2");

    cache.invalidate();
    assert_eq!(secret(&cache).await, "token-3");
    assert_eq!(fake.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn callers_inside_the_refresh_window_never_wait_and_one_refresh_runs() {
    let login = Duration::from_millis(250);
    let fake = Fake::new(login, |n| token(n, Duration::from_secs(2)));
    let cache = fake.cache();
    assert_eq!(secret(&cache).await, "token-1");
    tokio::time::advance(Duration::from_millis(1100)).await; // past the latest refresh point (1 s)

    let started = Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { secret(&cache).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "token-1");
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "no caller waited");
    assert_eq!(fake.count(), 2, "one refresh started, not one per caller");

    // While it runs, callers keep getting the valid credential at once.
    tokio::time::advance(Duration::from_millis(100)).await;
    let started = Instant::now();
    assert_eq!(secret(&cache).await, "token-1");
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(fake.count(), 2);

    tokio::time::sleep(login).await;
    assert_eq!(secret(&cache).await, "token-2");
    assert_eq!(fake.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_early_refresh_keeps_serving_and_is_tried_again_later() {
    let fake = Fake::new(Duration::ZERO, |n| token(n, TEN_MINUTES));
    fake.refresh_fails.store(true, Ordering::SeqCst);
    let cache = fake.cache();
    assert_eq!(secret(&cache).await, "token-1");
    tokio::time::advance(Duration::from_secs(6 * 60)).await;
    assert_eq!(secret(&cache).await, "token-1");
    settle().await;
    assert_eq!(fake.count(), 2, "one refresh attempt");
    assert_eq!(secret(&cache).await, "token-1");
    settle().await;
    assert_eq!(fake.count(), 2, "no new attempt within the retry interval");

    tokio::time::advance(DEFAULT_REFRESH_RETRY_INTERVAL).await;
    assert_eq!(secret(&cache).await, "token-1");
    settle().await;
    assert_eq!(fake.count(), 3);

    fake.refresh_fails.store(false, Ordering::SeqCst);
    tokio::time::advance(DEFAULT_REFRESH_RETRY_INTERVAL).await;
    assert_eq!(secret(&cache).await, "token-1");
    settle().await;
    assert_eq!(secret(&cache).await, "token-4");
}

#[tokio::test(start_paused = true)]
async fn an_expired_credential_makes_callers_wait_for_one_login() {
    let login = Duration::from_millis(250);
    let fake = Fake::new(login, |n| token(n, Duration::from_secs(2)));
    let cache = fake.cache();
    assert_eq!(secret(&cache).await, "token-1");
    tokio::time::advance(Duration::from_secs(3)).await; // expired, never refreshed
    let started = Instant::now();
    let (a, b) = tokio::join!(secret(&cache), secret(&cache));
    assert_eq!((a.as_str(), b.as_str()), ("token-2", "token-2"));
    assert!(started.elapsed() >= login);
    assert_eq!(fake.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_401_during_a_failing_refresh_ends_in_a_full_login() {
    let login = Duration::from_millis(100);
    let fake = Fake::new(login, |n| token(n, TEN_MINUTES));
    fake.refresh_fails.store(true, Ordering::SeqCst);
    let cache = fake.cache();
    let first = cache.get(None).await.unwrap();
    tokio::time::advance(Duration::from_secs(6 * 60)).await;
    assert_eq!(secret(&cache).await, "token-1"); // starts the refresh
    // The server answers 401 to token-1 while the refresh is out; the refresh then fails.
    let renewed = cache.get(Some(first.generation())).await.unwrap();
    assert_eq!(secret_of(&renewed), "token-3");
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_login_is_shared_by_its_waiters_and_not_remembered() {
    let fake = Fake::new(Duration::from_millis(10), |_| Err(down()));
    let cache = fake.cache();
    let (a, b) = tokio::join!(cache.get(None), cache.get(None));
    assert!(a.is_err() && b.is_err());
    assert_eq!(fake.count(), 1, "one attempt for both");
    assert!(cache.get(None).await.is_err());
    assert_eq!(
        fake.count(),
        2,
        "a failure that is not a rejection is not remembered"
    );
}

#[tokio::test(start_paused = true)]
async fn the_refresh_point_is_jittered_within_a_tenth_of_the_buffer() {
    let fake = Fake::new(Duration::ZERO, |n| token(n, TEN_MINUTES));
    let cache = fake.cache();
    let mut points = Vec::new();
    for _ in 0..50 {
        let cached = cache.get(None).await.unwrap();
        let expires_at = cached.credential().expires_at().unwrap();
        let before_expiry = expires_at - cached.refresh_at.unwrap();
        assert!(before_expiry >= DEFAULT_REFRESH_BUFFER, "{before_expiry:?}");
        assert!(
            before_expiry <= DEFAULT_REFRESH_BUFFER + DEFAULT_REFRESH_BUFFER / 10,
            "{before_expiry:?}"
        );
        points.push(before_expiry);
        cache.invalidate();
    }
    points.sort();
    points.dedup();
    assert!(points.len() > 40, "refresh points spread: {points:?}");
}

#[tokio::test(start_paused = true)]
async fn a_credential_without_expiry_is_never_refreshed() {
    let fake = Fake::new(Duration::ZERO, |n| {
        Ok(Credential::new(
            SecretString::from(format!("token-{n}")),
            Placement::Bearer,
        ))
    });
    let cache = fake.cache();
    assert_eq!(secret(&cache).await, "token-1");
    tokio::time::advance(Duration::from_secs(365 * 24 * 3600)).await;
    assert_eq!(secret(&cache).await, "token-1");
    settle().await;
    assert_eq!(fake.count(), 1);
}
