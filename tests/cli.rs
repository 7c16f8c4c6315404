//! The `rpa-auth` command-line example: exit codes, output lines, and the one-line error.
//!
//! One table, one row per case: the server the case needs, the arguments and environment, and what the run
//! must show (exit code, stdout and stderr lines and contents, emulator counters, and for `token` that the
//! printed credential works on a raw request). `{url}` in an argument or variable is the server's base URL.
//! Every row runs; a failure lists each failing row by name with its output.
//!
//! `cargo test` builds the examples before it runs the tests, so the binary is found beside the test's own.

mod support;

use std::path::Path;
use std::process::Output;

use rpa_auth::emulator::Server;
use rpa_auth::emulator::automation_anywhere::AutomationAnywhereEmulator;
use rpa_auth::emulator::pyramid::PyramidEmulator;
use rpa_auth::emulator::uipath::UiPathEmulator;

const PASSWORD: &str = "cli-Pa55word";
const AA_KEY: &str = "cli-api-key-0123456789abcdef0123456789ab";
const CLIENT_SECRET: &str = "cli-Cl1ent-secret";

/// Prefixes of the variables the CLI reads; every such variable is removed from a run, so the developer's
/// own environment cannot change a test.
const READ_FROM_ENV: &[&str] = &["RPA_AUTH_", "UIPATH_", "AA_", "PYRAMID_"];

/// The server a case runs against.
#[derive(Clone, Copy, Debug)]
enum Setup {
    /// None: the case fails before any request, or targets an address where nothing listens.
    Nothing,
    /// UiPath Orchestrator with local user `admin` in tenant `Default`.
    Orchestrator,
    /// UiPath Orchestrator with Windows user `CORP\robot`.
    WindowsOrchestrator,
    /// UiPath identity server with confidential client `cli-app`.
    IdentityServer,
    /// Automation Anywhere Control Room with a password user, an API-key user, an MFA user and a directory user.
    ControlRoom,
    /// Pyramid with local user `analyst` and Windows user `CORP\analyst`.
    Pyramid,
    /// A bare server that answers every request with pretty-printed (multi-line) JSON.
    PrettyJson,
}

/// A counter of the running server, checked after the run.
#[derive(Clone, Copy, Debug)]
enum Counter {
    Logins,
    FailedLogins,
    Calls,
    Handshakes,
    TokensIssued,
}

/// A check that the printed credential works on a raw request: `GET {url}{path}` with `header: {prefix}{token}`
/// answers 200.
#[derive(Clone, Copy, Debug)]
struct TokenWorks {
    path: &'static str,
    header: &'static str,
    prefix: &'static str,
}

/// One case of the table.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    setup: Setup,
    /// The command line after the program name, split at spaces; `'single quotes'` keep spaces in one argument.
    args: &'static str,
    env: &'static [(&'static str, &'static str)],
    code: i32,
    /// The number of stdout lines, when it matters (0: stdout is empty).
    stdout_lines: Option<usize>,
    stdout_has: &'static [&'static str],
    /// `(JSON pointer, expected JSON)` that every stdout line (at least one) must parse to.
    stdout_json: &'static [(&'static str, &'static str)],
    /// The number of stderr lines, when it matters.
    stderr_lines: Option<usize>,
    stderr_starts: Option<&'static str>,
    stderr_has: &'static [&'static str],
    /// Neither stdout nor stderr may contain any of these (secrets, bad values).
    output_lacks: &'static [&'static str],
    /// Server counters after the run.
    counters: &'static [(Counter, u64)],
    token_works: Option<TokenWorks>,
}

const CASE: Case = Case {
    name: "",
    setup: Setup::Nothing,
    args: "",
    env: &[],
    code: 0,
    stdout_lines: None,
    stdout_has: &[],
    stdout_json: &[],
    stderr_lines: None,
    stderr_starts: None,
    stderr_has: &[],
    output_lacks: &[],
    counters: &[],
    token_works: None,
};

const WITH_PASSWORD: &[(&str, &str)] = &[("RPA_AUTH_PASSWORD", PASSWORD)];

/// Usage errors: exit 2 and an `error:` line.
const USAGE: Case = Case {
    env: WITH_PASSWORD,
    code: 2,
    stderr_starts: Some("error: "),
    ..CASE
};

const CASES: &[Case] = &[
    Case {
        name: "token_prints_the_credential_on_one_line",
        setup: Setup::Orchestrator,
        args: "--backend uipath --url {url} --user admin --tenant Default token",
        env: WITH_PASSWORD,
        stdout_lines: Some(1),
        // The printed token is the one the server issued: it works on a raw request.
        token_works: Some(TokenWorks {
            path: "odata/Robots",
            header: "authorization",
            prefix: "Bearer ",
        }),
        ..CASE
    },
    Case {
        name: "call_repeats_on_one_client_and_prints_each_body",
        setup: Setup::Orchestrator,
        args: "--url {url} --user admin --folder-id 3 call GET odata/Jobs --repeat 3 --interval 0.05",
        env: WITH_PASSWORD,
        stdout_lines: Some(3),
        stdout_json: &[("/value", "[]")],
        // One login for three calls.
        counters: &[(Counter::Logins, 1), (Counter::Calls, 3)],
        ..CASE
    },
    Case {
        name: "wrong_password_exits_1_with_one_clean_error_line",
        setup: Setup::Orchestrator,
        args: "--url {url} --user admin call GET odata/Robots",
        env: &[("RPA_AUTH_PASSWORD", "very-wrong-secret")],
        code: 1,
        stdout_lines: Some(0),
        stderr_lines: Some(1),
        stderr_starts: Some("error: uipath: "),
        stderr_has: &["POST /api/Account/Authenticate", "errorCode 1000"],
        output_lacks: &["very-wrong-secret"],
        ..CASE
    },
    Case {
        // Jobs are folder-scoped: without a folder the server answers 400 / 1101.
        name: "non_2xx_answer_exits_1",
        setup: Setup::Orchestrator,
        args: "--url {url} --user admin call GET odata/Jobs",
        env: WITH_PASSWORD,
        code: 1,
        stdout_has: &["1101"],
        stderr_lines: Some(1),
        stderr_starts: Some("error: uipath: GET /odata/Jobs answered HTTP 400"),
        ..CASE
    },
    Case {
        name: "usage_errors_exit_2: no --url",
        args: "token",
        ..USAGE
    },
    Case {
        name: "usage_errors_exit_2: no command",
        args: "--url http://127.0.0.1:9/ --user a",
        ..USAGE
    },
    Case {
        name: "usage_errors_exit_2: unknown flag",
        args: "--url http://127.0.0.1:9/ --user a --bogus token",
        ..USAGE
    },
    Case {
        name: "usage_errors_exit_2: call without a path",
        args: "--url http://127.0.0.1:9/ --user a call GET",
        ..USAGE
    },
    Case {
        name: "usage_errors_exit_2: --repeat not a number",
        args: "--url http://127.0.0.1:9/ --user a --repeat zero token",
        ..USAGE
    },
    Case {
        name: "usage_errors_exit_2: plain http to a remote host",
        args: "--url http://orch.example.com/ --user a token",
        ..USAGE
    },
    Case {
        // No password in the environment is a usage error too.
        name: "usage_errors_exit_2: no password",
        args: "--url http://127.0.0.1:9/ --user a token",
        env: &[],
        code: 2,
        stderr_has: &["RPA_AUTH_PASSWORD is not set"],
        ..CASE
    },
    Case {
        name: "unreachable_server_exits_1_naming_the_endpoint",
        args: "--url http://127.0.0.1:1/ --user admin token",
        env: WITH_PASSWORD,
        code: 1,
        stderr_starts: Some("error: uipath: POST /api/Account/Authenticate could not connect"),
        ..CASE
    },
    Case {
        name: "aa_api_key_wins_over_password",
        setup: Setup::ControlRoom,
        args: "--backend aa --url {url} --user jdoe call GET v1/devices/list",
        env: &[
            ("RPA_AUTH_PASSWORD", "not-the-password"),
            ("RPA_AUTH_API_KEY", AA_KEY),
        ],
        counters: &[
            (Counter::Logins, 1),
            (Counter::FailedLogins, 0),
            (Counter::Calls, 1),
        ],
        ..CASE
    },
    Case {
        name: "aa_password_with_mfa_code_and_domain_user: mfa code",
        setup: Setup::ControlRoom,
        args: "--backend aa --url {url} --user secure token",
        env: &[
            ("RPA_AUTH_PASSWORD", PASSWORD),
            ("RPA_AUTH_MFA_CODE", "424242"),
        ],
        counters: &[(Counter::Logins, 1)],
        token_works: Some(TokenWorks {
            path: "v1/devices/list",
            header: "x-authorization",
            prefix: "",
        }),
        ..CASE
    },
    Case {
        name: "aa_password_with_mfa_code_and_domain_user: domain user",
        setup: Setup::ControlRoom,
        args: "--backend aa --url {url} --domain corp --user adsvc token",
        env: WITH_PASSWORD,
        counters: &[(Counter::Logins, 1)],
        ..CASE
    },
    Case {
        name: "aa_missing_mfa_code_and_missing_secret: no mfa code",
        setup: Setup::ControlRoom,
        args: "--backend aa --url {url} --user secure token",
        env: WITH_PASSWORD,
        code: 1,
        stderr_lines: Some(1),
        stderr_starts: Some(
            "error: aa: multi-factor code required: login rejected by POST /v2/authentication",
        ),
        output_lacks: &[PASSWORD],
        ..CASE
    },
    Case {
        name: "aa_missing_mfa_code_and_missing_secret: no secret",
        setup: Setup::ControlRoom,
        args: "--backend aa --url {url} --user jdoe token",
        env: &[("RPA_AUTH_MFA_CODE", "12x")],
        code: 2,
        stderr_has: &["RPA_AUTH_API_KEY or RPA_AUTH_PASSWORD is not set"],
        ..CASE
    },
    Case {
        name: "aa_missing_mfa_code_and_missing_secret: malformed mfa code",
        setup: Setup::ControlRoom,
        args: "--backend aa --url {url} --user jdoe token",
        env: &[
            ("RPA_AUTH_PASSWORD", PASSWORD),
            ("RPA_AUTH_MFA_CODE", "12x"),
        ],
        code: 2,
        output_lacks: &["12x"],
        ..CASE
    },
    Case {
        name: "windows_passthrough_backend_calls_over_an_authenticated_connection",
        setup: Setup::WindowsOrchestrator,
        args: "--backend uipath-ntlm --url {url} --user robot --domain CORP call GET odata/Robots --repeat 2",
        env: WITH_PASSWORD,
        stdout_lines: Some(2),
        counters: &[(Counter::Handshakes, 1)],
        ..CASE
    },
    Case {
        name: "pyramid_call_adds_auth_to_the_given_body",
        setup: Setup::Pyramid,
        args: r#"--backend pyramid --url {url} --user analyst call POST API2/query/run --data {"data":{"id":5}}"#,
        env: WITH_PASSWORD,
        stdout_json: &[("/data/received", r#"{"data": {"id": 5}}"#)],
        ..CASE
    },
    Case {
        name: "uipath_oauth_logs_in_with_client_credentials",
        setup: Setup::IdentityServer,
        args: "--backend uipath-oauth --url {url} --client-id cli-app --scope 'OR.Jobs OR.Folders.Read' --folder-id 1 call GET odata/Jobs",
        env: &[("RPA_AUTH_CLIENT_SECRET", CLIENT_SECRET)],
        counters: &[(Counter::TokensIssued, 1), (Counter::Calls, 1)],
        ..CASE
    },
    Case {
        name: "uipath_backends_fall_back_to_uipath_variables: uipath-oauth",
        setup: Setup::IdentityServer,
        args: "--backend uipath-oauth token",
        env: &[
            ("UIPATH_URL", "{url}"),
            ("UIPATH_CLIENT_ID", "cli-app"),
            ("UIPATH_CLIENT_SECRET", CLIENT_SECRET),
            ("UIPATH_AUTH_SCOPES", "OR.Jobs"),
        ],
        counters: &[(Counter::TokensIssued, 1)],
        ..CASE
    },
    Case {
        name: "uipath_backends_fall_back_to_uipath_variables: uipath",
        setup: Setup::Orchestrator,
        args: "--backend uipath token",
        env: &[
            ("UIPATH_URL", "{url}"),
            ("UIPATH_USERNAME", "admin"),
            ("UIPATH_PASSWORD", PASSWORD),
            ("UIPATH_TENANT", "Default"),
        ],
        counters: &[(Counter::Logins, 1)],
        ..CASE
    },
    Case {
        name: "uipath_oauth_usage_and_login_errors: no secret",
        setup: Setup::IdentityServer,
        args: "--backend uipath-oauth --url {url} --client-id cli-app token",
        code: 2,
        stderr_has: &["RPA_AUTH_CLIENT_SECRET is not set"],
        ..CASE
    },
    Case {
        name: "uipath_oauth_usage_and_login_errors: wrong secret",
        setup: Setup::IdentityServer,
        args: "--backend uipath-oauth --url {url} --client-id cli-app token",
        env: &[("RPA_AUTH_CLIENT_SECRET", "wrong-secret")],
        code: 1,
        stderr_lines: Some(1),
        stderr_starts: Some(
            "error: uipath-oauth: invalid client: login rejected by POST /identity/connect/token",
        ),
        output_lacks: &["wrong-secret"],
        ..CASE
    },
    Case {
        // Everything from the AA_ variables: a directory user, password and multipleLogin, forced v2.
        name: "aa_falls_back_to_aa_variables: all from AA_",
        setup: Setup::ControlRoom,
        args: "--backend aa call GET v1/devices/list",
        env: &[
            ("AA_URL", "{url}"),
            ("AA_USERNAME", "adsvc"),
            ("AA_DOMAIN", "corp"),
            ("AA_PASSWORD", PASSWORD),
            ("AA_MULTIPLE_LOGIN", "1"),
            ("AA_API_VERSION", "v2"),
        ],
        counters: &[(Counter::Logins, 1), (Counter::Calls, 1)],
        ..CASE
    },
    Case {
        // A flag and an RPA_AUTH_ secret win over the AA_ variable; the API key wins over the password.
        name: "aa_falls_back_to_aa_variables: flag and RPA_AUTH_ win",
        setup: Setup::ControlRoom,
        args: "--backend aa --user jdoe token",
        env: &[
            ("AA_URL", "{url}"),
            ("AA_USERNAME", "nobody"),
            ("AA_PASSWORD", "not-the-password"),
            ("RPA_AUTH_API_KEY", AA_KEY),
        ],
        counters: &[(Counter::Logins, 1), (Counter::FailedLogins, 0)],
        ..CASE
    },
    Case {
        // A malformed variable is a usage error naming it, without its value.
        name: "aa_falls_back_to_aa_variables: malformed AA_MFA_CODE",
        setup: Setup::ControlRoom,
        args: "--backend aa token",
        env: &[
            ("AA_URL", "{url}"),
            ("AA_USERNAME", "secure"),
            ("AA_PASSWORD", PASSWORD),
            ("AA_MFA_CODE", "4242x"),
        ],
        code: 2,
        stderr_has: &["AA_MFA_CODE"],
        output_lacks: &["4242x", PASSWORD],
        ..CASE
    },
    Case {
        name: "pyramid_falls_back_to_pyramid_variables: password",
        setup: Setup::Pyramid,
        args: "--backend pyramid call POST API3/access/getMe",
        env: &[
            ("PYRAMID_URL", "{url}"),
            ("PYRAMID_USERNAME", "analyst"),
            ("PYRAMID_PASSWORD", PASSWORD),
            ("PYRAMID_API", "3"),
        ],
        stdout_json: &[("/data/userName", r#""analyst""#)],
        ..CASE
    },
    Case {
        // Windows SSO with the domain from PYRAMID_DOMAIN.
        name: "pyramid_falls_back_to_pyramid_variables: windows",
        setup: Setup::Pyramid,
        args: "--backend pyramid-windows call POST API3/access/getMe",
        env: &[
            ("PYRAMID_URL", "{url}"),
            ("PYRAMID_USERNAME", "analyst"),
            ("PYRAMID_PASSWORD", PASSWORD),
            ("PYRAMID_API", "3"),
            ("PYRAMID_DOMAIN", "CORP"),
        ],
        stdout_json: &[("/data/userName", r#""CORP\\analyst""#)],
        counters: &[(Counter::Handshakes, 1)],
        ..CASE
    },
    Case {
        // Nothing set: the usage error names the flag and the variable.
        name: "pyramid_falls_back_to_pyramid_variables: nothing set",
        args: "--backend pyramid token",
        code: 2,
        stderr_has: &["--url (or PYRAMID_URL) is required"],
        ..CASE
    },
    Case {
        name: "token_with_windows_passthrough_says_there_is_no_token",
        setup: Setup::WindowsOrchestrator,
        args: r#"--backend uipath-ntlm --url {url} --user CORP\robot token"#,
        env: WITH_PASSWORD,
        code: 2,
        stdout_lines: Some(0),
        stderr_starts: Some("error: uipath-ntlm: "),
        stderr_has: &["not a token"],
        // The credentials were checked.
        counters: &[(Counter::Handshakes, 1)],
        ..CASE
    },
    Case {
        // A server that answers pretty-printed JSON: each repeat still prints one line.
        name: "a_pretty_printed_body_is_printed_on_one_line",
        setup: Setup::PrettyJson,
        args: "--url {url} --user admin call GET odata/Robots --repeat 2",
        env: WITH_PASSWORD,
        stdout_lines: Some(2),
        stdout_json: &[("/value", "[1, 2]")],
        ..CASE
    },
];

#[tokio::test]
async fn cli_cases() {
    let binary = support::example_binary("rpa-auth");
    let mut runs = tokio::task::JoinSet::new();
    for (index, case) in CASES.iter().enumerate() {
        let binary = binary.clone();
        runs.spawn(async move { (index, run_case(&binary, case).await) });
    }
    let mut failures: Vec<(usize, String)> = Vec::new();
    while let Some(joined) = runs.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((index, Err(report))) => failures.push((index, report)),
            Err(panicked) => failures.push((usize::MAX, format!("a case panicked: {panicked}"))),
        }
    }
    failures.sort();
    let report: Vec<String> = failures.into_iter().map(|(_, report)| report).collect();
    assert!(
        report.is_empty(),
        "{} of {} cases failed:\n\n{}",
        report.len(),
        CASES.len(),
        report.join("\n\n")
    );
}

/// The table has one row per name, so a failure points at exactly one row.
#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = CASES.iter().map(|case| case.name).collect();
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "duplicate case names");
}

#[test]
fn args_split_at_spaces_outside_single_quotes() {
    assert_eq!(
        split(r#"--scope 'OR.Jobs OR.Folders.Read' --data {"a":1}  token"#),
        [
            "--scope",
            "OR.Jobs OR.Folders.Read",
            "--data",
            r#"{"a":1}"#,
            "token"
        ]
    );
    assert!(split("").is_empty());
}

/// `line` split at spaces outside single quotes.
fn split(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.get_or_insert_with(String::new);
            }
            ' ' if !quoted => args.extend(current.take()),
            c => current.get_or_insert_with(String::new).push(c),
        }
    }
    args.extend(current);
    args
}

/// The running server of a case's setup.
enum Running {
    None,
    UiPath(UiPathEmulator),
    ControlRoom(AutomationAnywhereEmulator),
    Pyramid(PyramidEmulator),
    Bare(Server),
}

impl Running {
    async fn start(setup: Setup) -> Self {
        match setup {
            Setup::Nothing => Running::None,
            Setup::Orchestrator => Running::UiPath(
                UiPathEmulator::builder()
                    .user("admin", PASSWORD)
                    .start()
                    .await
                    .unwrap(),
            ),
            Setup::WindowsOrchestrator => Running::UiPath(
                UiPathEmulator::builder()
                    .windows_user("CORP", "robot", PASSWORD)
                    .start()
                    .await
                    .unwrap(),
            ),
            Setup::IdentityServer => Running::UiPath(
                UiPathEmulator::builder()
                    .client("cli-app", CLIENT_SECRET, &["OR.Jobs", "OR.Folders.Read"])
                    .start()
                    .await
                    .unwrap(),
            ),
            Setup::ControlRoom => Running::ControlRoom(
                AutomationAnywhereEmulator::builder()
                    .user("jdoe", PASSWORD)
                    .api_key_user("jdoe", AA_KEY)
                    .mfa_user("secure", PASSWORD)
                    .mfa_code(424_242)
                    .user(r"corp\adsvc", PASSWORD)
                    .start()
                    .await
                    .unwrap(),
            ),
            Setup::Pyramid => Running::Pyramid(
                PyramidEmulator::builder()
                    .user("analyst", PASSWORD)
                    .windows_user("CORP", "analyst", PASSWORD)
                    .start()
                    .await
                    .unwrap(),
            ),
            Setup::PrettyJson => Running::Bare(pretty_json_server().await),
        }
    }

    fn url(&self) -> Option<String> {
        match self {
            Running::None => None,
            Running::UiPath(emulator) => Some(emulator.url().to_string()),
            Running::ControlRoom(emulator) => Some(emulator.url().to_string()),
            Running::Pyramid(emulator) => Some(emulator.url().to_string()),
            Running::Bare(server) => Some(server.url().to_string()),
        }
    }

    fn count(&self, counter: Counter) -> Option<u64> {
        match (self, counter) {
            (Running::UiPath(e), Counter::Logins) => Some(e.logins()),
            (Running::UiPath(e), Counter::FailedLogins) => Some(e.failed_logins()),
            (Running::UiPath(e), Counter::Calls) => Some(e.calls()),
            (Running::UiPath(e), Counter::Handshakes) => Some(e.handshakes()),
            (Running::UiPath(e), Counter::TokensIssued) => Some(e.tokens_issued()),
            (Running::ControlRoom(e), Counter::Logins) => Some(e.logins()),
            (Running::ControlRoom(e), Counter::FailedLogins) => Some(e.failed_logins()),
            (Running::ControlRoom(e), Counter::Calls) => Some(e.calls()),
            (Running::Pyramid(e), Counter::Logins) => Some(e.logins()),
            (Running::Pyramid(e), Counter::FailedLogins) => Some(e.failed_logins()),
            (Running::Pyramid(e), Counter::Calls) => Some(e.calls()),
            (Running::Pyramid(e), Counter::Handshakes) => Some(e.handshakes()),
            _ => None,
        }
    }
}

/// Runs one case; `Err` holds a report naming the case, each failed check, and the output.
async fn run_case(binary: &Path, case: &Case) -> Result<(), String> {
    let server = Running::start(case.setup).await;
    let url = server.url();
    let fill = |value: &str| match &url {
        Some(url) => value.replace("{url}", url),
        None => value.to_owned(),
    };
    let mut command = tokio::process::Command::new(binary);
    command.args(split(case.args).iter().map(|arg| fill(arg)));
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if READ_FROM_ENV.iter().any(|prefix| name.starts_with(prefix)) {
            command.env_remove(&key);
        }
    }
    for (key, value) in case.env {
        command.env(key, fill(value));
    }
    let output: Output = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();

    let mut failed: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    check(
        output.status.code() == Some(case.code),
        format!(
            "exit code {:?}, expected {}",
            output.status.code(),
            case.code
        ),
    );
    if let Some(lines) = case.stdout_lines {
        check(
            stdout.lines().count() == lines,
            format!(
                "stdout has {} lines, expected {lines}",
                stdout.lines().count()
            ),
        );
    }
    for part in case.stdout_has {
        check(stdout.contains(part), format!("stdout lacks {part:?}"));
    }
    if !case.stdout_json.is_empty() {
        check(
            stdout.lines().count() > 0,
            "stdout is empty, expected JSON".to_owned(),
        );
    }
    for line in stdout.lines() {
        for (pointer, expected) in case.stdout_json {
            let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
            let found = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|body| body.pointer(pointer).cloned());
            check(
                found.as_ref() == Some(&expected),
                format!("stdout line {line:?}: {pointer} is {found:?}, expected {expected}"),
            );
        }
    }
    if let Some(lines) = case.stderr_lines {
        check(
            stderr.lines().count() == lines,
            format!(
                "stderr has {} lines, expected {lines}",
                stderr.lines().count()
            ),
        );
    }
    if let Some(start) = case.stderr_starts {
        check(
            stderr.starts_with(start),
            format!("stderr does not start with {start:?}"),
        );
    }
    for part in case.stderr_has {
        check(stderr.contains(part), format!("stderr lacks {part:?}"));
    }
    for part in case.output_lacks {
        check(
            !stderr.contains(part) && !stdout.contains(part),
            format!("the output contains {part:?}"),
        );
    }
    for &(counter, expected) in case.counters {
        let found = server.count(counter);
        check(
            found == Some(expected),
            format!("{counter:?} is {found:?}, expected {expected}"),
        );
    }
    if let Some(token_works) = case.token_works {
        let token = stdout.trim();
        check(!token.is_empty(), "no token printed".to_owned());
        let url = url.clone().unwrap_or_default();
        let status = reqwest::Client::new()
            .get(format!("{url}{}", token_works.path))
            .header(token_works.header, format!("{}{token}", token_works.prefix))
            .send()
            .await
            .map(|response| response.status().as_u16());
        check(
            matches!(status, Ok(200)),
            format!(
                "the printed token on GET {}: {status:?}, expected 200",
                token_works.path
            ),
        );
    }

    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "case {:?} ({:?} {:?}):\n  {}\n  --- stdout:\n{stdout}  --- stderr:\n{stderr}",
            case.name,
            case.setup,
            case.args,
            failed.join("\n  ")
        ))
    }
}

/// A server that answers the UiPath login and every other request with pretty-printed JSON.
async fn pretty_json_server() -> Server {
    support::servers::answering(|request| {
        let body = if request.path() == "/api/account/authenticate" {
            "{\n  \"result\": \"tok\",\n  \"success\": true\n}\n"
        } else {
            "{\n  \"value\": [\n    1,\n    2\n  ]\n}\n"
        };
        support::servers::json(http::StatusCode::OK, body)
    })
    .await
}
