//! The Windows account a handshake logs in as.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Windows account used for NTLM / Negotiate.
///
/// Accepts `DOMAIN\user`, `user@domain` (a UPN, sent whole as the user name with an empty domain,
/// as Windows does) or a plain `user`, optionally with [`domain`](Self::domain). The password is a
/// [`SecretString`]; `Debug` never prints it.
///
/// Note: a password starting with `$NTLM$:` followed by 32 hex digits is taken by the underlying
/// `sspi` crate as an NT hash rather than a password.
#[derive(Clone)]
pub struct WindowsCredentials {
    user: String,
    domain: String,
    password: SecretString,
}

impl WindowsCredentials {
    /// Account `user` (`DOMAIN\user`, `user@domain` or `user`) with `password`.
    pub fn new(user: &str, password: SecretString) -> Self {
        let user = user.trim();
        let (domain, user) = match user.split_once('\\') {
            Some((domain, user)) => (domain.to_owned(), user.to_owned()),
            None => (String::new(), user.to_owned()),
        };
        Self {
            user,
            domain,
            password,
        }
    }

    /// Sets the NetBIOS domain; replaces any `DOMAIN\` prefix given to [`new`](Self::new).
    /// Ignored for a `user@domain` name, whose domain is part of the name.
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into();
        self
    }

    /// The account name as given, without any `DOMAIN\` prefix.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The NetBIOS domain sent in the AUTHENTICATE message (empty for a UPN or a local account).
    pub fn domain_name(&self) -> &str {
        if self.is_upn() { "" } else { &self.domain }
    }

    /// The password.
    #[cfg_attr(not(feature = "kerberos"), allow(dead_code))]
    pub(crate) fn password(&self) -> &SecretString {
        &self.password
    }

    fn is_upn(&self) -> bool {
        self.user.contains('@')
    }

    /// The identity in the form `sspi` parses back to the same user and domain.
    pub(crate) fn to_sspi(&self) -> Result<sspi::AuthIdentity, sspi::Error> {
        let domain = self.domain_name();
        let username = if self.is_upn() || domain.is_empty() {
            sspi::Username::parse(&self.user)
        } else {
            sspi::Username::new_down_level_logon_name(&self.user, domain)
        }
        .map_err(sspi::Error::from)?;
        Ok(sspi::AuthIdentity {
            username,
            password: self.password.expose_secret().to_owned().into(),
        })
    }
}

impl fmt::Debug for WindowsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowsCredentials")
            .field("user", &self.user)
            .field("domain", &self.domain_name())
            .field("password", &"** redacted **")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str) -> WindowsCredentials {
        WindowsCredentials::new(user, SecretString::from("hunter2-Secret"))
    }

    #[test]
    fn parses_the_three_forms() {
        let down_level = creds(r"CORP\alice");
        assert_eq!(
            (down_level.user(), down_level.domain_name()),
            ("alice", "CORP")
        );
        let upn = creds("alice@corp.example");
        assert_eq!((upn.user(), upn.domain_name()), ("alice@corp.example", ""));
        let plain = creds("alice");
        assert_eq!((plain.user(), plain.domain_name()), ("alice", ""));
        let with_domain = creds("alice").domain("CORP");
        assert_eq!(
            (with_domain.user(), with_domain.domain_name()),
            ("alice", "CORP")
        );
        let overridden = creds(r"OLD\alice").domain("NEW");
        assert_eq!(overridden.domain_name(), "NEW");
        assert_eq!(creds("alice@corp.example").domain("X").domain_name(), "");
    }

    #[test]
    fn sspi_identity_keeps_user_and_domain() {
        let id = creds(r"CORP\alice").to_sspi().expect("valid");
        assert_eq!(id.username.inner(), r"CORP\alice");
        let id = creds("alice@corp.example").to_sspi().expect("valid");
        assert_eq!(id.username.inner(), "alice@corp.example");
        let id = creds("alice").to_sspi().expect("valid");
        assert_eq!(id.username.inner(), "alice");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let shown = format!("{:?}", creds(r"CORP\alice"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("alice") && shown.contains("CORP") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
