//! `AuthMiddleware` inside a reqwest-middleware chain, with reqwest-retry behind it.

use std::time::Duration;

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use rpa_auth::emulator::Fault;
use rpa_auth::emulator::uipath::UiPathEmulator;
use rpa_auth::middleware::AuthMiddleware;
use rpa_auth::{AuthClient, SecretString, UiPathBearerLogin};

const PASSWORD: &str = "Middle-Ware-1";

async fn setup() -> (UiPathEmulator, AuthClient, ClientWithMiddleware) {
    let emulator = UiPathEmulator::builder()
        .user("admin", PASSWORD)
        .start()
        .await
        .unwrap();
    let login = UiPathBearerLogin::new(
        emulator.url().as_str(),
        "admin",
        SecretString::from(PASSWORD),
    )
    .unwrap();
    let auth = AuthClient::new(login).unwrap();
    let retry = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(10), Duration::from_millis(50))
        .build_with_max_retries(2);
    let chain = ClientBuilder::new(auth.http().clone())
        .with(AuthMiddleware::new(auth.clone()))
        .with(RetryTransientMiddleware::new_with_policy(retry))
        .build();
    (emulator, auth, chain)
}

#[tokio::test]
async fn logs_in_once_and_places_the_bearer_token() {
    let (emulator, _auth, chain) = setup().await;
    let url = format!("{}odata/Robots", emulator.url());
    for _ in 0..3 {
        assert_eq!(chain.get(&url).send().await.unwrap().status(), 200);
    }
    assert_eq!(emulator.logins(), 1);
    let sent = emulator.recorded();
    assert!(
        sent.last().unwrap().headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
}

#[tokio::test]
async fn retry_middleware_behind_it_retries_503_with_the_credential() {
    let (emulator, _auth, chain) = setup().await;
    emulator.inject(
        Fault::Unavailable { retry_after: None },
        Some("/odata/Robots"),
        2,
    );
    let url = format!("{}odata/Robots", emulator.url());
    assert_eq!(chain.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(emulator.logins(), 1, "retries reuse the credential");
    assert_eq!(emulator.calls(), 1);
    let robots_requests = emulator
        .recorded()
        .iter()
        .filter(|r| r.path == "/odata/Robots")
        .count();
    assert_eq!(robots_requests, 3, "two 503s and the success");
}

#[tokio::test]
async fn expired_token_is_renewed_once_inside_the_chain() {
    let (emulator, auth, chain) = setup().await;
    let url = format!("{}odata/Robots", emulator.url());
    assert_eq!(chain.get(&url).send().await.unwrap().status(), 200);
    emulator.expire_all_tokens();
    assert_eq!(chain.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(emulator.logins(), 2);
    assert_eq!(emulator.rejected_calls(), 1);
    // The AuthClient it was made from shares the renewed credential.
    assert_eq!(auth.get("odata/Robots").send().await.unwrap().status(), 200);
    assert_eq!(emulator.logins(), 2);
}

#[tokio::test]
async fn login_errors_come_out_as_middleware_errors_naming_the_endpoint() {
    let emulator = UiPathEmulator::builder()
        .user("admin", PASSWORD)
        .start()
        .await
        .unwrap();
    let login = UiPathBearerLogin::new(
        emulator.url().as_str(),
        "admin",
        SecretString::from("bad-pass"),
    )
    .unwrap();
    let auth = AuthClient::new(login).unwrap();
    let chain = ClientBuilder::new(auth.http().clone())
        .with(AuthMiddleware::new(auth))
        .build();
    let error = chain
        .get(format!("{}odata/Robots", emulator.url()))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(error, reqwest_middleware::Error::Middleware(_)),
        "{error:?}"
    );
    let text = format!("{error:#}");
    assert!(text.contains("POST /api/Account/Authenticate"), "{text}");
    assert!(!text.contains("bad-pass"));
}

#[tokio::test]
async fn other_origins_are_refused_before_sending() {
    let (emulator, _auth, chain) = setup().await;
    let other = UiPathEmulator::builder().start().await.unwrap();
    let error = chain
        .get(format!("{}odata/Robots", other.url()))
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("credentials are only sent to"),
        "{error:#}"
    );
    assert_eq!(other.requests(), 0);
    assert_eq!(emulator.logins(), 0);
}
