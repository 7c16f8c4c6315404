//! Which HTTP authentication scheme carries the NTLM messages.

use std::fmt;

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

/// The HTTP scheme that carries the NTLM messages.
///
/// When the server offers both (IIS does: `Negotiate` then `NTLM`), [`Scheme::choose`] picks
/// **NTLM**: this client only ever speaks NTLM, so Negotiate would only wrap the same messages in
/// SPNEGO, adding a mechListMIC exchange and a final token on the 200 that proxies may drop,
/// without making the login any stronger. Negotiate is used when it is the only one offered (IIS with
/// the NTLM provider removed), or when forced with [`NtlmConnection::scheme`](super::NtlmConnection::scheme).
/// (With the `kerberos` feature, Kerberos goes first inside Negotiate when it applies, before this choice
/// of a scheme for NTLM: see [`NtlmConnection::send_as`](super::NtlmConnection::send_as).)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Authorization: NTLM <NTLMSSP message>` (MS-NTHT).
    Ntlm,
    /// `Authorization: Negotiate <SPNEGO token>` (RFC 4559): NTLM inside, or with the `kerberos` feature
    /// Kerberos.
    Negotiate,
}

impl Scheme {
    /// The token that names the scheme in HTTP headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ntlm => "NTLM",
            Self::Negotiate => "Negotiate",
        }
    }

    /// Picks the scheme for a 401's `WWW-Authenticate` headers: `forced` if offered, else NTLM if
    /// offered, else Negotiate if offered.
    ///
    /// # Errors
    /// [`HandshakeError::NotOffered`](super::HandshakeError::NotOffered) with every offered scheme
    /// name when the wanted scheme is not among them.
    pub fn choose(
        headers: &HeaderMap,
        forced: Option<Scheme>,
    ) -> Result<Scheme, super::HandshakeError> {
        let offered = offered_schemes(headers);
        let has = |s: Scheme| offered.iter().any(|o| o.eq_ignore_ascii_case(s.as_str()));
        let pick = match forced {
            Some(s) => has(s).then_some(s),
            None => [Scheme::Ntlm, Scheme::Negotiate]
                .into_iter()
                .find(|&s| has(s)),
        };
        pick.ok_or(super::HandshakeError::NotOffered { offered })
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ntlm => "ntlm",
            Self::Negotiate => "negotiate",
        })
    }
}

/// Every challenge in a `WWW-Authenticate` value: one per header line, and within a line the
/// comma-separated challenges (auth-params such as `realm="x"` are skipped).
fn challenges(headers: &HeaderMap) -> impl Iterator<Item = (&str, Option<&str>)> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .filter_map(|part| {
            let part = part.trim();
            let (name, rest) = match part.split_once(' ') {
                Some((n, r)) => (n, Some(r.trim())),
                None => (part, None),
            };
            // `realm="x"` after a comma is an auth-param of the previous challenge, not a scheme.
            (!name.is_empty() && !name.contains('='))
                .then_some((name, rest.filter(|r| !r.is_empty())))
        })
}

/// The scheme names a 401 offers, in order.
pub(crate) fn offered_schemes(headers: &HeaderMap) -> Vec<String> {
    challenges(headers).map(|(n, _)| n.to_owned()).collect()
}

/// The data of `scheme`'s challenge: `None` if the scheme is absent, `Some(None)` if it carries no data.
pub(crate) fn challenge_data(headers: &HeaderMap, scheme: Scheme) -> Option<Option<&str>> {
    challenges(headers)
        .find(|(n, _)| n.eq_ignore_ascii_case(scheme.as_str()))
        .map(|(_, data)| data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlm::HandshakeError;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(WWW_AUTHENTICATE, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn prefers_ntlm_when_both_are_offered() {
        let iis = headers(&["Negotiate", "NTLM"]);
        assert_eq!(Scheme::choose(&iis, None).ok(), Some(Scheme::Ntlm));
        assert_eq!(
            Scheme::choose(&headers(&["Negotiate, NTLM"]), None).ok(),
            Some(Scheme::Ntlm)
        );
    }

    #[test]
    fn honours_a_forced_scheme_and_takes_negotiate_alone() {
        let iis = headers(&["Negotiate", "NTLM"]);
        assert_eq!(
            Scheme::choose(&iis, Some(Scheme::Negotiate)).ok(),
            Some(Scheme::Negotiate)
        );
        assert_eq!(
            Scheme::choose(&headers(&["negotiate"]), None).ok(),
            Some(Scheme::Negotiate)
        );
        let err =
            Scheme::choose(&headers(&["NTLM"]), Some(Scheme::Negotiate)).expect_err("not offered");
        assert!(matches!(err, HandshakeError::NotOffered { ref offered } if offered == &["NTLM"]));
    }

    #[test]
    fn reports_what_was_offered_instead() {
        let err = Scheme::choose(
            &headers(&["Basic realm=\"x\", charset=\"UTF-8\"", "Bearer"]),
            None,
        )
        .expect_err("no ntlm");
        assert!(
            matches!(err, HandshakeError::NotOffered { ref offered } if offered == &["Basic", "Bearer"])
        );
        assert_eq!(
            err.to_string(),
            "server does not offer ntlm or negotiate (offered: Basic, Bearer)"
        );
        let none = Scheme::choose(&HeaderMap::new(), None).expect_err("nothing");
        assert_eq!(
            none.to_string(),
            "server does not offer ntlm or negotiate (offered: nothing)"
        );
    }

    #[test]
    fn finds_challenge_data() {
        let h = headers(&["Negotiate", "NTLM TlRMTVNTUAACAAAA"]);
        assert_eq!(
            challenge_data(&h, Scheme::Ntlm),
            Some(Some("TlRMTVNTUAACAAAA"))
        );
        assert_eq!(challenge_data(&h, Scheme::Negotiate), Some(None));
        assert_eq!(challenge_data(&headers(&["Basic"]), Scheme::Ntlm), None);
    }
}
