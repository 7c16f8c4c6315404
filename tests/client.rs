//! The shared request wrapper, with a counting fake authenticator: caching, refresh, single flight,
//! 401 retry, failure sharing, and the security rules.

mod support;

use std::time::Duration;

use rpa_auth::{
    AuthClient, Endpoint, Error, RejectReason, SecretString, ServerMessage, UiPathBearerLogin,
};
use support::servers::{self, TokenServer};
use support::{Counting, bearer};

const BASE: &str = "http://127.0.0.1:9/";
const TEN_MINUTES: Duration = Duration::from_secs(600);

fn rejected() -> Error {
    Error::login_rejected(
        "fake",
        Endpoint::new(
            reqwest::Method::POST,
            &url::Url::parse("http://127.0.0.1:9/login").unwrap(),
        ),
        reqwest::StatusCode::BAD_REQUEST,
        RejectReason::BadCredentials,
        Some(ServerMessage::new(
            "errorCode",
            Some("1000".into()),
            Some("Invalid credentials".into()),
        )),
    )
}

fn busy(status: u16, retry_after: Option<Duration>) -> Error {
    Error::unexpected_status(
        "fake",
        Endpoint::new(
            reqwest::Method::POST,
            &url::Url::parse("http://127.0.0.1:9/login").unwrap(),
        ),
        reqwest::StatusCode::from_u16(status).unwrap(),
        retry_after,
        None,
    )
}

fn secret_text(credential: &rpa_auth::Credential) -> String {
    use rpa_auth::ExposeSecret;
    credential.secret().expose_secret().to_owned()
}

#[tokio::test(start_paused = true)]
async fn reuses_cached_token_until_refresh_window() {
    let counting = Counting::new();
    let client = AuthClient::new(
        counting.authenticator(BASE, Duration::ZERO, |n| Ok(bearer(n, TEN_MINUTES))),
    )
    .unwrap();

    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-1");
    tokio::time::advance(Duration::from_secs(4 * 60)).await;
    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-1");
    settle().await;
    assert_eq!(counting.count(), 1);

    // Default buffer is 5 minutes (the refresh point jittered up to 30 s earlier): at 5 min 1 s after
    // issue we are inside it. The still-valid token is served at once and renewed in the background.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-1");
    assert_eq!(support::renewed(&client, "token-1").await, "token-2");
    assert_eq!(counting.count(), 2);
}

/// Lets the background refresh run (the paused clock moves on only when every task waits).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn short_lived_token_is_refreshed_at_half_its_life() {
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(BASE, Duration::ZERO, |n| {
        Ok(bearer(n, Duration::from_secs(60)))
    }))
    .unwrap();
    client.credential().await.unwrap();
    // Half of 60 s is 30 s, jittered up to 3 s earlier.
    tokio::time::advance(Duration::from_secs(26)).await;
    client.credential().await.unwrap();
    settle().await;
    assert_eq!(counting.count(), 1);
    tokio::time::advance(Duration::from_secs(5)).await;
    client.credential().await.unwrap();
    settle().await;
    assert_eq!(counting.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn thousand_concurrent_callers_cause_one_login() {
    let counting = Counting::new();
    let client = AuthClient::new(
        counting.authenticator(BASE, Duration::from_millis(50), |n| {
            Ok(bearer(n, TEN_MINUTES))
        }),
    )
    .unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.credential().await.map(|c| secret_text(&c)) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), "token-1");
    }
    assert_eq!(counting.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_with_wrong_password_cause_one_attempt() {
    let counting = Counting::new();
    let client = AuthClient::new(
        counting.authenticator(BASE, Duration::from_millis(50), |_| Err(rejected())),
    )
    .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.credential().await })
        })
        .collect();
    for task in tasks {
        let error = task.await.unwrap().unwrap_err();
        assert_eq!(error.reject_reason(), Some(RejectReason::BadCredentials));
    }
    assert_eq!(
        counting.count(),
        1,
        "one failed attempt, not one per caller"
    );

    // Within the cooldown the rejection is answered from memory; after it, one new attempt.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(client.credential().await.unwrap_err().is_login_rejected());
    assert_eq!(counting.count(), 1);
    tokio::time::advance(rpa_auth::client::DEFAULT_REJECTED_LOGIN_COOLDOWN).await;
    assert!(client.credential().await.is_err());
    assert_eq!(counting.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn transient_failure_is_shared_by_waiters_but_not_remembered() {
    let counting = Counting::new();
    let client =
        AuthClient::builder(
            counting.authenticator(BASE, Duration::from_millis(10), |n| {
                if n == 1 {
                    Err(busy(500, None))
                } else {
                    Ok(bearer(n, TEN_MINUTES))
                }
            }),
        )
        .build()
        .unwrap();
    let (a, b) = tokio::join!(client.credential(), client.credential());
    assert!(a.is_err() && b.is_err());
    assert_eq!(counting.count(), 1);
    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-2");
}

#[tokio::test(start_paused = true)]
async fn failed_early_refresh_keeps_the_valid_token() {
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(BASE, Duration::ZERO, |n| {
        if n == 1 {
            Ok(bearer(n, TEN_MINUTES))
        } else {
            Err(busy(502, None))
        }
    }))
    .unwrap();
    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-1");

    tokio::time::advance(Duration::from_secs(6 * 60)).await; // inside the refresh window, still valid
    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-1");
    settle().await;
    assert_eq!(counting.count(), 2, "one refresh attempt");
    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-1");
    settle().await;
    assert_eq!(
        counting.count(),
        2,
        "no new attempt before the retry interval"
    );

    tokio::time::advance(rpa_auth::client::DEFAULT_REFRESH_RETRY_INTERVAL).await;
    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-1");
    settle().await;
    assert_eq!(counting.count(), 3);

    tokio::time::advance(Duration::from_secs(5 * 60)).await; // expired now: the error surfaces
    assert_eq!(
        client.credential().await.unwrap_err().status(),
        Some(reqwest::StatusCode::BAD_GATEWAY)
    );
}

#[tokio::test(start_paused = true)]
async fn login_answered_429_is_retried_after_retry_after() {
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(BASE, Duration::ZERO, |n| {
        if n == 1 {
            Err(busy(429, Some(Duration::from_secs(3))))
        } else {
            Ok(bearer(n, TEN_MINUTES))
        }
    }))
    .unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(secret_text(&client.credential().await.unwrap()), "token-2");
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(counting.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn login_retries_are_bounded() {
    let counting = Counting::new();
    let client =
        AuthClient::builder(counting.authenticator(BASE, Duration::ZERO, |_| Err(busy(503, None))))
            .login_retries(2)
            .build()
            .unwrap();
    let error = client.credential().await.unwrap_err();
    assert_eq!(
        error.status(),
        Some(reqwest::StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(counting.count(), 3, "first try and two retries");

    // A Retry-After beyond the cap is not waited for.
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(BASE, Duration::ZERO, |_| {
        Err(busy(429, Some(Duration::from_secs(3600))))
    }))
    .unwrap();
    assert_eq!(
        client.credential().await.unwrap_err().retry_after(),
        Some(Duration::from_secs(3600))
    );
    assert_eq!(counting.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn rejected_login_is_never_retried_by_itself() {
    let counting = Counting::new();
    let client =
        AuthClient::new(counting.authenticator(BASE, Duration::ZERO, |_| Err(rejected()))).unwrap();
    assert!(client.credential().await.unwrap_err().is_login_rejected());
    assert_eq!(counting.count(), 1);
}

#[tokio::test]
async fn retries_once_after_401_with_a_fresh_login() {
    let server = TokenServer::start().await;
    server.accept("token-2");
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(&server.url(), Duration::ZERO, |n| {
        Ok(bearer(n, TEN_MINUTES))
    }))
    .unwrap();

    let response = client
        .post("items")
        .json(&serde_json::json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(counting.count(), 2);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1.as_deref(), Some("Bearer token-1"));
    assert_eq!(seen[1].1.as_deref(), Some("Bearer token-2"));
    assert_eq!(seen[1].2, seen[0].2, "the retry carries the same body");

    // The new token is reused afterwards.
    assert_eq!(client.get("items").send().await.unwrap().status(), 200);
    assert_eq!(counting.count(), 2);
}

#[tokio::test]
async fn second_401_is_an_error_not_a_loop() {
    let server = TokenServer::start().await;
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(&server.url(), Duration::ZERO, |n| {
        Ok(bearer(n, TEN_MINUTES))
    }))
    .unwrap();
    let error = client.get("items").send().await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
    assert_eq!(error.endpoint().unwrap().to_string(), "GET /items");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(counting.count(), 2);
}

#[tokio::test]
async fn streaming_body_is_not_replayed_after_401() {
    let server = TokenServer::start().await;
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(&server.url(), Duration::ZERO, |n| {
        Ok(bearer(n, TEN_MINUTES))
    }))
    .unwrap();
    let stream = reqwest::Body::wrap(http_body_util::Full::new(bytes::Bytes::from_static(
        b"payload",
    )));
    let error = client.post("upload").body(stream).send().await.unwrap_err();
    assert!(
        matches!(error, Error::BodyNotReplayable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("POST /upload"));
    assert_eq!(server.requests().len(), 1, "not sent twice");

    // The rejected credential was dropped: the next request logs in again.
    server.accept("token-2");
    assert_eq!(client.get("items").send().await.unwrap().status(), 200);
    assert_eq!(counting.count(), 2);
}

#[tokio::test]
async fn credential_is_never_sent_to_another_origin() {
    let server = TokenServer::start().await;
    let other = TokenServer::start().await;
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(&server.url(), Duration::ZERO, |n| {
        Ok(bearer(n, TEN_MINUTES))
    }))
    .unwrap();
    let error = client
        .get(&format!("{}steal", other.url()))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Request { .. }), "{error:?}");
    assert!(error.to_string().contains("credentials are only sent to"));
    assert!(other.requests().is_empty());
    assert_eq!(
        counting.count(),
        0,
        "no login for a request that is refused"
    );
}

#[test]
fn plain_http_is_refused_for_remote_hosts_unless_allowed() {
    let counting = Counting::new();
    let remote = || {
        counting.authenticator("http://orchestrator.example.com/", Duration::ZERO, |n| {
            Ok(bearer(n, TEN_MINUTES))
        })
    };
    let error = AuthClient::new(remote()).unwrap_err();
    assert!(matches!(error, Error::Config { .. }));
    assert!(error.to_string().contains("plain http://"));
    assert!(
        AuthClient::builder(remote())
            .allow_http(true)
            .build()
            .is_ok()
    );
    assert!(
        AuthClient::new(
            counting.authenticator("http://localhost:8080/", Duration::ZERO, |n| Ok(bearer(
                n,
                TEN_MINUTES
            )))
        )
        .is_ok()
    );
    assert!(
        AuthClient::new(counting.authenticator(
            "https://orchestrator.example.com/",
            Duration::ZERO,
            |n| Ok(bearer(n, TEN_MINUTES))
        ))
        .is_ok()
    );
}

/// The wrapper's types; each backend's login is checked in its own test file.
#[test]
fn debug_of_secret_holding_types_is_redacted() {
    let login = UiPathBearerLogin::new(
        "https://orch.example.com/",
        "admin",
        SecretString::from("pa55-w0rd"),
    )
    .unwrap();
    let client = AuthClient::new(login.clone()).unwrap();
    let credential = bearer(7, TEN_MINUTES);
    let builder = AuthClient::builder(login.clone());
    let middleware = rpa_auth::middleware::AuthMiddleware::new(client.clone());
    for text in [
        format!("{client:?}"),
        format!("{builder:?}"),
        format!("{middleware:?}"),
        format!("{credential:?}"),
        format!("{:?}", client.get("odata/Jobs")),
    ] {
        assert!(!text.contains("pa55-w0rd"), "{text}");
        assert!(!text.contains("token-7"), "{text}");
    }
}

#[tokio::test]
async fn fifty_requests_answered_401_for_the_same_token_cause_one_new_login() {
    let server = TokenServer::start().await;
    server.accept("token-2");
    let counting = Counting::new();
    let client = AuthClient::new(counting.authenticator(
        &server.url(),
        std::time::Duration::from_millis(20),
        |n| Ok(bearer(n, TEN_MINUTES)),
    ))
    .unwrap();
    client.credential().await.unwrap(); // token-1, which the server refuses
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("items").send().await.map(|r| r.status()) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 200);
    }
    assert_eq!(
        counting.count(),
        2,
        "one login, then one re-login shared by all 50"
    );
}

#[tokio::test]
async fn a_login_answered_with_a_redirect_is_refused_and_nothing_reaches_the_target() {
    // A server answers every request with a 307 to `target`.
    let target = TokenServer::start().await;
    let redirecting = servers::redirecting_to(&format!("{}steal", target.url())).await;
    let addr = redirecting.addr();
    let login = UiPathBearerLogin::new(
        &format!("http://{addr}/"),
        "admin",
        SecretString::from("redirect-pw"),
    )
    .unwrap();
    let error = AuthClient::new(login)
        .unwrap()
        .credential()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidResponse { .. }), "{error:?}");
    assert!(
        error.to_string().contains("redirected the login"),
        "{error}"
    );
    assert!(target.requests().is_empty(), "the password was not sent on");
}
