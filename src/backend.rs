//! The login methods, one module per vendor and method. Backends know *how* to log in; the
//! [`AuthClient`](crate::AuthClient) alone decides *when*.

pub mod automation_anywhere;
pub mod pyramid;
pub mod uipath;
pub mod uipath_ntlm;
pub mod uipath_oauth;

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
