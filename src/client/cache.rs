//! The credential cache: which credential a request uses, and when to log in for a new one.
//!
//! One [`CredentialCache`] sits behind every [`AuthClient`](crate::AuthClient) and its clones.
//! - A credential outside its refresh window is handed out as it is: one read lock and one reference
//!   count, no allocation.
//! - Inside its refresh window but still valid, it is handed out all the same, and one background task
//!   renews it (a *flight*); nobody waits for it.
//! - With no valid credential (first use, expiry, a 401), callers wait for the one flight in progress,
//!   or start it. Every flight goes through [`CredentialCache::obtain`], the one miss path.
//!
//! The refresh point is moved earlier by a random part of up to a tenth of the refresh buffer, so a
//! fleet of clients started together does not renew in the same second.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use crate::authenticator::Authenticator;
use crate::credential::{Credential, PlacedCredential};
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

/// The largest part of the refresh buffer by which the refresh point is moved earlier at random.
const REFRESH_JITTER_DIVISOR: u32 = 10;

/// A credential handed out by the cache: the credential ready to be placed, and its generation (the
/// number of the login that made it, so a 401 drops exactly the credential it was answered to).
pub(crate) struct Cached {
    placed: PlacedCredential,
    generation: u64,
    refresh_at: Option<Instant>,
}

impl Cached {
    fn new(credential: Credential, generation: u64, buffer: Duration, jitter: f64) -> Self {
        let refresh_at = credential.expires_at().map(|expires_at| {
            let lifetime = credential.lifetime().unwrap_or_default();
            let buffer = buffer.min(lifetime / 2);
            let early = buffer
                .div_f64(f64::from(REFRESH_JITTER_DIVISOR))
                .mul_f64(jitter);
            expires_at
                .checked_sub(buffer + early)
                .unwrap_or_else(|| credential.issued_at())
        });
        Self {
            placed: PlacedCredential::new(credential),
            generation,
            refresh_at,
        }
    }

    /// The credential.
    pub(crate) fn credential(&self) -> &Credential {
        self.placed.credential()
    }

    /// The credential with its header made, ready to be placed on requests.
    pub(crate) fn placed(&self) -> &PlacedCredential {
        &self.placed
    }

    /// The number of the login that made it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Before its (jittered) refresh point.
    fn is_fresh_at(&self, now: Instant) -> bool {
        self.refresh_at.is_none_or(|at| now < at)
    }
}

/// The cached credential of one authenticator, its single-flight login and its failure memory.
pub(crate) struct CredentialCache {
    http: reqwest::Client,
    auth: Arc<dyn Authenticator>,
    config: Config,
    state: RwLock<State>,
    /// Held by a flight while it logs in, and by logout, so the two never overlap.
    login_lock: tokio::sync::Mutex<()>,
    jitter: RandomState,
    shared: Option<SharedStore>,
}

#[derive(Default)]
struct State {
    current: Option<Arc<Cached>>,
    generations: u64,
    failure: Option<Failure>,
    refresh_not_before: Option<Instant>,
    flight: Option<Flight>,
    flights: u64,
    /// The credential the server last answered 401 to, so a token store's copy of it is not taken back.
    rejected: Option<Credential>,
}

/// The last failed flight, remembered so rejected credentials are not sent again at once.
struct Failure {
    error: Error,
    at: Instant,
}

/// What a flight ends with, broadcast to every caller waiting on it.
type Outcome = Option<Result<Arc<Cached>>>;

/// The login or refresh in progress.
struct Flight {
    id: u64,
    refresh: bool,
    outcome: watch::Receiver<Outcome>,
}

/// What a miss needs: a first login (or one after expiry or a 401), or the renewal of a credential
/// that is still valid but inside its refresh window.
pub(crate) enum Need {
    Login,
    Refresh(Credential),
}

impl Need {
    fn kind(&self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Refresh(_) => "refresh",
        }
    }
}

impl State {
    fn drop_generation(&mut self, generation: u64) {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            self.rejected = self
                .current
                .take()
                .map(|cached| cached.credential().clone());
        }
    }

    /// The remembered rejection of the credentials, within its cooldown.
    fn recent_rejection(&self, now: Instant, cooldown: Duration) -> Option<&Error> {
        self.failure
            .as_ref()
            .filter(|f| f.error.is_login_rejected() && now < f.at + cooldown)
            .map(|f| &f.error)
    }
}

/// Clears the cache's record of a flight when its task ends, also when the task is dropped unfinished
/// (the runtime shutting down); then the waiters see the channel closed and look again.
struct FlightGuard {
    cache: Arc<CredentialCache>,
    id: u64,
    outcome: watch::Sender<Outcome>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut state = self.cache.write();
        if state.flight.as_ref().is_some_and(|f| f.id == self.id) {
            state.flight = None;
        }
    }
}

/// A flight recorded in the state, whose task is not yet spawned.
struct Launch {
    guard: FlightGuard,
    need: Need,
}

impl Launch {
    /// Spawns the flight's task: it logs in, records the outcome and tells the waiters.
    fn spawn(self) {
        let Self { guard, need } = self;
        let span = tracing::debug_span!(
            "flight",
            backend = guard.cache.backend(),
            kind = need.kind()
        );
        tokio::spawn(
            async move {
                let cache = guard.cache.clone();
                let login = cache.login_lock.lock().await;
                tracing::debug!("logging in");
                let started = Instant::now();
                let outcome = cache.obtain(&need).await;
                let mut state = cache.write();
                let outcome = cache.settle(&mut state, need, outcome, started.elapsed());
                if state.flight.as_ref().is_some_and(|f| f.id == guard.id) {
                    state.flight = None;
                }
                guard.outcome.send_replace(Some(outcome));
                drop(state);
                drop(login);
                drop(guard);
            }
            .instrument(span),
        );
    }
}

/// What a caller of [`CredentialCache::get`] does.
enum Step {
    /// Use this credential now.
    Serve(Arc<Cached>),
    /// Fail with this error now.
    Fail(Error),
    /// Wait for this flight's outcome (true: the flight is a refresh).
    Wait(watch::Receiver<Outcome>, bool),
}

/// True when `credential` is outside its refresh window at `now`, the jitter left aside (for a token
/// store's entry, which has no refresh point of this process's).
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
            state: RwLock::new(State::default()),
            login_lock: tokio::sync::Mutex::new(()),
            jitter: RandomState::new(),
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

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// `text` without the secrets the authenticator holds or issued, nor the cached token.
    pub(crate) fn redact(&self, text: &str) -> String {
        let text = self.auth.redact(text);
        let current = self
            .read()
            .current
            .as_ref()
            .map(|cached| cached.credential().secret().clone());
        match current {
            Some(token) if !secrecy::ExposeSecret::expose_secret(&token).is_empty() => {
                crate::redact::Secrets::new().with(&token).scrub(&text)
            }
            _ => text,
        }
    }

    /// Drops the cached credential, so the next caller logs in again.
    pub(crate) fn invalidate(&self) {
        self.write().current = None;
    }

    /// Drops the credential of `generation`, which the server has just answered 401 to, unless a newer
    /// one has already replaced it.
    pub(crate) fn reject(&self, generation: u64) {
        self.write().drop_generation(generation);
    }

    /// Ends the server-side session of the cached credential (waiting for a login in flight) and drops it.
    pub(crate) async fn logout(&self) -> Result<()> {
        let _login = self.login_lock.lock().await;
        let current = self.write().current.take();
        match current {
            Some(cached) => {
                let result = self.auth.logout(&self.http, cached.credential()).await;
                self.discard(cached.credential()).await;
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

    /// The credential to use. `rejected` names a generation the server has just answered 401 to: it is
    /// dropped unless a newer one has already replaced it.
    ///
    /// Returns at once while a valid credential is cached (starting a background refresh inside its
    /// refresh window); otherwise waits for the login in flight, or starts it.
    pub(crate) async fn get(self: &Arc<Self>, rejected: Option<u64>) -> Result<Arc<Cached>> {
        if rejected.is_none() {
            let state = self.read();
            if let Some(current) = &state.current
                && current.is_fresh_at(Instant::now())
            {
                tracing::trace!(
                    backend = self.backend(),
                    generation = current.generation,
                    "credential reused"
                );
                return Ok(current.clone());
            }
        }
        // A miss is rare: boxed, so its state does not enlarge the future of every request.
        Box::pin(self.get_slow(rejected)).await
    }

    async fn get_slow(self: &Arc<Self>, mut rejected: Option<u64>) -> Result<Arc<Cached>> {
        let mut failed_refresh_seen = false;
        let mut cancelled = 0;
        loop {
            // Decide under the lock; start a flight's task only once the lock is released.
            let mut launch = None;
            let step = {
                let mut state = self.write();
                if let Some(generation) = rejected.take() {
                    state.drop_generation(generation);
                }
                self.decide(&mut state, Instant::now(), &mut launch)
            };
            if let Some(launch) = launch {
                launch.spawn();
            }
            let (mut outcome, refresh) = match step {
                Step::Serve(cached) => return Ok(cached),
                Step::Fail(error) => return Err(error),
                Step::Wait(outcome, refresh) => (outcome, refresh),
            };
            let result = match outcome.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone(),
                Err(_) => None,
            };
            match result {
                Some(Ok(cached)) => return Ok(cached),
                // A refresh of a credential since rejected or expired failed: a full login may still work.
                Some(Err(_)) if refresh && !failed_refresh_seen => failed_refresh_seen = true,
                Some(Err(error)) => {
                    tracing::debug!(
                        backend = self.backend(),
                        "sharing the failure of the login just made"
                    );
                    return Err(error);
                }
                None => {
                    cancelled += 1;
                    if cancelled > 2 {
                        return Err(Error::config(
                            self.backend(),
                            "the login task was cancelled; is the runtime shutting down?",
                        ));
                    }
                }
            }
        }
    }

    /// What a caller does now: take the cached credential (starting a background refresh inside its
    /// refresh window), answer with a remembered rejection, or wait for the flight in progress or a new one.
    fn decide(
        self: &Arc<Self>,
        state: &mut State,
        now: Instant,
        launch: &mut Option<Launch>,
    ) -> Step {
        if let Some(current) = state.current.clone() {
            if current.is_fresh_at(now) {
                return Step::Serve(current);
            }
            if !current.credential().is_expired_at(now) {
                let throttled = state.refresh_not_before.is_some_and(|at| now < at);
                if state.flight.is_none() && !throttled {
                    let need = Need::Refresh(current.credential().clone());
                    let (_, started) = self.start(state, need);
                    *launch = Some(started);
                }
                return Step::Serve(current);
            }
        }
        // No valid credential: this caller waits.
        if let Some(error) = state.recent_rejection(now, self.config.rejected_login_cooldown) {
            tracing::debug!(
                backend = self.backend(),
                "credentials were rejected recently; not sending them again yet"
            );
            return Step::Fail(error.clone());
        }
        if let Some(flight) = &state.flight {
            return Step::Wait(flight.outcome.clone(), flight.refresh);
        }
        let (outcome, started) = self.start(state, Need::Login);
        *launch = Some(started);
        Step::Wait(outcome, false)
    }

    /// Records a flight for `need`: where its outcome will be told, and its task, to be spawned once the
    /// state lock is released.
    fn start(
        self: &Arc<Self>,
        state: &mut State,
        need: Need,
    ) -> (watch::Receiver<Outcome>, Launch) {
        state.flights += 1;
        let id = state.flights;
        let (sender, receiver) = watch::channel(None);
        state.flight = Some(Flight {
            id,
            refresh: matches!(need, Need::Refresh(_)),
            outcome: receiver.clone(),
        });
        let guard = FlightGuard {
            cache: self.clone(),
            id,
            outcome: sender,
        };
        (receiver, Launch { guard, need })
    }

    /// Records what a flight ended with, and says what its waiters get.
    fn settle(
        &self,
        state: &mut State,
        need: Need,
        outcome: Result<Credential>,
        elapsed: Duration,
    ) -> Result<Arc<Cached>> {
        let kind = need.kind();
        let elapsed_ms = elapsed.as_millis() as u64;
        let now = Instant::now();
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
                let jitter = self.jitter.hash_one(generation) as f64 / u64::MAX as f64;
                let cached = Arc::new(Cached::new(
                    credential,
                    generation,
                    self.config.refresh_buffer,
                    jitter,
                ));
                state.current = Some(cached.clone());
                state.failure = None;
                state.refresh_not_before = None;
                state.rejected = None;
                Ok(cached)
            }
            Err(error) => {
                if let Need::Refresh(_) = need
                    && let Some(current) = &state.current
                    && !current.credential().is_expired_at(now)
                {
                    // Keep serving the still-valid credential; try the refresh again a little later.
                    tracing::warn!(
                        backend = self.backend(),
                        error = %error,
                        "early refresh failed; keeping the still-valid credential"
                    );
                    state.refresh_not_before = Some(now + self.config.refresh_retry_interval);
                    return Ok(current.clone());
                }
                tracing::warn!(backend = self.backend(), kind, elapsed_ms, error = %error, "login failed");
                state.failure = Some(Failure {
                    error: error.clone(),
                    at: now,
                });
                Err(error)
            }
        }
    }

    /// The miss path: where a credential comes from when the cache has none it may hand out. Runs on
    /// the flight's own task with the login lock held, so at most one runs at a time. With a token store:
    /// another process's entry when there is a usable one, else this process's login under the store's
    /// lease; a failing store means a login of its own. Without one: a login (or renewal).
    async fn obtain(&self, need: &Need) -> Result<Credential> {
        let shared = match &self.shared {
            Some(shared) if shared.available() => shared,
            _ => return self.log_in(need).await,
        };
        let rejected = self.read().rejected.clone();
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
mod tests;
