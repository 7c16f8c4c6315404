//! [`FileStore`]: one login shared by the processes of one user on one machine, through files in a
//! private directory.
//!
//! Each entry is `<key>.token` (mode 0600, written to a temporary file, synced, then renamed into place),
//! beside `<key>.lock`, the lock file the lease is: `std::fs::File::try_lock` on it, held for the whole
//! login. The kernel drops the lock when the holder exits or dies, so a killed process never blocks the
//! others. File operations run on tokio's blocking threads. Avoid network file systems.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{
    Codec, DEFAULT_LEASE, EncryptionKey, Lease, LeaseAttempt, StoreError, StoreKey, StoreResult,
    TokenStore, random_hex,
};
use crate::credential::Credential;
use crate::future::BoxFuture;

/// A token store in a directory only its user can read.
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    codec: Codec,
    lease: Duration,
}

impl FileStore {
    /// A store in `dir`, created (mode 0700) on first use. Entries are not encrypted unless
    /// [`encryption_key`](Self::encryption_key) is given; the directory's mode protects them.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir: dir.into(),
                codec: Codec::new(None),
                lease: DEFAULT_LEASE,
            }),
        }
    }

    /// A store in the user's cache directory: `$XDG_CACHE_HOME/rpa-auth`, else `~/.cache/rpa-auth`
    /// (`%LOCALAPPDATA%\rpa-auth` on Windows).
    ///
    /// # Errors
    /// A [`StoreError`] when none of those variables is set.
    pub fn in_user_cache() -> StoreResult<Self> {
        Self::default_dir().map(Self::new)
    }

    /// The directory [`in_user_cache`](Self::in_user_cache) uses.
    ///
    /// # Errors
    /// A [`StoreError`] when none of the variables it reads is set.
    pub fn default_dir() -> StoreResult<PathBuf> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let base = if cfg!(windows) {
            var("LOCALAPPDATA")
        } else {
            var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|home| home.join(".cache")))
        };
        base.map(|base| base.join("rpa-auth")).ok_or_else(|| {
            StoreError::new("no cache directory: set XDG_CACHE_HOME or HOME, or name a directory")
        })
    }

    /// Seals entries with `key` (ChaCha20-Poly1305). Without it entries are plain JSON in 0600 files.
    #[must_use]
    pub fn encryption_key(self, key: EncryptionKey) -> Self {
        self.rebuild(|inner| inner.codec = Codec::new(Some(key)))
    }

    /// How long other processes wait for a login in progress before logging in by themselves (the lock
    /// itself has no time limit: it ends when its holder exits). Defaults to [`DEFAULT_LEASE`].
    #[must_use]
    pub fn lease(self, lease: Duration) -> Self {
        self.rebuild(|inner| inner.lease = lease)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            dir: self.inner.dir.clone(),
            codec: self.inner.codec.clone(),
            lease: self.inner.lease,
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Runs `work` on a blocking thread with the directory ready.
    fn blocking<T, F>(&self, work: F) -> BoxFuture<'static, StoreResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            let dir = inner.dir.display().to_string();
            tokio::task::spawn_blocking(move || {
                inner.prepare()?;
                work(&inner)
            })
            .await
            .map_err(|e| StoreError::new(format!("file store task failed ({e})")))?
            .map_err(|e| StoreError::new(format!("file store {dir}: {e}")))
        })
    }
}

impl Inner {
    fn entry(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(format!("{}.token", key.as_str()))
    }

    fn lock_file(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(format!("{}.lock", key.as_str()))
    }

    /// Creates the directory 0700 when missing, and refuses one that others can enter.
    fn prepare(&self) -> io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&self.dir)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(io::Error::other(format!(
                    "the directory is open to other users (mode {mode:o}); use one only its owner can enter (chmod 700)"
                )));
            }
        }
        Ok(())
    }

    fn read(&self, key: &StoreKey) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.entry(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `bytes` as the entry of `key`: a new 0600 temporary file, synced, renamed into place.
    fn write(&self, key: &StoreKey, bytes: &[u8]) -> io::Result<()> {
        let temporary = self
            .dir
            .join(format!(".{}.{}.tmp", key.as_str(), random_hex(8)));
        let written = (|| {
            let mut file = private_options().create_new(true).open(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, self.entry(key))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Options that create a file readable and writable by its owner only (0600 from the start, no chmod).
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

impl TokenStore for FileStore {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn lease_duration(&self) -> Duration {
        self.inner.lease
    }

    fn read<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<Option<Credential>>> {
        let owned = key.clone();
        let read = self.blocking(move |inner| inner.read(&owned));
        Box::pin(async move {
            let bytes = read.await?;
            Ok(bytes.and_then(|bytes| self.inner.codec.decode(key, &bytes)))
        })
    }

    fn try_lease<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, StoreResult<LeaseAttempt>> {
        let key = key.clone();
        self.blocking(move |inner| {
            let file = private_options()
                .create(true)
                .truncate(false)
                .open(inner.lock_file(&key))?;
            match file.try_lock() {
                Ok(()) => Ok(LeaseAttempt::Acquired(Lease::new(
                    key,
                    random_hex(16),
                    Some(Box::new(file)),
                ))),
                Err(TryLockError::WouldBlock) => Ok(LeaseAttempt::Busy),
                Err(TryLockError::Error(e)) => Err(e),
            }
        })
    }

    fn write<'a>(
        &'a self,
        lease: Lease,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let encoded = self.inner.codec.encode(lease.key(), credential);
        match encoded {
            Err(error) => Box::pin(async move { Err(error) }),
            Ok(bytes) => self.blocking(move |inner| {
                let written = inner.write(lease.key(), &bytes);
                // The lock is given back when the lease (and its file) is dropped, after the rename.
                drop(lease);
                written
            }),
        }
    }

    fn release(&self, lease: Lease) -> BoxFuture<'_, StoreResult<()>> {
        drop(lease);
        Box::pin(async { Ok(()) })
    }

    fn remove_if<'a>(
        &'a self,
        key: &'a StoreKey,
        credential: &'a Credential,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let fingerprint = self.inner.codec.fingerprint(key, credential.secret());
        let key = key.clone();
        self.blocking(move |inner| {
            let lock = private_options()
                .create(true)
                .truncate(false)
                .open(inner.lock_file(&key))?;
            match lock.try_lock() {
                Ok(()) => {}
                // Someone holds the lease: it is writing a new entry, which replaces this one anyway.
                Err(TryLockError::WouldBlock) => return Ok(false),
                Err(TryLockError::Error(e)) => return Err(e),
            }
            let Some(bytes) = inner.read(&key)? else {
                return Ok(false);
            };
            if Codec::stored_fingerprint(&bytes) != Some(fingerprint.as_bytes()) {
                return Ok(false);
            }
            match fs::remove_file(inner.entry(&key)) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
        })
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

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rpa-auth-file-store-{name}-{}-{}",
            std::process::id(),
            random_hex(4)
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn lease_write_read_and_compare_and_delete() {
        let dir = temp_dir("basic");
        let store = FileStore::new(dir.join("cache"));
        assert!(store.read(&key("a")).await.unwrap().is_none());
        let LeaseAttempt::Acquired(lease) = store.try_lease(&key("a")).await.unwrap() else {
            panic!("lease busy on an empty store");
        };
        // A second handle (as another process would have) finds the lock taken.
        assert!(matches!(
            store.try_lease(&key("a")).await.unwrap(),
            LeaseAttempt::Busy
        ));
        store.write(lease, &token("t1")).await.unwrap();
        let read = store.read(&key("a")).await.unwrap().unwrap();
        assert_eq!(read.secret().expose_secret(), "t1");
        assert!(!store.remove_if(&key("a"), &token("t0")).await.unwrap());
        assert!(store.remove_if(&key("a"), &token("t1")).await.unwrap());
        assert!(store.read(&key("a")).await.unwrap().is_none());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join("cache")), 0o700);
            let LeaseAttempt::Acquired(lease) = store.try_lease(&key("a")).await.unwrap() else {
                panic!("lease busy after write");
            };
            store.write(lease, &token("t2")).await.unwrap();
            for entry in fs::read_dir(dir.join("cache")).unwrap() {
                assert_eq!(mode(&entry.unwrap().path()), 0o600);
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_directory_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("open");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let error = FileStore::new(&dir).read(&key("a")).await.unwrap_err();
        assert!(error.to_string().contains("other users"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_sealed_entry_with_the_wrong_key_is_a_miss() {
        let dir = temp_dir("sealed");
        let sealed = FileStore::new(&dir).encryption_key(EncryptionKey([1; 32]));
        let LeaseAttempt::Acquired(lease) = sealed.try_lease(&key("a")).await.unwrap() else {
            panic!("busy");
        };
        sealed.write(lease, &token("secret-token")).await.unwrap();
        let bytes = fs::read(dir.join(format!("{}.token", key("a").as_str()))).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("secret-token"));
        let wrong = FileStore::new(&dir).encryption_key(EncryptionKey([2; 32]));
        assert!(wrong.read(&key("a")).await.unwrap().is_none());
        assert!(sealed.read(&key("a")).await.unwrap().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}
