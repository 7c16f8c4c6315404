//! Kerberos inside Negotiate (SPNEGO) through the system GSS-API (`libgssapi`; MIT krb5 on Linux).
//!
//! One [`KerberosContext`] serves one exchange: a fresh one for every challenge, since the server's replay
//! cache refuses a reused authenticator. Every GSS-API call can block on the network (the KDC), so each
//! runs on Tokio's blocking pool.

use std::fmt;
use std::path::{Path, PathBuf};

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext as _};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi::name::Name;
use libgssapi::oid::{
    GSS_MECH_KRB5, GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL, OidSet,
};
use secrecy::ExposeSecret as _;

use super::{WindowsCredentials, WindowsIdentity};

/// Why Kerberos could not log in. Display is one line saying what to do; it never holds a password or a
/// ticket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KerberosError {
    /// The default credential cache holds no ticket, and no password was given.
    #[error("no Kerberos ticket: run kinit or set KRB5CCNAME")]
    NoTicket,
    /// The ticket in the credential cache has expired.
    #[error("the Kerberos ticket has expired: run kinit again (kinit -R renews a renewable one)")]
    TicketExpired,
    /// No KDC of the realm answered.
    #[error(
        "the Kerberos KDC cannot be reached: check the realm's kdc entries in krb5.conf (KRB5_CONFIG) and the network"
    )]
    KdcUnreachable,
    /// The KDC does not know the server's service principal.
    #[error(
        "the KDC does not know the service principal {spn}: register it for the server, or name the right one with spn(…) (--spn)"
    )]
    UnknownService {
        /// The service name tried, as `SERVICE/host`.
        spn: String,
    },
    /// This machine's clock and the KDC's or the server's differ by more than allowed (5 minutes).
    #[error(
        "the clocks of this machine and the KDC or server differ too much for Kerberos: synchronise the clock"
    )]
    ClockSkew,
    /// The KDC refused the password given for `principal`, or does not know the user.
    #[error("the KDC refused the user or password for {principal}")]
    PasswordRefused {
        /// The user principal.
        principal: String,
    },
    /// The server refused the Kerberos ticket.
    #[error(
        "the server refused the Kerberos ticket for {spn}{}: check that its keytab holds the key of that service principal",
        detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Refused {
        /// The service name used.
        spn: String,
        /// What the GSS-API said about the server's answer, when it said something.
        detail: Option<String>,
    },
    /// The server's final token (mutual authentication) did not verify: the answer may not come from the
    /// server the ticket was for.
    #[error("the server's mutual-authentication token did not verify ({detail})")]
    MutualAuthFailed {
        /// What the GSS-API said.
        detail: String,
    },
    /// The server does not offer Negotiate, which Kerberos needs, and there is no password for NTLM.
    #[error(
        "the server offers {} but not Negotiate, so Kerberos cannot be used; give a password to log in with NTLM",
        if offered.is_empty() { "nothing".to_owned() } else { offered.join(", ") }
    )]
    NegotiateNotOffered {
        /// The schemes the server offered.
        offered: Vec<String>,
    },
    /// Any other GSS-API failure, with its own words.
    #[error("GSS-API failure: {message}")]
    Gss {
        /// The GSS-API's message (names at most principals, never a secret).
        message: String,
    },
}

impl KerberosError {
    /// Whether NTLM may be tried instead when a password is available: Kerberos could not produce a ticket
    /// for the server (and nothing was sent to it). A password the KDC refused is not retried over NTLM.
    pub(crate) fn allows_fallback(&self) -> bool {
        matches!(
            self,
            Self::NoTicket
                | Self::TicketExpired
                | Self::KdcUnreachable
                | Self::UnknownService { .. }
                | Self::ClockSkew
                | Self::Gss { .. }
        )
    }
}

// MIT krb5 error codes (krb5.h, com_err table "krb5"), as GSS-API minor statuses.
const KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1_765_328_378;
const KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1_765_328_377;
const KDC_ERR_CLIENT_REVOKED: i32 = -1_765_328_366;
const KDC_ERR_KEY_EXP: i32 = -1_765_328_361;
const KDC_ERR_PREAUTH_FAILED: i32 = -1_765_328_360;
const AP_ERR_BAD_INTEGRITY: i32 = -1_765_328_353;
const AP_ERR_TKT_EXPIRED: i32 = -1_765_328_352;
const AP_ERR_SKEW: i32 = -1_765_328_347;
const CC_NOTFOUND: i32 = -1_765_328_243;
const CC_END: i32 = -1_765_328_242;
const NO_TKT_SUPPLIED: i32 = -1_765_328_241;
const REALM_UNKNOWN: i32 = -1_765_328_230;
const KDC_UNREACH: i32 = -1_765_328_228;
const FCC_NOFILE: i32 = -1_765_328_189;
const REALM_CANT_RESOLVE: i32 = -1_765_328_164;
const CONFIG_NODEFREALM: i32 = -1_765_328_160;
// KRB5_KCM_NO_SERVER ("Cannot contact KCM daemon") and the KEYRING "not found" cases read as "no ticket" too.
const KCM_NO_SERVER: i32 = -1_750_600_188;

/// What a GSS-API status means to the user, `spn` being the service name tried.
fn classify(error: &GssError, spn: &str) -> KerberosError {
    // The minor status is a signed krb5 error code carried in an unsigned field.
    let minor = error.minor as i32;
    match minor {
        KDC_ERR_S_PRINCIPAL_UNKNOWN => {
            return KerberosError::UnknownService {
                spn: spn.to_owned(),
            };
        }
        AP_ERR_TKT_EXPIRED => return KerberosError::TicketExpired,
        AP_ERR_SKEW => return KerberosError::ClockSkew,
        KDC_UNREACH | REALM_CANT_RESOLVE => return KerberosError::KdcUnreachable,
        FCC_NOFILE | CC_NOTFOUND | CC_END | NO_TKT_SUPPLIED | KCM_NO_SERVER => {
            return KerberosError::NoTicket;
        }
        _ => {}
    }
    if error.major.contains(MajorFlags::GSS_S_CREDENTIALS_EXPIRED) {
        return KerberosError::TicketExpired;
    }
    if error.major.contains(MajorFlags::GSS_S_NO_CRED) && minor == 0 {
        return KerberosError::NoTicket;
    }
    KerberosError::Gss {
        message: one_line(&error.to_string()),
    }
}

/// What a failure to get a ticket with a password means: the KDC's refusals name the user.
fn classify_password(error: &GssError, principal: &str, spn: &str) -> KerberosError {
    match error.minor as i32 {
        // Without pre-authentication the KDC answers anyone, and a wrong password shows when its answer
        // does not decrypt.
        KDC_ERR_PREAUTH_FAILED
        | AP_ERR_BAD_INTEGRITY
        | KDC_ERR_C_PRINCIPAL_UNKNOWN
        | KDC_ERR_CLIENT_REVOKED
        | KDC_ERR_KEY_EXP => KerberosError::PasswordRefused {
            principal: principal.to_owned(),
        },
        REALM_UNKNOWN | CONFIG_NODEFREALM => KerberosError::KdcUnreachable,
        _ => classify(error, spn),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The service name for `host`: the override as `SERVICE/host[@REALM]` (a principal) or `SERVICE@host`
/// (host-based), else `HTTP@host`. Returns the GSS name text, whether it is a principal name, and the
/// `SERVICE/host` form shown in errors.
fn service_name(identity: &WindowsIdentity, host: &str) -> (String, bool, String) {
    match identity.spn_override() {
        Some(spn) if spn.contains('/') => (spn.to_owned(), true, spn.to_owned()),
        Some(spn) => {
            let shown = spn.replacen('@', "/", 1);
            (spn.to_owned(), false, shown)
        }
        None => (format!("HTTP@{host}"), false, format!("HTTP/{host}")),
    }
}

/// One client-side Kerberos exchange through SPNEGO.
pub(crate) struct KerberosContext {
    // `None` only while a step runs on the blocking pool.
    ctx: Option<ClientCtx>,
    spn: String,
    channel_binding: Option<Vec<u8>>,
}

impl fmt::Debug for KerberosContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KerberosContext")
            .field("spn", &self.spn)
            .finish_non_exhaustive()
    }
}

/// Runs `call` on Tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KerberosError> + Send + 'static,
) -> Result<T, KerberosError> {
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|e| {
        Err(KerberosError::Gss {
            message: format!("the GSS-API call did not finish ({e})"),
        })
    })
}

impl KerberosContext {
    /// Gets the credential for `identity` and the first token for the server at `host`, binding to the TLS
    /// channel when `channel_binding` (`tls-server-end-point:` + hash) is given.
    ///
    /// `Ok(None)`: explicit credentials that Kerberos does not apply to (no ticket for that user, no
    /// configured realm in the name): use NTLM.
    pub(crate) async fn start(
        identity: &WindowsIdentity,
        host: &str,
        channel_binding: Option<&[u8]>,
    ) -> Result<Option<(Self, Vec<u8>)>, KerberosError> {
        let (name, principal, shown) = service_name(identity, host);
        let credentials = identity.credentials().cloned();
        let channel_binding = channel_binding.map(<[u8]>::to_vec);
        blocking(move || {
            let kind = if principal {
                GSS_NT_KRB5_PRINCIPAL
            } else {
                GSS_NT_HOSTBASED_SERVICE
            };
            let target = || {
                Name::new(name.as_bytes(), Some(kind)).map_err(|e| KerberosError::Gss {
                    message: format!("invalid service name {shown}: {}", one_line(&e.to_string())),
                })
            };
            let flags = CtxFlags::GSS_C_MUTUAL_FLAG
                | CtxFlags::GSS_C_REPLAY_FLAG
                | CtxFlags::GSS_C_SEQUENCE_FLAG
                | CtxFlags::GSS_C_INTEG_FLAG;
            let Some(source) = CredentialSource::find(credentials.as_ref(), &shown)? else {
                return Ok(None);
            };
            // First the plain Kerberos mechanism, whose failures keep the krb5 error codes (through SPNEGO
            // they are renumbered): it gets the service ticket, or says why there is none. The SPNEGO context
            // below then finds the ticket in the credential cache.
            let krb5 = source.credential(&krb5_only()?, &shown)?;
            ClientCtx::new(Some(krb5), target()?, flags, Some(GSS_MECH_KRB5))
                .step(None, channel_binding.as_deref())
                .map_err(|e| classify(&e, &shown))?;
            let spnego = source.credential(&spnego_only()?, &shown)?;
            let mut ctx = ClientCtx::new(Some(spnego), target()?, flags, Some(GSS_MECH_SPNEGO));
            let token = ctx
                .step(None, channel_binding.as_deref())
                .map_err(|e| classify(&e, &shown))?
                .map(|buf| buf.to_vec())
                .unwrap_or_default();
            if token.is_empty() {
                return Err(KerberosError::Gss {
                    message: "the GSS-API produced no initial token".into(),
                });
            }
            Ok(Some((
                Self {
                    ctx: Some(ctx),
                    spn: shown,
                    channel_binding,
                },
                token,
            )))
        })
        .await
    }

    /// The `SERVICE/host` name this context is for.
    pub(crate) fn spn(&self) -> &str {
        &self.spn
    }

    /// Feeds the server's token; returns the next token to send, if any.
    pub(crate) async fn step(&mut self, token: Vec<u8>) -> Result<Option<Vec<u8>>, GssFailure> {
        let Some(mut ctx) = self.ctx.take() else {
            return Err(GssFailure(KerberosError::Gss {
                message: "the Kerberos context was lost by an earlier failure".into(),
            }));
        };
        let binding = self.channel_binding.clone();
        let spn = self.spn.clone();
        let result = tokio::task::spawn_blocking(move || {
            let out = ctx.step(Some(&token), binding.as_deref());
            (ctx, out)
        })
        .await;
        match result {
            Ok((ctx, out)) => {
                self.ctx = Some(ctx);
                out.map(|buf| buf.map(|b| b.to_vec()).filter(|b| !b.is_empty()))
                    .map_err(|e| GssFailure(classify(&e, &spn)))
            }
            Err(e) => Err(GssFailure(KerberosError::Gss {
                message: format!("the GSS-API call did not finish ({e})"),
            })),
        }
    }

    /// Whether the exchange is complete (the server's final token, if needed, has been verified).
    pub(crate) fn is_complete(&self) -> bool {
        self.ctx.as_ref().is_some_and(ClientCtx::is_complete)
    }
}

/// A failed step, classified.
#[derive(Debug)]
pub(crate) struct GssFailure(pub(crate) KerberosError);

fn spnego_only() -> Result<OidSet, KerberosError> {
    OidSet::singleton(GSS_MECH_SPNEGO).map_err(|e| KerberosError::Gss {
        message: one_line(&e.to_string()),
    })
}

fn krb5_only() -> Result<OidSet, KerberosError> {
    OidSet::singleton(GSS_MECH_KRB5).map_err(|e| KerberosError::Gss {
        message: one_line(&e.to_string()),
    })
}

/// Where the Kerberos credential comes from.
enum CredentialSource {
    /// The default credential cache.
    Cache,
    /// A password for `principal` (`user@REALM`).
    Password {
        principal: Name,
        shown: String,
        password: secrecy::SecretString,
    },
}

impl CredentialSource {
    /// The source for `credentials` (`None`: the current user): for explicit credentials the default
    /// cache when its ticket is that user's, else the password when the name is `user@REALM` and the realm
    /// is configured, else none (use NTLM).
    fn find(
        credentials: Option<&WindowsCredentials>,
        spn: &str,
    ) -> Result<Option<Self>, KerberosError> {
        let Some(credentials) = credentials else {
            return Ok(Some(Self::Cache));
        };
        if let Ok(cred) = Self::Cache.credential(&krb5_only()?, spn)
            && let Ok(name) = cred.name()
            && same_user(&name.to_string(), credentials)
        {
            tracing::debug!(principal = %name, "using the ticket of the default credential cache");
            return Ok(Some(Self::Cache));
        }
        let Some((user, realm)) = credentials.user().rsplit_once('@') else {
            return Ok(None);
        };
        let realm = realm.to_ascii_uppercase();
        if user.is_empty() || !realm_is_configured(&realm) {
            return Ok(None);
        }
        let shown = format!("{user}@{realm}");
        let principal = Name::new(shown.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL)).map_err(|e| {
            KerberosError::Gss {
                message: one_line(&e.to_string()),
            }
        })?;
        Ok(Some(Self::Password {
            principal,
            shown,
            password: credentials.password().clone(),
        }))
    }

    /// A credential for `mechs`. From the cache it is checked first (a ticket, not expired), so a missing
    /// or expired ticket is reported as such; with a password the KDC is asked for a ticket.
    fn credential(&self, mechs: &OidSet, spn: &str) -> Result<Cred, KerberosError> {
        match self {
            Self::Cache => {
                let cred = Cred::acquire(None, None, CredUsage::Initiate, Some(mechs))
                    .map_err(|e| classify(&e, spn))?;
                match cred.lifetime() {
                    Ok(lifetime) if lifetime.is_zero() => Err(KerberosError::TicketExpired),
                    Ok(_) => Ok(cred),
                    Err(e) => Err(classify(&e, spn)),
                }
            }
            Self::Password {
                principal,
                shown,
                password,
            } => Cred::acquire_with_password(
                Some(principal),
                password.expose_secret(),
                None,
                CredUsage::Initiate,
                Some(mechs),
            )
            .map_err(|e| classify_password(&e, shown, spn)),
        }
    }
}

/// Whether the principal `principal` (`user@REALM`) is the user named by `credentials`: the same user
/// name, and the same realm when the name is `user@realm`.
fn same_user(principal: &str, credentials: &WindowsCredentials) -> bool {
    let (p_user, p_realm) = principal.rsplit_once('@').unwrap_or((principal, ""));
    match credentials.user().rsplit_once('@') {
        Some((user, realm)) => {
            user.eq_ignore_ascii_case(p_user) && realm.eq_ignore_ascii_case(p_realm)
        }
        None => credentials.user().eq_ignore_ascii_case(p_user),
    }
}

/// Whether `realm` has a `[realms]` entry in the Kerberos configuration (`KRB5_CONFIG`, a colon-separated
/// list of files, else `/etc/krb5.conf`), following `include` and `includedir` one level deep.
fn realm_is_configured(realm: &str) -> bool {
    let files = std::env::var_os("KRB5_CONFIG")
        .map(|v| std::env::split_paths(&v).collect::<Vec<_>>())
        .unwrap_or_else(|| vec![PathBuf::from("/etc/krb5.conf")]);
    files.iter().any(|file| config_names_realm(file, realm, 1))
}

fn config_names_realm(file: &Path, realm: &str, depth: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    let mut in_realms = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(path) = line.strip_prefix("includedir ") {
            if depth > 0
                && let Ok(entries) = std::fs::read_dir(path.trim())
                && entries
                    .flatten()
                    .any(|e| config_names_realm(&e.path(), realm, depth - 1))
            {
                return true;
            }
        } else if let Some(path) = line.strip_prefix("include ") {
            if depth > 0 && config_names_realm(Path::new(path.trim()), realm, depth - 1) {
                return true;
            }
        } else if line.starts_with('[') {
            in_realms = line.eq_ignore_ascii_case("[realms]");
        } else if in_realms
            && let Some((name, rest)) = line.split_once('=')
            && name.trim() == realm
            && rest.trim_start().starts_with('{')
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn gss(major: MajorFlags, minor: i32) -> GssError {
        GssError {
            major,
            minor: minor as u32,
        }
    }

    #[test]
    fn statuses_become_errors_a_user_can_act_on() {
        let failure = MajorFlags::GSS_S_FAILURE;
        assert_eq!(
            classify(&gss(failure, KDC_ERR_S_PRINCIPAL_UNKNOWN), "HTTP/web"),
            KerberosError::UnknownService {
                spn: "HTTP/web".into()
            }
        );
        assert_eq!(
            classify(&gss(failure, AP_ERR_TKT_EXPIRED), "x"),
            KerberosError::TicketExpired
        );
        assert_eq!(
            classify(&gss(MajorFlags::GSS_S_CREDENTIALS_EXPIRED, 0), "x"),
            KerberosError::TicketExpired
        );
        assert_eq!(
            classify(&gss(failure, AP_ERR_SKEW), "x"),
            KerberosError::ClockSkew
        );
        assert_eq!(
            classify(&gss(failure, KDC_UNREACH), "x"),
            KerberosError::KdcUnreachable
        );
        assert_eq!(
            classify(&gss(MajorFlags::GSS_S_NO_CRED, FCC_NOFILE), "x"),
            KerberosError::NoTicket
        );
        assert_eq!(
            classify_password(&gss(failure, KDC_ERR_PREAUTH_FAILED), "a@R", "x"),
            KerberosError::PasswordRefused {
                principal: "a@R".into()
            }
        );
        assert!(matches!(
            classify(&gss(failure, 12345), "x"),
            KerberosError::Gss { .. }
        ));
    }

    #[test]
    fn messages_say_what_to_do() {
        assert_eq!(
            KerberosError::NoTicket.to_string(),
            "no Kerberos ticket: run kinit or set KRB5CCNAME"
        );
        let unknown = KerberosError::UnknownService {
            spn: "HTTP/orch.corp.example".into(),
        };
        assert!(unknown.to_string().contains("HTTP/orch.corp.example"));
        assert!(unknown.allows_fallback());
        assert!(
            !KerberosError::PasswordRefused {
                principal: "a@R".into()
            }
            .allows_fallback()
        );
        assert!(
            !KerberosError::Refused {
                spn: "s".into(),
                detail: None
            }
            .allows_fallback()
        );
    }

    #[test]
    fn service_names() {
        let id = WindowsIdentity::current_user();
        assert_eq!(
            service_name(&id, "orch.corp.example"),
            (
                "HTTP@orch.corp.example".into(),
                false,
                "HTTP/orch.corp.example".into()
            )
        );
        let id = WindowsIdentity::current_user().spn("HTTP/web.corp@CORP.EXAMPLE");
        assert_eq!(service_name(&id, "h").0, "HTTP/web.corp@CORP.EXAMPLE");
        assert!(service_name(&id, "h").1);
        let id = WindowsIdentity::current_user().spn("HTTP@web.corp");
        assert_eq!(
            service_name(&id, "h"),
            ("HTTP@web.corp".into(), false, "HTTP/web.corp".into())
        );
    }

    #[test]
    fn the_ticket_must_be_the_named_users() {
        let creds = |user: &str| WindowsCredentials::new(user, SecretString::from("p"));
        assert!(same_user("alice@EXAMPLE.TEST", &creds("alice")));
        assert!(same_user("alice@EXAMPLE.TEST", &creds(r"CORP\Alice")));
        assert!(same_user(
            "alice@EXAMPLE.TEST",
            &creds("alice@example.test")
        ));
        assert!(!same_user("alice@EXAMPLE.TEST", &creds("alice@other.test")));
        assert!(!same_user("alice@EXAMPLE.TEST", &creds("bob")));
    }

    #[test]
    fn realms_are_read_from_the_configuration() {
        let dir = std::env::temp_dir().join(format!("rpa-auth-krb5conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let included = dir.join("more.conf");
        std::fs::write(&included, "[realms]\n OTHER.TEST = {\n kdc = k\n }\n").unwrap();
        let main = dir.join("krb5.conf");
        std::fs::write(
            &main,
            format!(
                "include {}\n[libdefaults]\n default_realm = EXAMPLE.TEST\n[realms]\n EXAMPLE.TEST = {{\n  kdc = 127.0.0.1:88\n }}\n[domain_realm]\n x = NOT.A.REALM\n",
                included.display()
            ),
        )
        .unwrap();
        assert!(config_names_realm(&main, "EXAMPLE.TEST", 1));
        assert!(config_names_realm(&main, "OTHER.TEST", 1));
        assert!(!config_names_realm(&main, "NOT.A.REALM", 1));
        assert!(!config_names_realm(&main, "CORP.EXAMPLE", 1));
        assert!(!config_names_realm(
            &dir.join("absent.conf"),
            "EXAMPLE.TEST",
            1
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
