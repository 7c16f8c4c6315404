//! Pyramid Analytics password login and Windows SSO against the built-in emulator; Windows SSO also against
//! pyspnego.

mod support;

use std::time::Duration;

use rpa_auth::emulator::Fault;
use rpa_auth::emulator::pyramid::{BadLoginReply, PyramidEmulator, TokenReply};
use rpa_auth::ntlm::Scheme;
use rpa_auth::{AuthClient, Error, ExposeSecret, Placement, RejectReason, SecretString};
use rpa_auth::{PyramidApi, PyramidPasswordLogin, PyramidPlacement, PyramidWindowsLogin};
use serde_json::json;
use support::env_vars::{config_message, vars, with};
use support::pyspnego::start_acceptor;

const PASSWORD: &str = "Pyr4mid-pass";

async fn pyramid() -> PyramidEmulator {
    PyramidEmulator::builder()
        .user("analyst", PASSWORD)
        .start()
        .await
        .unwrap()
}

fn login(emulator: &PyramidEmulator, password: &str) -> PyramidPasswordLogin {
    PyramidPasswordLogin::new(
        emulator.url().as_str(),
        "analyst",
        SecretString::from(password.to_owned()),
    )
    .unwrap()
}

async fn json(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn api2_login_puts_the_token_in_the_body_and_getme_answers() {
    let emulator = pyramid().await;
    let client = AuthClient::new(login(&emulator, PASSWORD)).unwrap();
    let me = json(client.post("API2/access/getMe").send().await.unwrap()).await;
    assert_eq!(me["data"]["userName"], "analyst");
    let sent = emulator.recorded();
    assert_eq!(sent[0].path, "/API2/auth/authenticateUser");
    assert_eq!(emulator.logins(), 1);
    assert_eq!(emulator.unexpected_requests(), 0);
}

#[tokio::test]
async fn token_with_plus_slash_equals_arrives_unchanged() {
    for reply in [TokenReply::Bare, TokenReply::JsonString] {
        let emulator = PyramidEmulator::builder()
            .user("analyst", PASSWORD)
            .token_reply(reply)
            .start()
            .await
            .unwrap();
        let client = AuthClient::new(login(&emulator, PASSWORD)).unwrap();
        let credential = client.credential().await.unwrap();
        let token = credential.secret().expose_secret();
        assert!(
            token.contains('+') && token.contains('/') && token.ends_with('='),
            "{reply:?}"
        );
        // API2 body, API3 header and cookie each carry it intact: the server accepts it.
        assert_eq!(
            client
                .post("API2/access/getMe")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let api3 = AuthClient::new(login(&emulator, PASSWORD).api(PyramidApi::Api3)).unwrap();
        assert_eq!(
            api3.post("API3/access/getMe")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let cookie =
            AuthClient::new(login(&emulator, PASSWORD).placement(PyramidPlacement::Cookie))
                .unwrap();
        assert_eq!(
            cookie
                .post("API2/access/getMe")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(emulator.rejected_calls(), 0);
    }
}

#[tokio::test]
async fn auth_is_added_to_a_body_that_already_has_fields() {
    let emulator = pyramid().await;
    let client = AuthClient::new(login(&emulator, PASSWORD)).unwrap();
    let body =
        json!({ "data": { "folderId": "f-1", "nested": { "list": [1, 2, 3] } }, "userId": "u+/=" });
    let answer = json(
        client
            .post("API2/query/extractQueryResult")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        answer["data"]["received"], body,
        "every other field arrives as it was"
    );
    let sent = emulator.recorded();
    let content_type = sent.last().unwrap().headers["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/json");
}

#[tokio::test]
async fn api3_uses_the_flat_body_and_patoken_header() {
    let emulator = pyramid().await;
    let client = AuthClient::new(login(&emulator, PASSWORD).api(PyramidApi::Api3)).unwrap();
    let credential = client.credential().await.unwrap();
    assert_eq!(
        credential.placement(),
        &Placement::Header(reqwest::header::HeaderName::from_static("patoken"))
    );
    let me = json(client.post("API3/access/getMe").send().await.unwrap()).await;
    assert_eq!(me["data"]["userName"], "analyst");
    let sent = emulator.recorded();
    assert_eq!(sent[0].path, "/API3/authentication/authenticateUser");
    let call = sent.last().unwrap();
    assert_eq!(
        call.headers["patoken"].to_str().unwrap(),
        credential.secret().expose_secret()
    );
}

#[tokio::test]
async fn wrong_password_is_a_rejection_naming_the_endpoint() {
    for reply in [BadLoginReply::Unauthorized, BadLoginReply::ServerError] {
        let emulator = PyramidEmulator::builder()
            .user("analyst", PASSWORD)
            .bad_login_reply(reply)
            .start()
            .await
            .unwrap();
        let error = AuthClient::new(login(&emulator, "nope-wrong"))
            .unwrap()
            .credential()
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("pyramid: "), "{text}");
        assert!(text.contains("POST /API2/auth/authenticateUser"), "{text}");
        assert!(!text.contains("nope-wrong"));
        if reply == BadLoginReply::Unauthorized {
            assert_eq!(error.reject_reason(), Some(RejectReason::BadCredentials));
        } else {
            assert_eq!(
                error.status(),
                Some(reqwest::StatusCode::INTERNAL_SERVER_ERROR)
            );
            assert!(
                error.is_login_rejected(),
                "a bare 500 at login counts as a refusal: {error}"
            );
        }
        assert_eq!(emulator.failed_logins(), 1);
    }
}

#[tokio::test]
async fn expired_token_is_renewed_on_the_401_page() {
    let emulator = pyramid().await;
    let client = AuthClient::new(login(&emulator, PASSWORD)).unwrap();
    let body = json!({ "data": { "x": 1 } });
    assert_eq!(
        client
            .post("API2/x/y")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    emulator.expire_all_tokens();
    let answer = json(client.post("API2/x/y").json(&body).send().await.unwrap()).await;
    assert_eq!(answer["data"]["received"], body);
    assert_eq!(emulator.rejected_calls(), 1);
    assert_eq!(emulator.logins(), 2);
}

#[tokio::test]
async fn short_token_lifetime_renews_before_use() {
    let emulator = PyramidEmulator::builder()
        .user("analyst", PASSWORD)
        .token_lifetime(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let client =
        AuthClient::new(login(&emulator, PASSWORD).token_lifetime(Duration::from_secs(1))).unwrap();
    assert_eq!(
        client
            .post("API2/access/getMe")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        client
            .post("API2/access/getMe")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(emulator.logins(), 2);
    assert_eq!(emulator.rejected_calls(), 0);
}

#[tokio::test]
async fn html_or_empty_200_is_not_a_token() {
    let emulator = pyramid().await;
    emulator.inject(
        Fault::HtmlPage { status: 200 },
        Some("/API2/auth/authenticateUser"),
        1,
    );
    let client = AuthClient::new(login(&emulator, PASSWORD)).unwrap();
    let error = client.credential().await.unwrap_err();
    assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
    assert!(error.to_string().contains("HTML page"));
    // The client keeps working.
    assert!(client.credential().await.is_ok());
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_before_sending() {
    let emulator = pyramid().await;
    let client = AuthClient::new(login(&emulator, PASSWORD)).unwrap();
    let error = client
        .post("API2/x/y")
        .json(&json!([1, 2]))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Request { .. }), "{error:?}");
    assert!(error.to_string().contains("not a JSON object"));
    assert_eq!(emulator.calls(), 0);
}

const PYRAMID_ENV: &[(&str, &str)] = &[
    ("PYRAMID_URL", "https://pyramid.example.com/"),
    ("PYRAMID_USERNAME", "analyst"),
    ("PYRAMID_PASSWORD", PASSWORD),
    ("PYRAMID_DOMAIN", "embedded"),
    ("PYRAMID_API", "API3"),
];

/// Values no error may quote: the password, and a URL's password.
const PYRAMID_SECRETS: &[&str] = &[PASSWORD, "url-Pa55"];

#[test]
fn password_login_from_env_reads_every_variable() {
    let login = PyramidPasswordLogin::from_env_with(vars(PYRAMID_ENV)).unwrap();
    let debug = format!("{login:?}");
    assert!(debug.contains(r#"username: "analyst""#), "{debug}");
    assert!(debug.contains(r#"domain: Some("embedded")"#), "{debug}");
    assert!(debug.contains("api: Api3"), "{debug}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    for (value, api) in [("2", "Api2"), ("3", "Api3"), ("api2", "Api2")] {
        let pairs = with(PYRAMID_ENV, "PYRAMID_API", Some(value));
        let login = PyramidPasswordLogin::from_env_with(vars(&pairs)).unwrap();
        assert!(
            format!("{login:?}").contains(&format!("api: {api}")),
            "{value}"
        );
    }
}

#[test]
fn password_login_from_env_names_the_missing_variable() {
    for name in ["PYRAMID_URL", "PYRAMID_USERNAME", "PYRAMID_PASSWORD"] {
        let error =
            PyramidPasswordLogin::from_env_with(vars(&with(PYRAMID_ENV, name, None))).unwrap_err();
        assert_eq!(error.backend(), "pyramid");
        let message = config_message(error, PYRAMID_SECRETS);
        assert!(
            message.contains(name) && message.contains("not set"),
            "{message}"
        );
    }
    // Optional ones may be absent: API2 and no domain.
    let pairs = with(
        &with(PYRAMID_ENV, "PYRAMID_DOMAIN", None),
        "PYRAMID_API",
        None,
    );
    let login = PyramidPasswordLogin::from_env_with(vars(&pairs)).unwrap();
    let debug = format!("{login:?}");
    assert!(
        debug.contains("domain: None") && debug.contains("api: Api2"),
        "{debug}"
    );
}

#[test]
fn password_login_from_env_names_the_malformed_variable() {
    for (name, value) in [
        ("PYRAMID_URL", "pyramid.example.com"),
        (
            "PYRAMID_URL",
            "https://analyst:url-Pa55@pyramid.example.com/",
        ),
        ("PYRAMID_USERNAME", " "),
        ("PYRAMID_PASSWORD", ""),
        ("PYRAMID_API", "4"),
        ("PYRAMID_API", "API"),
    ] {
        let error =
            PyramidPasswordLogin::from_env_with(vars(&with(PYRAMID_ENV, name, Some(value))))
                .unwrap_err();
        let message = config_message(error, PYRAMID_SECRETS);
        assert!(message.contains(name), "{name}={value}: {message}");
    }
}

#[tokio::test]
async fn password_login_from_env_logs_in() {
    let emulator = pyramid().await;
    let url = emulator.url().to_string();
    for (api, me) in [("2", "API2/access/getMe"), ("3", "API3/access/getMe")] {
        let pairs = [
            ("PYRAMID_URL", url.as_str()),
            ("PYRAMID_USERNAME", "analyst"),
            ("PYRAMID_PASSWORD", PASSWORD),
            ("PYRAMID_API", api),
        ];
        let login = PyramidPasswordLogin::from_env_with(vars(&pairs)).unwrap();
        let client = AuthClient::new(login).unwrap();
        let me = json(client.post(me).json(&json!({})).send().await.unwrap()).await;
        assert_eq!(me["data"]["userName"], "analyst", "API{api}");
    }
    assert_eq!((emulator.logins(), emulator.failed_logins()), (2, 0));
    assert_eq!(emulator.unexpected_requests(), 0);
}

// Windows SSO (`PyramidWindowsLogin`) against the emulator, whose acceptor verifies NTLMv2 for real, and
// against an independent acceptor, pyspnego (`tests/ntlm_acceptor.py`).

/// The Windows password of `CORP\analyst` in the emulator.
const WINDOWS_PASSWORD: &str = "Dom4in-Pass!";

#[tokio::test]
async fn pyramid_windows_login_yields_a_working_token() {
    for (api, me) in [
        (PyramidApi::Api2, "API2/access/getMe"),
        (PyramidApi::Api3, "API3/access/getMe"),
    ] {
        for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
            let emulator = PyramidEmulator::builder()
                .windows_user("CORP", "analyst", WINDOWS_PASSWORD)
                .start()
                .await
                .unwrap();
            let login = PyramidWindowsLogin::new(
                emulator.url().as_str(),
                "analyst@CORP",
                SecretString::from(WINDOWS_PASSWORD),
            )
            .unwrap()
            .api(api)
            .scheme(scheme);
            let client = AuthClient::new(login).unwrap();
            let token = client.credential().await.unwrap();
            assert!(
                token.secret().expose_secret().contains('+'),
                "{api:?} {scheme}"
            );
            let response = client.post(me).send().await.unwrap();
            assert_eq!(response.status(), 200, "{api:?} {scheme}");
            let body: serde_json::Value =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            assert_eq!(body["data"]["userName"], r"CORP\analyst");
            assert_eq!(emulator.handshakes(), 1);
        }
    }
}

#[tokio::test]
async fn pyramid_windows_wrong_password_and_401_relogin() {
    let emulator = PyramidEmulator::builder()
        .windows_user("CORP", "analyst", WINDOWS_PASSWORD)
        .start()
        .await
        .unwrap();
    let wrong = PyramidWindowsLogin::new(
        emulator.url().as_str(),
        r"CORP\analyst",
        SecretString::from("bad"),
    )
    .unwrap();
    let error = AuthClient::new(wrong)
        .unwrap()
        .credential()
        .await
        .unwrap_err();
    assert!(error.is_login_rejected(), "{error}");
    assert!(
        error
            .to_string()
            .contains("POST /API2/auth/authenticateUserWindows"),
        "{error}"
    );

    let client = AuthClient::new(
        PyramidWindowsLogin::new(
            emulator.url().as_str(),
            r"CORP\analyst",
            SecretString::from(WINDOWS_PASSWORD),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        client
            .post("API2/access/getMe")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    emulator.expire_all_tokens();
    assert_eq!(
        client
            .post("API2/access/getMe")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        emulator.handshakes(),
        2,
        "a fresh Windows login after the 401"
    );
}

const PYRAMID_WINDOWS_ENV: &[(&str, &str)] = &[
    ("PYRAMID_URL", "https://pyramid.corp.example/"),
    ("PYRAMID_USERNAME", "analyst"),
    ("PYRAMID_PASSWORD", WINDOWS_PASSWORD),
    ("PYRAMID_DOMAIN", "CORP"),
    ("PYRAMID_API", "3"),
];

/// Values no Windows login error may quote: the password, and a URL's password.
const WINDOWS_SECRETS: &[&str] = &[WINDOWS_PASSWORD, "url-Pa55"];

#[test]
fn windows_login_from_env_reads_user_domain_and_api() {
    let login = PyramidWindowsLogin::from_env_with(vars(PYRAMID_WINDOWS_ENV)).unwrap();
    let text = format!("{login:?}");
    assert!(
        text.contains(r#"user: "analyst", domain: "CORP""#),
        "{text}"
    );
    assert!(
        text.contains("api: Api3") && !text.contains(WINDOWS_PASSWORD),
        "{text}"
    );
    let pairs = with(PYRAMID_WINDOWS_ENV, "PYRAMID_API", None);
    let login = PyramidWindowsLogin::from_env_with(vars(&pairs)).unwrap();
    assert!(format!("{login:?}").contains("api: Api2"));
}

#[test]
fn windows_login_from_env_names_the_missing_variable() {
    // With the `kerberos` feature no password means the current user (see below), so only the others are
    // missing then.
    let kerberos = cfg!(feature = "kerberos");
    for name in ["PYRAMID_URL", "PYRAMID_USERNAME", "PYRAMID_PASSWORD"] {
        if kerberos && name == "PYRAMID_PASSWORD" {
            continue;
        }
        let error =
            PyramidWindowsLogin::from_env_with(vars(&with(PYRAMID_WINDOWS_ENV, name, None)))
                .unwrap_err();
        assert_eq!(error.backend(), "pyramid-windows");
        let message = config_message(error, WINDOWS_SECRETS);
        assert!(
            message.contains(name) && message.contains("not set"),
            "{message}"
        );
    }
    if kerberos {
        // No password: the current user, and no user name needed.
        let pairs = with(
            &with(PYRAMID_WINDOWS_ENV, "PYRAMID_PASSWORD", None),
            "PYRAMID_USERNAME",
            None,
        );
        let login = PyramidWindowsLogin::from_env_with(vars(&pairs)).unwrap();
        assert!(
            format!("{login:?}").contains("credentials: None"),
            "{login:?}"
        );
    }
    // The domain is optional.
    PyramidWindowsLogin::from_env_with(vars(&with(PYRAMID_WINDOWS_ENV, "PYRAMID_DOMAIN", None)))
        .unwrap();
}

#[test]
fn windows_login_from_env_names_the_malformed_variable() {
    let url_new = "https://robot:url-Pa55@orch.corp.example/";
    for (name, value) in [
        ("PYRAMID_URL", url_new),
        ("PYRAMID_USERNAME", r"\analyst"),
        ("PYRAMID_PASSWORD", ""),
        ("PYRAMID_API", "API4"),
    ] {
        // With the `kerberos` feature a blank password, like an unset one, means the current user.
        if cfg!(feature = "kerberos") && name == "PYRAMID_PASSWORD" {
            continue;
        }
        let error =
            PyramidWindowsLogin::from_env_with(vars(&with(PYRAMID_WINDOWS_ENV, name, Some(value))))
                .unwrap_err();
        let message = config_message(error, WINDOWS_SECRETS);
        assert!(message.contains(name), "{name}={value}: {message}");
    }
}

#[tokio::test]
async fn windows_login_from_env_logs_in() {
    let emulator = PyramidEmulator::builder()
        .windows_user("CORP", "analyst", WINDOWS_PASSWORD)
        .start()
        .await
        .unwrap();
    let url = emulator.url().to_string();
    let pairs = with(PYRAMID_WINDOWS_ENV, "PYRAMID_URL", Some(&url));
    let client =
        AuthClient::new(PyramidWindowsLogin::from_env_with(vars(&pairs)).unwrap()).unwrap();
    let response = client.post("API3/access/getMe").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["data"]["userName"], r"CORP\analyst");
    assert_eq!(emulator.handshakes(), 1);
}

#[tokio::test]
async fn pyramid_windows_login_against_pyspnego() {
    let (_child, port) = start_acceptor().await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let login = PyramidWindowsLogin::new(
            &format!("http://127.0.0.1:{port}/"),
            "alice",
            SecretString::from(support::pyspnego::PASSWORD),
        )
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

        let wrong = PyramidWindowsLogin::new(
            &format!("http://127.0.0.1:{port}/"),
            r"CORP\alice",
            SecretString::from("nope"),
        )
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

#[test]
fn debug_of_the_emulator_builder_hides_passwords() {
    let text = format!(
        "{:?}",
        PyramidEmulator::builder()
            .user("analyst", "emu-pass-4")
            .windows_user("CORP", "a", "emu-pass-5")
    );
    assert!(!text.contains("emu-pass"), "{text}");
    assert!(text.contains("analyst"), "{text}");
}
