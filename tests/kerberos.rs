//! Kerberos single sign-on against a real MIT KDC and an independent acceptor (`tests/negotiate_acceptor.py`
//! on the system GSS-API, NTLM through pyspnego on the same endpoint), both started by the test support.
//!
//! The Kerberos variables (`KRB5_CONFIG`, `KRB5CCNAME`) are process-wide, so every test here holds one lock
//! while it runs; this binary holds nothing else. Fails (never skips) when the KDC packages, python3-gssapi
//! or pyspnego are missing.
#![cfg(feature = "kerberos")]

mod support;

use std::time::Duration;

use bytes::Bytes;
use rpa_auth::ntlm::{
    HandshakeError, KerberosError, NtlmConnection, Scheme, WindowsCredentials, WindowsIdentity,
};
use secrecy::SecretString;
use support::kdc::{ALICE_PASSWORD, Kdc, REALM, env_lock};

fn url(host: &str, port: u16, path: &str) -> url::Url {
    url::Url::parse(&format!("http://{host}:{port}{path}")).expect("url")
}

async fn get(
    host: &str,
    port: u16,
    identity: &WindowsIdentity,
) -> Result<(serde_json::Value, NtlmConnection), HandshakeError> {
    let mut connection =
        NtlmConnection::connect(&url(host, port, "/"), None, Duration::from_secs(5)).await?;
    let request = http::Request::get("/odata/Jobs")
        .body(Bytes::new())
        .expect("request");
    let response = connection.send_as(request, identity).await?;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    let body = serde_json::from_slice(response.body()).expect("json body");
    Ok((body, connection))
}

#[tokio::test]
async fn a_ticket_logs_in_with_kerberos_as_alice() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("ticket", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let (body, mut connection) = get("localhost", port, &WindowsIdentity::current_user())
        .await
        .expect("kerberos login");
    assert_eq!(body["mechanism"], "kerberos", "{body}");
    assert_eq!(body["user"], format!("alice@{REALM}"), "{body}");
    assert_eq!(body["scheme"], "Negotiate", "{body}");
    assert_eq!(connection.authenticated(), Some(Scheme::Negotiate));

    // The connection stays authenticated: no second handshake.
    let again = connection
        .send_as(
            http::Request::get("/").body(Bytes::new()).expect("request"),
            &WindowsIdentity::current_user(),
        )
        .await
        .expect("second request");
    let body: serde_json::Value = serde_json::from_slice(again.body()).expect("json");
    assert_eq!(body["scheme"], "connection", "{body}");
    assert_eq!(connection.handshakes(), 1);
}

#[tokio::test]
async fn no_ticket_and_no_password_is_a_clear_error() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    kdc.use_in_this_process(None);
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let error = get("localhost", port, &WindowsIdentity::current_user())
        .await
        .expect_err("no ticket");
    assert!(
        matches!(error, HandshakeError::Kerberos(KerberosError::NoTicket)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "no Kerberos ticket: run kinit or set KRB5CCNAME"
    );
}

#[tokio::test]
async fn an_expired_ticket_is_a_clear_error() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("expired", "2s");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let error = get("localhost", port, &WindowsIdentity::current_user())
        .await
        .expect_err("expired ticket");
    assert!(
        matches!(
            error,
            HandshakeError::Kerberos(KerberosError::TicketExpired)
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("expired"), "{error}");
}

#[tokio::test]
async fn a_ticket_and_a_password_use_kerberos() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("ticket-and-password", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let identity = WindowsIdentity::from(WindowsCredentials::new(
        r"CORP\alice",
        SecretString::from(support::pyspnego::PASSWORD),
    ));
    let (body, _) = get("localhost", port, &identity).await.expect("login");
    assert_eq!(body["mechanism"], "kerberos", "{body}");
    assert_eq!(body["user"], format!("alice@{REALM}"), "{body}");
}

#[tokio::test]
async fn an_unknown_service_principal_with_a_password_falls_back_to_ntlm() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("unknown-spn", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    // 127.0.0.1 makes the service HTTP/127.0.0.1, which the KDC does not know.
    let identity = WindowsIdentity::from(WindowsCredentials::new(
        r"CORP\alice",
        SecretString::from(support::pyspnego::PASSWORD),
    ));
    let (body, _) = get("127.0.0.1", port, &identity).await.expect("login");
    assert_eq!(body["mechanism"], "ntlm", "{body}");
    assert_eq!(body["user"], r"CORP\alice", "{body}");

    // Without a password the same is an error naming the service principal.
    let error = get("127.0.0.1", port, &WindowsIdentity::current_user())
        .await
        .expect_err("unknown service");
    assert!(
        matches!(error, HandshakeError::Kerberos(KerberosError::UnknownService { ref spn }) if spn == "HTTP/127.0.0.1"),
        "{error:?}"
    );
    assert!(error.to_string().contains("HTTP/127.0.0.1"), "{error}");

    // Naming the right service fixes it.
    let (body, _) = get(
        "127.0.0.1",
        port,
        &WindowsIdentity::current_user().spn("HTTP/localhost"),
    )
    .await
    .expect("login with spn");
    assert_eq!(body["mechanism"], "kerberos", "{body}");
}

#[tokio::test]
async fn user_at_realm_with_a_password_and_no_ticket_uses_kerberos() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    kdc.use_in_this_process(None);
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let identity = WindowsIdentity::from(WindowsCredentials::new(
        "alice@example.test",
        SecretString::from(ALICE_PASSWORD),
    ));
    let (body, _) = get("localhost", port, &identity).await.expect("login");
    assert_eq!(body["mechanism"], "kerberos", "{body}");
    assert_eq!(body["user"], format!("alice@{REALM}"), "{body}");

    // A wrong password is the KDC's refusal, not a second try over NTLM.
    let wrong = WindowsIdentity::from(WindowsCredentials::new(
        "alice@example.test",
        SecretString::from("not-her-password"),
    ));
    let error = get("localhost", port, &wrong).await.expect_err("refused");
    assert!(
        matches!(
            error,
            HandshakeError::Kerberos(KerberosError::PasswordRefused { .. })
        ),
        "{error:?}"
    );
    assert!(!error.to_string().contains("not-her-password"));
}

// The backends, through `AuthClient`, against the same KDC and acceptor.

use rpa_auth::PyramidWindowsLogin;
use rpa_auth::{AuthClient, ExposeSecret, UiPathNtlmLogin};

async fn stats(port: u16) -> serde_json::Value {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/_stats"))
        .await
        .expect("stats")
        .bytes()
        .await
        .expect("stats body");
    serde_json::from_slice(&body).expect("stats json")
}

#[tokio::test]
async fn uipath_current_user_three_calls_one_handshake() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("uipath", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let login = UiPathNtlmLogin::current_user(&format!("http://localhost:{port}/")).unwrap();
    let client = AuthClient::new(login).unwrap();
    for _ in 0..3 {
        let response = client.get("odata/Jobs").send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["user"], format!("alice@{REALM}"), "{body}");
        assert_eq!(body["mechanism"], "kerberos", "{body}");
    }
    let stats = stats(port).await;
    assert_eq!(
        stats["kerberos"], 1,
        "probe and three calls, one handshake: {stats}"
    );
    assert_eq!(stats["ntlm"], 0, "{stats}");
    assert_eq!(stats["refused"], 0, "{stats}");
}

#[tokio::test]
async fn uipath_twenty_concurrent_callers_one_handshake_per_connection() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("concurrent", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let login = UiPathNtlmLogin::current_user(&format!("http://localhost:{port}/"))
        .unwrap()
        .max_connections(4);
    let client = AuthClient::new(login).unwrap();
    for _round in 0..2 {
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.get("odata/Robots").send().await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap().status(), 200);
        }
    }
    let stats = stats(port).await;
    let kerberos = stats["kerberos"].as_u64().unwrap();
    // Every connection but the one asking for the statistics was authenticated exactly once.
    let connections = stats["connections"].as_u64().unwrap() - 1;
    assert_eq!(kerberos, connections, "{stats}");
    assert!(
        (1..=4).contains(&kerberos),
        "at most 4 pooled connections: {stats}"
    );
    assert_eq!(stats["refused"], 0, "{stats}");
}

#[tokio::test]
async fn uipath_current_user_without_a_ticket_names_backend_endpoint_and_cause() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    kdc.use_in_this_process(None);
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let login = UiPathNtlmLogin::current_user(&format!("http://localhost:{port}/")).unwrap();
    let error = AuthClient::new(login)
        .unwrap()
        .get("odata/Jobs")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "uipath-ntlm: windows authentication at GET \
         /odata/Users/UiPath.Server.Configuration.OData.GetCurrentUser failed: \
         no Kerberos ticket: run kinit or set KRB5CCNAME"
    );

    // A server that offers only NTLM cannot take the current user.
    let (_ntlm_only, port) = kdc.start_acceptor("ntlm").await;
    let ccache = kdc.kinit_alice("ntlm-only", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let login = UiPathNtlmLogin::current_user(&format!("http://localhost:{port}/")).unwrap();
    let error = AuthClient::new(login)
        .unwrap()
        .get("odata/Jobs")
        .send()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("offers NTLM but not Negotiate"),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_ticket_is_a_login_rejection_without_ntlm_retry() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("refused", "10h");
    kdc.use_in_this_process(Some(&ccache));
    // An acceptor whose keytab is another realm's: it cannot read the ticket.
    let other = Kdc::start();
    let (_acceptor, port) = other.start_acceptor("both").await;

    let login = UiPathNtlmLogin::new(
        &format!("http://localhost:{port}/"),
        r"CORP\alice",
        SecretString::from(support::pyspnego::PASSWORD),
    )
    .unwrap();
    let error = AuthClient::new(login)
        .unwrap()
        .get("odata/Jobs")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_login_rejected(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("refused the Kerberos ticket for HTTP/localhost"),
        "{text}"
    );
    assert!(!text.contains(support::pyspnego::PASSWORD), "{text}");
    let stats = stats(port).await;
    assert_eq!(
        stats["ntlm"], 0,
        "never NTLM after the server saw the ticket: {stats}"
    );
    assert_eq!(stats["refused"], 1, "{stats}");
}

#[tokio::test]
async fn pyramid_windows_login_with_a_ticket_gets_a_token() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("pyramid", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("both").await;

    let login = PyramidWindowsLogin::current_user(&format!("http://localhost:{port}/")).unwrap();
    let credential = AuthClient::new(login).unwrap().credential().await.unwrap();
    // The acceptor's token names the user it authenticated.
    let expected = {
        use base64::Engine as _;
        let mut raw = vec![0xfb, 0xff, 0xbf];
        raw.extend_from_slice(format!("alice@{REALM}!").as_bytes());
        base64::engine::general_purpose::STANDARD.encode(raw)
    };
    assert_eq!(credential.secret().expose_secret(), expected);
    assert_eq!(stats(port).await["kerberos"], 1);
}

// The command line, as a child process with its own Kerberos environment.

/// Runs the `rpa-auth` example with `args`, the realm's configuration and `ccache` as its credential cache,
/// and no password or vendor variable.
async fn cli(kdc: &Kdc, ccache: &str, args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(support::example_binary("rpa-auth"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("RPA_AUTH_") || key.starts_with("UIPATH_") || key.starts_with("PYRAMID_")
        {
            command.env_remove(key);
        }
    }
    command
        .env("KRB5_CONFIG", kdc.config())
        .env("KRB5CCNAME", ccache)
        .output()
        .await
        .expect("run rpa-auth")
}

#[tokio::test]
async fn cli_logs_in_as_the_current_user() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("cli", "10h");
    let (_acceptor, port) = kdc.start_acceptor("both").await;
    let base = format!("http://localhost:{port}/");

    let output = cli(
        &kdc,
        &ccache,
        &[
            "--backend",
            "uipath-ntlm",
            "--url",
            &base,
            "--allow-http",
            "call",
            "GET",
            "odata/Jobs",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(r#""user": "alice@{REALM}""#)),
        "{stdout}"
    );
    assert!(stdout.contains(r#""mechanism": "kerberos""#), "{stdout}");

    let output = cli(
        &kdc,
        &ccache,
        &[
            "--backend",
            "pyramid-windows",
            "--url",
            &base,
            "--allow-http",
            "token",
        ],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);

    // --spn names the service when the URL does not.
    let by_address = format!("http://127.0.0.1:{port}/");
    let output = cli(
        &kdc,
        &ccache,
        &[
            "--backend",
            "uipath-ntlm",
            "--url",
            &by_address,
            "--allow-http",
            "--spn",
            "HTTP@localhost",
            "call",
            "GET",
            "odata/Jobs",
        ],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Without it, the error names the service principal tried: exit 1, one error line.
    let output = cli(
        &kdc,
        &ccache,
        &[
            "--backend",
            "uipath-ntlm",
            "--url",
            &by_address,
            "--allow-http",
            "call",
            "GET",
            "odata/Jobs",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: uipath-ntlm: ") && stderr.contains("HTTP/127.0.0.1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn cli_without_a_ticket_or_password_says_to_run_kinit() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let (_acceptor, port) = kdc.start_acceptor("both").await;
    let base = format!("http://localhost:{port}/");
    let output = cli(
        &kdc,
        &kdc.ccache("none"),
        &[
            "--backend",
            "pyramid-windows",
            "--url",
            &base,
            "--allow-http",
            "token",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: pyramid-windows: ")
            && stderr.contains("POST /API2/auth/authenticateUserWindows")
            && stderr.ends_with("no Kerberos ticket: run kinit or set KRB5CCNAME\n"),
        "{stderr}"
    );

    // Without a password the URL is all that is needed, and still a usage error when missing.
    let output = cli(
        &kdc,
        &kdc.ccache("none"),
        &["--backend", "uipath-ntlm", "token"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: --url (or UIPATH_URL) is required"),
        "{stderr}"
    );
}

// The emulators' own gates, accepting Kerberos with the service keytab (KRB5_KTNAME).

use rpa_auth::emulator::pyramid::PyramidEmulator;
use rpa_auth::emulator::uipath::UiPathEmulator;

#[tokio::test]
async fn emulator_gates_accept_a_ticket() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("emulator", "10h");
    kdc.use_in_this_process(Some(&ccache));

    let orchestrator = UiPathEmulator::builder().kerberos().start().await.unwrap();
    let login = UiPathNtlmLogin::current_user(orchestrator.url().as_str())
        .unwrap()
        .spn("HTTP/localhost");
    let client = AuthClient::new(login).unwrap();
    for _ in 0..3 {
        let response = client
            .get("odata/Users/UiPath.Server.Configuration.OData.GetCurrentUser")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["UserName"], format!("alice@{REALM}"), "{body}");
    }
    assert_eq!(orchestrator.handshakes(), 1);
    assert_eq!(orchestrator.windows_rejections(), 0);

    let pyramid = PyramidEmulator::builder().kerberos().start().await.unwrap();
    let login = PyramidWindowsLogin::current_user(pyramid.url().as_str())
        .unwrap()
        .spn("HTTP@localhost");
    let client = AuthClient::new(login).unwrap();
    assert!(
        !client
            .credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .is_empty()
    );
    let me = client
        .post("API2/access/getMe")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn emulator_gates_refuse_a_ticket_they_cannot_read() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("emulator-refused", "10h");
    // The emulator gets another realm's keytab for the same service name.
    let other = Kdc::start();
    other.use_in_this_process(Some(&ccache));
    // SAFETY: this test holds `env_lock`.
    unsafe { std::env::set_var("KRB5_CONFIG", kdc.config()) };

    let orchestrator = UiPathEmulator::builder().kerberos().start().await.unwrap();
    let login = UiPathNtlmLogin::current_user(orchestrator.url().as_str())
        .unwrap()
        .spn("HTTP/localhost");
    let error = AuthClient::new(login)
        .unwrap()
        .get("odata/Robots")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_login_rejected(), "{error}");
    assert!(
        error.to_string().contains("refused the Kerberos ticket"),
        "{error}"
    );
    assert_eq!(orchestrator.windows_rejections(), 1);
    assert_eq!(orchestrator.handshakes(), 0);

    // Without a keytab the gate cannot start, and says how to give it one.
    // SAFETY: this test holds `env_lock`.
    unsafe { std::env::set_var("KRB5_KTNAME", "FILE:/nonexistent/rpa-auth-test.keytab") };
    let error = UiPathEmulator::builder()
        .kerberos()
        .start()
        .await
        .expect_err("no keytab");
    assert!(error.to_string().contains("KRB5_KTNAME"), "{error}");
}

#[tokio::test]
async fn demo_shows_a_kerberos_login_when_there_is_a_ticket() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("demo", "10h");
    let demo = |ccache: String| {
        let keytab = format!("FILE:{}", kdc.service_keytab().display());
        let config = kdc.config();
        async move {
            tokio::process::Command::new(support::example_binary("demo"))
                .env("KRB5_CONFIG", config)
                .env("KRB5CCNAME", ccache)
                .env("KRB5_KTNAME", keytab)
                .output()
                .await
                .expect("run the demo")
        }
    };
    let output = demo(ccache).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let row = stdout
        .lines()
        .find(|line| line.contains("Kerberos SSO"))
        .unwrap_or_else(|| panic!("no Kerberos row: {stdout}"));
    assert!(row.contains("GET odata/Robots → 200"), "{row}");

    // No ticket: a row saying what to do, and the demo still succeeds.
    let output = demo(kdc.ccache("none")).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("no Kerberos ticket: run kinit or set KRB5CCNAME"),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_unreachable_kdc_is_a_clear_error_or_ntlm_with_a_password() {
    let _lock = env_lock().lock().await;
    let mut kdc = Kdc::start();
    // A ticket-granting ticket, but no service ticket yet: the KDC must be asked for one.
    let ccache = kdc.kinit_alice("kdc-down", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("both").await;
    kdc.stop();

    let error = get("localhost", port, &WindowsIdentity::current_user())
        .await
        .expect_err("no KDC");
    assert!(
        matches!(
            error,
            HandshakeError::Kerberos(KerberosError::KdcUnreachable)
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("KDC cannot be reached"),
        "{error}"
    );

    let identity = WindowsIdentity::from(WindowsCredentials::new(
        r"CORP\alice",
        SecretString::from(support::pyspnego::PASSWORD),
    ));
    let (body, _) = get("localhost", port, &identity).await.expect("ntlm");
    assert_eq!(body["mechanism"], "ntlm", "{body}");
}

#[tokio::test]
async fn a_server_that_rechallenges_every_request_gets_a_fresh_ticket_each_time() {
    use rpa_auth::emulator::WindowsAuthMode;

    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("rechallenge", "10h");
    kdc.use_in_this_process(Some(&ccache));

    let orchestrator = UiPathEmulator::builder()
        .kerberos()
        .windows_auth_mode(WindowsAuthMode::RechallengeEveryRequest)
        .start()
        .await
        .unwrap();
    let login = UiPathNtlmLogin::current_user(orchestrator.url().as_str())
        .unwrap()
        .spn("HTTP/localhost");
    let client = AuthClient::new(login).unwrap();
    for _ in 0..3 {
        let response = client.get("odata/Robots").send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // The probe and three calls, each answered 401 on the authenticated connection and authenticated
    // again, once, with a new context: the acceptor's replay cache would refuse a reused authenticator.
    assert_eq!(orchestrator.handshakes(), 4);
    assert_eq!(orchestrator.windows_rejections(), 0);
}

#[tokio::test]
async fn over_https_the_ticket_is_bound_to_the_tls_channel() {
    use support::tls::TestPki;

    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("https", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let pki = TestPki::new();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kerberos-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, &pki.server_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();

    for (mismatch, expect_ok) in [("0", true), ("1", false)] {
        let (_acceptor, port) = kdc
            .start_acceptor_with(
                "both",
                &[
                    ("TLS_CERT", cert.as_os_str()),
                    ("TLS_KEY", key.as_os_str()),
                    ("CB_MISMATCH", std::ffi::OsStr::new(mismatch)),
                ],
            )
            .await;
        let login = UiPathNtlmLogin::current_user(&format!("https://localhost:{port}/"))
            .unwrap()
            .tls_config(pki.client_config());
        let result = AuthClient::new(login)
            .unwrap()
            .get("odata/Jobs")
            .send()
            .await;
        if expect_ok {
            let response = result.unwrap();
            assert_eq!(response.status(), 200);
            let body: serde_json::Value =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            assert_eq!(body["mechanism"], "kerberos", "{body}");
        } else {
            // The acceptor expects other bindings than the ones the client computed: refused, so the
            // client really sends them.
            let error = result.unwrap_err();
            assert!(error.is_login_rejected(), "{error}");
            assert!(
                error.to_string().contains("refused the Kerberos ticket"),
                "{error}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_server_offering_only_ntlm_gets_ntlm_when_there_is_a_password() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("ntlm-only-password", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc.start_acceptor("ntlm").await;

    let identity = WindowsIdentity::from(WindowsCredentials::new(
        r"CORP\alice",
        SecretString::from(support::pyspnego::PASSWORD),
    ));
    let (body, _) = get("localhost", port, &identity).await.expect("ntlm");
    assert_eq!(body["mechanism"], "ntlm", "{body}");
    assert_eq!(body["scheme"], "NTLM", "{body}");
    let stats = stats(port).await;
    assert_eq!(
        stats["refused"], 0,
        "nothing was tried before NTLM: {stats}"
    );
}

#[tokio::test]
async fn a_final_token_that_does_not_verify_fails_the_login() {
    let _lock = env_lock().lock().await;
    let kdc = Kdc::start();
    let ccache = kdc.kinit_alice("forged-final", "10h");
    kdc.use_in_this_process(Some(&ccache));
    let (_acceptor, port) = kdc
        .start_acceptor_with("both", &[("FORGE_FINAL", std::ffi::OsStr::new("1"))])
        .await;

    let error = get("localhost", port, &WindowsIdentity::current_user())
        .await
        .expect_err("mutual authentication must fail");
    assert!(
        matches!(
            error,
            HandshakeError::Kerberos(KerberosError::MutualAuthFailed { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("did not verify"), "{error}");
}
