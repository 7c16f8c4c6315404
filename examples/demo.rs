//! `cargo run --example demo`: starts the built-in emulators, logs into each with each available method,
//! makes one authenticated call, and prints what happened.

use std::time::{Duration, Instant};

use rpa_auth::PyramidApi;
use rpa_auth::emulator::automation_anywhere::AutomationAnywhereEmulator;
use rpa_auth::emulator::pyramid::PyramidEmulator;
use rpa_auth::emulator::uipath::UiPathEmulator;
use rpa_auth::{
    AuthClient, AutomationAnywhereLogin, PyramidPasswordLogin, PyramidWindowsLogin, SecretString,
    UiPathBearerLogin, UiPathClientCredentialsLogin, UiPathNtlmLogin,
};

/// One line of the table.
struct Row {
    backend: &'static str,
    method: &'static str,
    login: Duration,
    placement: String,
    call: String,
}

impl Row {
    /// A row that says how to try something this machine is not set up for (never a failure).
    fn note(backend: &'static str, method: &'static str, how: String) -> Self {
        Self {
            backend,
            method,
            login: Duration::ZERO,
            placement: "-".to_owned(),
            call: how,
        }
    }

    /// A row for something that failed before a login could be tried (counted as a failure).
    fn failed(backend: &'static str, error: impl std::fmt::Display) -> Self {
        Self {
            backend,
            method: "-",
            login: Duration::ZERO,
            placement: "-".to_owned(),
            call: format!("error: {error}"),
        }
    }
}

/// Logs in with `client`, then makes `call` (method, path, optional JSON body), timing the login.
async fn exercise(
    backend: &'static str,
    method: &'static str,
    client: AuthClient,
    call: (reqwest::Method, &str, Option<serde_json::Value>),
) -> Row {
    let started = Instant::now();
    let credential = client.credential().await;
    let login = started.elapsed();
    let (placement, call) = match credential {
        Ok(credential) => {
            let (verb, path, body) = call;
            let mut request = client.request(verb.clone(), path);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let outcome = match request.send().await {
                Ok(response) => format!("{verb} {path} → {}", response.status().as_u16()),
                Err(error) => format!("error: {error}"),
            };
            (credential.placement().to_string(), outcome)
        }
        Err(error) => ("-".to_owned(), format!("login failed: {error}")),
    };
    Row {
        backend,
        method,
        login,
        placement,
        call,
    }
}

async fn uipath_rows() -> std::io::Result<Vec<Row>> {
    let orchestrator = UiPathEmulator::builder()
        .user("admin", "demo-password")
        .windows_user("CORP", "robot", "demo-password")
        .client(
            "demo-app",
            "demo-app-secret",
            &["OR.Jobs", "OR.Folders.Read"],
        )
        .start()
        .await?;
    println!("UiPath Orchestrator emulator at {}", orchestrator.url());
    let login = UiPathBearerLogin::new(
        orchestrator.url().as_str(),
        "admin",
        SecretString::from("demo-password"),
    )
    .map(|login| login.tenant("Default").folder_id(1));
    let mut rows = Vec::new();
    match login.and_then(AuthClient::new) {
        Ok(client) => rows.push(
            exercise(
                "UiPath Orchestrator",
                "bearer (/api/Account/Authenticate)",
                client,
                (reqwest::Method::GET, "odata/Jobs", None),
            )
            .await,
        ),
        Err(error) => rows.push(Row::failed("uipath", error)),
    }
    let windows = UiPathNtlmLogin::new(
        orchestrator.url().as_str(),
        r"CORP\robot",
        SecretString::from("demo-password"),
    );
    match windows.and_then(AuthClient::new) {
        Ok(client) => rows.push(
            exercise(
                "UiPath Orchestrator",
                "Windows (NTLM passthrough)",
                client,
                (reqwest::Method::GET, "odata/Robots", None),
            )
            .await,
        ),
        Err(error) => rows.push(Row::failed("uipath-ntlm", error)),
    }
    let login = UiPathClientCredentialsLogin::new(
        orchestrator.url().as_str(),
        "demo-app",
        SecretString::from("demo-app-secret"),
    )
    .and_then(|login| login.scope("OR.Jobs OR.Folders.Read"))
    .map(|login| login.folder_id(1));
    match login.and_then(AuthClient::new) {
        Ok(client) => rows.push(
            exercise(
                "UiPath Orchestrator",
                "OAuth client credentials (/identity/connect/token)",
                client,
                (reqwest::Method::GET, "odata/Jobs", None),
            )
            .await,
        ),
        Err(error) => rows.push(Row::failed("uipath-oauth", error)),
    }
    Ok(rows)
}

async fn automation_anywhere_rows() -> std::io::Result<Vec<Row>> {
    const API_KEY: &str = "demo0api0key0generated0in0control0room00";
    const MFA_CODE: u32 = 123_456;
    let control_room = AutomationAnywhereEmulator::builder()
        .user("creator", "demo-password")
        .api_key_user("runner", API_KEY)
        .mfa_user("auditor", "demo-password")
        .mfa_code(MFA_CODE)
        .start()
        .await?;
    println!(
        "Automation Anywhere Control Room emulator at {}",
        control_room.url()
    );
    let url = control_room.url();
    let logins = [
        (
            "password (/v2/authentication)",
            AutomationAnywhereLogin::new(
                url.as_str(),
                "creator",
                SecretString::from("demo-password"),
            ),
        ),
        (
            "API key (/v2/authentication)",
            AutomationAnywhereLogin::with_api_key(
                url.as_str(),
                "runner",
                SecretString::from(API_KEY),
            ),
        ),
        (
            "password + MFA code (/v2/authentication)",
            AutomationAnywhereLogin::new(
                url.as_str(),
                "auditor",
                SecretString::from("demo-password"),
            )
            .and_then(|login| login.mfa_code(SecretString::from(MFA_CODE.to_string()))),
        ),
    ];
    let mut rows = Vec::new();
    for (method, login) in logins {
        match login.and_then(AuthClient::new) {
            Ok(client) => {
                rows.push(
                    exercise(
                        "Automation Anywhere",
                        method,
                        client.clone(),
                        (
                            reqwest::Method::POST,
                            "v2/repository/workspaces/private/files/list",
                            Some(serde_json::json!({})),
                        ),
                    )
                    .await,
                );
                if let Err(error) = client.logout().await {
                    rows.push(Row::failed("aa logout", error));
                }
            }
            Err(error) => rows.push(Row::failed("aa", error)),
        }
    }
    Ok(rows)
}

async fn pyramid_rows() -> std::io::Result<Vec<Row>> {
    let pyramid = PyramidEmulator::builder()
        .user("analyst", "demo-password")
        .windows_user("CORP", "analyst", "demo-password")
        .start()
        .await?;
    println!("Pyramid Analytics emulator at {}", pyramid.url());
    let mut rows = Vec::new();
    for (api, method, path) in [
        (
            PyramidApi::Api2,
            "password, API2 (/API2/auth/authenticateUser)",
            "API2/access/getMe",
        ),
        (
            PyramidApi::Api3,
            "password, API3 (/API3/authentication/authenticateUser)",
            "API3/access/getMe",
        ),
    ] {
        let login = PyramidPasswordLogin::new(
            pyramid.url().as_str(),
            "analyst",
            SecretString::from("demo-password"),
        )
        .map(|login| login.api(api));
        match login.and_then(AuthClient::new) {
            Ok(client) => rows.push(
                exercise(
                    "Pyramid Analytics",
                    method,
                    client,
                    (reqwest::Method::POST, path, None),
                )
                .await,
            ),
            Err(error) => rows.push(Row::failed("pyramid", error)),
        }
    }
    let windows = PyramidWindowsLogin::new(
        pyramid.url().as_str(),
        r"CORP\analyst",
        SecretString::from("demo-password"),
    );
    match windows.and_then(AuthClient::new) {
        Ok(client) => rows.push(
            exercise(
                "Pyramid Analytics",
                "Windows SSO (/API2/auth/authenticateUserWindows)",
                client,
                (reqwest::Method::POST, "API2/access/getMe", None),
            )
            .await,
        ),
        Err(error) => rows.push(Row::failed("pyramid", error)),
    }
    Ok(rows)
}

/// Kerberos single sign-on: a login as the current user into an emulator that checks tickets with the
/// service keytab of `KRB5_KTNAME` (principal `HTTP/localhost`), when this demo is built with the `kerberos`
/// feature and the machine has a ticket; otherwise a row saying how to try it. Never a failure.
#[cfg(feature = "kerberos")]
async fn kerberos_row() -> Row {
    const BACKEND: &str = "Kerberos SSO";
    const METHOD: &str = "current user (Negotiate)";
    let orchestrator = match UiPathEmulator::builder().kerberos().start().await {
        Ok(orchestrator) => orchestrator,
        Err(error) => {
            return Row::note(
                BACKEND,
                METHOD,
                format!("not tried: {error}, with a key of HTTP/localhost, then kinit"),
            );
        }
    };
    let login = UiPathNtlmLogin::current_user(orchestrator.url().as_str())
        .map(|login| login.spn("HTTP/localhost"));
    match login.and_then(AuthClient::new) {
        Ok(client) => {
            let row = exercise(
                BACKEND,
                METHOD,
                client,
                (reqwest::Method::GET, "odata/Robots", None),
            )
            .await;
            if row.call.ends_with("→ 200") {
                row
            } else {
                Row::note(BACKEND, METHOD, format!("not tried: {}", row.call))
            }
        }
        Err(error) => Row::note(BACKEND, METHOD, format!("not tried: {error}")),
    }
}

#[cfg(not(feature = "kerberos"))]
async fn kerberos_row() -> Row {
    Row::note(
        "Kerberos SSO",
        "current user (Negotiate)",
        "not built in: kinit, set KRB5_KTNAME to a keytab of HTTP/localhost, and run \
         cargo run --features kerberos --example demo"
            .to_owned(),
    )
}

fn print_table(rows: &[Row]) {
    let headers = ["backend", "method", "login", "placement", "call"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [
                row.backend.to_owned(),
                row.method.to_owned(),
                format!("{:.1} ms", row.login.as_secs_f64() * 1000.0),
                row.placement.clone(),
                row.call.clone(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let line = |values: &[&str]| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    println!();
    line(&headers);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for row in &cells {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut rows = Vec::new();
    match uipath_rows().await {
        Ok(more) => rows.extend(more),
        Err(error) => rows.push(Row::failed("UiPath emulator", error)),
    }
    match automation_anywhere_rows().await {
        Ok(more) => rows.extend(more),
        Err(error) => rows.push(Row::failed("Automation Anywhere emulator", error)),
    }
    match pyramid_rows().await {
        Ok(more) => rows.extend(more),
        Err(error) => rows.push(Row::failed("Pyramid emulator", error)),
    }
    // Nine logins: three UiPath, three Automation Anywhere, three Pyramid; each call must answer 200.
    let all_ok = rows.len() == 9 && rows.iter().all(|row| row.call.ends_with("→ 200"));
    rows.push(kerberos_row().await);
    print_table(&rows);
    if all_ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
