//! `RedisStore`: one login shared by a fleet, through a Redis server (feature `redis`).
//!
//! Entries live under `<prefix><key>` (default prefix `rpa-auth:`), always sealed with the
//! [`EncryptionKey`], with a Redis expiry equal to the token's. The lease is `SET <prefix><key>:lock
//! <random> NX PX <lease>`; writing the entry and giving the lease back, giving it back alone, and
//! removing an entry only if it still holds a given token are Lua scripts that check the holder or the
//! token's fingerprint first (Redis 7.0 has no `SET … IFEQ`). A holder that dies loses the lease when it
//! runs out, and one waiter takes over. Commands used: `GET`, `SET`, `EVALSHA`, `SCRIPT LOAD` (the first
//! time a script runs) and, inside the scripts, `DEL`.
//!
//! The connection is made on first use and remade by redis's connection manager after a failure;
//! `rediss://` connects over TLS (rustls, the system's root certificates).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::time::Instant;

use super::{
    Codec, DEFAULT_LEASE, EncryptionKey, Lease, LeaseAttempt, StoreError, StoreKey, StoreResult,
    TokenStore, random_hex,
};
use crate::credential::Credential;
use crate::future::BoxFuture;

/// The key prefix when none is given: `rpa-auth:`.
pub const DEFAULT_PREFIX: &str = "rpa-auth:";

/// How long connecting to Redis may take: 2 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one Redis command may take: 2 s.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

const WRITE_AND_RELEASE: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('DEL', KEYS[2])
return 1
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

const COMPARE_AND_DELETE: &str = r"
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A token store on a Redis server; entries are always encrypted.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    target: String,
    prefix: String,
    codec: Codec,
    lease: Duration,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    write_and_release: Script,
    release: Script,
    compare_and_delete: Script,
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://host:port/db`, `rediss://…` for TLS,
    /// `redis+unix:///path/redis.sock`), sealing entries with `key`. Nothing is sent until first use.
    ///
    /// # Errors
    /// A [`StoreError`] when the URL is not a Redis URL (the message leaves out any password in it).
    pub fn new(url: &str, key: EncryptionKey) -> StoreResult<Self> {
        let client = Client::open(url)
            .map_err(|e| StoreError::new(format!("not a usable Redis URL ({:?})", e.kind())))?;
        let target = url::Url::parse(url)
            .map(|mut parsed| {
                let _ = parsed.set_password(None);
                let _ = parsed.set_username("");
                // `redis+unix://…?user=…&pass=…` carries the password in the query.
                parsed.set_query(None);
                parsed.to_string()
            })
            .unwrap_or_else(|_| "redis".to_owned());
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                target,
                prefix: DEFAULT_PREFIX.to_owned(),
                codec: Codec::new(Some(key)),
                lease: DEFAULT_LEASE,
                connection: tokio::sync::Mutex::new(None),
                write_and_release: Script::new(WRITE_AND_RELEASE),
                release: Script::new(RELEASE),
                compare_and_delete: Script::new(COMPARE_AND_DELETE),
            }),
        })
    }

    /// The prefix of every key this store writes, for an ACL user limited to it (`~rpa-auth:*`).
    /// Defaults to [`DEFAULT_PREFIX`].
    #[must_use]
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.rebuild(|inner| inner.prefix = prefix)
    }

    /// How long a lease lasts: longer than a login can take. Defaults to [`DEFAULT_LEASE`].
    #[must_use]
    pub fn lease(self, lease: Duration) -> Self {
        self.rebuild(|inner| inner.lease = lease)
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let old = &self.inner;
        let mut inner = Inner {
            client: old.client.clone(),
            target: old.target.clone(),
            prefix: old.prefix.clone(),
            codec: old.codec.clone(),
            lease: old.lease,
            connection: tokio::sync::Mutex::new(None),
            write_and_release: Script::new(WRITE_AND_RELEASE),
            release: Script::new(RELEASE),
            compare_and_delete: Script::new(COMPARE_AND_DELETE),
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl Inner {
    fn entry(&self, key: &StoreKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    fn lock(&self, key: &StoreKey) -> String {
        format!("{}{}:lock", self.prefix, key.as_str())
    }

    fn error(&self, what: &str, error: &redis::RedisError) -> StoreError {
        // The error's text can quote a command's arguments; keep to its kind and category.
        StoreError::new(format!(
            "redis {}: {what} failed ({:?}{})",
            self.target,
            error.kind(),
            if error.is_timeout() {
                ", timed out"
            } else if error.is_connection_refusal() || error.is_connection_dropped() {
                ", no connection"
            } else {
                ""
            }
        ))
    }

    async fn connection(&self) -> StoreResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = &*slot {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(|e| self.error("connecting", &e))?;
        *slot = Some(connection.clone());
        Ok(connection)
    }
}

/// Milliseconds until `credential` expires, for the entry's Redis expiry (0: none).
fn expiry_ms(credential: &Credential) -> u64 {
    credential.expires_at().map_or(0, |at| {
        let left = at.saturating_duration_since(Instant::now());
        u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}

impl TokenStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn lease_duration(&self) -> Duration {
        self.inner.lease
    }

    fn read<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<Option<Credential>>> {
        Box::pin(async move {
            let inner = &*self.inner;
            let mut connection = inner.connection().await?;
            let bytes: Option<Vec<u8>> = redis::cmd("GET")
                .arg(inner.entry(key))
                .query_async(&mut connection)
                .await
                .map_err(|e| inner.error("GET", &e))?;
            Ok(bytes.and_then(|bytes| inner.codec.decode(key, &bytes)))
        })
    }

    fn try_lease<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<LeaseAttempt>> {
        Box::pin(async move {
            let inner = &*self.inner;
            let mut connection = inner.connection().await?;
            let holder = random_hex(16);
            let lease_ms = u64::try_from(inner.lease.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            let set: Option<String> = redis::cmd("SET")
                .arg(inner.lock(key))
                .arg(&holder)
                .arg("NX")
                .arg("PX")
                .arg(lease_ms)
                .query_async(&mut connection)
                .await
                .map_err(|e| inner.error("SET NX", &e))?;
            Ok(match set {
                Some(_) => LeaseAttempt::Acquired(Lease::new(key.clone(), holder, None)),
                None => LeaseAttempt::Busy,
            })
        })
    }

    fn write<'a>(
        &'a self,
        lease: Lease,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let inner = &*self.inner;
            let bytes = inner.codec.encode(lease.key(), credential)?;
            let mut connection = inner.connection().await?;
            let written: i64 = inner
                .write_and_release
                .key(inner.entry(lease.key()))
                .key(inner.lock(lease.key()))
                .arg(lease.holder())
                .arg(bytes)
                .arg(expiry_ms(credential))
                .invoke_async(&mut connection)
                .await
                .map_err(|e| inner.error("writing the entry", &e))?;
            if written == 0 {
                tracing::debug!(
                    store = "redis",
                    "the lease ran out before the entry was written; another holder writes it"
                );
            }
            Ok(())
        })
    }

    fn release(&self, lease: Lease) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let inner = &*self.inner;
            let mut connection = inner.connection().await?;
            let _: i64 = inner
                .release
                .key(inner.lock(lease.key()))
                .arg(lease.holder())
                .invoke_async(&mut connection)
                .await
                .map_err(|e| inner.error("releasing the lease", &e))?;
            Ok(())
        })
    }

    fn remove_if<'a>(
        &'a self,
        key: &'a StoreKey,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let inner = &*self.inner;
            let fingerprint = inner.codec.fingerprint(key, credential.secret());
            let mut connection = inner.connection().await?;
            let removed: i64 = inner
                .compare_and_delete
                .key(inner.entry(key))
                .arg(fingerprint)
                .invoke_async(&mut connection)
                .await
                .map_err(|e| inner.error("removing the entry", &e))?;
            Ok(removed > 0)
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.inner.target)
            .field("prefix", &self.inner.prefix)
            .field("lease", &self.inner.lease)
            .finish_non_exhaustive()
    }
}
