//! The NTLM handshake against an independent acceptor: pyspnego (`tests/ntlm_acceptor.py`). The backends
//! run against it in their own files (`uipath_ntlm.rs`, `pyramid.rs`).
//!
//! Installs pyspnego into the target directory when it is missing; fails (never skips) when
//! python3 or pyspnego cannot be set up.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use rpa_auth::ntlm::{HandshakeError, NtlmConnection, Scheme, WindowsCredentials};
use secrecy::SecretString;
use support::pyspnego::{PASSWORD, start_acceptor};

async fn login(
    port: u16,
    scheme: Scheme,
    password: &str,
) -> Result<(http::Response<Bytes>, u32), HandshakeError> {
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let mut conn = NtlmConnection::connect(&url, None, Duration::from_secs(5))
        .await?
        .scheme(scheme);
    let creds = WindowsCredentials::new(r"CORP\alice", SecretString::from(password));
    let req = http::Request::post("/odata/Jobs")
        .body(Bytes::from_static(b"{}"))
        .expect("request");
    let resp = conn.send(req, &creds).await?;
    // The connection stays authenticated.
    let again = conn
        .send(
            http::Request::get("/").body(Bytes::new()).expect("req"),
            &creds,
        )
        .await?;
    assert_eq!(again.status(), 200);
    Ok((resp, conn.handshakes()))
}

#[tokio::test]
async fn pyspnego_accepts_right_password_and_refuses_wrong_one_for_both_schemes() {
    let (_child, port) = start_acceptor().await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let (resp, handshakes) = login(port, scheme, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e:?}"));
        let body = String::from_utf8_lossy(resp.body());
        assert_eq!(resp.status(), 200, "{scheme}: {body}");
        assert!(
            body.contains(r#""user": "CORP\\alice""#),
            "{scheme}: {body}"
        );
        assert!(body.contains(r#""body_len": 2"#), "{scheme}: {body}");
        assert_eq!(handshakes, 1);

        let err = login(port, scheme, "wrong-password")
            .await
            .expect_err("wrong password must fail");
        assert!(
            matches!(err, HandshakeError::Rejected { scheme: s } if s == scheme),
            "{scheme}: {err:?}"
        );
    }
}

#[tokio::test]
async fn pyspnego_twenty_concurrent_handshakes() {
    let (_child, port) = start_acceptor().await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let started = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| tokio::spawn(login(port, scheme, PASSWORD)))
            .collect();
        let mut ok = 0;
        for t in tasks {
            let (resp, handshakes) = t.await.expect("task").expect("handshake");
            assert_eq!((resp.status().as_u16(), handshakes), (200, 1));
            ok += 1;
        }
        eprintln!(
            "pyspnego {scheme}: {ok}/20 concurrent handshakes in {:?}",
            started.elapsed()
        );
    }
}
