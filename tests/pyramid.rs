//! Pyramid Analytics password login against the built-in emulator.

mod support;

use std::time::Duration;

use rpa_auth::emulator::Fault;
use rpa_auth::emulator::pyramid::{BadLoginReply, PyramidEmulator, TokenReply};
use rpa_auth::{AuthClient, Error, ExposeSecret, Placement, RejectReason, SecretString};
use rpa_auth::{PyramidApi, PyramidPasswordLogin, PyramidPlacement};
use serde_json::json;
use support::env_vars::{config_message, vars, with};

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
