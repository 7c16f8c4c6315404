//! NTLMSSP message layout (MS-NLMP §2.2): bounds-checked readers with which the client checks every
//! CHALLENGE before `sspi` sees it (the emulators' acceptor reads client messages with them too).
//!
//! Every reader returns a [`MessageError`] naming the fault; none of them panics on any input.

/// `NTLMSSP\0`, the first eight bytes of every message.
pub(crate) const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// MessageType of a CHALLENGE_MESSAGE.
pub(crate) const CHALLENGE: u32 = 2;

/// NTLMSSP_NEGOTIATE_VERSION.
pub(crate) const FLAG_VERSION: u32 = 0x0200_0000;

/// AV_PAIR ids (MS-NLMP §2.2.2.1).
pub(crate) const AV_EOL: u16 = 0;
/// MsvAvFlags.
pub(crate) const AV_FLAGS: u16 = 6;
/// MsvAvTimestamp.
pub(crate) const AV_TIMESTAMP: u16 = 7;
/// MsvAvSingleHost.
pub(crate) const AV_SINGLE_HOST: u16 = 8;
/// MsvAvChannelBindings.
pub(crate) const AV_CHANNEL_BINDINGS: u16 = 10;
/// Highest AV_PAIR id MS-NLMP defines (MsvAvChannelBindings); `sspi` refuses anything above it.
const AV_MAX_KNOWN: u16 = AV_CHANNEL_BINDINGS;

/// What is wrong with an NTLMSSP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MessageError {
    #[error("message truncated before {0}")]
    TruncatedBefore(&'static str),
    #[error("{0} offset out of range")]
    OffsetRange(&'static str),
    #[error("{what} (offset {offset}, length {len}) lies outside the {size}-byte message")]
    Outside {
        what: &'static str,
        offset: usize,
        len: usize,
        size: usize,
    },
    #[error("message truncated ({0} bytes)")]
    Short(usize),
    #[error("message truncated ({0} bytes, need at least 48)")]
    ShortChallenge(usize),
    #[error("missing NTLMSSP signature")]
    Signature,
    #[error("expected a CHALLENGE message (type 2), got type {0}")]
    NotChallenge(u32),
    #[error("version flag set but the message has no version field")]
    NoVersion,
    #[error("target info has no MsvAvEOL terminator")]
    Unterminated,
    #[error("av pair {id} (length {len}) runs past the target info")]
    AvPastEnd { id: u16, len: usize },
    #[error("unknown av pair id {0}")]
    AvUnknown(u16),
    #[error("av pair {id} has wrong length {len}")]
    AvLength { id: u16, len: usize },
    #[error("bytes after the MsvAvEOL terminator in target info")]
    AfterEol,
}

/// Little-endian u16 at `at`, or an error naming `what`.
pub(crate) fn u16_at(msg: &[u8], at: usize, what: &'static str) -> Result<u16, MessageError> {
    msg.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or(MessageError::TruncatedBefore(what))
}

/// Little-endian u32 at `at`, or an error naming `what`.
pub(crate) fn u32_at(msg: &[u8], at: usize, what: &'static str) -> Result<u32, MessageError> {
    msg.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(MessageError::TruncatedBefore(what))
}

/// The payload a `Len u16, MaxLen u16, Offset u32` descriptor at `at` points to, bounds-checked.
pub(crate) fn field<'a>(
    msg: &'a [u8],
    at: usize,
    what: &'static str,
) -> Result<&'a [u8], MessageError> {
    let len = usize::from(u16_at(msg, at, what)?);
    let offset =
        usize::try_from(u32_at(msg, at + 4, what)?).map_err(|_| MessageError::OffsetRange(what))?;
    if len == 0 {
        return Ok(&[]);
    }
    offset
        .checked_add(len)
        .and_then(|end| msg.get(offset..end))
        .ok_or(MessageError::Outside {
            what,
            offset,
            len,
            size: msg.len(),
        })
}

/// Checks the `NTLMSSP\0` signature and returns the MessageType.
pub(crate) fn message_type(msg: &[u8]) -> Result<u32, MessageError> {
    if msg.len() < 12 {
        return Err(MessageError::Short(msg.len()));
    }
    if &msg[..8] != SIGNATURE {
        return Err(MessageError::Signature);
    }
    u32_at(msg, 8, "message type")
}

/// Walks an AV_PAIR list: each pair must fit, ids must be ones MS-NLMP defines, fixed-size pairs must
/// have their size, and the list must end with exactly one MsvAvEOL.
pub(crate) fn av_pairs(info: &[u8]) -> Result<Vec<(u16, &[u8])>, MessageError> {
    let mut pairs = Vec::new();
    let mut at = 0;
    loop {
        if at == info.len() {
            // An empty list is allowed; a non-empty one must be terminated.
            return if pairs.is_empty() {
                Ok(pairs)
            } else {
                Err(MessageError::Unterminated)
            };
        }
        let id = u16_at(info, at, "av pair id")?;
        let len = usize::from(u16_at(info, at + 2, "av pair length")?);
        let value = info
            .get(at + 4..at + 4 + len)
            .ok_or(MessageError::AvPastEnd { id, len })?;
        let size_ok = match id {
            AV_EOL => len == 0,
            AV_FLAGS => len == 4,
            AV_TIMESTAMP => len == 8,
            AV_SINGLE_HOST => len >= 48,
            AV_CHANNEL_BINDINGS => len == 16,
            id if id > AV_MAX_KNOWN => return Err(MessageError::AvUnknown(id)),
            _ => true,
        };
        if !size_ok {
            return Err(MessageError::AvLength { id, len });
        }
        at += 4 + len;
        if id == AV_EOL {
            if at != info.len() {
                return Err(MessageError::AfterEol);
            }
            return Ok(pairs);
        }
        pairs.push((id, value));
    }
}

/// What the client needs from a CHALLENGE_MESSAGE; parsing it proves `sspi` can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// NegotiateFlags.
    pub(crate) flags: u32,
    /// ServerChallenge.
    pub(crate) server_challenge: [u8; 8],
}

/// Validates a CHALLENGE_MESSAGE (type 2) completely: fixed header, every descriptor in range,
/// Version present when flagged, and a well-formed AV_PAIR list.
pub(crate) fn parse_challenge(msg: &[u8]) -> Result<Challenge, MessageError> {
    let kind = message_type(msg)?;
    if kind != CHALLENGE {
        return Err(MessageError::NotChallenge(kind));
    }
    // Signature 8, type 4, TargetNameFields 8, flags 4, challenge 8, reserved 8, TargetInfoFields 8.
    if msg.len() < 48 {
        return Err(MessageError::ShortChallenge(msg.len()));
    }
    let flags = u32_at(msg, 20, "negotiate flags")?;
    if flags & FLAG_VERSION != 0 && msg.len() < 56 {
        return Err(MessageError::NoVersion);
    }
    let mut server_challenge = [0; 8];
    server_challenge.copy_from_slice(&msg[24..32]);
    field(msg, 12, "target name")?;
    let info = field(msg, 40, "target info")?;
    av_pairs(info)?;
    Ok(Challenge {
        flags,
        server_challenge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal, valid CHALLENGE with the given target info.
    pub(crate) fn challenge_with(info: &[u8], flags: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&CHALLENGE.to_le_bytes());
        m.extend_from_slice(&[0, 0, 0, 0, 56, 0, 0, 0]); // empty target name at 56
        m.extend_from_slice(&flags.to_le_bytes());
        m.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        m.extend_from_slice(&[0; 8]);
        let len = u16::try_from(info.len()).unwrap_or(u16::MAX).to_le_bytes();
        m.extend_from_slice(&[len[0], len[1], len[0], len[1], 56, 0, 0, 0]);
        m.extend_from_slice(&[10, 0, 0x7c, 0x4f, 0, 0, 0, 15]);
        m.extend_from_slice(info);
        m
    }

    #[test]
    fn accepts_a_well_formed_challenge() {
        let info = [
            2, 0, 2, 0, b'D', 0, 7, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0,
        ];
        let c =
            parse_challenge(&challenge_with(&info, FLAG_VERSION | 1 /* UNICODE */)).expect("valid");
        assert_eq!(c.server_challenge, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn rejects_each_malformation_with_a_cause() {
        let good = challenge_with(&[0, 0, 0, 0], FLAG_VERSION);
        let mut bad_sig = good.clone();
        bad_sig[0] = b'X';
        let mut wrong_type = good.clone();
        wrong_type[8] = 3;
        let mut info_out_of_range = good.clone();
        info_out_of_range[44] = 0xff; // target info offset
        let mut offset_overflow = good.clone();
        offset_overflow[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("short", b"NTLMSSP\0".to_vec()),
            ("signature", bad_sig),
            ("type", wrong_type),
            ("truncated", good[..40].to_vec()),
            (
                "no version",
                challenge_with(&[], FLAG_VERSION)[..48].to_vec(),
            ),
            ("offset", info_out_of_range),
            ("overflow", offset_overflow),
            ("unterminated", challenge_with(&[2, 0, 0, 0], 0)),
            ("av runs past", challenge_with(&[2, 0, 9, 0, 0, 0, 0, 0], 0)),
            ("av unknown", challenge_with(&[99, 0, 0, 0, 0, 0, 0, 0], 0)),
            (
                "av timestamp size",
                challenge_with(&[7, 0, 2, 0, 1, 1, 0, 0, 0, 0], 0),
            ),
            ("after eol", challenge_with(&[0, 0, 0, 0, 1], 0)),
        ];
        for (name, msg) in cases {
            let err = parse_challenge(&msg).expect_err(name);
            assert!(!err.to_string().is_empty(), "{name}");
        }
    }
}
