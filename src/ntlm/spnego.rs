//! The SPNEGO (RFC 4178) `NegTokenResp` a server answers HTTP Negotiate with, read through picky-krb's
//! types (the ones `sspi` itself uses): enough to find the NTLM challenge and a `reject` before `sspi`
//! sees the token. Never panics on any input.
//!
//! picky reads leniently: an optional field it cannot read comes back absent, and bytes after the token
//! are ignored. That is safe here because the client insists on a response token and then validates the
//! NTLM CHALLENGE inside it completely (`message::parse_challenge`).

use picky_asn1::wrapper::ObjectIdentifierAsn1;
use picky_krb::gss_api::NegTokenTarg1;

pub(crate) use picky_asn1_der::Asn1DerError;

/// negState reject.
pub(crate) const REJECT: u8 = 2;

/// Identifier octet of a `NegTokenInit` in its GSS-API wrapping (`[APPLICATION 0]`).
pub(crate) const INIT_TAG: u8 = 0x60;

/// The NTLMSSP mechanism, 1.3.6.1.4.1.311.2.2.10.
pub(crate) fn ntlmssp_oid() -> ObjectIdentifierAsn1 {
    ObjectIdentifierAsn1::from(picky_asn1_x509::oids::ntlm_ssp())
}

/// Why a token is not a usable `NegTokenResp`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpnegoError {
    /// A `NegTokenInit` where a `NegTokenResp` belongs.
    #[error("a negTokenInit instead of a negTokenResp")]
    Init,
    /// Not DER, or not a `NegTokenResp`.
    #[error("a token that is not a spnego negTokenResp")]
    Der(#[source] Asn1DerError),
    /// negState is not a one-octet ENUMERATED.
    #[error("a negTokenResp whose negState is not a one-octet enumerated")]
    NegState,
}

/// A `NegTokenResp` as the other side sent it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct NegTokenResp {
    /// negState, if present.
    pub(crate) neg_state: Option<u8>,
    /// supportedMech, if present.
    pub(crate) supported_mech: Option<ObjectIdentifierAsn1>,
    /// The mechanism token, if present.
    pub(crate) response_token: Option<Vec<u8>>,
    /// mechListMIC, if present.
    pub(crate) mech_list_mic: Option<Vec<u8>>,
}

impl NegTokenResp {
    /// Reads a DER `NegTokenResp` (`[1]` around the SEQUENCE).
    pub(crate) fn parse(token: &[u8]) -> Result<Self, SpnegoError> {
        if token.first() == Some(&INIT_TAG) {
            return Err(SpnegoError::Init);
        }
        let resp: NegTokenTarg1 = picky_asn1_der::from_bytes(token).map_err(SpnegoError::Der)?;
        let resp = resp.0;
        // ENUMERATED stays raw in picky's type: tag 0x0a, length 1, the value.
        let neg_state = match resp.neg_result.0.map(|state| state.0.0) {
            None => None,
            Some(der) => match der.as_slice() {
                [0x0a, 0x01, value] => Some(*value),
                _ => return Err(SpnegoError::NegState),
            },
        };
        Ok(Self {
            neg_state,
            supported_mech: resp.supported_mech.0.map(|mech| mech.0),
            response_token: resp.response_token.0.map(|token| token.0.0),
            mech_list_mic: resp.mech_list_mic.0.map(|mic| mic.0.0),
        })
    }

    /// Whether the server rejected the exchange.
    pub(crate) fn is_reject(&self) -> bool {
        self.neg_state == Some(REJECT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_challenge_resp() {
        // [1] SEQUENCE { [0] ENUMERATED 1, [1] OID ntlmssp, [2] OCTET STRING "NTLMSSP\0" }
        let mut token = vec![0xa1, 0x22, 0x30, 0x20];
        token.extend_from_slice(&[0xa0, 0x03, 0x0a, 0x01, 0x01]);
        token.extend_from_slice(&[0xa1, 0x0c, 0x06, 0x0a]);
        token.extend_from_slice(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a]);
        token.extend_from_slice(&[0xa2, 0x0a, 0x04, 0x08]);
        token.extend_from_slice(b"NTLMSSP\0");
        let resp = NegTokenResp::parse(&token).expect("valid");
        assert_eq!(resp.neg_state, Some(1), "accept-incomplete");
        assert_eq!(resp.supported_mech, Some(ntlmssp_oid()));
        assert_eq!(resp.response_token.as_deref(), Some(&b"NTLMSSP\0"[..]));
        assert_eq!(resp.mech_list_mic, None);
        assert!(!resp.is_reject());
        let reject = [0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x02];
        assert!(NegTokenResp::parse(&reject).expect("valid").is_reject());
    }

    /// picky reads leniently (an optional field it cannot read is absent, bytes after the token are
    /// ignored), so garbage is either an error or a token with nothing in it, which the handshake refuses
    /// as carrying no challenge. Never a panic.
    #[test]
    fn garbage_is_an_error_or_empty_not_a_panic() {
        let samples: [&[u8]; 9] = [
            &[],
            &[0xa1],
            &[0xa1, 0x85, 1, 1, 1, 1, 1],
            &[0xa1, 0x05, 0x30, 0x03, 0xa2, 0x01],
            &[0x60, 0x02, 0x06, 0x00],
            &[0xa1, 0x80, 0, 0],
            &[0xff, 0x01, 0x00],
            &[0xa1, 0x03, 0x30, 0x01],
            &[0xa1, 0x08, 0x30, 0x06, 0xa0, 0x04, 0x0a, 0x02, 0x00, 0x01],
        ];
        for s in samples {
            if let Ok(resp) = NegTokenResp::parse(s) {
                assert_eq!(resp, NegTokenResp::default(), "{s:?}");
            }
        }
    }
}
