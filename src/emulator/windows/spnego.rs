//! The acceptor's side of SPNEGO (RFC 4178): the client's `NegTokenInit`, and the `NegTokenResp`
//! answers, with picky-krb's types. (The client's `NegTokenResp` is read by `ntlm`'s own reader.)

use picky_asn1::wrapper::{
    ExplicitContextTag0, ExplicitContextTag1, ExplicitContextTag2, ExplicitContextTag3,
    ObjectIdentifierAsn1, OctetStringAsn1, Optional,
};
use picky_asn1_der::Asn1RawDer;
use picky_krb::gss_api::{GssApiNegInit, NegTokenTarg, NegTokenTarg1};

use crate::ntlm::spnego::INIT_TAG;

/// negState accept-completed.
pub(super) const ACCEPT_COMPLETED: u8 = 0;
/// negState accept-incomplete.
pub(super) const ACCEPT_INCOMPLETE: u8 = 1;

/// What the acceptor needs from a client's first token.
#[derive(Debug)]
pub(super) struct NegTokenInit {
    /// DER of the whole `MechTypeList` (what a mechListMIC covers).
    pub(super) mech_types_der: Vec<u8>,
    /// The client's preferred mechanism.
    pub(super) first_mech: Option<ObjectIdentifierAsn1>,
    /// The optimistic token of that mechanism.
    pub(super) mech_token: Option<Vec<u8>>,
}

impl NegTokenInit {
    /// Reads a `NegTokenInit` in its GSS-API `[APPLICATION 0]` wrapping.
    pub(super) fn parse(token: &[u8]) -> Result<Self, String> {
        if token.first() != Some(&INIT_TAG) {
            return Err("spnego: not a negTokenInit".into());
        }
        // picky's `ApplicationTag0` panics when the inner token does not parse, so the header is swapped
        // for a SEQUENCE one here (what that type does internally) and the result read fallibly.
        let mut sequence = token.to_vec();
        sequence[0] = 0x30;
        let init: GssApiNegInit = picky_asn1_der::from_bytes(&sequence)
            .map_err(|e| format!("spnego: invalid negTokenInit: {e}"))?;
        if init.oid.0 != picky_asn1_x509::oids::spnego() {
            return Err("gss-api token is not spnego".into());
        }
        let init = init.neg_token_init.0;
        let types = init.mech_types.0.ok_or("negTokenInit without mechTypes")?.0;
        let mech_types_der = picky_asn1_der::to_vec(&types)
            .map_err(|e| format!("spnego: mechTypes do not encode: {e}"))?;
        Ok(Self {
            mech_types_der,
            first_mech: types.0.first().cloned(),
            mech_token: init.mech_token.0.map(|token| token.0.0),
        })
    }
}

/// Encodes a `NegTokenResp`.
pub(super) fn encode_resp(
    neg_state: Option<u8>,
    supported_mech: Option<ObjectIdentifierAsn1>,
    response_token: Option<&[u8]>,
    mech_list_mic: Option<&[u8]>,
) -> Vec<u8> {
    let octets = |bytes: &[u8]| OctetStringAsn1::from(bytes.to_vec());
    let resp = NegTokenTarg1::from(NegTokenTarg {
        neg_result: Optional::from(
            neg_state.map(|state| ExplicitContextTag0::from(Asn1RawDer(vec![0x0a, 0x01, state]))),
        ),
        supported_mech: Optional::from(supported_mech.map(ExplicitContextTag1::from)),
        response_token: Optional::from(
            response_token.map(|t| ExplicitContextTag2::from(octets(t))),
        ),
        mech_list_mic: Optional::from(mech_list_mic.map(|m| ExplicitContextTag3::from(octets(m)))),
    });
    // Serialising owned octet strings and OIDs into a Vec cannot fail.
    picky_asn1_der::to_vec(&resp).unwrap_or_default()
}

#[cfg(test)]
pub(super) mod tests {
    use picky_asn1::wrapper::Asn1SequenceOf;
    use picky_krb::gss_api::ApplicationTag0;

    use super::*;
    use crate::ntlm::spnego::{NegTokenResp, ntlmssp_oid};

    /// Encodes a `NegTokenInit` offering only NTLM, with `mech_token`.
    pub(in crate::emulator::windows) fn encode_init_ntlm(mech_token: &[u8]) -> Vec<u8> {
        let init = ApplicationTag0(GssApiNegInit {
            oid: ObjectIdentifierAsn1::from(picky_asn1_x509::oids::spnego()),
            neg_token_init: ExplicitContextTag0::from(picky_krb::gss_api::NegTokenInit {
                mech_types: Optional::from(Some(ExplicitContextTag0::from(Asn1SequenceOf(vec![
                    ntlmssp_oid(),
                ])))),
                req_flags: Optional::from(None),
                mech_token: Optional::from(Some(ExplicitContextTag2::from(OctetStringAsn1::from(
                    mech_token.to_vec(),
                )))),
                mech_list_mic: Optional::from(None),
            }),
        });
        picky_asn1_der::to_vec(&init).expect("encodes")
    }

    #[test]
    fn resp_round_trips_through_the_client_reader() {
        let token = vec![7u8; 300];
        let encoded = encode_resp(
            Some(ACCEPT_INCOMPLETE),
            Some(ntlmssp_oid()),
            Some(&token),
            Some(&[1, 2]),
        );
        assert_eq!(
            NegTokenResp::parse(&encoded).expect("parses"),
            NegTokenResp {
                neg_state: Some(ACCEPT_INCOMPLETE),
                supported_mech: Some(ntlmssp_oid()),
                response_token: Some(token),
                mech_list_mic: Some(vec![1, 2]),
            }
        );
        let bare = encode_resp(None, None, None, None);
        assert_eq!(
            NegTokenResp::parse(&bare).expect("parses"),
            NegTokenResp::default()
        );
    }

    #[test]
    fn init_round_trips() {
        let init = NegTokenInit::parse(&encode_init_ntlm(b"NTLMSSP\0abc")).expect("parses");
        assert_eq!(init.first_mech, Some(ntlmssp_oid()));
        assert_eq!(init.mech_token.as_deref(), Some(&b"NTLMSSP\0abc"[..]));
        assert_eq!(init.mech_types_der[0], 0x30);
    }

    #[test]
    fn garbage_init_is_an_error_not_a_panic() {
        let samples: [&[u8]; 6] = [
            &[],
            &[0x60],
            &[0x60, 0x00],
            &[0x60, 0x02, 0x06, 0x00],
            &[0x60, 0x85, 1, 1, 1, 1, 1],
            &[0xa1, 0x03, 0x30, 0x01, 0x00],
        ];
        for s in samples {
            assert!(NegTokenInit::parse(s).is_err(), "{s:?}");
        }
    }
}
