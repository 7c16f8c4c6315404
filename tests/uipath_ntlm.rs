//! UiPath Orchestrator Windows authentication (NTLM/Negotiate passthrough) against the built-in emulator, whose
//! acceptor verifies NTLMv2 for real, against test servers with broken or missing challenges, and against an
//! independent acceptor, pyspnego (`tests/ntlm_acceptor.py`).

mod support;

use rpa_auth::emulator::WindowsAuthMode;
use rpa_auth::emulator::uipath::{UiPathEmulator, UiPathEmulatorBuilder};
use rpa_auth::ntlm::Scheme;
use rpa_auth::{
    AuthClient, Error, ExposeSecret, Placement, RejectReason, SecretString, UiPathNtlmLogin,
};
use support::env_vars::{config_message, vars, with};
use support::ntlm_server::{self, Mode};
use support::pyspnego::start_acceptor;

const PASSWORD: &str = "Dom4in-Pass!";

fn orchestrator() -> UiPathEmulatorBuilder {
    UiPathEmulator::builder().windows_user("CORP", "robot", PASSWORD)
}

fn ntlm_login(emulator: &UiPathEmulator, password: &str) -> UiPathNtlmLogin {
    UiPathNtlmLogin::new(
        emulator.url().as_str(),
        r"CORP\robot",
        SecretString::from(password.to_owned()),
    )
    .unwrap()
}

async fn current_user(client: &AuthClient) -> String {
    let response = client
        .get("odata/Users/UiPath.Server.Configuration.OData.GetCurrentUser")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    body["UserName"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn uipath_passthrough_with_both_schemes() {
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let emulator = orchestrator().start().await.unwrap();
        let client = AuthClient::new(ntlm_login(&emulator, PASSWORD).scheme(scheme)).unwrap();
        assert_eq!(current_user(&client).await, r"CORP\robot", "{scheme}");
        let credential = client.credential().await.unwrap();
        assert_eq!(credential.placement(), &Placement::Connection);
        assert!(
            credential.secret().expose_secret().is_empty(),
            "no token: the connection is the credential"
        );
        assert_eq!(emulator.unexpected_requests(), 0);
    }
}

#[tokio::test]
async fn uipath_passthrough_wrong_password_is_one_typed_rejection() {
    let emulator = orchestrator().start().await.unwrap();
    let client = AuthClient::new(ntlm_login(&emulator, "wrong-Pass")).unwrap();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("odata/Robots").send().await })
        })
        .collect();
    for call in calls {
        let error = call.await.unwrap().unwrap_err();
        assert_eq!(
            error.reject_reason(),
            Some(RejectReason::BadCredentials),
            "{error}"
        );
        let text = error.to_string();
        assert!(text.starts_with("uipath-ntlm: "), "{text}");
        assert!(
            text.contains("GetCurrentUser"),
            "names the endpoint: {text}"
        );
        assert!(text.contains("scheme NTLM"), "names the scheme: {text}");
        assert!(!text.contains("wrong-Pass"));
    }
    assert_eq!(
        emulator.windows_rejections(),
        1,
        "20 callers, one failed handshake"
    );
}

#[tokio::test]
async fn sequential_calls_reuse_one_authenticated_connection() {
    let emulator = orchestrator().start().await.unwrap();
    let login = ntlm_login(&emulator, PASSWORD);
    let client = AuthClient::new(login).unwrap();
    for _ in 0..3 {
        assert_eq!(
            client.get("odata/Robots").send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        emulator.handshakes(),
        1,
        "probe and three calls on one connection"
    );
    assert_eq!(emulator.calls(), 4);
}

#[tokio::test]
async fn concurrent_calls_authenticate_one_connection_each_not_one_per_request() {
    let emulator = orchestrator().start().await.unwrap();
    let client = AuthClient::new(ntlm_login(&emulator, PASSWORD).max_connections(4)).unwrap();
    client.credential().await.unwrap();
    for _round in 0..3 {
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(
                    async move { client.get("odata/Robots").send().await.map(|r| r.status()) },
                )
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap(), 200);
        }
    }
    let handshakes = emulator.handshakes();
    assert!(
        (1..=4).contains(&handshakes),
        "at most one handshake per pooled connection, got {handshakes}"
    );
    assert_eq!(emulator.calls(), 61);
}

#[tokio::test]
async fn server_that_rechallenges_every_request_gets_a_handshake_per_request() {
    let emulator = orchestrator()
        .windows_auth_mode(WindowsAuthMode::RechallengeEveryRequest)
        .start()
        .await
        .unwrap();
    let client = AuthClient::new(ntlm_login(&emulator, PASSWORD)).unwrap();
    for _ in 0..3 {
        assert_eq!(
            client.get("odata/Robots").send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(emulator.handshakes(), 4, "the probe and each call");
}

#[tokio::test]
async fn bearer_login_still_works_beside_windows_auth() {
    let emulator = orchestrator()
        .user("admin", "local-pass")
        .start()
        .await
        .unwrap();
    let login = rpa_auth::UiPathBearerLogin::new(
        emulator.url().as_str(),
        "admin",
        SecretString::from("local-pass"),
    )
    .unwrap();
    let client = AuthClient::new(login).unwrap();
    assert_eq!(current_user(&client).await, "admin");
    assert_eq!(emulator.handshakes(), 0);
}

#[tokio::test]
async fn malformed_challenge_is_a_typed_error_naming_endpoint_and_scheme() {
    for challenge in [
        "NTLM !!!not-base64!!!",
        "NTLM TlRMTVNTUAACAAAA",
        "NTLM AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let running = ntlm_server::start(Mode::FixedChallenge(challenge.to_owned())).await;
        let addr = running.addr();
        let login = UiPathNtlmLogin::new(
            &format!("http://{addr}/"),
            r"CORP\alice",
            SecretString::from("Corr3ct-Horse"),
        )
        .unwrap();
        let error = AuthClient::new(login)
            .unwrap()
            .credential()
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::WindowsAuth { .. }),
            "{challenge}: {error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("GET /odata/Users"), "{text}");
        assert!(text.contains("malformed ntlm challenge"), "{text}");
        assert!(!text.contains("Corr3ct-Horse"));
    }
}

#[tokio::test]
async fn server_without_windows_auth_is_reported_as_such() {
    let running = ntlm_server::start(Mode::BasicOnly).await;
    let addr = running.addr();
    let login = UiPathNtlmLogin::new(
        &format!("http://{addr}/"),
        r"CORP\alice",
        SecretString::from("x"),
    )
    .unwrap();
    let error = AuthClient::new(login)
        .unwrap()
        .credential()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("does not offer ntlm or negotiate"),
        "{error}"
    );
    assert!(
        error.to_string().contains("GET /odata/Users/"),
        "names the endpoint: {error}"
    );
}

#[tokio::test]
async fn uipath_passthrough_sends_folder_and_tenant_headers() {
    let emulator = orchestrator().start().await.unwrap();
    let without = AuthClient::new(ntlm_login(&emulator, PASSWORD)).unwrap();
    assert_eq!(
        without.get("odata/Jobs").send().await.unwrap().status(),
        400,
        "folder-scoped: 1101"
    );
    let with = AuthClient::new(
        ntlm_login(&emulator, PASSWORD)
            .folder_id(4)
            .tenant_header("Default")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(with.get("odata/Jobs").send().await.unwrap().status(), 200);
    let sent = emulator.recorded();
    let last = sent.last().unwrap();
    assert_eq!(last.headers["x-uipath-organizationunitid"], "4");
    assert_eq!(last.headers["x-uipath-tenantname"], "Default");
}

const NTLM_ENV: &[(&str, &str)] = &[
    ("UIPATH_URL", "https://orch.corp.example/"),
    ("UIPATH_USERNAME", "robot"),
    ("UIPATH_PASSWORD", PASSWORD),
    ("UIPATH_DOMAIN", "CORP"),
];

/// Values no error may quote: the password, and a URL's password.
const WINDOWS_SECRETS: &[&str] = &[PASSWORD, "url-Pa55"];

#[test]
fn from_env_reads_user_and_domain() {
    let debug = |pairs: &[(String, String)]| {
        format!("{:?}", UiPathNtlmLogin::from_env_with(vars(pairs)).unwrap())
    };
    let no_domain = with(NTLM_ENV, "UIPATH_DOMAIN", None);
    for (pairs, user, domain) in [
        (
            with(NTLM_ENV, "UIPATH_DOMAIN", Some("CORP")),
            "robot",
            "CORP",
        ),
        (
            with(&no_domain, "UIPATH_USERNAME", Some(r"CORP\robot")),
            "robot",
            "CORP",
        ),
        (
            with(&no_domain, "UIPATH_USERNAME", Some("robot@corp.example")),
            "robot@corp.example",
            "",
        ),
        // UIPATH_DOMAIN replaces a domain in the user name.
        (
            with(NTLM_ENV, "UIPATH_USERNAME", Some(r"OLD\robot")),
            "robot",
            "CORP",
        ),
    ] {
        let text = debug(&pairs);
        assert!(
            text.contains(&format!(r#"user: "{user}", domain: "{domain}""#)),
            "{text}"
        );
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

#[test]
fn from_env_names_the_missing_variable() {
    // With the `kerberos` feature no password means the current user (see below), so only the others are
    // missing then.
    let kerberos = cfg!(feature = "kerberos");
    for name in ["UIPATH_URL", "UIPATH_USERNAME", "UIPATH_PASSWORD"] {
        if kerberos && name == "UIPATH_PASSWORD" {
            continue;
        }
        let error = UiPathNtlmLogin::from_env_with(vars(&with(NTLM_ENV, name, None))).unwrap_err();
        assert_eq!(error.backend(), "uipath-ntlm");
        let message = config_message(error, WINDOWS_SECRETS);
        assert!(
            message.contains(name) && message.contains("not set"),
            "{message}"
        );
    }
    if kerberos {
        // No password: the current user, and no user name needed.
        let pairs = with(
            &with(NTLM_ENV, "UIPATH_PASSWORD", None),
            "UIPATH_USERNAME",
            None,
        );
        let login = UiPathNtlmLogin::from_env_with(vars(&pairs)).unwrap();
        assert!(
            format!("{login:?}").contains("credentials: None"),
            "{login:?}"
        );
    }
    // The domain is optional.
    UiPathNtlmLogin::from_env_with(vars(&with(NTLM_ENV, "UIPATH_DOMAIN", None))).unwrap();
}

#[test]
fn from_env_names_the_malformed_variable() {
    let url_new = "https://robot:url-Pa55@orch.corp.example/";
    for (name, value) in [
        ("UIPATH_URL", "orch.corp.example"),
        ("UIPATH_URL", url_new),
        ("UIPATH_USERNAME", r"CORP\"),
        ("UIPATH_USERNAME", "@corp.example"),
        ("UIPATH_PASSWORD", ""),
    ] {
        // With the `kerberos` feature a blank password, like an unset one, means the current user.
        if cfg!(feature = "kerberos") && name == "UIPATH_PASSWORD" {
            continue;
        }
        let error =
            UiPathNtlmLogin::from_env_with(vars(&with(NTLM_ENV, name, Some(value)))).unwrap_err();
        let message = config_message(error, WINDOWS_SECRETS);
        assert!(message.contains(name), "{name}={value}: {message}");
    }
}

#[tokio::test]
async fn from_env_logs_in() {
    let emulator = orchestrator().start().await.unwrap();
    let url = emulator.url().to_string();
    let pairs = with(NTLM_ENV, "UIPATH_URL", Some(&url));
    let client = AuthClient::new(UiPathNtlmLogin::from_env_with(vars(&pairs)).unwrap()).unwrap();
    assert_eq!(current_user(&client).await, r"CORP\robot");
    assert_eq!(emulator.unexpected_requests(), 0);
}

#[tokio::test]
async fn uipath_ntlm_passthrough_against_pyspnego() {
    let (_child, port) = start_acceptor().await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let login = UiPathNtlmLogin::new(
            &format!("http://127.0.0.1:{port}/"),
            r"CORP\alice",
            SecretString::from(support::pyspnego::PASSWORD),
        )
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
            &format!("http://127.0.0.1:{port}/"),
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

#[test]
fn debug_of_the_login_is_redacted() {
    let login = UiPathNtlmLogin::new(
        "https://orch.example.com/",
        r"CORP\robot",
        SecretString::from("pa55-w0rd"),
    )
    .unwrap();
    let text = format!("{login:?}");
    assert!(!text.contains("pa55-w0rd"), "{text}");
}
