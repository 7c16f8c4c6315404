//! Reading the lifetime out of a JWT without verifying it (a client cannot: it lacks the server's key).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The longest lifetime taken from a token: ten years. Longer claims are capped, not trusted to the second.
const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

#[derive(serde::Deserialize)]
struct TimeClaims {
    iat: Option<i64>,
    exp: Option<i64>,
}

/// The token's lifetime, `exp - iat`, when `token` is a JWT carrying both claims.
///
/// Using the difference rather than `exp - now` means a skewed local clock does not matter: the lifetime
/// is then counted from when the token arrived.
pub(crate) fn lifetime(token: &str) -> Option<Duration> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: TimeClaims = serde_json::from_slice(&bytes).ok()?;
    let seconds = claims.exp?.checked_sub(claims.iat?)?;
    u64::try_from(seconds)
        .ok()
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s.min(MAX_LIFETIME_SECS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS512"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_exp_minus_iat() {
        let jwt = token(r#"{"sub":"1","iat":1573107873,"exp":1573109073}"#);
        assert_eq!(lifetime(&jwt), Some(Duration::from_secs(1200)));
    }

    #[test]
    fn absurd_lifetime_is_capped() {
        let jwt = token(&format!(r#"{{"iat":0,"exp":{}}}"#, i64::MAX));
        assert_eq!(lifetime(&jwt), Some(Duration::from_secs(MAX_LIFETIME_SECS)));
    }

    #[test]
    fn not_a_jwt_gives_none() {
        for text in [
            "ND_kEaqVx4__SQ0z",
            "a.b",
            "a.b.c.d",
            "x.!!!.y",
            &token(r#"{"exp":5}"#),
            &token(r#"{"iat":10,"exp":5}"#),
            &token("[1]"),
        ] {
            assert_eq!(lifetime(text), None, "{text}");
        }
    }
}
