//! TLS: a server signed by a private CA is accepted when the caller trusts that CA (for logins and calls
//! alike, through the `reqwest::Client` they pass) and refused otherwise; Windows authentication over https
//! sends channel bindings that an Extended-Protection-style acceptor (pyspnego) verifies.

mod support;

use std::ffi::OsStr;

use rpa_auth::emulator::uipath::UiPathEmulator;
use rpa_auth::ntlm::Scheme;
use rpa_auth::{AuthClient, Error, SecretString, UiPathBearerLogin, UiPathNtlmLogin};
use support::pyspnego::{PASSWORD as WINDOWS_PASSWORD, start_acceptor_with};
use support::tls::{TestPki, addr_of};

const PASSWORD: &str = "Tls-Pass-1";

async fn https_orchestrator(pki: &TestPki) -> (UiPathEmulator, String) {
    let emulator = UiPathEmulator::builder()
        .user("admin", PASSWORD)
        .start()
        .await
        .unwrap();
    let port = pki.terminate(addr_of(&emulator.url())).await;
    (emulator, format!("https://localhost:{port}/"))
}

#[tokio::test]
async fn custom_root_ca_is_used_for_login_and_calls() {
    let pki = TestPki::new();
    let (emulator, url) = https_orchestrator(&pki).await;
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = UiPathBearerLogin::new(&url, "admin", SecretString::from(PASSWORD)).unwrap();
    let client = AuthClient::builder(login)
        .http_client(http)
        .build()
        .unwrap();
    assert_eq!(
        client.get("odata/Robots").send().await.unwrap().status(),
        200
    );
    assert_eq!(emulator.logins(), 1);
}

#[tokio::test]
async fn unknown_ca_is_refused() {
    let pki = TestPki::new();
    let (emulator, url) = https_orchestrator(&pki).await;
    let login = UiPathBearerLogin::new(&url, "admin", SecretString::from(PASSWORD)).unwrap();
    // The default client trusts the platform's roots only.
    let error = AuthClient::new(login)
        .unwrap()
        .credential()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("POST /api/Account/Authenticate could not connect"),
        "{error}"
    );
    assert_eq!(emulator.requests(), 0, "nothing reached the server");

    // A client trusting another CA refuses it too.
    let other = TestPki::new();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(other.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let login = UiPathBearerLogin::new(&url, "admin", SecretString::from(PASSWORD)).unwrap();
    let client = AuthClient::builder(login)
        .http_client(http)
        .build()
        .unwrap();
    assert!(client.credential().await.is_err());
    assert_eq!(emulator.requests(), 0);
}

async fn https_acceptor(pki: &TestPki, mismatch: bool) -> (tokio::process::Child, String) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let id = format!("{:p}", pki);
    let (cert, key) = (dir.join(format!("{id}.crt")), dir.join(format!("{id}.key")));
    std::fs::write(&cert, &pki.server_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();
    let mismatch = if mismatch { "1" } else { "0" };
    let (child, port) = start_acceptor_with(&[
        ("TLS_CERT", cert.as_os_str()),
        ("TLS_KEY", key.as_os_str()),
        ("CB_MISMATCH", OsStr::new(mismatch)),
    ])
    .await;
    (child, format!("https://localhost:{port}/"))
}

#[tokio::test]
async fn windows_auth_over_https_sends_channel_bindings_that_pyspnego_verifies() {
    let pki = TestPki::new();
    let (_acceptor, url) = https_acceptor(&pki, false).await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let login = UiPathNtlmLogin::new(&url, r"CORP\alice", SecretString::from(WINDOWS_PASSWORD))
            .unwrap()
            .tls_config(pki.client_config())
            .scheme(scheme);
        let client = AuthClient::new(login).unwrap();
        let response = client.get("odata/Jobs").send().await.unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn wrong_channel_binding_is_refused_so_the_check_is_real() {
    let pki = TestPki::new();
    let (_acceptor, url) = https_acceptor(&pki, true).await;
    let login = UiPathNtlmLogin::new(&url, r"CORP\alice", SecretString::from(WINDOWS_PASSWORD))
        .unwrap()
        .tls_config(pki.client_config());
    let error = AuthClient::new(login)
        .unwrap()
        .credential()
        .await
        .unwrap_err();
    assert!(error.is_login_rejected(), "{error}");
}

#[tokio::test]
async fn windows_auth_refuses_an_unknown_ca() {
    let pki = TestPki::new();
    let (_acceptor, url) = https_acceptor(&pki, false).await;
    let other = TestPki::new();
    let login = UiPathNtlmLogin::new(&url, r"CORP\alice", SecretString::from(WINDOWS_PASSWORD))
        .unwrap()
        .tls_config(other.client_config());
    let error = AuthClient::new(login)
        .unwrap()
        .credential()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::WindowsAuth { .. }), "{error:?}");
    assert!(error.to_string().contains("tls handshake"), "{error}");
}
