//! The client against this crate's own acceptor behind a tiny hyper server.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use rpa_auth::ntlm::{HandshakeError, NtlmConnection, Scheme, WindowsCredentials};
use secrecy::SecretString;
use support::ntlm_server::{self as server, Mode, PASSWORD};

const TIMEOUT: Duration = Duration::from_secs(5);

async fn connect(addr: std::net::SocketAddr) -> NtlmConnection {
    let url = url::Url::parse(&format!("http://{addr}/odata/Jobs?$top=1")).expect("url");
    NtlmConnection::connect(&url, None, TIMEOUT)
        .await
        .expect("connect")
}

fn get() -> http::Request<Bytes> {
    http::Request::get("/odata/Jobs?$top=1")
        .body(Bytes::new())
        .expect("request")
}

fn alice(password: &str) -> WindowsCredentials {
    WindowsCredentials::new(r"CORP\alice", SecretString::from(password))
}

fn body(resp: &http::Response<Bytes>) -> String {
    String::from_utf8_lossy(resp.body()).into_owned()
}

#[tokio::test]
async fn right_password_authenticates_the_connection_with_each_scheme() {
    let running = server::start(Mode::Persist).await;
    let addr = running.addr();
    for (forced, expected) in [
        (None, "NTLM"),
        (Some(Scheme::Ntlm), "NTLM"),
        (Some(Scheme::Negotiate), "Negotiate"),
    ] {
        let mut conn = connect(addr).await;
        if let Some(s) = forced {
            conn = conn.scheme(s);
        }
        let resp = conn.send(get(), &alice(PASSWORD)).await.expect("handshake");
        assert_eq!(resp.status(), 200, "{forced:?}");
        assert!(
            body(&resp).contains(r#""user":"CORP\\alice""#),
            "{}",
            body(&resp)
        );
        assert!(
            body(&resp).contains(&format!(r#""scheme":"{expected}""#)),
            "{}",
            body(&resp)
        );
        // The connection stays authenticated: no header, no new handshake.
        let again = conn
            .send(get(), &alice(PASSWORD))
            .await
            .expect("second request");
        assert_eq!(again.status(), 200);
        assert!(body(&again).contains(r#""scheme":"connection""#));
        assert_eq!(conn.handshakes(), 1);
        assert!(!conn.is_closed());
    }
}

#[tokio::test]
async fn user_name_forms_all_authenticate() {
    let running = server::start(Mode::Persist).await;
    let addr = running.addr();
    for creds in [
        WindowsCredentials::new("alice", SecretString::from(PASSWORD)).domain("CORP"),
        WindowsCredentials::new("alice", SecretString::from(PASSWORD)),
        WindowsCredentials::new("alice@corp.example", SecretString::from(PASSWORD)),
    ] {
        for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
            let mut conn = connect(addr).await.scheme(scheme);
            let resp = conn
                .send(get(), &creds)
                .await
                .unwrap_or_else(|e| panic!("{creds:?} {scheme}: {e}"));
            assert_eq!(resp.status(), 200);
        }
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_rejected() {
    let running = server::start(Mode::Persist).await;
    let addr = running.addr();
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        for creds in [
            alice("wrong"),
            WindowsCredentials::new(r"CORP\mallory", SecretString::from(PASSWORD)),
        ] {
            let mut conn = connect(addr).await.scheme(scheme);
            let err = conn
                .send(get(), &creds)
                .await
                .expect_err("must be rejected");
            assert!(
                matches!(err, HandshakeError::Rejected { scheme: s } if s == scheme),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!("server rejected the {scheme} credentials")
            );
            assert!(!format!("{err:?}").contains("wrong"));
        }
    }
}

#[tokio::test]
async fn post_body_is_repeated_on_every_leg() {
    let running = server::start(Mode::Persist).await;
    let addr = running.addr();
    let mut conn = connect(addr).await.scheme(Scheme::Negotiate);
    let req = http::Request::post("/API2/auth/authenticateUserWindows")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"data":{"domain":"CORP"}}"#))
        .expect("request");
    let resp = conn.send(req, &alice(PASSWORD)).await.expect("handshake");
    assert!(
        body(&resp).contains(r#""method":"POST","body_len":26"#),
        "{}",
        body(&resp)
    );
}

#[tokio::test]
async fn twenty_concurrent_handshakes_each_on_its_own_connection() {
    let running = server::start(Mode::Persist).await;
    let addr = running.addr();
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let started = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                tokio::spawn(async move {
                    let mut conn = connect(addr).await.scheme(scheme);
                    let resp = conn.send(get(), &alice(PASSWORD)).await?;
                    Ok::<_, HandshakeError>((resp.status(), conn.handshakes()))
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let (status, handshakes) = t.await.expect("task").expect("handshake");
            assert_eq!((status.as_u16(), handshakes), (200, 1));
            ok += 1;
        }
        eprintln!(
            "{scheme}: {ok}/20 concurrent handshakes in {:?}",
            started.elapsed()
        );
        assert_eq!(ok, 20);
    }
}

#[tokio::test]
async fn rechallenging_server_gets_one_handshake_per_request() {
    let running = server::start(Mode::RechallengeEveryRequest).await;
    let addr = running.addr();
    let mut conn = connect(addr).await;
    for i in 1..=3 {
        let resp = conn.send(get(), &alice(PASSWORD)).await.expect("handshake");
        assert_eq!(resp.status(), 200);
        assert_eq!(conn.handshakes(), i);
    }
    // A re-challenge answered with a wrong password is an error, not a loop.
    let err = conn
        .send(get(), &alice("wrong"))
        .await
        .expect_err("rejected");
    assert!(matches!(err, HandshakeError::Rejected { .. }), "{err:?}");
    assert_eq!(conn.handshakes(), 4);
}

#[tokio::test]
async fn malformed_challenges_are_typed_errors() {
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let mut truncated = b"NTLMSSP\0\x02\0\0\0".to_vec();
    truncated.extend_from_slice(&[0; 20]);
    let mut out_of_range = b"NTLMSSP\0\x02\0\0\0".to_vec();
    out_of_range.extend_from_slice(&[0, 0, 0, 0, 56, 0, 0, 0, 0, 0, 0, 0]);
    out_of_range.extend_from_slice(&[1; 8]);
    out_of_range.extend_from_slice(&[0; 8]);
    out_of_range.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0, 0]);
    let cases = [
        (Scheme::Ntlm, "NTLM !!!not-base64!!!".to_owned()),
        (
            Scheme::Ntlm,
            format!(
                "NTLM {}",
                b64(b"XXXXXXXX\x02\0\0\0padpadpadpadpadpadpadpadpadpadpadpadpadpad")
            ),
        ),
        (Scheme::Ntlm, format!("NTLM {}", b64(&truncated))),
        (Scheme::Ntlm, format!("NTLM {}", b64(&out_of_range))),
        (
            Scheme::Ntlm,
            format!("NTLM {}", b64(b"NTLMSSP\0\x03\0\0\0")),
        ),
        (
            Scheme::Negotiate,
            format!("Negotiate {}", b64(&[0xa1, 0x03, 0x30, 0x01])),
        ),
        (
            Scheme::Negotiate,
            format!("Negotiate {}", b64(b"NTLMSSP\0\x02\0\0\0")),
        ),
    ];
    for (scheme, header) in cases {
        let running = server::start(Mode::FixedChallenge(header.clone())).await;
        let addr = running.addr();
        let mut conn = connect(addr).await.scheme(scheme);
        let err = conn.send(get(), &alice(PASSWORD)).await.expect_err(&header);
        assert!(
            matches!(err, HandshakeError::MalformedChallenge { scheme: s, .. } if s == scheme),
            "{header}: {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("malformed {scheme} challenge from server: ")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn server_closing_between_legs_is_reported() {
    let running = server::start(Mode::CloseOnChallenge).await;
    let addr = running.addr();
    let mut conn = connect(addr).await;
    let err = conn
        .send(get(), &alice(PASSWORD))
        .await
        .expect_err("closed");
    assert!(
        err.to_string().contains("closed") || matches!(err, HandshakeError::Io(_)),
        "{err:?}"
    );
    assert!(conn.is_closed());
}

#[tokio::test]
async fn non_ntlm_401_lists_what_was_offered() {
    let running = server::start(Mode::BasicOnly).await;
    let addr = running.addr();
    let mut conn = connect(addr).await;
    let err = conn
        .send(get(), &alice(PASSWORD))
        .await
        .expect_err("not offered");
    assert!(
        matches!(err, HandshakeError::NotOffered { ref offered } if offered == &["Basic", "Bearer"]),
        "{err:?}"
    );
    assert_eq!(conn.handshakes(), 0);
}

#[tokio::test]
async fn negotiate_falls_back_to_raw_ntlmssp_for_a_server_without_spnego() {
    let running = server::start(Mode::RawNegotiateOnly).await;
    let addr = running.addr();
    let mut conn = connect(addr).await;
    let creds = WindowsCredentials::new(r"CORP\alice", SecretString::from(PASSWORD));
    let response = conn
        .send(
            http::Request::get("/odata/Jobs")
                .body(Bytes::new())
                .expect("request"),
            &creds,
        )
        .await
        .expect("raw NTLMSSP inside Negotiate is accepted");
    assert_eq!(response.status(), 200);
    assert_eq!(conn.authenticated(), Some(Scheme::Negotiate));

    // A wrong password is still a rejection, not another fallback.
    let mut conn = connect(addr).await;
    let wrong = WindowsCredentials::new(r"CORP\alice", SecretString::from("nope"));
    let error = conn
        .send(
            http::Request::get("/odata/Jobs")
                .body(Bytes::new())
                .expect("request"),
            &wrong,
        )
        .await
        .expect_err("wrong password");
    assert!(
        matches!(
            error,
            HandshakeError::Rejected {
                scheme: Scheme::Negotiate
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn server_closing_after_the_anonymous_401_gets_the_handshake_on_a_new_connection() {
    let running = server::start(Mode::CloseOnAnonymous).await;
    let addr = running.addr();
    let mut conn = connect(addr).await;
    let creds = WindowsCredentials::new(r"CORP\alice", SecretString::from(PASSWORD));
    let response = conn
        .send(
            http::Request::get("/odata/Jobs")
                .body(Bytes::new())
                .expect("request"),
            &creds,
        )
        .await
        .expect("handshake on a reopened connection");
    assert_eq!(response.status(), 200);
    assert_eq!(conn.handshakes(), 1);
}

#[tokio::test]
async fn pool_replaces_connections_the_server_closed() {
    let running = server::start(Mode::CloseAfterSuccess).await;
    let addr = running.addr();
    let url = url::Url::parse(&format!("http://{addr}/")).expect("url");
    let creds = WindowsCredentials::new(r"CORP\alice", SecretString::from(PASSWORD));
    let pool = rpa_auth::ntlm::NtlmPool::new(url, creds, None, 2);
    for _ in 0..3 {
        let response = pool
            .send(
                http::Request::get("/odata/Jobs")
                    .body(Bytes::new())
                    .expect("request"),
            )
            .await
            .expect("a closed connection is replaced, not reported");
        assert_eq!(response.status(), 200);
    }
    assert_eq!(pool.connections_opened(), 3);
    assert_eq!(pool.handshakes(), 3);
}
