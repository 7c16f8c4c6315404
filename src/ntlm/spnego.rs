//! The few SPNEGO (RFC 4178) shapes HTTP Negotiate uses, in DER: enough to find the NTLM token in a
//! server's `NegTokenResp` before `sspi` parses it, and for the test acceptor to read `NegTokenInit`
//! and answer with `NegTokenResp`. Bounds-checked; never panics.

#![cfg_attr(not(feature = "emulator"), allow(dead_code))]

/// Content octets of the NTLMSSP mechanism OID 1.3.6.1.4.1.311.2.2.10.
pub(crate) const NTLMSSP_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// Content octets of the SPNEGO OID 1.3.6.1.5.5.2.
const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

/// negState accept-completed.
pub(crate) const ACCEPT_COMPLETED: u8 = 0;
/// negState accept-incomplete.
pub(crate) const ACCEPT_INCOMPLETE: u8 = 1;
/// negState reject.
pub(crate) const REJECT: u8 = 2;

/// One DER element: tag, contents, the whole encoding, and what follows it.
pub(crate) struct Tlv<'a> {
    /// Identifier octet.
    pub(crate) tag: u8,
    /// Contents octets.
    pub(crate) content: &'a [u8],
    /// Identifier, length and contents.
    pub(crate) whole: &'a [u8],
    /// The bytes after this element.
    pub(crate) rest: &'a [u8],
}

/// Reads one DER element from the front of `input`.
pub(crate) fn tlv(input: &[u8]) -> Result<Tlv<'_>, String> {
    let (&tag, after_tag) = input.split_first().ok_or("der element truncated")?;
    if tag & 0x1f == 0x1f {
        return Err("der high tag numbers are not supported".into());
    }
    let (&first, after_len) = after_tag.split_first().ok_or("der length truncated")?;
    let (len, body) = if first < 0x80 {
        (usize::from(first), after_len)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err("der length form not supported".into());
        }
        let bytes = after_len.get(..n).ok_or("der length truncated")?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &after_len[n..])
    };
    let content = body.get(..len).ok_or("der element runs past the token")?;
    let header = input.len() - body.len();
    Ok(Tlv {
        tag,
        content,
        whole: &input[..header + len],
        rest: &body[len..],
    })
}

/// Reads the element with `tag`, requiring it to fill `input` exactly.
fn only<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let t = tlv(input)?;
    if t.tag != tag {
        return Err(format!(
            "{what}: expected der tag {tag:#04x}, found {:#04x}",
            t.tag
        ));
    }
    if !t.rest.is_empty() {
        return Err(format!("{what}: trailing bytes"));
    }
    Ok((t.content, t.whole))
}

/// The context-tagged fields `[0]..[3]` of a SEQUENCE, each unwrapped one level.
fn tagged_fields(seq: &[u8]) -> Result<[Option<&[u8]>; 4], String> {
    let mut fields = [None; 4];
    let mut rest = seq;
    while !rest.is_empty() {
        let t = tlv(rest)?;
        let index = usize::from(t.tag.wrapping_sub(0xa0));
        if let Some(slot) = fields.get_mut(index) {
            *slot = Some(t.content);
        }
        rest = t.rest;
    }
    Ok(fields)
}

fn octet_string<'a>(wrapped: Option<&'a [u8]>, what: &str) -> Result<Option<&'a [u8]>, String> {
    wrapped
        .map(|w| only(w, 0x04, what).map(|(c, _)| c))
        .transpose()
}

/// A parsed SPNEGO token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NegToken<'a> {
    /// The initiator's first token.
    Init {
        /// DER of the whole `MechTypeList` SEQUENCE (what a mechListMIC covers).
        mech_types_der: &'a [u8],
        /// Content octets of each offered mechanism OID, in preference order.
        mechs: Vec<&'a [u8]>,
        /// The optimistic token of the first mechanism.
        mech_token: Option<&'a [u8]>,
    },
    /// Any later token.
    Resp {
        /// negState, if present.
        neg_state: Option<u8>,
        /// Content octets of supportedMech, if present.
        supported_mech: Option<&'a [u8]>,
        /// The mechanism token, if present.
        response_token: Option<&'a [u8]>,
        /// mechListMIC, if present.
        mech_list_mic: Option<&'a [u8]>,
    },
}

/// Parses a `NegTokenInit` (wrapped in the GSS-API `[APPLICATION 0]` header) or a `NegTokenResp`.
pub(crate) fn parse(token: &[u8]) -> Result<NegToken<'_>, String> {
    match token.first() {
        Some(0x60) => {
            let (inner, _) = only(token, 0x60, "gss-api header")?;
            let oid = tlv(inner)?;
            if oid.tag != 0x06 || oid.content != SPNEGO_OID {
                return Err("gss-api token is not spnego".into());
            }
            let (init, _) = only(oid.rest, 0xa0, "negTokenInit")?;
            let (seq, _) = only(init, 0x30, "negTokenInit")?;
            let [types, _, mech_token, _] = tagged_fields(seq)?;
            let types = types.ok_or("negTokenInit without mechTypes")?;
            let (list, mech_types_der) = only(types, 0x30, "mechTypes")?;
            let mut mechs = Vec::new();
            let mut rest = list;
            while !rest.is_empty() {
                let t = tlv(rest)?;
                if t.tag != 0x06 {
                    return Err("mechTypes holds a non-oid".into());
                }
                mechs.push(t.content);
                rest = t.rest;
            }
            Ok(NegToken::Init {
                mech_types_der,
                mechs,
                mech_token: octet_string(mech_token, "mechToken")?,
            })
        }
        Some(0xa1) => {
            let (resp, _) = only(token, 0xa1, "negTokenResp")?;
            let (seq, _) = only(resp, 0x30, "negTokenResp")?;
            let [state, mech, response_token, mic] = tagged_fields(seq)?;
            let neg_state = match state {
                Some(s) => match only(s, 0x0a, "negState")? {
                    ([v], _) => Some(*v),
                    _ => return Err("negState is not one byte".into()),
                },
                None => None,
            };
            let supported_mech = mech
                .map(|m| only(m, 0x06, "supportedMech").map(|(c, _)| c))
                .transpose()?;
            Ok(NegToken::Resp {
                neg_state,
                supported_mech,
                response_token: octet_string(response_token, "responseToken")?,
                mech_list_mic: octet_string(mic, "mechListMIC")?,
            })
        }
        Some(t) => Err(format!("not a spnego token (first byte {t:#04x})")),
        None => Err("empty spnego token".into()),
    }
}

/// DER encoding of one element.
pub(crate) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8); // < 0x80, lossless
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8); // at most 8, lossless
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Encodes a `NegTokenResp`.
pub(crate) fn encode_resp(
    neg_state: Option<u8>,
    supported_mech: Option<&[u8]>,
    response_token: Option<&[u8]>,
    mech_list_mic: Option<&[u8]>,
) -> Vec<u8> {
    let mut seq = Vec::new();
    if let Some(s) = neg_state {
        seq.extend(der(0xa0, &der(0x0a, &[s])));
    }
    if let Some(m) = supported_mech {
        seq.extend(der(0xa1, &der(0x06, m)));
    }
    if let Some(t) = response_token {
        seq.extend(der(0xa2, &der(0x04, t)));
    }
    if let Some(m) = mech_list_mic {
        seq.extend(der(0xa3, &der(0x04, m)));
    }
    der(0xa1, &der(0x30, &seq))
}

/// Encodes a `NegTokenInit` offering only NTLM, with `mech_token` (used by tests).
#[cfg(test)]
pub(crate) fn encode_init_ntlm(mech_token: &[u8]) -> Vec<u8> {
    let types = der(0x30, &der(0x06, NTLMSSP_OID));
    let mut seq = der(0xa0, &types);
    seq.extend(der(0xa2, &der(0x04, mech_token)));
    let mut inner = der(0x06, SPNEGO_OID);
    inner.extend(der(0xa0, &der(0x30, &seq)));
    der(0x60, &inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_round_trips() {
        let token = vec![7u8; 300];
        let encoded = encode_resp(
            Some(ACCEPT_INCOMPLETE),
            Some(NTLMSSP_OID),
            Some(&token),
            Some(&[1, 2]),
        );
        assert_eq!(
            parse(&encoded),
            Ok(NegToken::Resp {
                neg_state: Some(ACCEPT_INCOMPLETE),
                supported_mech: Some(NTLMSSP_OID),
                response_token: Some(&token),
                mech_list_mic: Some(&[1, 2]),
            })
        );
    }

    #[test]
    fn init_round_trips() {
        let encoded = encode_init_ntlm(b"NTLMSSP\0abc");
        match parse(&encoded) {
            Ok(NegToken::Init {
                mechs,
                mech_token,
                mech_types_der,
            }) => {
                assert_eq!(mechs, vec![NTLMSSP_OID]);
                assert_eq!(mech_token, Some(&b"NTLMSSP\0abc"[..]));
                assert_eq!(mech_types_der[0], 0x30);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let samples: [&[u8]; 7] = [
            &[],
            &[0xa1],
            &[0xa1, 0x85, 1, 1, 1, 1, 1],
            &[0xa1, 0x05, 0x30, 0x03, 0xa2, 0x01],
            &[0x60, 0x02, 0x06, 0x00],
            &[0xa1, 0x80, 0, 0],
            &[0xff, 0x01, 0x00],
        ];
        for s in samples {
            assert!(parse(s).is_err(), "{s:?}");
        }
    }
}
