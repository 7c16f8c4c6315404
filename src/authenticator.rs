//! The [`Authenticator`] trait: how to log in. When to log in is the [`AuthClient`](crate::AuthClient)'s job.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use url::Url;

use crate::credential::Credential;
use crate::error::Result;
use crate::future::BoxFuture;
use crate::store::LoginIdentity;

/// One way of logging into one server. Each backend implements it; the
/// [`AuthClient`](crate::AuthClient) decides when to call it (caching, refresh, 401 retry).
///
/// Implementors write an inherent `async fn` and box it in the trait method.
///
/// ```
/// use rpa_auth::{Authenticator, BoxFuture, Credential, Placement, Result, SecretString};
///
/// #[derive(Debug)]
/// struct StaticToken(url::Url);
///
/// impl Authenticator for StaticToken {
///     fn backend(&self) -> &'static str { "static" }
///     fn base_url(&self) -> &url::Url { &self.0 }
///     fn authenticate<'a>(&'a self, _http: &'a reqwest::Client) -> BoxFuture<'a, Result<Credential>> {
///         Box::pin(async { Ok(Credential::new(SecretString::from("t"), Placement::Bearer)) })
///     }
/// }
/// ```
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// Short name used in errors and logs, e.g. `uipath`, `aa`, `pyramid`.
    fn backend(&self) -> &'static str;

    /// The server's base URL. Credentials are only ever sent to its origin.
    fn base_url(&self) -> &Url;

    /// Logs in and yields a fresh credential.
    fn authenticate<'a>(&'a self, http: &'a reqwest::Client) -> BoxFuture<'a, Result<Credential>>;

    /// Renews a credential that is still valid. The default logs in again; backends whose server has a
    /// cheaper renewal (Automation Anywhere's token refresh) override it.
    fn refresh<'a>(
        &'a self,
        http: &'a reqwest::Client,
        current: &'a Credential,
    ) -> BoxFuture<'a, Result<Credential>> {
        let _ = current;
        self.authenticate(http)
    }

    /// Who this login is for, so a [token store](crate::store) keeps one entry per account. `None` (the
    /// default) keeps the login out of every store: right for logins that are an authenticated connection
    /// (NTLM), and for any authenticator that cannot name its account.
    fn store_identity(&self) -> Option<LoginIdentity> {
        None
    }

    /// Ends the server-side session of `current`. The default does nothing, for servers without logout.
    fn logout<'a>(
        &'a self,
        http: &'a reqwest::Client,
        current: &'a Credential,
    ) -> BoxFuture<'a, Result<()>> {
        let _ = (http, current);
        Box::pin(async { Ok(()) })
    }

    /// `text` with every secret this login holds or has issued (password, key, client secret,
    /// multi-factor code, tokens) removed, in every form a server may echo it in; see
    /// [`Secrets`](crate::Secrets). The default returns the text unchanged.
    fn redact(&self, text: &str) -> String {
        text.to_owned()
    }
}

/// Implements [`Authenticator`] for a smart pointer by forwarding every method to the pointee.
macro_rules! forward_authenticator {
    ($pointer:ident) => {
        impl<T: Authenticator + ?Sized> Authenticator for $pointer<T> {
            fn backend(&self) -> &'static str {
                (**self).backend()
            }
            fn base_url(&self) -> &Url {
                (**self).base_url()
            }
            fn authenticate<'a>(
                &'a self,
                http: &'a reqwest::Client,
            ) -> BoxFuture<'a, Result<Credential>> {
                (**self).authenticate(http)
            }
            fn refresh<'a>(
                &'a self,
                http: &'a reqwest::Client,
                current: &'a Credential,
            ) -> BoxFuture<'a, Result<Credential>> {
                (**self).refresh(http, current)
            }
            fn store_identity(&self) -> Option<LoginIdentity> {
                (**self).store_identity()
            }
            fn logout<'a>(
                &'a self,
                http: &'a reqwest::Client,
                current: &'a Credential,
            ) -> BoxFuture<'a, Result<()>> {
                (**self).logout(http, current)
            }
            fn redact(&self, text: &str) -> String {
                (**self).redact(text)
            }
        }
    };
}
forward_authenticator!(Arc);
forward_authenticator!(Box);

/// An [`Authenticator`] made from a closure: handy for tokens from a vault, and for tests.
///
/// ```
/// use rpa_auth::{authenticator, Credential, Placement, SecretString};
///
/// let base = url::Url::parse("https://orch.example.com/").unwrap();
/// let auth = authenticator::from_fn("vault", base, |_http| async {
///     Ok(Credential::new(SecretString::from("from-vault"), Placement::Bearer))
/// });
/// # let _ = auth;
/// ```
pub fn from_fn<F, Fut>(backend: &'static str, base_url: Url, login: F) -> FnAuthenticator<F>
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Credential>> + Send + 'static,
{
    FnAuthenticator {
        backend,
        base_url,
        login,
    }
}

/// The [`Authenticator`] returned by [`from_fn`].
pub struct FnAuthenticator<F> {
    backend: &'static str,
    base_url: Url,
    login: F,
}

impl<F> fmt::Debug for FnAuthenticator<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnAuthenticator")
            .field("backend", &self.backend)
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl<F, Fut> Authenticator for FnAuthenticator<F>
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Credential>> + Send + 'static,
{
    fn backend(&self) -> &'static str {
        self.backend
    }
    fn base_url(&self) -> &Url {
        &self.base_url
    }
    fn authenticate<'a>(&'a self, http: &'a reqwest::Client) -> BoxFuture<'a, Result<Credential>> {
        Box::pin((self.login)(http.clone()))
    }
}
