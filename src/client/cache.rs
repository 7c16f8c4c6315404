//! The credential cache: which credential a request uses, and when to log in for a new one.
//!
//! One [`CredentialCache`] sits behind every [`AuthClient`](crate::AuthClient) and its clones. A hit is
//! a credential outside its refresh window; everything else goes through [`CredentialCache::obtain`],
//! the one miss path, with one login in flight however many tasks miss at once.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use crate::authenticator::Authenticator;
use crate::credential::Credential;
use crate::error::{Error, Result};

use super::shared::{Obtained, SharedFailure, SharedStore};

/// How long before expiry a credential is renewed: 5 minutes (as Azure and UiPath's own PowerShell
/// client do), but never more than half the credential's lifetime, so short-lived tokens are still used.
pub const DEFAULT_REFRESH_BUFFER: Duration = Duration::from_secs(5 * 60);

/// How many more times a login answered 429 or 503 is tried: 2.
pub const DEFAULT_LOGIN_RETRIES: u32 = 2;

/// The longest `Retry-After` a login waits for before trying again: 30 s. A longer one ends in the error.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// How long the wait is when a 429 or 503 carries no `Retry-After`: 1 s.
pub const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);

/// After the server rejects the credentials, how long the client answers with that same error instead
/// of sending them again: 5 minutes. UiPath locks an account after 10 failures and Automation Anywhere
/// disables it after 3; a client looping on a wrong password must not be the cause.
pub const DEFAULT_REJECTED_LOGIN_COOLDOWN: Duration = Duration::from_secs(5 * 60);

/// After an early refresh fails while the credential is still valid, how long the client keeps serving
/// the old credential before trying to refresh again: 15 s.
pub const DEFAULT_REFRESH_RETRY_INTERVAL: Duration = Duration::from_secs(15);

/// The cache's settings, set through [`AuthClientBuilder`](crate::AuthClientBuilder).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) refresh_buffer: Duration,
    pub(crate) login_retries: u32,
    pub(crate) max_retry_wait: Duration,
    pub(crate) rejected_login_cooldown: Duration,
    pub(crate) refresh_retry_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            refresh_buffer: DEFAULT_REFRESH_BUFFER,
            login_retries: DEFAULT_LOGIN_RETRIES,
            max_retry_wait: DEFAULT_MAX_RETRY_WAIT,
            rejected_login_cooldown: DEFAULT_REJECTED_LOGIN_COOLDOWN,
            refresh_retry_interval: DEFAULT_REFRESH_RETRY_INTERVAL,
        }
    }
}

/// A credential handed out by the cache, with its generation: the number of the login that made it,
/// so a 401 drops exactly the credential it was answered to.
pub(crate) type Hit = (Credential, u64);

/// The cached credential of one authenticator, its single-flight login and its failure memory.
pub(crate) struct CredentialCache {
    http: reqwest::Client,
    auth: Arc<dyn Authenticator>,
    config: Config,
    state: Mutex<State>,
    login_lock: tokio::sync::Mutex<()>,
    shared: Option<SharedStore>,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    generations: u64,
    attempts: u64,
    failure: Option<Failure>,
    refresh_not_before: Option<Instant>,
    /// The credential the server last answered 401 to, so a token store's copy of it is not taken back.
    rejected: Option<Credential>,
}

struct Cached {
    credential: Credential,
    generation: u64,
}

struct Failure {
    attempt: u64,
    error: Error,
    at: Instant,
}

/// What a miss needs: a first login (or one after expiry or a 401), or the renewal of a credential
/// that is still valid but inside its refresh window.
pub(crate) enum Need {
    Login,
    Refresh(Credential),
}

impl State {
    /// The cached credential when it is outside its refresh window.
    fn fresh(&self, now: Instant, buffer: Duration) -> Option<Hit> {
        let cached = self.current.as_ref()?;
        let fresh = match (cached.credential.expires_at(), cached.credential.lifetime()) {
            (Some(expires_at), Some(lifetime)) => now + buffer.min(lifetime / 2) < expires_at,
            _ => true,
        };
        fresh.then(|| (cached.credential.clone(), cached.generation))
    }

    fn drop_generation(&mut self, generation: u64) {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            self.rejected = self.current.take().map(|cached| cached.credential);
        }
    }
}

/// True when `credential` is outside its refresh window at `now` (as [`State::fresh`] decides).
fn is_fresh(credential: &Credential, now: Instant, buffer: Duration) -> bool {
    match (credential.expires_at(), credential.lifetime()) {
        (Some(expires_at), Some(lifetime)) => now + buffer.min(lifetime / 2) < expires_at,
        _ => true,
    }
}

impl CredentialCache {
    /// An empty cache logging in with `auth` over `http`.
    pub(crate) fn new(http: reqwest::Client, auth: Arc<dyn Authenticator>, config: Config) -> Self {
        Self {
            http,
            auth,
            config,
            state: Mutex::new(State::default()),
            login_lock: tokio::sync::Mutex::new(()),
            shared: None,
        }
    }

    /// Consults `shared` on every miss before logging in.
    pub(crate) fn with_store(mut self, shared: SharedStore) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The `reqwest::Client` logins go through.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The authenticator this cache logs in with.
    pub(crate) fn authenticator(&self) -> &Arc<dyn Authenticator> {
        &self.auth
    }

    /// The settings.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    fn backend(&self) -> &'static str {
        self.auth.backend()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `text` without the secrets the authenticator holds or issued, nor the cached token.
    pub(crate) fn redact(&self, text: &str) -> String {
        let text = self.auth.redact(text);
        let current = self
            .state()
            .current
            .as_ref()
            .map(|cached| cached.credential.secret().clone());
        match current {
            Some(token) if !secrecy::ExposeSecret::expose_secret(&token).is_empty() => {
                crate::redact::Secrets::new().with(&token).scrub(&text)
            }
            _ => text,
        }
    }

    /// Drops the cached credential, so the next caller logs in again.
    pub(crate) fn invalidate(&self) {
        self.state().current = None;
    }

    /// Drops the credential of `generation`, which the server has just answered 401 to, unless a newer
    /// one has already replaced it.
    pub(crate) fn reject(&self, generation: u64) {
        self.state().drop_generation(generation);
    }

    /// Ends the server-side session of the cached credential (waiting for a login in flight) and drops it.
    pub(crate) async fn logout(&self) -> Result<()> {
        let _login = self.login_lock.lock().await;
        let current = self.state().current.take();
        match current {
            Some(cached) => {
                let result = self.auth.logout(&self.http, &cached.credential).await;
                self.discard(&cached.credential).await;
                result
            }
            None => Ok(()),
        }
    }

    /// Removes `credential` from the token store, if there is one and it still holds that token (after a
    /// 401 or a logout), so other processes do not take it back.
    pub(crate) async fn discard(&self, credential: &Credential) {
        if let Some(shared) = &self.shared {
            shared.discard(self.backend(), credential).await;
        }
    }

    /// The credential to use, with its generation. `rejected` names a generation the server has just
    /// answered 401 to: it is dropped unless a newer one has already replaced it.
    pub(crate) async fn get(&self, rejected: Option<u64>) -> Result<Hit> {
        let buffer = self.config.refresh_buffer;
        let seen_attempts = {
            let mut state = self.state();
            if let Some(generation) = rejected {
                state.drop_generation(generation);
            }
            if let Some(hit) = state.fresh(Instant::now(), buffer) {
                tracing::trace!(
                    backend = self.backend(),
                    generation = hit.1,
                    "credential reused"
                );
                return Ok(hit);
            }
            state.attempts
        };

        let _login = self.login_lock.lock().await;
        let now = Instant::now();
        let need = {
            let state = self.state();
            if let Some(hit) = state.fresh(now, buffer) {
                return Ok(hit);
            }
            if let Some(failure) = &state.failure {
                // A login finished while this caller waited and failed: share its outcome rather than
                // sending the same credentials again.
                if state.attempts != seen_attempts && failure.attempt == state.attempts {
                    tracing::debug!(
                        backend = self.backend(),
                        "sharing the failure of the login just made"
                    );
                    return Err(failure.error.clone());
                }
                if failure.error.is_login_rejected()
                    && now < failure.at + self.config.rejected_login_cooldown
                {
                    tracing::debug!(
                        backend = self.backend(),
                        "credentials were rejected recently; not sending them again yet"
                    );
                    return Err(failure.error.clone());
                }
            }
            match &state.current {
                Some(cached) if !cached.credential.is_expired_at(now) => {
                    if state.refresh_not_before.is_some_and(|at| now < at) {
                        return Ok((cached.credential.clone(), cached.generation));
                    }
                    Need::Refresh(cached.credential.clone())
                }
                _ => Need::Login,
            }
        };

        let kind = match need {
            Need::Login => "login",
            Need::Refresh(_) => "refresh",
        };
        tracing::debug!(backend = self.backend(), kind, "logging in");
        let started = Instant::now();
        let outcome = self.obtain(&need).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let mut state = self.state();
        state.attempts += 1;
        match outcome {
            Ok(credential) => {
                tracing::info!(
                    backend = self.backend(),
                    kind,
                    elapsed_ms,
                    lifetime_s = credential.lifetime().map(|l| l.as_secs()),
                    placement = %credential.placement(),
                    "logged in"
                );
                state.generations += 1;
                let generation = state.generations;
                state.current = Some(Cached {
                    credential: credential.clone(),
                    generation,
                });
                state.failure = None;
                state.refresh_not_before = None;
                state.rejected = None;
                Ok((credential, generation))
            }
            Err(error) => {
                let now = Instant::now();
                if matches!(need, Need::Refresh(_))
                    && let Some(cached) = &state.current
                    && !cached.credential.is_expired_at(now)
                {
                    // Keep serving the still-valid credential; try the refresh again a little later.
                    tracing::warn!(
                        backend = self.backend(),
                        error = %error,
                        "early refresh failed; keeping the still-valid credential"
                    );
                    let hit = (cached.credential.clone(), cached.generation);
                    state.refresh_not_before = Some(now + self.config.refresh_retry_interval);
                    return Ok(hit);
                }
                tracing::warn!(backend = self.backend(), kind, elapsed_ms, error = %error, "login failed");
                state.failure = Some(Failure {
                    attempt: state.attempts,
                    error: error.clone(),
                    at: now,
                });
                Err(error)
            }
        }
    }

    /// The miss path: where a credential comes from when the cache has none it may hand out. Called
    /// with the login lock held, so at most one runs at a time. With a token store: another process's
    /// entry when there is a usable one, else this process's login under the store's lease; a failing
    /// store means a login of its own. Without one: a login (or renewal).
    async fn obtain(&self, need: &Need) -> Result<Credential> {
        let shared = match &self.shared {
            Some(shared) if shared.available() => shared,
            _ => return self.log_in(need).await,
        };
        let rejected = self.state().rejected.clone();
        let buffer = self.config.refresh_buffer;
        let usable = |credential: &Credential| is_fresh(credential, Instant::now(), buffer);
        let obtained = shared
            .obtain(self.backend(), rejected.as_ref(), usable, || {
                self.log_in(need)
            })
            .await;
        match obtained {
            Ok(Obtained::Found(credential)) => {
                tracing::debug!(
                    backend = self.backend(),
                    store = shared.kind(),
                    "credential taken from the token store, not a login"
                );
                Ok(credential)
            }
            Ok(Obtained::LoggedIn(credential)) => Ok(credential),
            Err(SharedFailure::Login(error)) => Err(error),
            Err(SharedFailure::Store(error)) => {
                shared.failed(self.backend(), &error);
                self.log_in(need).await
            }
        }
    }

    /// Logs in (or renews), trying again after a 429 or 503 as the server asks.
    async fn log_in(&self, need: &Need) -> Result<Credential> {
        let mut tries = 0;
        loop {
            let result = match need {
                Need::Login => self.auth.authenticate(&self.http).await,
                Need::Refresh(current) => self.auth.refresh(&self.http, current).await,
            };
            let error = match result {
                Ok(credential) => return Ok(credential),
                Err(error) => error,
            };
            let busy = matches!(
                error.status(),
                Some(StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)
            ) && !error.is_login_rejected();
            let wait = error.retry_after().unwrap_or(DEFAULT_RETRY_WAIT);
            if !busy || tries >= self.config.login_retries || wait > self.config.max_retry_wait {
                return Err(error);
            }
            tries += 1;
            tracing::warn!(
                backend = self.backend(),
                status = error.status().map(|s| s.as_u16()),
                wait_ms = wait.as_millis() as u64,
                "login throttled by the server; trying again"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("authenticator", &self.auth)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use secrecy::{ExposeSecret, SecretString};

    use super::*;
    use crate::authenticator;
    use crate::credential::Placement;

    const TEN_MINUTES: Duration = Duration::from_secs(600);

    /// A cache whose n-th login (1-based) takes `delay` and answers `outcome(n)`; and its login count.
    fn cache<F>(delay: Duration, outcome: F) -> (Arc<CredentialCache>, Arc<AtomicU64>)
    where
        F: Fn(u64) -> Result<Credential> + Send + Sync + Clone + 'static,
    {
        let logins = Arc::new(AtomicU64::new(0));
        let counter = logins.clone();
        let base = url::Url::parse("http://127.0.0.1:9/").unwrap();
        let auth = authenticator::from_fn("fake", base, move |_http| {
            let counter = counter.clone();
            let outcome = outcome.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(delay).await;
                outcome(n)
            }
        });
        let cache = CredentialCache::new(reqwest::Client::new(), Arc::new(auth), Config::default());
        (Arc::new(cache), logins)
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

    async fn secret(cache: &CredentialCache) -> String {
        let (credential, _) = cache.get(None).await.unwrap();
        credential.secret().expose_secret().to_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn reuses_the_credential_until_its_refresh_window() {
        let (cache, logins) = cache(Duration::ZERO, |n| token(n, TEN_MINUTES));
        assert_eq!(secret(&cache).await, "token-1");
        tokio::time::advance(Duration::from_secs(4 * 60 + 59)).await;
        assert_eq!(secret(&cache).await, "token-1");
        assert_eq!(logins.load(Ordering::SeqCst), 1);

        tokio::time::advance(Duration::from_secs(2)).await; // inside the 5-minute refresh window
        assert_eq!(secret(&cache).await, "token-2");
        assert_eq!(logins.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_cause_one_login() {
        let (cache, logins) = cache(Duration::from_millis(50), |n| token(n, TEN_MINUTES));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { secret(&cache).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "token-1");
        }
        assert_eq!(logins.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_generation_causes_one_new_login() {
        let (cache, logins) = cache(Duration::from_millis(20), |n| token(n, TEN_MINUTES));
        let (_, generation) = cache.get(None).await.unwrap();
        // Ten requests answered 401 for the same credential: one new login between them.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get(Some(generation)).await.unwrap().1 })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), generation + 1);
        }
        assert_eq!(logins.load(Ordering::SeqCst), 2);

        cache.invalidate();
        assert_eq!(secret(&cache).await, "token-3");
        assert_eq!(logins.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_early_refresh_keeps_serving_the_valid_credential() {
        let (cache, logins) = cache(Duration::ZERO, |n| {
            if n == 1 {
                token(n, TEN_MINUTES)
            } else {
                Err(down())
            }
        });
        assert_eq!(secret(&cache).await, "token-1");
        tokio::time::advance(Duration::from_secs(6 * 60)).await;
        assert_eq!(secret(&cache).await, "token-1");
        assert_eq!(logins.load(Ordering::SeqCst), 2, "one refresh attempt");
        assert_eq!(secret(&cache).await, "token-1");
        assert_eq!(
            logins.load(Ordering::SeqCst),
            2,
            "no new attempt within the retry interval"
        );
        tokio::time::advance(DEFAULT_REFRESH_RETRY_INTERVAL).await;
        assert_eq!(secret(&cache).await, "token-1");
        assert_eq!(logins.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_credential_makes_callers_wait_for_the_login() {
        let login = Duration::from_millis(250);
        let (cache, logins) = cache(login, |n| token(n, Duration::from_secs(2)));
        assert_eq!(secret(&cache).await, "token-1");
        tokio::time::advance(Duration::from_secs(3)).await; // expired
        let started = Instant::now();
        assert_eq!(secret(&cache).await, "token-2");
        assert!(started.elapsed() >= login);
        assert_eq!(logins.load(Ordering::SeqCst), 2);
    }
}
