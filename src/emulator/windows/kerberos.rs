//! Kerberos for the emulators' Windows gates (features `emulator` and `kerberos`): a GSS-API acceptor with
//! the process's default acceptor credential, the keytab named by `KRB5_KTNAME` (else the system keytab).
//!
//! It checks tickets for real: the ticket must decrypt with the keytab's service key, the authenticator must
//! be fresh (replay cache), and the answer carries the acceptor's token for mutual authentication.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libgssapi::context::{SecurityContext as _, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::oid::{GSS_MECH_KRB5, OidSet};

/// Whether the default acceptor credential is usable (a keytab with a service key).
pub(crate) fn acceptor_available() -> Result<(), String> {
    let mechs = OidSet::singleton(GSS_MECH_KRB5).map_err(|e| e.to_string())?;
    Cred::acquire(None, None, CredUsage::Accept, Some(&mechs))
        .map(drop)
        .map_err(|e| {
            format!(
                "no Kerberos service key: set KRB5_KTNAME to the service's keytab ({})",
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
}

/// Whether a `Negotiate` token is Kerberos (raw, or inside SPNEGO) rather than NTLM: NTLMSSP is either the
/// token itself or the mechToken inside SPNEGO, and a Kerberos AP-REQ never holds those bytes.
pub(crate) fn is_kerberos(token: &[u8]) -> bool {
    !token.windows(8).any(|w| w == b"NTLMSSP\0")
}

/// What one Kerberos token led to.
pub(crate) enum KerberosStep {
    /// Accepted as `principal`; `final_header` is the `WWW-Authenticate` value for the answer.
    Accepted {
        principal: String,
        final_header: Option<String>,
    },
    /// The exchange goes on: answer 401 with this `WWW-Authenticate` value.
    Continue(String),
    /// Refused, with the reason (for logs).
    Rejected(String),
}

/// One connection's Kerberos exchange.
#[derive(Default)]
pub(crate) struct KerberosAcceptor {
    ctx: Option<ServerCtx>,
}

impl KerberosAcceptor {
    /// Feeds one client token (already base64-decoded).
    pub(crate) fn step(&mut self, token: &[u8]) -> KerberosStep {
        let ctx = self.ctx.get_or_insert_with(|| ServerCtx::new(None));
        let header = |out: Option<libgssapi::util::Buf>| {
            out.filter(|b| !b.is_empty())
                .map(|b| format!("Negotiate {}", STANDARD.encode(&*b)))
        };
        match ctx.step(token, None) {
            Err(e) => {
                self.ctx = None;
                KerberosStep::Rejected(e.to_string())
            }
            Ok(out) if ctx.is_complete() => {
                let principal = ctx.source_name().map(|n| n.to_string());
                let final_header = header(out);
                self.ctx = None;
                match principal {
                    Ok(principal) => KerberosStep::Accepted {
                        principal,
                        final_header,
                    },
                    Err(e) => KerberosStep::Rejected(e.to_string()),
                }
            }
            Ok(out) => match header(out) {
                Some(challenge) => KerberosStep::Continue(challenge),
                None => {
                    self.ctx = None;
                    KerberosStep::Rejected("the exchange stalled without a token".into())
                }
            },
        }
    }
}

/// The base64 token of a `Negotiate <token>` header value.
pub(crate) fn negotiate_token(authorization: &str) -> Option<Vec<u8>> {
    let (scheme, data) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("negotiate") {
        return None;
    }
    STANDARD.decode(data.trim()).ok()
}
