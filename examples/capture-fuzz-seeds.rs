//! `cargo run --example capture-fuzz-seeds --features fuzzing` (or `fuzz/run.sh seeds`): writes
//! `fuzz/seeds/<target>/seed-*` from real answers of the crate's emulators, the seed corpora of the fuzz
//! targets. Each login-answer seed is laid out as the fuzz targets read their input: one byte choosing
//! the status, one the content type, then the body.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rpa_auth::emulator::automation_anywhere::AutomationAnywhereEmulator;
use rpa_auth::emulator::pyramid::PyramidEmulator;
use rpa_auth::emulator::uipath::{ErrorBody, TokenFormat, UiPathEmulator};

const STATUSES: [u16; 12] = [200, 201, 204, 400, 401, 403, 404, 405, 429, 500, 502, 503];

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = seeds_dir().join(target);
    std::fs::create_dir_all(&dir).expect("create the seed directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
    println!("{target}/seed-{name}: {} bytes", bytes.len());
}

/// Posts `body` (JSON or form) to `url` and writes the answer as a login-answer seed.
async fn capture(target: &str, name: &str, url: String, body: String, form: bool) -> Vec<u8> {
    let http = reqwest::Client::new();
    let kind = if form {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let response = http
        .post(url)
        .header("content-type", kind)
        .body(body)
        .send()
        .await
        .expect("the emulator answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = response.bytes().await.expect("a complete body");
    let status_byte = STATUSES.iter().position(|s| *s == status).unwrap_or(0) as u8;
    let type_byte = if content_type.contains("json") {
        0
    } else if content_type.contains("html") {
        3
    } else if content_type.contains("text") {
        2
    } else {
        4
    };
    let mut seed = vec![status_byte, type_byte];
    seed.extend_from_slice(&body);
    write(target, name, &seed);
    body.to_vec()
}

#[tokio::main]
async fn main() {
    for (name, format, errors) in [
        ("opaque", TokenFormat::Opaque, ErrorBody::Legacy),
        ("jwt", TokenFormat::Jwt, ErrorBody::Hybrid),
        ("abp", TokenFormat::Opaque, ErrorBody::Abp),
        ("modern", TokenFormat::Jwt, ErrorBody::Modern),
    ] {
        let emulator = UiPathEmulator::builder()
            .user("admin", "secret")
            .client("app", "app-secret", &["OR.Jobs"])
            .token_format(format)
            .error_body(errors)
            .start()
            .await
            .expect("start the UiPath emulator");
        let url = emulator
            .url()
            .join("api/Account/Authenticate")
            .unwrap()
            .to_string();
        let ok = capture(
            "uipath_login",
            &format!("{name}-ok"),
            url.clone(),
            r#"{"tenancyName":"Default","usernameOrEmailAddress":"admin","password":"secret"}"#
                .into(),
            false,
        )
        .await;
        capture(
            "uipath_login",
            &format!("{name}-refused"),
            url,
            r#"{"tenancyName":"Default","usernameOrEmailAddress":"admin","password":"wrong"}"#
                .into(),
            false,
        )
        .await;
        if let Some(token) = serde_json::from_slice::<serde_json::Value>(&ok)
            .ok()
            .and_then(|v| v["result"].as_str().map(str::to_owned))
            && token.contains('.')
        {
            write("jwt_lifetime", &format!("uipath-{name}"), token.as_bytes());
        }
        let token_url = emulator
            .url()
            .join("/identity/connect/token")
            .unwrap()
            .to_string();
        capture(
            "oauth_token",
            &format!("{name}-ok"),
            token_url.clone(),
            "grant_type=client_credentials&client_id=app&client_secret=app-secret&scope=OR.Jobs"
                .into(),
            true,
        )
        .await;
        capture(
            "oauth_token",
            &format!("{name}-invalid-client"),
            token_url.clone(),
            "grant_type=client_credentials&client_id=app&client_secret=wrong&scope=OR.Jobs".into(),
            true,
        )
        .await;
        capture(
            "oauth_token",
            &format!("{name}-invalid-scope"),
            token_url,
            "grant_type=client_credentials&client_id=app&client_secret=app-secret&scope=OR.Admin"
                .into(),
            true,
        )
        .await;
    }

    let aa = AutomationAnywhereEmulator::builder()
        .user("jdoe", "secret")
        .start()
        .await
        .expect("start the Automation Anywhere emulator");
    for path in ["v2/authentication", "v1/authentication"] {
        let url = aa.url().join(path).unwrap().to_string();
        let version = &path[..2];
        let ok = capture(
            "aa_login",
            &format!("{version}-ok"),
            url.clone(),
            r#"{"username":"jdoe","password":"secret"}"#.into(),
            false,
        )
        .await;
        capture(
            "aa_login",
            &format!("{version}-refused"),
            url,
            r#"{"username":"jdoe","password":"wrong"}"#.into(),
            false,
        )
        .await;
        if let Some(token) = serde_json::from_slice::<serde_json::Value>(&ok)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
        {
            write("jwt_lifetime", &format!("aa-{version}"), token.as_bytes());
        }
    }

    for (name, api2) in [("api2", true), ("api3", false)] {
        let pyramid = PyramidEmulator::builder()
            .user("analyst", "secret")
            .start()
            .await
            .expect("start the Pyramid emulator");
        let (path, ok, bad) = if api2 {
            (
                "API2/auth/authenticateUser",
                r#"{"data":{"userName":"analyst","password":"secret"}}"#,
                r#"{"data":{"userName":"analyst","password":"wrong"}}"#,
            )
        } else {
            (
                "API3/authentication/authenticateUser",
                r#"{"userName":"analyst","password":"secret","domain":""}"#,
                r#"{"userName":"analyst","password":"wrong","domain":""}"#,
            )
        };
        let url = pyramid.url().join(path).unwrap().to_string();
        capture(
            "pyramid_login",
            &format!("{name}-ok"),
            url.clone(),
            ok.into(),
            false,
        )
        .await;
        capture(
            "pyramid_login",
            &format!("{name}-refused"),
            url,
            bad.into(),
            false,
        )
        .await;
    }

    write("retry_after", "seconds", b"120");
    write("retry_after", "date", b"Wed, 21 Oct 2015 07:28:00 GMT");

    let (ntlm, spnego, final_token) =
        rpa_auth::fuzzing::handshake_samples().expect("a handshake with the emulators' acceptor");
    write("ntlm_challenge", "challenge", &ntlm);
    write("spnego", "neg-token-resp", &spnego);
    write("spnego", "raw-ntlm", &ntlm);
    write("negotiate_final", "final", final_token.as_bytes());
    let reject = base64::engine::general_purpose::STANDARD
        .encode([0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x02]);
    write("negotiate_final", "reject", reject.as_bytes());

    write(
        "redact",
        "echo",
        "\u{7}Pa55 w\"The value 'Pa55 w' is not valid".as_bytes(),
    );
    write(
        "redact",
        "json",
        b"\x05a\"b\\c{\"password\":\"a\\\"b\\\\c\"}",
    );
}
