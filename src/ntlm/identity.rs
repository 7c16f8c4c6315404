//! Who a Windows-authentication handshake logs in as: explicit credentials, the current user's Kerberos
//! ticket (feature `kerberos`), or both.

use super::WindowsCredentials;

/// Who a handshake logs in as, and which service it names to Kerberos.
///
/// * [`WindowsIdentity::from`] explicit [`WindowsCredentials`]: NTLM as always; with the `kerberos`
///   feature, Kerberos first when the default credential cache holds a ticket for that same user, or when
///   the user is `user@REALM` with a realm configured in `krb5.conf` (the password then gets the ticket),
///   NTLM with the password otherwise or when Kerberos cannot get a service ticket.
/// * `WindowsIdentity::current_user` (feature `kerberos`): the ticket of the default credential cache
///   (`kinit`, `KRB5CCNAME`), through Negotiate; no password, so no NTLM fallback.
///
/// `Debug` never shows a password.
#[derive(Clone, Debug)]
pub struct WindowsIdentity {
    credentials: Option<WindowsCredentials>,
    spn: Option<String>,
}

impl From<WindowsCredentials> for WindowsIdentity {
    fn from(credentials: WindowsCredentials) -> Self {
        Self {
            credentials: Some(credentials),
            spn: None,
        }
    }
}

impl WindowsIdentity {
    /// The logged-on user: the Kerberos ticket of the default credential cache (`KRB5CCNAME`, else the
    /// system default), through Negotiate.
    #[cfg(feature = "kerberos")]
    pub fn current_user() -> Self {
        Self {
            credentials: None,
            spn: None,
        }
    }

    /// The Kerberos service name of the server: `SERVICE/host` (a principal name, optionally with
    /// `@REALM`) or `SERVICE@host` (a host-based service). Defaults to `HTTP@<host of the URL>`.
    #[must_use]
    pub fn spn(mut self, spn: impl Into<String>) -> Self {
        self.spn = Some(spn.into());
        self
    }

    /// The explicit credentials, when a password was given.
    pub fn credentials(&self) -> Option<&WindowsCredentials> {
        self.credentials.as_ref()
    }

    /// Applies `change` to the explicit credentials, if any.
    #[must_use]
    pub(crate) fn map_credentials(
        mut self,
        change: impl FnOnce(WindowsCredentials) -> WindowsCredentials,
    ) -> Self {
        self.credentials = self.credentials.map(change);
        self
    }

    /// The service name as configured, if overridden.
    #[cfg_attr(not(feature = "kerberos"), allow(dead_code))]
    pub(crate) fn spn_override(&self) -> Option<&str> {
        self.spn.as_deref()
    }
}
