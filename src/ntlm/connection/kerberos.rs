//! The Kerberos exchange on an [`NtlmConnection`], and the choice between Kerberos and NTLM.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};

use super::super::error::{Malformed, Protocol};
use super::super::kerberos::{GssFailure, KerberosContext};
use super::super::scheme::{challenge_data, offered_schemes};
use super::{B64_LENIENT, NtlmConnection};
use crate::ntlm::{HandshakeError, KerberosError, Scheme, WindowsIdentity};

/// SPNEGO with Kerberos takes one round trip, two when the server asks for a mechListMIC; more is a loop.
const MAX_LEGS: usize = 4;

impl NtlmConnection {
    /// Kerberos inside Negotiate, when it applies: `Ok(Some(answer))` when it authenticated the connection,
    /// `Ok(None)` when NTLM should be used instead (the server offers no Negotiate, NTLM is forced, or
    /// Kerberos could not get a ticket for the server and there is a password). Nothing is sent to the server
    /// unless Kerberos produced a ticket, and once it has been sent the outcome is final: never a second try
    /// with NTLM after the server has seen the ticket.
    pub(in crate::ntlm) async fn try_kerberos(
        &mut self,
        offered: &HeaderMap,
        parts: &http::request::Parts,
        body: &Bytes,
        identity: &WindowsIdentity,
    ) -> Result<Option<Response<Bytes>>, HandshakeError> {
        let has_password = identity.credentials().is_some();
        if self.forced == Some(Scheme::Ntlm) {
            return match has_password {
                true => Ok(None),
                false => Err(Protocol::NoPassword.into()),
            };
        }
        if challenge_data(offered, Scheme::Negotiate).is_none() {
            return match has_password {
                true => Ok(None),
                false => Err(HandshakeError::Kerberos(
                    KerberosError::NegotiateNotOffered {
                        offered: offered_schemes(offered),
                    },
                )),
            };
        }
        let started =
            KerberosContext::start(identity, &self.host, self.channel_binding.as_deref()).await;
        let (mut ctx, mut token) = match started {
            Ok(Some(started)) => started,
            Ok(None) => return Ok(None),
            Err(cause) if has_password && cause.allows_fallback() => {
                tracing::debug!(host = %self.host, cause = %cause, "no Kerberos ticket for the server; NTLM with the password");
                return Ok(None);
            }
            Err(cause) => return Err(HandshakeError::Kerberos(cause)),
        };
        let spn = ctx.spn().to_owned();
        let refused = |detail: Option<String>| {
            HandshakeError::Kerberos(KerberosError::Refused {
                spn: spn.clone(),
                detail,
            })
        };
        self.handshakes += 1;
        for leg in 1..=MAX_LEGS {
            tracing::debug!(host = %self.host, spn = %spn, leg, "kerberos through negotiate");
            let answer = self.leg(Scheme::Negotiate, parts, body, &token).await?;
            let data = match challenge_data(answer.headers(), Scheme::Negotiate) {
                Some(Some(data)) => Some(B64_LENIENT.decode(data).map_err(|e| {
                    HandshakeError::malformed(Scheme::Negotiate, Malformed::Base64(e))
                })?),
                _ => None,
            };
            if answer.status() == StatusCode::UNAUTHORIZED {
                let Some(data) = data else {
                    tracing::debug!(host = %self.host, spn = %spn, "server refused the Kerberos ticket");
                    return Err(refused(None));
                };
                match ctx.step(data).await {
                    Ok(Some(next)) => {
                        token = next;
                        continue;
                    }
                    Ok(None) => return Err(refused(None)),
                    Err(GssFailure(KerberosError::Gss { message })) => {
                        return Err(refused(Some(message)));
                    }
                    Err(GssFailure(cause)) => return Err(HandshakeError::Kerberos(cause)),
                }
            }
            // The answer. Its final token, when there is one, proves the server holds the service key.
            match data {
                Some(data) if !ctx.is_complete() => {
                    let verified = ctx.step(data).await;
                    if verified.is_err() || !ctx.is_complete() {
                        let detail = match verified {
                            Err(GssFailure(cause)) => cause.to_string(),
                            _ => "the exchange is still incomplete after it".into(),
                        };
                        return Err(HandshakeError::Kerberos(KerberosError::MutualAuthFailed {
                            detail,
                        }));
                    }
                }
                Some(_) => {}
                None if ctx.is_complete() => {}
                None => {
                    tracing::debug!(host = %self.host, "server sent no final Negotiate token; mutual authentication not checked");
                }
            }
            self.authenticated = Some(Scheme::Negotiate);
            tracing::debug!(
                host = %self.host,
                spn = %spn,
                status = answer.status().as_u16(),
                handshakes = self.handshakes,
                "connection authenticated with kerberos"
            );
            return Ok(Some(answer));
        }
        Err(Protocol::KerberosLegs(MAX_LEGS).into())
    }
}
