//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod env_vars;
pub mod hostile_server;
pub mod kdc;
pub mod ntlm_server;
pub mod pyspnego;
pub mod redis_server;
pub mod servers;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rpa_auth::authenticator::{self, FnAuthenticator};
use rpa_auth::{AuthClient, BoxFuture, Credential, ExposeSecret, Placement, Result, SecretString};

/// A fake authenticator that counts its logins and issues `token-1`, `token-2`, … with a fixed lifetime,
/// after an optional delay; or fails with the error `fail` makes.
#[derive(Clone)]
pub struct Counting {
    pub logins: Arc<AtomicU64>,
}

impl Counting {
    pub fn new() -> Self {
        Self {
            logins: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn count(&self) -> u64 {
        self.logins.load(Ordering::SeqCst)
    }

    /// An authenticator for `base` whose login takes `delay` and answers with `outcome(n)` for the n-th login
    /// (1-based).
    pub fn authenticator<F>(
        &self,
        base: &str,
        delay: Duration,
        outcome: F,
    ) -> FnAuthenticator<
        impl Fn(reqwest::Client) -> BoxFuture<'static, Result<Credential>> + Send + Sync + use<F>,
    >
    where
        F: Fn(u64) -> Result<Credential> + Send + Sync + Clone + 'static,
    {
        let logins = self.logins.clone();
        authenticator::from_fn("fake", url::Url::parse(base).unwrap(), move |_http| {
            let logins = logins.clone();
            let outcome = outcome.clone();
            Box::pin(async move {
                let n = logins.fetch_add(1, Ordering::SeqCst) + 1;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                outcome(n)
            }) as BoxFuture<'static, Result<Credential>>
        })
    }
}

/// `token-<n>` in `Authorization: Bearer`, living `lifetime`.
pub fn bearer(n: u64, lifetime: Duration) -> Credential {
    Credential::new(SecretString::from(format!("token-{n}")), Placement::Bearer)
        .expires_in(lifetime)
}

/// Waits until `client`'s credential is no longer `old` (a background refresh has landed) and returns
/// the new secret. Fails after 5 s (of the test's clock), naming what it waited for.
pub async fn renewed(client: &AuthClient, old: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let secret = client
            .credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned();
        if secret != old {
            return secret;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the credential was not renewed in the background within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The built binary of example `name`, which `cargo test` builds before it runs the tests. Fails with a
/// hint when it is missing or older than its source.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let hint = format!(
        "run the whole suite with `cargo test`, which builds the examples, or `cargo build --example {name}`"
    );
    let source =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    let built = std::fs::metadata(&path).and_then(|m| m.modified());
    let written = std::fs::metadata(&source).and_then(|m| m.modified());
    match (built, written) {
        (Ok(built), Ok(written)) => assert!(
            built >= written,
            "{} is older than its source: {hint}",
            path.display()
        ),
        _ => panic!("{} is missing: {hint}", path.display()),
    }
    path
}

/// A new empty directory under the system's temporary directory, for one test (left for the test to
/// remove).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "rpa-auth-{name}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
