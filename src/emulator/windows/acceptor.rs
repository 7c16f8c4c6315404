//! Server side for the crate's emulators: an NTLMv2 verifier that really checks the password
//! (NTOWFv2 / NTProofStr, MS-NLMP §3.3.2), the MIC, and in SPNEGO the client's mechListMIC, and
//! answers with its own mechListMIC so clients can verify the server.
//!
//! Independent of `sspi` on purpose: the client is built on `sspi`, so verifying it with `sspi`
//! would prove little.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest as _, Md4};
use md5::Md5;
use rc4::{Rc4, StreamCipher as _};
use secrecy::{ExposeSecret, SecretString};

use super::spnego::{ACCEPT_COMPLETED, ACCEPT_INCOMPLETE, NegTokenInit, encode_resp};
use crate::ntlm::message::{self, field, u16_at, u32_at};
use crate::ntlm::spnego::{INIT_TAG, NegTokenResp, ntlmssp_oid};

const CLIENT_SIGN_MAGIC: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN_MAGIC: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL_MAGIC: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL_MAGIC: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// MessageType of a NEGOTIATE_MESSAGE.
const NEGOTIATE: u32 = 1;
/// MessageType of an AUTHENTICATE_MESSAGE.
const AUTHENTICATE: u32 = 3;

/// NegotiateFlags (MS-NLMP §2.2.2.5) the acceptor reads or sets.
const FLAG_UNICODE: u32 = 0x0000_0001;
const FLAG_REQUEST_TARGET: u32 = 0x0000_0004;
const FLAG_SIGN: u32 = 0x0000_0010;
const FLAG_SEAL: u32 = 0x0000_0020;
const FLAG_NTLM: u32 = 0x0000_0200;
const FLAG_ALWAYS_SIGN: u32 = 0x0000_8000;
const FLAG_TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
const FLAG_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
const FLAG_TARGET_INFO: u32 = 0x0080_0000;
const FLAG_128: u32 = 0x2000_0000;
const FLAG_KEY_EXCH: u32 = 0x4000_0000;
const FLAG_56: u32 = 0x8000_0000;

/// NetBIOS domain and computer name the emulated server announces.
const SERVER_DOMAIN: &str = "RPA";
const SERVER_COMPUTER: &str = "EMULATOR";

/// Why a handshake was refused (reported as text in [`AcceptStep::Rejected`]).
type Reason = Box<dyn std::error::Error + Send + Sync>;

/// The accounts an acceptor knows, with their passwords.
#[derive(Clone, Default)]
pub struct UserDirectory {
    users: Vec<DirectoryUser>,
}

#[derive(Clone)]
struct DirectoryUser {
    domain: String,
    user: String,
    password: SecretString,
}

impl fmt::Debug for UserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .users
            .iter()
            .map(|u| format!("{}\\{}", u.domain, u.user))
            .collect();
        f.debug_struct("UserDirectory")
            .field("users", &names)
            .finish_non_exhaustive()
    }
}

impl UserDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `domain\user` with `password`. Names match case-insensitively; a client that sends no
    /// domain matches any, and a UPN `user@dns.name` matches when the first label of `dns.name`, or
    /// all of it, is the domain.
    #[must_use]
    pub fn user(mut self, domain: &str, user: &str, password: SecretString) -> Self {
        self.users.push(DirectoryUser {
            domain: domain.to_owned(),
            user: user.to_owned(),
            password,
        });
        self
    }

    /// Whether the directory has no accounts.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn find(&self, wire_user: &str, wire_domain: &str) -> Option<&DirectoryUser> {
        let (account, domain) = match (wire_domain.is_empty(), wire_user.rsplit_once('@')) {
            (true, Some((account, suffix))) => (account, suffix),
            _ => (wire_user, wire_domain),
        };
        self.users.iter().find(|u| {
            let first_label = domain.split('.').next().unwrap_or(domain);
            u.user.eq_ignore_ascii_case(account)
                && (domain.is_empty()
                    || u.domain.eq_ignore_ascii_case(domain)
                    || u.domain.eq_ignore_ascii_case(first_label))
        })
    }
}

/// What the acceptor answers to one `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptStep {
    /// Answer 401 with this full `WWW-Authenticate` value (same scheme as the client used).
    Challenge(String),
    /// The client proved the password. Answer the request; add `WWW-Authenticate: <final_header>`
    /// when given (the SPNEGO completion with the server's mechListMIC).
    Accepted {
        /// The account name as the directory spells it.
        user: String,
        /// The domain as the directory spells it.
        domain: String,
        /// Full `WWW-Authenticate` value to send with the success response, if any.
        final_header: Option<String>,
    },
    /// Refused, with the reason (for logs; never contains a password). Answer 401 with the offers.
    Rejected(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wrap {
    Ntlm,
    /// `Negotiate` carrying raw NTLMSSP (what Windows sends when Kerberos is not possible).
    NegotiateRaw,
    /// `Negotiate` carrying SPNEGO.
    Spnego,
}

enum State {
    Initial,
    Challenged {
        wrap: Wrap,
        negotiate: Vec<u8>,
        challenge: Vec<u8>,
        server_challenge: [u8; 8],
        mech_types: Vec<u8>,
    },
}

/// Server-side NTLM / Negotiate verifier; one per TCP connection (NTLM authenticates the connection).
pub struct NtlmAcceptor {
    users: Arc<UserDirectory>,
    state: State,
}

impl fmt::Debug for NtlmAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Initial => "initial",
            State::Challenged { .. } => "challenged",
        };
        f.debug_struct("NtlmAcceptor")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl NtlmAcceptor {
    /// A verifier for the accounts in `users`.
    pub fn new(users: Arc<UserDirectory>) -> Self {
        Self {
            users,
            state: State::Initial,
        }
    }

    /// Processes one `Authorization` header value (`NTLM <b64>` or `Negotiate <b64>`). A NEGOTIATE
    /// message always starts a new handshake, so a re-challenged connection can authenticate again.
    pub fn step(&mut self, authorization: &str) -> AcceptStep {
        match self.try_step(authorization) {
            Ok(step) => step,
            Err(reason) => {
                self.state = State::Initial;
                AcceptStep::Rejected(reason.to_string())
            }
        }
    }

    fn try_step(&mut self, authorization: &str) -> Result<AcceptStep, Reason> {
        let (scheme, data) = authorization
            .trim()
            .split_once(' ')
            .ok_or("authorization header carries no token")?;
        let is_ntlm = scheme.eq_ignore_ascii_case("NTLM");
        if !is_ntlm && !scheme.eq_ignore_ascii_case("Negotiate") {
            return Err(format!("unsupported scheme {scheme:?}").into());
        }
        let raw = STANDARD
            .decode(data.trim())
            .map_err(|e| format!("invalid base64: {e}"))?;
        let (wrap, token, mech_types, client_mic) = if is_ntlm {
            (Wrap::Ntlm, raw, None, None)
        } else if raw.starts_with(message::SIGNATURE) {
            (Wrap::NegotiateRaw, raw, None, None)
        } else if raw.first() == Some(&INIT_TAG) {
            let init = NegTokenInit::parse(&raw)?;
            if init.first_mech != Some(ntlmssp_oid()) {
                return Err("spnego: ntlm is not the client's first mechanism".into());
            }
            let token = init
                .mech_token
                .ok_or("spnego: negTokenInit without an ntlm token")?;
            (Wrap::Spnego, token, Some(init.mech_types_der), None)
        } else {
            let resp = NegTokenResp::parse(&raw).map_err(|e| format!("spnego: {e}"))?;
            let token = resp
                .response_token
                .ok_or("spnego: negTokenResp without an ntlm token")?;
            (Wrap::Spnego, token, None, resp.mech_list_mic)
        };
        let token = token.as_slice();

        match message::message_type(token)? {
            NEGOTIATE => {
                if wrap == Wrap::Spnego && mech_types.is_none() {
                    return Err("spnego: negotiate message outside a negTokenInit".into());
                }
                self.challenge(wrap, scheme, token, mech_types.unwrap_or_default())
            }
            AUTHENTICATE => {
                let State::Challenged {
                    wrap: expected,
                    negotiate,
                    challenge,
                    server_challenge,
                    mech_types,
                } = std::mem::replace(&mut self.state, State::Initial)
                else {
                    return Err(
                        "authenticate message without a challenge on this connection".into(),
                    );
                };
                if expected != wrap {
                    return Err(
                        "authenticate message wrapped differently from the negotiate message"
                            .into(),
                    );
                }
                let verified = verify(
                    &self.users,
                    &negotiate,
                    &challenge,
                    &server_challenge,
                    token,
                )?;
                let final_header = if wrap == Wrap::Spnego {
                    // MS-SPNG: the NTLM MIC makes the mechListMIC mandatory.
                    let mic = client_mic.ok_or("spnego: client sent no mechListMIC")?;
                    let keys = &verified.keys;
                    if mic
                        != sign(
                            &keys.exported,
                            keys.flags,
                            CLIENT_SIGN_MAGIC,
                            CLIENT_SEAL_MAGIC,
                            &mech_types,
                        )
                    {
                        return Err("spnego: client mechListMIC does not verify".into());
                    }
                    let ours = sign(
                        &keys.exported,
                        keys.flags,
                        SERVER_SIGN_MAGIC,
                        SERVER_SEAL_MAGIC,
                        &mech_types,
                    );
                    let resp = encode_resp(Some(ACCEPT_COMPLETED), None, None, Some(&ours));
                    Some(format!("{scheme} {}", STANDARD.encode(resp)))
                } else {
                    None
                };
                Ok(AcceptStep::Accepted {
                    user: verified.user,
                    domain: verified.domain,
                    final_header,
                })
            }
            other => Err(format!("unexpected ntlm message type {other}").into()),
        }
    }

    fn challenge(
        &mut self,
        wrap: Wrap,
        scheme: &str,
        negotiate: &[u8],
        mech_types: Vec<u8>,
    ) -> Result<AcceptStep, Reason> {
        let client_flags = u32_at(negotiate, 12, "negotiate flags")?;
        if client_flags & FLAG_UNICODE == 0 {
            return Err("client does not support unicode".into());
        }
        let mut server_challenge = [0u8; 8];
        getrandom::fill(&mut server_challenge).map_err(|e| format!("no randomness: {e}"))?;
        let flags = FLAG_UNICODE
            | FLAG_REQUEST_TARGET
            | FLAG_NTLM
            | FLAG_ALWAYS_SIGN
            | FLAG_TARGET_TYPE_DOMAIN
            | FLAG_EXTENDED_SESSIONSECURITY
            | FLAG_TARGET_INFO
            | message::FLAG_VERSION
            | (client_flags & (FLAG_SIGN | FLAG_SEAL | FLAG_128 | FLAG_KEY_EXCH | FLAG_56));
        let challenge = build_challenge(flags, server_challenge);
        let out = match wrap {
            Wrap::Spnego => encode_resp(
                Some(ACCEPT_INCOMPLETE),
                Some(ntlmssp_oid()),
                Some(&challenge),
                None,
            ),
            Wrap::Ntlm | Wrap::NegotiateRaw => challenge.clone(),
        };
        self.state = State::Challenged {
            wrap,
            negotiate: negotiate.to_vec(),
            challenge,
            server_challenge,
            mech_types,
        };
        Ok(AcceptStep::Challenge(format!(
            "{scheme} {}",
            STANDARD.encode(out)
        )))
    }
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn av(id: u16, value: &[u8]) -> Vec<u8> {
    let mut out = id.to_le_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// Current time as a Windows FILETIME (100 ns since 1601-01-01).
fn filetime_now() -> u64 {
    let since_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (since_unix.as_secs() + 11_644_473_600) * 10_000_000
        + u64::from(since_unix.subsec_nanos() / 100)
}

fn build_challenge(flags: u32, server_challenge: [u8; 8]) -> Vec<u8> {
    let target_name = utf16(SERVER_DOMAIN);
    let mut info = Vec::new();
    info.extend(av(2, &utf16(SERVER_DOMAIN)));
    info.extend(av(1, &utf16(SERVER_COMPUTER)));
    info.extend(av(4, &utf16("rpa.test")));
    info.extend(av(3, &utf16("emulator.rpa.test")));
    info.extend(av(message::AV_TIMESTAMP, &filetime_now().to_le_bytes()));
    info.extend(av(message::AV_EOL, &[]));
    let header = 56u32;
    let name_len = u16::try_from(target_name.len()).unwrap_or(0);
    let info_len = u16::try_from(info.len()).unwrap_or(0);
    let info_offset = header + u32::from(name_len);
    let mut m = Vec::with_capacity(header as usize + target_name.len() + info.len());
    m.extend_from_slice(message::SIGNATURE);
    m.extend_from_slice(&message::CHALLENGE.to_le_bytes());
    m.extend_from_slice(&name_len.to_le_bytes());
    m.extend_from_slice(&name_len.to_le_bytes());
    m.extend_from_slice(&header.to_le_bytes());
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(&server_challenge);
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&info_len.to_le_bytes());
    m.extend_from_slice(&info_len.to_le_bytes());
    m.extend_from_slice(&info_offset.to_le_bytes());
    m.extend_from_slice(&[10, 0, 0x7c, 0x4f, 0, 0, 0, 15]); // Windows 10.0.20348, NTLM revision 15
    m.extend_from_slice(&target_name);
    m.extend_from_slice(&info);
    m
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RC4 (MS-NLMP's RC4K) of `data` under `key` (1 to 256 bytes, as every NTLM key is).
fn rc4(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    // Session, sealing and exchanged keys are 5 to 16 bytes: always a length RC4 accepts.
    if let Ok(mut cipher) = Rc4::new_from_slice(key) {
        cipher.apply_keystream(&mut out);
    }
    out
}

struct Keys {
    exported: [u8; 16],
    flags: u32,
}

struct Verified {
    user: String,
    domain: String,
    keys: Keys,
}

fn decode_string(bytes: &[u8], unicode: bool) -> Result<String, Reason> {
    if unicode {
        if !bytes.len().is_multiple_of(2) {
            return Err("odd-length unicode string".into());
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).map_err(|_| "invalid utf-16 string".into())
    } else {
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

/// Verifies an AUTHENTICATE message (MS-NLMP §3.2.5.1.2, NTLMv2 only).
fn verify(
    users: &UserDirectory,
    negotiate: &[u8],
    challenge: &[u8],
    server_challenge: &[u8; 8],
    auth: &[u8],
) -> Result<Verified, Reason> {
    if auth.len() < 64 {
        return Err("authenticate message truncated".into());
    }
    let flags = u32_at(auth, 60, "negotiate flags")?;
    let unicode = flags & FLAG_UNICODE != 0;
    let nt = field(auth, 20, "nt challenge response")?;
    let domain = decode_string(field(auth, 28, "domain name")?, unicode)?;
    let user = decode_string(field(auth, 36, "user name")?, unicode)?;
    let encrypted_key = field(auth, 52, "encrypted session key")?;
    if user.is_empty() {
        return Err("anonymous authentication refused".into());
    }
    if nt.len() == 24 {
        return Err("ntlmv1 response refused (ntlmv2 required)".into());
    }
    if nt.len() < 16 + 28 || nt[16] != 1 || nt[17] != 1 {
        return Err("nt response is not an ntlmv2 response".into());
    }
    let (proof, blob) = nt.split_at(16);
    let entry = users
        .find(&user, &domain)
        .ok_or_else(|| format!("unknown user {domain}\\{user}"))?;

    let nt_hash: [u8; 16] = Md4::digest(utf16(entry.password.expose_secret())).into();
    let mut identity = utf16(&user.to_uppercase());
    identity.extend(utf16(&domain));
    let ntowf = hmac_md5(&nt_hash, &[&identity]);
    if hmac_md5(&ntowf, &[server_challenge, blob]) != proof {
        return Err(format!("wrong password for {domain}\\{user}").into());
    }

    let session_base_key = hmac_md5(&ntowf, &[proof]);
    let exported = if flags & FLAG_KEY_EXCH != 0 && encrypted_key.len() == 16 {
        let mut key = [0; 16];
        key.copy_from_slice(&rc4(&session_base_key, encrypted_key));
        key
    } else {
        session_base_key
    };

    // The client's AV pairs follow the 28-byte blob header; MsvAvFlags bit 0x2 announces a MIC.
    let mut has_mic = false;
    let mut at = 28;
    while let (Ok(id), Ok(len)) = (u16_at(blob, at, "av id"), u16_at(blob, at + 2, "av len")) {
        if id == message::AV_EOL {
            break;
        }
        let value = blob
            .get(at + 4..at + 4 + usize::from(len))
            .ok_or("client av pair runs past the blob")?;
        if id == message::AV_FLAGS && value.len() == 4 {
            has_mic = u32_at(value, 0, "av flags")? & 0x2 != 0;
        }
        at += 4 + usize::from(len);
    }
    if has_mic {
        let mic = auth
            .get(72..88)
            .ok_or("mic announced but message too short")?;
        let mut zeroed = auth.to_vec();
        zeroed[72..88].fill(0);
        if hmac_md5(&exported, &[negotiate, challenge, &zeroed]) != mic {
            return Err("message integrity code does not verify".into());
        }
    }
    Ok(Verified {
        user: entry.user.clone(),
        domain: entry.domain.clone(),
        keys: Keys { exported, flags },
    })
}

/// NTLMSSP_MESSAGE_SIGNATURE with extended session security, sequence number 0, over `data`
/// (what a SPNEGO mechListMIC is).
fn sign(
    exported: &[u8; 16],
    flags: u32,
    sign_magic: &[u8],
    seal_magic: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let seq = 0u32.to_le_bytes();
    let sign_key = md5(&[exported, sign_magic]);
    let mut checksum = hmac_md5(&sign_key, &[&seq, data])[..8].to_vec();
    if flags & FLAG_KEY_EXCH != 0 {
        let seal_len = if flags & FLAG_128 != 0 {
            16
        } else if flags & FLAG_56 != 0 {
            7
        } else {
            5
        };
        let seal_key = md5(&[&exported[..seal_len], seal_magic]);
        checksum = rc4(&seal_key, &checksum);
    }
    let mut out = 1u32.to_le_bytes().to_vec();
    out.extend(checksum);
    out.extend_from_slice(&seq);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc4_matches_the_wikipedia_vector() {
        assert_eq!(
            rc4(b"Key", b"Plaintext"),
            [0xbb, 0xf3, 0x16, 0xe8, 0xd9, 0x40, 0xaf, 0x0a, 0xd3]
        );
    }

    #[test]
    fn ntowfv2_matches_ms_nlmp_4_2_4() {
        // MS-NLMP §4.2.4.1.1: User "User", domain "Domain", password "Password".
        let nt_hash: [u8; 16] = Md4::digest(utf16("Password")).into();
        let mut identity = utf16(&"User".to_uppercase());
        identity.extend(utf16("Domain"));
        let expected = [
            0x0c, 0x86, 0x8a, 0x40, 0x3b, 0xfd, 0x7a, 0x93, 0xa3, 0x00, 0x1e, 0xf2, 0x2e, 0xf0,
            0x2e, 0x3f,
        ];
        assert_eq!(hmac_md5(&nt_hash, &[&identity]), expected);
    }

    #[test]
    fn challenge_it_builds_passes_the_client_validation() {
        let c = build_challenge(0xe28a_8235, [9; 8]);
        assert_eq!(
            message::parse_challenge(&c).map(|c| c.server_challenge),
            Ok([9; 8])
        );
    }

    #[test]
    fn garbage_is_rejected_not_a_panic() {
        let mut a = NtlmAcceptor::new(Arc::new(UserDirectory::new()));
        for h in [
            "",
            "NTLM",
            "Basic abc",
            "NTLM !!!",
            "NTLM TlRMTVNTUAADAAAA",
            "Negotiate oQMwAaA=",
            "Negotiate YAA=",
        ] {
            assert!(matches!(a.step(h), AcceptStep::Rejected(_)), "{h}");
        }
        let negotiate = STANDARD.encode(b"NTLMSSP\0\x01\0\0\0\x01\0\0\0");
        assert!(matches!(
            a.step(&format!("NTLM {negotiate}")),
            AcceptStep::Challenge(_)
        ));
        let short_auth = STANDARD.encode(b"NTLMSSP\0\x03\0\0\0");
        assert!(matches!(
            a.step(&format!("NTLM {short_auth}")),
            AcceptStep::Rejected(_)
        ));
    }
}
