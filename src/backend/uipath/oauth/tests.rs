//! Unit tests of `backend::uipath::oauth`.

use super::*;
use bytes::Bytes;
use reqwest::header::HeaderMap;

fn login(url: &str) -> UiPathClientCredentialsLogin {
    UiPathClientCredentialsLogin::new(url, "app-id", SecretString::from("app-secret")).unwrap()
}

fn reply(status: u16, path: &str, body: &str) -> Reply {
    Reply {
        backend: BACKEND,
        endpoint: crate::Endpoint::new(
            reqwest::Method::POST,
            &Url::parse(&format!("http://h{path}")).unwrap(),
        ),
        status: StatusCode::from_u16(status).unwrap(),
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_owned()),
        secrets: Secrets::default(),
    }
}

#[test]
fn cloud_hosts_are_recognised() {
    for (url, cloud) in [
        ("https://cloud.uipath.com/acme/", true),
        ("https://staging.uipath.com/acme/", true),
        ("https://govcloud.uipath.us/acme/", true),
        ("https://uipath.com/", true),
        ("https://notuipath.com/", false),
        ("https://uipath.com.example.org/", false),
        ("https://orch.example.com/", false),
        ("http://127.0.0.1:8080/", false),
    ] {
        assert_eq!(is_cloud(&Url::parse(url).unwrap()), cloud, "{url}");
    }
}

#[test]
fn reads_the_token_and_its_lifetime() {
    let login = login("https://orch.example.com/");
    let (token, lifetime) = login
        .read_token(&reply(
            200,
            ON_PREMISES_TOKEN_PATH,
            r#"{"access_token":"eyJ.x.y","expires_in":3600,"token_type":"Bearer","scope":"OR.Jobs"}"#,
        ))
        .unwrap();
    assert_eq!(token.expose_secret(), "eyJ.x.y");
    assert_eq!(lifetime, Duration::from_secs(3600));
    for (expires_in, expected) in [
        (r#""120""#, 120),
        ("90.5", 90),
        ("0", 3600),
        ("-5", 3600),
        ("null", 3600),
    ] {
        let body = format!(r#"{{"access_token":"t","expires_in":{expires_in}}}"#);
        let (_, lifetime) = login
            .read_token(&reply(200, ON_PREMISES_TOKEN_PATH, &body))
            .unwrap();
        assert_eq!(lifetime, Duration::from_secs(expected), "{expires_in}");
    }
}

#[test]
fn odd_answers_are_invalid_responses() {
    let login = login("https://orch.example.com/");
    for body in [
        r#"{"expires_in":3600}"#,
        r#"{"access_token":"t","token_type":"mac"}"#,
        "<html>portal</html>",
        "",
    ] {
        let error = login
            .read_token(&reply(200, ON_PREMISES_TOKEN_PATH, body))
            .unwrap_err();
        assert!(matches!(error, Error::InvalidResponse { .. }), "{body}");
    }
}

#[test]
fn oauth_errors_are_classified_with_hints() {
    let login = login("https://orch.example.com/")
        .scope("OR.Jobs offline_access")
        .unwrap();
    for (body, reason, words) in [
        (
            r#"{"error":"invalid_client"}"#,
            RejectReason::InvalidClient,
            "client secret",
        ),
        (
            r#"{"error":"invalid_scope"}"#,
            RejectReason::InvalidScope,
            "offline_access",
        ),
        (
            r#"{"error":"unsupported_grant_type"}"#,
            RejectReason::Unsupported,
            "2020.4",
        ),
        (
            r#"{"error":"unauthorized_client"}"#,
            RejectReason::Unsupported,
            "confidential",
        ),
        (
            r#"{"error":"invalid_request","error_description":"bad"}"#,
            RejectReason::Other,
            "bad",
        ),
    ] {
        let error = login
            .read_token(&reply(400, ON_PREMISES_TOKEN_PATH, body))
            .unwrap_err();
        assert_eq!(error.reject_reason(), Some(reason), "{body}");
        assert!(error.to_string().contains(words), "{error}");
        assert!(!error.to_string().contains("app-secret"));
    }
}

#[test]
fn invalid_scope_names_the_scopes() {
    let login = login("https://orch.example.com/").scope("OR.Jobs").unwrap();
    let error = login
        .read_token(&reply(
            400,
            ON_PREMISES_TOKEN_PATH,
            r#"{"error":"invalid_scope"}"#,
        ))
        .unwrap_err();
    assert!(error.to_string().contains("`OR.Jobs`"), "{error}");
}

#[test]
fn wrong_endpoint_says_where_the_right_one_is() {
    let login = login("https://orch.example.com/");
    let body = r#"{"error":{"code":"UnsupportedApiVersion","message":"The HTTP resource that matches the request URI 'https://orch/identity_/connect/token' does not support HTTP method 'POST'.","innerError":null}}"#;
    let error = login
        .read_token(&reply(405, CLOUD_TOKEN_PATH, body))
        .unwrap_err();
    assert_eq!(error.reject_reason(), Some(RejectReason::Unsupported));
    let text = error.to_string();
    assert!(text.contains("UnsupportedApiVersion"), "{text}");
    assert!(
        text.contains("on-premises) Orchestrator takes tokens at /identity/connect/token"),
        "{text}"
    );
    let error = login
        .read_token(&reply(404, ON_PREMISES_TOKEN_PATH, ""))
        .unwrap_err();
    assert!(
        error.to_string().contains("/identity_/connect/token"),
        "{error}"
    );
}

#[test]
fn server_trouble_is_a_status_error() {
    let login = login("https://orch.example.com/");
    let error = login
        .read_token(&reply(503, ON_PREMISES_TOKEN_PATH, ""))
        .unwrap_err();
    assert!(error.is_transient());
    let error = login
        .read_token(&reply(400, ON_PREMISES_TOKEN_PATH, "<html>proxy</html>"))
        .unwrap_err();
    assert!(matches!(error, Error::InvalidResponse { .. }));
}

#[test]
fn scopes_are_split_and_checked() {
    let login = login("https://orch.example.com/")
        .scope("  OR.Jobs,OR.Folders.Read   OR.Jobs\tOR.Queues ")
        .unwrap();
    assert_eq!(login.scopes(), ["OR.Jobs", "OR.Folders.Read", "OR.Queues"]);
    for bad in ["OR.\"Jobs", "OR\\Jobs", "OR.Jöbs", "OR.\u{1}"] {
        let error = login.clone().scope(bad).unwrap_err();
        assert!(matches!(error, Error::Config { .. }), "{bad}");
    }
}

#[test]
fn explicit_token_url_is_checked() {
    let login = login("https://orch.example.com/");
    assert!(
        login
            .clone()
            .token_url("https://idp.example.com/connect/token")
            .is_ok()
    );
    assert!(
        login
            .clone()
            .token_url("http://127.0.0.1:1/identity/connect/token")
            .is_ok()
    );
    for bad in [
        "http://idp.example.com/connect/token",
        "https://u:p@idp.example.com/connect/token",
        "https://idp.example.com/connect/token?x=1",
        "ftp://idp.example.com/",
        "token",
    ] {
        let error = login.clone().token_url(bad).unwrap_err();
        assert!(matches!(error, Error::Config { .. }), "{bad}");
    }
}

#[test]
fn debug_hides_the_secret() {
    let text = format!("{:?}", login("https://orch.example.com/"));
    assert!(!text.contains("app-secret"));
    assert!(text.contains("app-id"));
}
