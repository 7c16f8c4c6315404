//! The login methods, one module per vendor. Backends know *how* to log in; the
//! [`AuthClient`](crate::AuthClient) alone decides *when*.
//!
//! Every backend has the same shape: required inputs in `new(…) -> Result<Self>` (validated at once),
//! optional ones as consuming setters named after the field, `from_env()` / `from_env_with(…)`, an
//! inherent `async fn login(&self, http)`, `Clone + Debug` (the Debug never shows a secret), and an
//! [`Authenticator`](crate::Authenticator) impl that boxes `login`.

pub(crate) mod automation_anywhere;
pub(crate) mod pyramid;
pub(crate) mod uipath;

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// Refuses an empty (or blank) name at construction, saying which one: `what` is e.g. "user name".
pub(crate) fn require_name(backend: &'static str, what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::config(backend, format!("the {what} is empty")));
    }
    Ok(())
}

/// Refuses an empty secret at construction, saying which one (never its value): `what` is e.g.
/// "password".
pub(crate) fn require_secret(
    backend: &'static str,
    what: &str,
    secret: &SecretString,
) -> Result<()> {
    if secret.expose_secret().is_empty() {
        return Err(Error::config(backend, format!("the {what} is empty")));
    }
    Ok(())
}

/// Writes a backend's `from_env()` and `from_env_with(lookup)` around its private
/// `fn read_env(env: &Env<'_>) -> Result<Self>`, with the doc comments given (the variables it reads and
/// an example), so that every backend reads its configuration the same way.
macro_rules! from_env_constructors {
    ($(#[$doc:meta])*) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// [`Error::Config`](crate::Error::Config) naming the variable that is missing or malformed,
        /// never quoting a secret or the URL.
        pub fn from_env() -> $crate::Result<Self> {
            Self::read_env(&$crate::env::Env::new(BACKEND, &$crate::env::process))
        }

        /// Like [`from_env`](Self::from_env), reading each variable through `lookup` (a map, a vault, a
        /// test fixture) instead of the process environment.
        ///
        /// # Errors
        /// As for [`from_env`](Self::from_env).
        pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> $crate::Result<Self> {
            Self::read_env(&$crate::env::Env::new(BACKEND, &|name: &str| {
                lookup(name).map(std::ffi::OsString::from)
            }))
        }
    };
}
pub(crate) use from_env_constructors;

/// Implements [`Authenticator`](crate::Authenticator) for a backend whose `base` field is its server,
/// whose `secrets` field holds what it must never print ([`Secrets`](crate::redact::Secrets)) and
/// whose inherent `async fn login(&self, http)` logs in, plus any methods given in braces (a cheaper
/// refresh, a logout).
macro_rules! authenticator_by_login {
    ($login:ty $(, { $($method:item)* })?) => {
        impl $crate::authenticator::Authenticator for $login {
            fn backend(&self) -> &'static str {
                BACKEND
            }

            fn base_url(&self) -> &url::Url {
                &self.base
            }

            fn authenticate<'a>(
                &'a self,
                http: &'a reqwest::Client,
            ) -> $crate::future::BoxFuture<'a, $crate::error::Result<$crate::credential::Credential>> {
                Box::pin(self.login(http))
            }

            fn redact(&self, text: &str) -> String {
                self.secrets.scrub(text)
            }

            $($($method)*)?
        }
    };
}
pub(crate) use authenticator_by_login;

/// Writes the setters every Windows-authentication login shares (domain, Kerberos service name, TLS,
/// scheme), for a type with `identity`, `tls` and `scheme` fields and a `fn reconfigured(&mut self)` that
/// runs after each change (a login that keeps authenticated connections drops them there).
macro_rules! windows_setters {
    () => {
        /// The Windows domain, for a plain user name. Defaults to the one in the user name, if any.
        pub fn domain(mut self, domain: impl Into<String>) -> Self {
            let domain = domain.into();
            self.identity = self.identity.map_credentials(|c| c.domain(domain));
            self.reconfigured();
            self
        }

        /// The server's Kerberos service name, `SERVICE/host` or `SERVICE@host`. Defaults to
        /// `HTTP@<host of the URL>`; needed when the URL names the server by an alias or address that is
        /// not its registered service principal.
        pub fn spn(mut self, spn: impl Into<String>) -> Self {
            self.identity = self.identity.spn(spn);
            self.reconfigured();
            self
        }

        /// The TLS configuration of the Windows-authenticated connections (an internal CA, say).
        /// Defaults to the platform's trust store.
        pub fn tls_config(mut self, tls: std::sync::Arc<rustls::ClientConfig>) -> Self {
            self.tls = Some(tls);
            self.reconfigured();
            self
        }

        /// Uses `scheme` even when the server offers both. Defaults to the server's offer, NTLM first.
        pub fn scheme(mut self, scheme: $crate::ntlm::Scheme) -> Self {
            self.scheme = Some(scheme);
            self.reconfigured();
            self
        }
    };
}
pub(crate) use windows_setters;
