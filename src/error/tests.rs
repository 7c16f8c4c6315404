//! Unit tests of `error`.

use super::*;

fn endpoint() -> Endpoint {
    let url =
        Url::parse("https://user:pw@orch.example.com/api/Account/Authenticate?token=abc").unwrap();
    Endpoint::new(Method::POST, &url)
}

#[test]
fn endpoint_drops_query_and_userinfo() {
    let text = endpoint().to_string();
    assert_eq!(text, "POST /api/Account/Authenticate");
}

#[test]
fn login_rejected_reads_as_one_line_with_server_code() {
    let error = Error::LoginRejected {
        backend: "uipath",
        endpoint: endpoint(),
        status: StatusCode::BAD_REQUEST,
        reason: RejectReason::BadCredentials,
        server: Some(ServerMessage::new(
            "errorCode",
            Some("1000".into()),
            Some("Invalid credentials, failed to login.".into()),
        )),
    };
    assert_eq!(
        error.to_string(),
        "uipath: invalid credentials: login rejected by POST /api/Account/Authenticate \
         (HTTP 400, errorCode 1000: Invalid credentials, failed to login.)"
    );
    assert!(error.is_login_rejected());
    assert!(!error.is_transient());
}

#[test]
fn error_stays_small() {
    assert!(
        std::mem::size_of::<Error>() <= 96,
        "{}",
        std::mem::size_of::<Error>()
    );
}

#[test]
fn hint_follows_the_server_text() {
    let message = ServerMessage::new("error", Some("invalid_client".into()), None)
        .with_hint("check the client secret");
    assert_eq!(
        message.to_string(),
        "error invalid_client; check the client secret"
    );
    let only_hint = ServerMessage::new("error", None, None).with_hint("use /identity");
    assert!(!only_hint.is_empty());
    assert_eq!(only_hint.to_string(), "use /identity");
}

#[test]
fn server_text_is_one_line() {
    let message = ServerMessage::new(
        "code",
        Some("A\r\n1".into()),
        Some("first\nsecond\t\u{7}third".into()),
    );
    assert_eq!(message.to_string(), "code A 1: first second third");
}

#[test]
fn server_text_is_truncated() {
    let long = "x".repeat(1000);
    let message = ServerMessage::new("code", None, Some(long));
    assert!(message.message().unwrap().chars().count() <= MAX_SERVER_TEXT + 1);
}

#[test]
fn status_error_reports_retry_after_and_is_transient() {
    let error = Error::Status {
        backend: "aa",
        endpoint: endpoint(),
        status: StatusCode::TOO_MANY_REQUESTS,
        retry_after: Some(Duration::from_secs(3)),
        server: None,
    };
    assert!(error.is_transient());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    assert!(error.to_string().contains("HTTP 429, retry after 3 s"));
}
