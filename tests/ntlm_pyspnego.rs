//! The client against an independent acceptor: pyspnego (`tests/ntlm_acceptor.py`).
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
        .force_scheme(scheme);
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

// The backends, through `AuthClient`, against the same independent acceptor.

use rpa_auth::PyramidWindowsLogin;
use rpa_auth::{AuthClient, ExposeSecret, RejectReason, UiPathNtlmLogin};

fn base(port: u16) -> String {
    format!("http://127.0.0.1:{port}/")
}

#[tokio::test]
async fn uipath_ntlm_passthrough_against_pyspnego() {
    let (_child, port) = start_acceptor().await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let login = UiPathNtlmLogin::new(&base(port), r"CORP\alice", SecretString::from(PASSWORD))
            .unwrap()
            .scheme(scheme);
        let client = AuthClient::new(login).unwrap();
        for _ in 0..3 {
            let response = client.get("odata/Jobs").send().await.unwrap();
            assert_eq!(response.status(), 200, "{scheme}");
            let body: serde_json::Value =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            assert_eq!(body["user"], r"CORP\alice", "{scheme}");
        }

        let wrong = UiPathNtlmLogin::new(
            &base(port),
            r"CORP\alice",
            SecretString::from("wrong-password"),
        )
        .unwrap()
        .scheme(scheme);
        let error = AuthClient::new(wrong)
            .unwrap()
            .get("odata/Jobs")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            error.reject_reason(),
            Some(RejectReason::BadCredentials),
            "{scheme}: {error}"
        );
        assert!(error.to_string().starts_with("uipath-ntlm: "), "{error}");
        assert!(!error.to_string().contains("wrong-password"));
    }
}

#[tokio::test]
async fn pyramid_windows_login_against_pyspnego() {
    let (_child, port) = start_acceptor().await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let login = PyramidWindowsLogin::new(&base(port), "alice", SecretString::from(PASSWORD))
            .unwrap()
            .domain("CORP")
            .scheme(scheme);
        let credential = AuthClient::new(login).unwrap().credential().await.unwrap();
        // The acceptor's token names the user it authenticated, with `+/=` that must arrive intact.
        assert_eq!(
            credential.secret().expose_secret(),
            "+/+/Q09SUFxhbGljZSE=",
            "{scheme}"
        );

        let wrong =
            PyramidWindowsLogin::new(&base(port), r"CORP\alice", SecretString::from("nope"))
                .unwrap()
                .scheme(scheme);
        let error = AuthClient::new(wrong)
            .unwrap()
            .credential()
            .await
            .unwrap_err();
        assert!(error.is_login_rejected(), "{scheme}: {error}");
        assert!(
            error
                .to_string()
                .contains("POST /API2/auth/authenticateUserWindows"),
            "{error}"
        );
    }
}
