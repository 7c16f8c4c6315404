//! Token stores: one login shared by every process on a machine ([`file::FileStore`]) or in a fleet
//! (`redis::RedisStore`, feature `redis`).
//!
//! The [`AuthClient`](crate::AuthClient) keeps its credential in memory and consults a store only when
//! that memory has nothing usable (a miss): it reads the store; when the entry is absent or stale it takes
//! the store's lease on the entry (single flight across processes), reads once more, logs in and writes the
//! new entry. A process that finds the lease taken ([`LeaseAttempt::Busy`]) polls until the entry appears
//! or the lease runs out. A store that fails never fails a request: the client logs in by itself, warns
//! once and tries the store again later.
//!
//! Entries are keyed by a hash of the backend, the server origin and the account (user or client id,
//! tenant…), never by a secret. An entry holds the token, its placement, its non-secret headers and its
//! absolute expiry (UTC). Credentials that are an authenticated connection (NTLM) are never stored.
//! With an [`EncryptionKey`] an entry is sealed with ChaCha20-Poly1305 (a random nonce per write, the
//! entry's key as associated data); an entry that does not open is a miss.

pub mod file;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

use std::any::Any;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

use crate::credential::{Credential, Placement};
use crate::future::BoxFuture;

/// The variable holding the encryption key of a token store: 32 random bytes in base64
/// (`openssl rand -base64 32`).
pub const ENV_CACHE_KEY: &str = "RPA_AUTH_CACHE_KEY";

/// How long a lease on an entry lasts when the store is not told otherwise: 60 s, longer than a login
/// takes with its retries. Waiters give up waiting after the lease plus [`WAIT_MARGIN`].
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How long past the lease a waiter keeps polling before it logs in by itself: 5 s.
pub const WAIT_MARGIN: Duration = Duration::from_secs(5);

/// What a store operation fails with. It never holds a secret; the client logs it and logs in by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error saying `message` (never a secret).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// The result of a store operation.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Who a login is for: the account (user name or client id) and whatever else changes what the login
/// yields (tenant, scopes, folder…). With the backend and the server origin it makes the [`StoreKey`].
/// It never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginIdentity {
    parts: Vec<(&'static str, String)>,
}

impl LoginIdentity {
    /// The identity of `account` (a user name or a client id).
    pub fn new(account: &str) -> Self {
        Self {
            parts: vec![("account", account.to_owned())],
        }
    }

    /// Adds a named part, e.g. `("tenant", "Default")`. Parts are compared in the order given.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.parts.push((name, value.into()));
        self
    }
}

/// The key of one entry: a SHA-256 hash of the backend, the server origin and the [`LoginIdentity`],
/// written in hex. Different users, tenants or servers never share a key; the key reveals none of them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoreKey(String);

impl StoreKey {
    /// The key of the login of `identity` on the `backend` server at `base`.
    pub fn new(backend: &str, base: &Url, identity: &LoginIdentity) -> Self {
        let mut hash = Sha256::new();
        let mut part = |name: &str, value: &str| {
            // Length-prefixed, so no two different lists of parts hash the same text.
            for text in [name, value] {
                hash.update((text.len() as u64).to_be_bytes());
                hash.update(text.as_bytes());
            }
        };
        part("version", "1");
        part("backend", backend);
        part("origin", &base.origin().ascii_serialization());
        part("path", base.path());
        for (name, value) in &identity.parts {
            part(name, value);
        }
        Self(hex(&hash.finalize()))
    }

    /// The key in hex (64 characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({}…)", &self.0[..12])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A lease on one entry: while a process holds it, the others wait for the entry it writes. Give it back
/// with [`TokenStore::write`] or [`TokenStore::release`]; a holder that dies loses it when the lease runs
/// out (Redis) or when the kernel closes its files (file store).
pub struct Lease {
    key: StoreKey,
    holder: String,
    guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Lease {
    /// A lease on `key` held by `holder` (a random value that proves who holds it), with `guard` kept
    /// alive for as long as the lease is held (a locked file, for instance).
    pub fn new(key: StoreKey, holder: String, guard: Option<Box<dyn Any + Send + Sync>>) -> Self {
        Self { key, holder, guard }
    }

    /// The entry the lease is on.
    pub fn key(&self) -> &StoreKey {
        &self.key
    }

    /// The random value that identifies the holder.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The guard given to [`Lease::new`].
    pub fn guard(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.guard.as_deref()
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What asking for a lease gave.
#[derive(Debug)]
pub enum LeaseAttempt {
    /// The lease is this process's until written or released.
    Acquired(Lease),
    /// Another holder has it: wait for its entry.
    Busy,
}

/// A place where logins are shared. Object-safe (`Arc<dyn TokenStore>`), in the style of
/// [`Authenticator`](crate::Authenticator): implementors write `async fn`s and box them.
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// A short name for logs: `memory`, `file`, `redis`.
    fn kind(&self) -> &'static str;

    /// How long a lease lasts; waiters poll for up to this plus [`WAIT_MARGIN`].
    fn lease_duration(&self) -> Duration {
        DEFAULT_LEASE
    }

    /// The entry under `key`, if there is one that opens (a wrong key or a damaged entry is `None`).
    fn read<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<Option<Credential>>>;

    /// Takes the lease on `key`, or answers [`LeaseAttempt::Busy`] when another holder has it.
    fn try_lease<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<LeaseAttempt>>;

    /// Writes `credential` under the lease's key and gives the lease back. Writes nothing when the lease
    /// is no longer held (it ran out and someone else took over).
    fn write<'a>(
        &'a self,
        lease: Lease,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Gives the lease back without writing (the login failed).
    fn release(&self, lease: Lease) -> BoxFuture<'_, StoreResult<()>>;

    /// Removes the entry under `key` only if it still holds `credential`'s token, so a process answering
    /// a 401 on an old token cannot remove a newer one. True when it removed the entry.
    fn remove_if<'a>(
        &'a self,
        key: &'a StoreKey,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<bool>>;
}

/// The key that seals entries: 32 bytes, from `RPA_AUTH_CACHE_KEY` in base64. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// The key from base64 text (standard alphabet, padding optional) of exactly 32 bytes.
    ///
    /// # Errors
    /// A [`StoreError`] saying what is wrong, without the text.
    pub fn from_base64(text: &str) -> StoreResult<Self> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| StoreError::new(format!("{ENV_CACHE_KEY} is not valid base64")))?;
        let key: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            StoreError::new(format!(
                "{ENV_CACHE_KEY} must be 32 bytes (`openssl rand -base64 32`), not {}",
                bytes.len()
            ))
        })?;
        Ok(Self(key))
    }

    /// The key from `RPA_AUTH_CACHE_KEY`, or `None` when it is unset or blank.
    ///
    /// # Errors
    /// As [`EncryptionKey::from_base64`].
    pub fn from_env() -> StoreResult<Option<Self>> {
        match std::env::var(ENV_CACHE_KEY) {
            Ok(text) if !text.trim().is_empty() => Self::from_base64(&text).map(Some),
            _ => Ok(None),
        }
    }
}

impl EncryptionKey {
    fn cipher(&self) -> StoreResult<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| StoreError::new("could not set up the cipher"))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(** redacted **)")
    }
}

/// Turns credentials into the bytes a store keeps, and back: a fingerprint of the token (for
/// compare-and-delete without opening the entry), then the entry as JSON, sealed when there is a key.
#[derive(Clone, Debug)]
pub(crate) struct Codec {
    key: Option<EncryptionKey>,
}

/// Marks a sealed entry; a plain one starts with `{`.
const SEALED_MAGIC: &[u8] = b"rpa-auth-sealed-v1:";

/// Length of a fingerprint in hex.
pub(crate) const FINGERPRINT_LEN: usize = 64;

#[derive(Serialize, Deserialize)]
struct Entry {
    token: String,
    placement: StoredPlacement,
    headers: Vec<(String, String)>,
    /// Milliseconds since the Unix epoch (UTC).
    issued_at_ms: u64,
    expires_at_ms: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
enum StoredPlacement {
    Bearer,
    Header(String),
    JsonBodyField(String),
    Cookie(String),
}

impl Codec {
    pub(crate) fn new(key: Option<EncryptionKey>) -> Self {
        Self { key }
    }

    /// The fingerprint of `token` for entry `key`: a hash keyed with the encryption key when there is one,
    /// so it tells nothing about the token.
    pub(crate) fn fingerprint(&self, key: &StoreKey, token: &SecretString) -> String {
        let mut hash = Sha256::new();
        if let Some(secret) = &self.key {
            hash.update(secret.0);
        }
        hash.update(key.0.as_bytes());
        hash.update(token.expose_secret().as_bytes());
        hex(&hash.finalize())
    }

    /// The bytes to keep for `credential` under `key`: `<fingerprint>\n<entry>`.
    pub(crate) fn encode(&self, key: &StoreKey, credential: &Credential) -> StoreResult<Vec<u8>> {
        let placement = match credential.placement() {
            Placement::Bearer => StoredPlacement::Bearer,
            Placement::Header(name) => StoredPlacement::Header(name.as_str().to_owned()),
            Placement::JsonBodyField(field) => StoredPlacement::JsonBodyField(field.clone()),
            Placement::Cookie(name) => StoredPlacement::Cookie(name.clone()),
            _ => {
                return Err(StoreError::new(
                    "an authenticated connection cannot be stored",
                ));
            }
        };
        let headers = credential
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect();
        let (now_wall, now) = (SystemTime::now(), Instant::now());
        let issued = wall_of(credential.issued_at(), now, now_wall);
        let entry = Entry {
            token: credential.secret().expose_secret().to_owned(),
            placement,
            headers,
            issued_at_ms: millis(issued),
            expires_at_ms: credential
                .expires_at()
                .map(|at| millis(wall_of(at, now, now_wall))),
        };
        let mut body = serde_json::to_vec(&entry)
            .map_err(|e| StoreError::new(format!("could not write the entry ({e})")))?;
        let mut out = self.fingerprint(key, credential.secret()).into_bytes();
        out.push(b'\n');
        match &self.key {
            None => out.append(&mut body),
            Some(secret) => {
                let mut nonce = [0u8; NONCE_LEN];
                aws_lc_rs::rand::fill(&mut nonce)
                    .map_err(|_| StoreError::new("no random nonce for sealing the entry"))?;
                secret
                    .cipher()?
                    .seal_in_place_append_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(key.0.as_bytes()),
                        &mut body,
                    )
                    .map_err(|_| StoreError::new("could not seal the entry"))?;
                out.extend_from_slice(SEALED_MAGIC);
                out.extend_from_slice(&nonce);
                out.append(&mut body);
            }
        }
        Ok(out)
    }

    /// The credential in `bytes` kept under `key`, or `None` when the bytes do not open with this codec
    /// (another key, no key, damaged) or the entry has expired.
    pub(crate) fn decode(&self, key: &StoreKey, bytes: &[u8]) -> Option<Credential> {
        let body = bytes.get(FINGERPRINT_LEN + 1..)?;
        let mut opened;
        let json: &[u8] = match (&self.key, body.strip_prefix(SEALED_MAGIC)) {
            (None, None) => body,
            (Some(secret), Some(sealed)) => {
                let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
                let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
                opened = ciphertext.to_vec();
                &*secret
                    .cipher()
                    .ok()?
                    .open_in_place(nonce, Aad::from(key.0.as_bytes()), &mut opened)
                    .ok()?
            }
            // A sealed entry without the key, or a plain one when entries must be sealed: a miss.
            _ => return None,
        };
        let entry: Entry = serde_json::from_slice(json).ok()?;
        let placement = match entry.placement {
            StoredPlacement::Bearer => Placement::Bearer,
            StoredPlacement::Header(name) => Placement::Header(HeaderName::try_from(name).ok()?),
            StoredPlacement::JsonBodyField(field) => Placement::JsonBodyField(field),
            StoredPlacement::Cookie(name) => Placement::Cookie(name),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in entry.headers {
            headers.insert(
                HeaderName::try_from(name).ok()?,
                HeaderValue::try_from(value).ok()?,
            );
        }
        let (now_wall, now) = (SystemTime::now(), Instant::now());
        let issued_at = instant_of(entry.issued_at_ms, now, now_wall);
        let expires_at = entry.expires_at_ms.map(|ms| instant_of(ms, now, now_wall));
        if expires_at.is_some_and(|at| at <= now) {
            return None;
        }
        Some(Credential::restored(
            SecretString::from(entry.token),
            placement,
            headers,
            issued_at,
            expires_at,
        ))
    }

    /// The fingerprint at the start of stored `bytes`.
    pub(crate) fn stored_fingerprint(bytes: &[u8]) -> Option<&[u8]> {
        bytes.get(..FINGERPRINT_LEN)
    }
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wall-clock time of monotonic instant `at`, given that `now` is `now_wall`.
fn wall_of(at: Instant, now: Instant, now_wall: SystemTime) -> SystemTime {
    if at >= now {
        now_wall
            .checked_add(at - now)
            .unwrap_or(now_wall + Duration::from_secs(365 * 24 * 3600))
    } else {
        now_wall.checked_sub(now - at).unwrap_or(UNIX_EPOCH)
    }
}

/// The monotonic instant of wall-clock `ms` since the epoch, given that `now` is `now_wall`.
fn instant_of(ms: u64, now: Instant, now_wall: SystemTime) -> Instant {
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    match at.duration_since(now_wall) {
        Ok(ahead) => now.checked_add(ahead).unwrap_or(now),
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

/// A random value in hex (lease holders, temporary file names).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        // The system's random source failing is not worth a crash: fall back to a time-and-pid value,
        // which is unique enough to tell holders apart.
        let seed = format!(
            "{}-{:?}-{}",
            std::process::id(),
            SystemTime::now(),
            buf.len()
        );
        return hex(&Sha256::digest(seed.as_bytes())[..bytes.min(32)]);
    }
    hex(&buf)
}

/// A jittered wait between polls: from 50 ms growing to 500 ms, each ±50 %.
pub(crate) fn poll_wait(round: u32) -> Duration {
    let base = 50u64.saturating_mul(1 << round.min(4)).min(500);
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    let jitter = u64::from(byte[0]) * base / 255;
    Duration::from_millis(base / 2 + jitter)
}

#[cfg(test)]
mod tests;
