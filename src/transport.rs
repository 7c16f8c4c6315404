//! Why a request got no usable answer, in words: the `source()` chain of a reqwest, hyper or I/O
//! error is walked to tell a refused connection from a failed name lookup, a TLS failure, a timeout, a
//! reset, a malformed HTTP answer and a body cut short.
//!
//! The words come from this crate or from fixed library descriptions (hyper's parse errors, rustls'
//! alert names); never a URL, a query string or the server's own text.

use std::error::Error as StdError;
use std::io;

use std::sync::Arc;

use crate::error::{Endpoint, Error, TransportKind};

/// The kind of failure and what happened, in words.
pub(crate) fn classify(error: &(dyn StdError + 'static)) -> (TransportKind, String) {
    let chain = || layers(error);
    // The innermost known cause decides; the outer layers only say "connect" or "timeout".
    let mut connect = false;
    let mut timeout = false;
    for layer in chain() {
        if let Some(e) = layer.downcast_ref::<reqwest::Error>() {
            connect |= e.is_connect();
            timeout |= e.is_timeout();
        }
        if let Some(e) = layer.downcast_ref::<hyper::Error>() {
            timeout |= e.is_timeout();
        }
        let text = layer.to_string();
        // hyper-util's connector names its failures with these fixed words.
        connect |= text == "tcp connect error" || text == "dns error";
    }
    // The most specific cause wins, wherever it sits in the chain: TLS, then name lookup, then what
    // hyper or the socket said.
    for layer in chain() {
        if let Some(tls) = layer.downcast_ref::<rustls::Error>() {
            return (
                TransportKind::Connect,
                format!("the TLS handshake failed ({})", tls_words(tls)),
            );
        }
    }
    if chain().any(|layer| layer.to_string() == "dns error") {
        return (
            TransportKind::Connect,
            "the host name could not be resolved".to_owned(),
        );
    }
    for layer in chain() {
        if let Some(hyper) = layer.downcast_ref::<hyper::Error>()
            && let Some(words) = hyper_words(hyper)
        {
            return words;
        }
        if let Some(io) = layer.downcast_ref::<io::Error>()
            && io.get_ref().is_none_or(|inner| !inner.is::<io::Error>())
            && let Some(words) = io_words(io, connect)
        {
            return words;
        }
    }
    if timeout {
        return (TransportKind::Timeout, "no answer in time".to_owned());
    }
    if connect {
        return (
            TransportKind::Connect,
            "the connection could not be made".to_owned(),
        );
    }
    (
        TransportKind::Other,
        "the connection failed for an unknown reason".to_owned(),
    )
}

fn layers<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    // An I/O error's `source()` skips the error it wraps: step into it instead.
    std::iter::successors(Some(error), |&e| match e.downcast_ref::<io::Error>() {
        Some(io) => match io.get_ref() {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        },
        None => e.source(),
    })
}

/// What hyper's own error says, when it says something specific.
fn hyper_words(error: &hyper::Error) -> Option<(TransportKind, String)> {
    let malformed = |what: &str| {
        Some((
            TransportKind::Malformed,
            format!("malformed HTTP answer: {what}"),
        ))
    };
    if error.is_parse_status() {
        return malformed("invalid status line");
    }
    if error.is_parse() {
        // hyper describes parse errors with fixed phrases; the useful ones are translated.
        let text = error.to_string();
        return if text.contains("too large") {
            malformed("the header section is too large (too many or too long headers)")
        } else if text.contains("content-length") {
            malformed("invalid or conflicting Content-Length")
        } else if text.contains("transfer-encoding") {
            malformed("invalid Transfer-Encoding")
        } else if text.contains("version") {
            malformed("invalid HTTP version in the status line")
        } else if text.contains("header") {
            malformed("invalid header")
        } else {
            malformed("unparsable response head")
        };
    }
    if error.is_timeout() {
        return Some((TransportKind::Timeout, "no answer in time".to_owned()));
    }
    if error.is_incomplete_message() {
        return Some((
            TransportKind::Reset,
            "the server closed the connection before the answer was complete".to_owned(),
        ));
    }
    if error.is_canceled() || error.is_closed() {
        return Some((
            TransportKind::Reset,
            "the connection was closed before the answer arrived".to_owned(),
        ));
    }
    None
}

/// What an I/O error says; `connecting` when an outer layer said the connection was being made.
fn io_words(error: &io::Error, connecting: bool) -> Option<(TransportKind, String)> {
    use io::ErrorKind::*;
    let (kind, words) = match error.kind() {
        ConnectionRefused => (TransportKind::Connect, "connection refused"),
        NotFound | HostUnreachable | NetworkUnreachable | AddrNotAvailable if connecting => {
            (TransportKind::Connect, "the host could not be reached")
        }
        ConnectionReset => (
            TransportKind::Reset,
            "the connection was reset by the server",
        ),
        ConnectionAborted => (TransportKind::Reset, "the connection was aborted"),
        BrokenPipe => (
            TransportKind::Reset,
            "the server closed the connection while the request was sent",
        ),
        TimedOut => (TransportKind::Timeout, "no answer in time"),
        UnexpectedEof if connecting => (
            TransportKind::Connect,
            "the server closed the connection during the handshake",
        ),
        UnexpectedEof => (
            TransportKind::BodyCut,
            "the answer's body was cut short (the connection ended before the announced length)",
        ),
        // hyper's chunked decoder reports a broken chunk size line or chunk end this way.
        InvalidInput | InvalidData if !connecting => (
            TransportKind::Malformed,
            "malformed HTTP answer: bad chunked encoding",
        ),
        _ if connecting => (TransportKind::Connect, "the connection could not be made"),
        _ => return None,
    };
    Some((kind, words.to_owned()))
}

/// rustls' description of a TLS failure: an alert or a certificate problem, never a URL.
fn tls_words(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(_) => "the server's certificate was not accepted".into(),
        rustls::Error::AlertReceived(alert) => format!("the server sent the alert {alert:?}"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not speak TLS".into()
        }
        rustls::Error::NoApplicationProtocol => "no common application protocol".into(),
        rustls::Error::PeerIncompatible(_) => "no common TLS version or cipher suite".into(),
        rustls::Error::PeerMisbehaved(_) => "the server broke the TLS protocol".into(),
        _ => "a TLS protocol error".into(),
    }
}

/// Transport errors are made here, where their cause is put into words, so that `error.rs` depends on
/// nothing else in the crate.
impl Error {
    /// A transport error from reqwest, with the URL removed so no query string can leak.
    pub(crate) fn transport(
        backend: &'static str,
        endpoint: Endpoint,
        error: reqwest::Error,
    ) -> Self {
        let (kind, cause) = classify(&error);
        Error::Transport {
            backend,
            endpoint,
            kind,
            cause: Some(cause.into()),
            source: Some(Arc::new(error.without_url())),
        }
    }

    /// A failure reading the body of an answer the client returned (`Response::text()`,
    /// `Response::bytes()`), as a [`Error::Transport`] saying why in words (cut short, reset, bad
    /// chunked encoding, timed out), without reqwest's URL. `endpoint` is the request's.
    pub fn body_read(backend: &'static str, endpoint: Endpoint, error: reqwest::Error) -> Self {
        Self::transport(backend, endpoint, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn StdError + Send + Sync>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    #[test]
    fn io_kinds_are_told_apart() {
        let refused = Wrap(
            "tcp connect error",
            Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)),
        );
        assert_eq!(classify(&refused).0, TransportKind::Connect);
        assert!(classify(&refused).1.contains("refused"));
        let dns = Wrap(
            "dns error",
            Box::new(io::Error::other("failed to lookup address information")),
        );
        assert!(classify(&dns).1.contains("host name"));
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify(&reset).0, TransportKind::Reset);
        let cut = io::Error::new(io::ErrorKind::UnexpectedEof, "end of file");
        assert_eq!(classify(&cut).0, TransportKind::BodyCut);
        let chunk = io::Error::new(io::ErrorKind::InvalidInput, "invalid chunk size line");
        assert!(classify(&chunk).1.contains("chunked"));
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let (kind, words) = classify(&Wrap("tcp connect error", Box::new(tls)));
        assert_eq!(kind, TransportKind::Connect);
        assert!(words.contains("TLS"), "{words}");
    }
}
