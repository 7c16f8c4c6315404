//! The `rpa-auth` command-line example: exit codes, output lines, and the one-line error.
//!
//! `cargo test` builds the examples before it runs the tests, so the binary is found beside the test's own.

mod support;

use std::path::PathBuf;
use std::process::Output;

use rpa_auth::emulator::automation_anywhere::AutomationAnywhereEmulator;
use rpa_auth::emulator::uipath::UiPathEmulator;

const PASSWORD: &str = "cli-Pa55word";

fn binary() -> PathBuf {
    support::example_binary("rpa-auth")
}

/// Variables the CLI reads; removed so the developer's own environment cannot change a test.
const READ_FROM_ENV: &[&str] = &[
    "RPA_AUTH_PASSWORD",
    "RPA_AUTH_API_KEY",
    "RPA_AUTH_MFA_CODE",
    "RPA_AUTH_CLIENT_SECRET",
    "UIPATH_URL",
    "UIPATH_USERNAME",
    "UIPATH_PASSWORD",
    "UIPATH_CLIENT_ID",
    "UIPATH_CLIENT_SECRET",
    "UIPATH_SCOPE",
    "UIPATH_AUTH_SCOPES",
    "UIPATH_TOKEN_URL",
    "UIPATH_TENANT",
    "UIPATH_FOLDER_PATH",
    "UIPATH_FOLDER_ID",
    "UIPATH_DOMAIN",
    "AA_URL",
    "AA_USERNAME",
    "AA_DOMAIN",
    "AA_API_KEY",
    "AA_PASSWORD",
    "AA_MFA_CODE",
    "AA_MULTIPLE_LOGIN",
    "AA_API_VERSION",
    "PYRAMID_URL",
    "PYRAMID_USERNAME",
    "PYRAMID_PASSWORD",
    "PYRAMID_DOMAIN",
    "PYRAMID_API",
];

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(binary());
    command.args(args);
    for key in READ_FROM_ENV {
        command.env_remove(key);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn orchestrator() -> UiPathEmulator {
    UiPathEmulator::builder()
        .user("admin", PASSWORD)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn token_prints_the_credential_on_one_line() {
    let emulator = orchestrator().await;
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--backend",
            "uipath",
            "--url",
            &url,
            "--user",
            "admin",
            "--tenant",
            "Default",
            "token",
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 1);
    let token = stdout.trim();
    assert!(!token.is_empty());

    // The printed token is the one the server issued: it works on a raw request.
    let response = reqwest::Client::new()
        .get(format!("{url}odata/Robots"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn call_repeats_on_one_client_and_prints_each_body() {
    let emulator = orchestrator().await;
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--url",
            &url,
            "--user",
            "admin",
            "--folder-id",
            "3",
            "call",
            "GET",
            "odata/Jobs",
            "--repeat",
            "3",
            "--interval",
            "0.05",
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 3);
    for line in stdout.lines() {
        let body: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(body["value"], serde_json::json!([]));
    }
    assert_eq!(emulator.logins(), 1, "one login for three calls");
    assert_eq!(emulator.calls(), 3);
}

#[tokio::test]
async fn wrong_password_exits_1_with_one_clean_error_line() {
    let emulator = orchestrator().await;
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--url",
            &url,
            "--user",
            "admin",
            "call",
            "GET",
            "odata/Robots",
        ],
        &[("RPA_AUTH_PASSWORD", "very-wrong-secret")],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: uipath: "), "{stderr}");
    assert!(
        stderr.contains("POST /api/Account/Authenticate"),
        "{stderr}"
    );
    assert!(stderr.contains("errorCode 1000"), "{stderr}");
    assert!(!stderr.contains("very-wrong-secret"));
    assert!(text(&output.stdout).is_empty());
}

#[tokio::test]
async fn non_2xx_answer_exits_1() {
    let emulator = orchestrator().await;
    let url = emulator.url().to_string();
    // Jobs are folder-scoped: without a folder the server answers 400 / 1101.
    let output = run(
        &[
            "--url",
            &url,
            "--user",
            "admin",
            "call",
            "GET",
            "odata/Jobs",
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains("1101"));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: uipath: GET /odata/Jobs answered HTTP 400"),
        "{stderr}"
    );
}

#[tokio::test]
async fn usage_errors_exit_2() {
    for args in [
        &["token"][..],
        &["--url", "http://127.0.0.1:9/", "--user", "a"],
        &[
            "--url",
            "http://127.0.0.1:9/",
            "--user",
            "a",
            "--bogus",
            "token",
        ],
        &["--url", "http://127.0.0.1:9/", "--user", "a", "call", "GET"],
        &[
            "--url",
            "http://127.0.0.1:9/",
            "--user",
            "a",
            "--repeat",
            "zero",
            "token",
        ],
        &["--url", "http://orch.example.com/", "--user", "a", "token"],
    ] {
        let output = run(args, &[("RPA_AUTH_PASSWORD", PASSWORD)]).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(text(&output.stderr).starts_with("error: "), "{args:?}");
    }
    // No password in the environment is a usage error too.
    let output = run(
        &["--url", "http://127.0.0.1:9/", "--user", "a", "token"],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("RPA_AUTH_PASSWORD is not set"));
}

#[tokio::test]
async fn unreachable_server_exits_1_naming_the_endpoint() {
    let output = run(
        &["--url", "http://127.0.0.1:1/", "--user", "admin", "token"],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: uipath: POST /api/Account/Authenticate could not connect"),
        "{stderr}"
    );
}

const AA_KEY: &str = "cli-api-key-0123456789abcdef0123456789ab";

async fn control_room() -> AutomationAnywhereEmulator {
    AutomationAnywhereEmulator::builder()
        .user("jdoe", PASSWORD)
        .api_key_user("jdoe", AA_KEY)
        .mfa_user("secure", PASSWORD)
        .mfa_code(424_242)
        .user(r"corp\adsvc", PASSWORD)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn aa_api_key_wins_over_password() {
    let emulator = control_room().await;
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--backend",
            "aa",
            "--url",
            &url,
            "--user",
            "jdoe",
            "call",
            "GET",
            "v1/devices/list",
        ],
        &[
            ("RPA_AUTH_PASSWORD", "not-the-password"),
            ("RPA_AUTH_API_KEY", AA_KEY),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!((emulator.logins(), emulator.failed_logins()), (1, 0));
    assert_eq!(emulator.calls(), 1);
}

#[tokio::test]
async fn aa_password_with_mfa_code_and_domain_user() {
    let emulator = control_room().await;
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--backend",
            "aa",
            "--url",
            &url,
            "--user",
            "secure",
            "token",
        ],
        &[
            ("RPA_AUTH_PASSWORD", PASSWORD),
            ("RPA_AUTH_MFA_CODE", "424242"),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let token = text(&output.stdout);
    let response = reqwest::Client::new()
        .get(format!("{url}v1/devices/list"))
        .header("x-authorization", token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let output = run(
        &[
            "--backend",
            "aa",
            "--url",
            &url,
            "--domain",
            "corp",
            "--user",
            "adsvc",
            "token",
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(emulator.logins(), 2);
}

#[tokio::test]
async fn aa_missing_mfa_code_and_missing_secret() {
    let emulator = control_room().await;
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--backend",
            "aa",
            "--url",
            &url,
            "--user",
            "secure",
            "token",
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "error: aa: multi-factor code required: login rejected by POST /v2/authentication"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD));

    let output = run(
        &["--backend", "aa", "--url", &url, "--user", "jdoe", "token"],
        &[("RPA_AUTH_MFA_CODE", "12x")],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("RPA_AUTH_API_KEY or RPA_AUTH_PASSWORD is not set"),
        "{}",
        text(&output.stderr)
    );
    let output = run(
        &["--backend", "aa", "--url", &url, "--user", "jdoe", "token"],
        &[
            ("RPA_AUTH_PASSWORD", PASSWORD),
            ("RPA_AUTH_MFA_CODE", "12x"),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(!text(&output.stderr).contains("12x"));
}

#[tokio::test]
async fn windows_passthrough_backend_calls_over_an_authenticated_connection() {
    let emulator = UiPathEmulator::builder()
        .windows_user("CORP", "robot", PASSWORD)
        .start()
        .await
        .unwrap();
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--backend",
            "uipath-ntlm",
            "--url",
            &url,
            "--user",
            "robot",
            "--domain",
            "CORP",
            "call",
            "GET",
            "odata/Robots",
            "--repeat",
            "2",
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).lines().count(), 2);
    assert_eq!(emulator.handshakes(), 1);
}

#[tokio::test]
async fn pyramid_call_adds_auth_to_the_given_body() {
    let emulator = rpa_auth::emulator::pyramid::PyramidEmulator::builder()
        .user("analyst", PASSWORD)
        .start()
        .await
        .unwrap();
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--backend",
            "pyramid",
            "--url",
            &url,
            "--user",
            "analyst",
            "call",
            "POST",
            "API2/query/run",
            "--data",
            r#"{"data":{"id":5}}"#,
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let body: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(
        body["data"]["received"],
        serde_json::json!({"data": {"id": 5}})
    );
}

const CLIENT_SECRET: &str = "cli-Cl1ent-secret";

async fn identity_server() -> UiPathEmulator {
    UiPathEmulator::builder()
        .client("cli-app", CLIENT_SECRET, &["OR.Jobs", "OR.Folders.Read"])
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn uipath_oauth_logs_in_with_client_credentials() {
    let emulator = identity_server().await;
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--backend",
            "uipath-oauth",
            "--url",
            &url,
            "--client-id",
            "cli-app",
            "--scope",
            "OR.Jobs OR.Folders.Read",
            "--folder-id",
            "1",
            "call",
            "GET",
            "odata/Jobs",
        ],
        &[("RPA_AUTH_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(emulator.tokens_issued(), 1);
    assert_eq!(emulator.calls(), 1);
}

#[tokio::test]
async fn uipath_backends_fall_back_to_uipath_variables() {
    let emulator = identity_server().await;
    let url = emulator.url().to_string();
    let output = run(
        &["--backend", "uipath-oauth", "token"],
        &[
            ("UIPATH_URL", &url),
            ("UIPATH_CLIENT_ID", "cli-app"),
            ("UIPATH_CLIENT_SECRET", CLIENT_SECRET),
            ("UIPATH_AUTH_SCOPES", "OR.Jobs"),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(emulator.tokens_issued(), 1);

    let orchestrator = orchestrator().await;
    let url = orchestrator.url().to_string();
    let output = run(
        &["--backend", "uipath", "token"],
        &[
            ("UIPATH_URL", &url),
            ("UIPATH_USERNAME", "admin"),
            ("UIPATH_PASSWORD", PASSWORD),
            ("UIPATH_TENANT", "Default"),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(orchestrator.logins(), 1);
}

#[tokio::test]
async fn uipath_oauth_usage_and_login_errors() {
    let emulator = identity_server().await;
    let url = emulator.url().to_string();
    let args = [
        "--backend",
        "uipath-oauth",
        "--url",
        &url,
        "--client-id",
        "cli-app",
        "token",
    ];
    let output = run(&args, &[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("RPA_AUTH_CLIENT_SECRET is not set"));

    let output = run(&args, &[("RPA_AUTH_CLIENT_SECRET", "wrong-secret")]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: uipath-oauth: invalid client: login rejected by POST /identity/connect/token"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("wrong-secret"));
}

#[tokio::test]
async fn aa_falls_back_to_aa_variables() {
    let emulator = control_room().await;
    let url = emulator.url().to_string();
    // Everything from the AA_ variables: a directory user, password and multipleLogin, forced v2.
    let output = run(
        &["--backend", "aa", "call", "GET", "v1/devices/list"],
        &[
            ("AA_URL", &url),
            ("AA_USERNAME", "adsvc"),
            ("AA_DOMAIN", "corp"),
            ("AA_PASSWORD", PASSWORD),
            ("AA_MULTIPLE_LOGIN", "1"),
            ("AA_API_VERSION", "v2"),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!((emulator.logins(), emulator.calls()), (1, 1));

    // A flag and an RPA_AUTH_ secret win over the AA_ variable; the API key wins over the password.
    let output = run(
        &["--backend", "aa", "--user", "jdoe", "token"],
        &[
            ("AA_URL", &url),
            ("AA_USERNAME", "nobody"),
            ("AA_PASSWORD", "not-the-password"),
            ("RPA_AUTH_API_KEY", AA_KEY),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!((emulator.logins(), emulator.failed_logins()), (2, 0));

    // A malformed variable is a usage error naming it, without its value.
    let output = run(
        &["--backend", "aa", "token"],
        &[
            ("AA_URL", &url),
            ("AA_USERNAME", "secure"),
            ("AA_PASSWORD", PASSWORD),
            ("AA_MFA_CODE", "4242x"),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("AA_MFA_CODE"), "{stderr}");
    assert!(
        !stderr.contains("4242x") && !stderr.contains(PASSWORD),
        "{stderr}"
    );
}

#[tokio::test]
async fn pyramid_falls_back_to_pyramid_variables() {
    let emulator = rpa_auth::emulator::pyramid::PyramidEmulator::builder()
        .user("analyst", PASSWORD)
        .windows_user("CORP", "analyst", PASSWORD)
        .start()
        .await
        .unwrap();
    let url = emulator.url().to_string();
    let env = [
        ("PYRAMID_URL", url.as_str()),
        ("PYRAMID_USERNAME", "analyst"),
        ("PYRAMID_PASSWORD", PASSWORD),
        ("PYRAMID_API", "3"),
    ];
    let output = run(
        &["--backend", "pyramid", "call", "POST", "API3/access/getMe"],
        &env,
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let body: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(body["data"]["userName"], "analyst");

    // Windows SSO with the domain from PYRAMID_DOMAIN.
    let mut windows = env.to_vec();
    windows.push(("PYRAMID_DOMAIN", "CORP"));
    let output = run(
        &[
            "--backend",
            "pyramid-windows",
            "call",
            "POST",
            "API3/access/getMe",
        ],
        &windows,
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let body: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(body["data"]["userName"], r"CORP\analyst");
    assert_eq!(emulator.handshakes(), 1);

    // Nothing set: the usage error names the flag and the variable.
    let output = run(&["--backend", "pyramid", "token"], &[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--url (or PYRAMID_URL) is required"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test]
async fn token_with_windows_passthrough_says_there_is_no_token() {
    let emulator = UiPathEmulator::builder()
        .windows_user("CORP", "robot", PASSWORD)
        .start()
        .await
        .unwrap();
    let url = emulator.url().to_string();
    let output = run(
        &[
            "--backend",
            "uipath-ntlm",
            "--url",
            &url,
            "--user",
            r"CORP\robot",
            "token",
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stdout).is_empty());
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: uipath-ntlm: ") && stderr.contains("not a token"),
        "{stderr}"
    );
    assert_eq!(emulator.handshakes(), 1, "the credentials were checked");
}

#[tokio::test]
async fn a_pretty_printed_body_is_printed_on_one_line() {
    // A server that answers pretty-printed JSON: each repeat still prints one line.
    let server = support::servers::answering(|request| {
        let body = if request.path() == "/api/account/authenticate" {
            "{\n  \"result\": \"tok\",\n  \"success\": true\n}\n"
        } else {
            "{\n  \"value\": [\n    1,\n    2\n  ]\n}\n"
        };
        support::servers::json(http::StatusCode::OK, body)
    })
    .await;
    let addr = server.addr();
    let output = run(
        &[
            "--url",
            &format!("http://{addr}/"),
            "--user",
            "admin",
            "call",
            "GET",
            "odata/Robots",
            "--repeat",
            "2",
        ],
        &[("RPA_AUTH_PASSWORD", PASSWORD)],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for line in stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["value"], serde_json::json!([1, 2]));
    }
}
