//! `rpa-auth`: log into an RPA or BI control plane from a script.
//!
//! ```text
//! rpa-auth [OPTIONS] token
//! rpa-auth [OPTIONS] call <METHOD> <PATH> [--data <JSON>] [--repeat <N>] [--interval <SECONDS>]
//! ```
//!
//! `token` logs in and prints the credential on one line. `call` makes the authenticated request N times
//! on one client and prints each response body on its own line. Secrets come only from the environment.
//! For the UiPath `uipath` and `uipath-oauth` backends, a flag that is absent falls back to the `UIPATH_*`
//! variable of the same meaning (`UIPATH_URL`, `UIPATH_CLIENT_ID`, …; see the README).
//! Exit status: 0 when every response was 2xx, 1 on failure (one `error:` line on stderr), 2 on usage errors.

use std::process::ExitCode;
use std::time::Duration;

use rpa_auth::backend::uipath::{ENV_FOLDER_ID, ENV_PASSWORD, ENV_TENANT, ENV_URL, ENV_USERNAME};
use rpa_auth::backend::uipath_oauth::{ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_SCOPE};
use rpa_auth::{
    AuthClient, AutomationAnywhereLogin, ExposeSecret, PyramidPasswordLogin, PyramidWindowsLogin,
    SecretString, UiPathBearerLogin, UiPathClientCredentialsLogin, UiPathNtlmLogin,
};

const USAGE: &str = "\
usage: rpa-auth [OPTIONS] token
       rpa-auth [OPTIONS] call <METHOD> <PATH> [--data <JSON>] [--repeat <N>] [--interval <SECONDS>]

options:
  --backend <uipath|uipath-ntlm|uipath-oauth|aa|pyramid|pyramid-windows>
  --url <BASE_URL>   --user <NAME>   --tenant <NAME>   --domain <NAME>   --folder-id <ID>
  --client-id <ID>   --scope <SCOPES>   --allow-http

secrets only from the environment:
  RPA_AUTH_PASSWORD, RPA_AUTH_API_KEY, RPA_AUTH_MFA_CODE, RPA_AUTH_CLIENT_SECRET

uipath and uipath-oauth read UIPATH_URL, UIPATH_USERNAME, UIPATH_PASSWORD, UIPATH_CLIENT_ID,
UIPATH_CLIENT_SECRET, UIPATH_SCOPE (or UIPATH_AUTH_SCOPES), UIPATH_TOKEN_URL, UIPATH_TENANT,
UIPATH_FOLDER_PATH and UIPATH_FOLDER_ID when the matching flag (or RPA_AUTH_ secret) is absent";

/// Why the program stops early: a usage error (exit 2) or a failure (exit 1).
enum Stop {
    Usage(String),
    Failed(String),
}

impl From<rpa_auth::Error> for Stop {
    fn from(error: rpa_auth::Error) -> Self {
        match error {
            rpa_auth::Error::Config { .. } => Stop::Usage(error.to_string()),
            _ => Stop::Failed(error.to_string()),
        }
    }
}

#[derive(Default)]
struct Options {
    backend: Option<String>,
    url: Option<String>,
    user: Option<String>,
    tenant: Option<String>,
    domain: Option<String>,
    folder_id: Option<i64>,
    client_id: Option<String>,
    scope: Option<String>,
    allow_http: bool,
    data: Option<String>,
    repeat: u32,
    interval: Duration,
    command: Vec<String>,
}

enum Command {
    Token,
    Call {
        method: reqwest::Method,
        path: String,
    },
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<(Options, Command), Stop> {
    let mut options = Options {
        repeat: 1,
        ..Options::default()
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| Stop::Usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--backend" => options.backend = Some(value("--backend")?),
            "--url" => options.url = Some(value("--url")?),
            "--user" => options.user = Some(value("--user")?),
            "--tenant" => options.tenant = Some(value("--tenant")?),
            "--domain" => options.domain = Some(value("--domain")?),
            "--folder-id" => {
                let text = value("--folder-id")?;
                let id = text.parse().map_err(|_| {
                    Stop::Usage(format!("--folder-id takes a number, not `{text}`"))
                })?;
                options.folder_id = Some(id);
            }
            "--client-id" => options.client_id = Some(value("--client-id")?),
            "--scope" => options.scope = Some(value("--scope")?),
            "--data" => options.data = Some(value("--data")?),
            "--repeat" => {
                let text = value("--repeat")?;
                options.repeat = text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Stop::Usage(format!("--repeat takes a positive number, not `{text}`"))
                })?;
            }
            "--interval" => {
                let text = value("--interval")?;
                let seconds: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        Stop::Usage(format!("--interval takes seconds, not `{text}`"))
                    })?;
                options.interval = Duration::from_secs_f64(seconds);
            }
            "--allow-http" => options.allow_http = true,
            "-h" | "--help" => return Err(Stop::Usage(String::new())),
            flag if flag.starts_with("--") => {
                return Err(Stop::Usage(format!("unknown option {flag}")));
            }
            _ => options.command.push(arg),
        }
    }
    let command = match options
        .command
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["token"] => Command::Token,
        ["call", method, path] => {
            let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|_| Stop::Usage(format!("`{method}` is not an HTTP method")))?;
            Command::Call {
                method,
                path: (*path).to_owned(),
            }
        }
        [] => return Err(Stop::Usage("no command given".into())),
        other => {
            return Err(Stop::Usage(format!(
                "unknown command `{}`",
                other.join(" ")
            )));
        }
    };
    Ok((options, command))
}

fn required<'a>(value: &'a Option<String>, flag: &str) -> Result<&'a str, Stop> {
    value
        .as_deref()
        .ok_or_else(|| Stop::Usage(format!("{flag} is required for this backend")))
}

/// A UiPath setting: the flag (or `RPA_AUTH_` secret) when given, else the `UIPATH_*` variable `name`.
fn uipath_setting(options: &Options, name: &str) -> Option<String> {
    let secret = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    let given = match name {
        ENV_URL => options.url.clone(),
        ENV_USERNAME => options.user.clone(),
        ENV_PASSWORD => secret("RPA_AUTH_PASSWORD"),
        ENV_CLIENT_ID => options.client_id.clone(),
        ENV_CLIENT_SECRET => secret("RPA_AUTH_CLIENT_SECRET"),
        ENV_SCOPE => options.scope.clone(),
        ENV_TENANT => options.tenant.clone(),
        ENV_FOLDER_ID => options.folder_id.map(|id| id.to_string()),
        _ => None,
    };
    given.or_else(|| std::env::var(name).ok())
}

/// A usage error saying `how` unless the UiPath setting `name` is given.
fn need(options: &Options, name: &str, how: &str) -> Result<(), Stop> {
    match uipath_setting(options, name) {
        Some(value) if !value.trim().is_empty() => Ok(()),
        _ => Err(Stop::Usage(how.to_owned())),
    }
}

fn secret_from_env(name: &str) -> Result<SecretString, Stop> {
    optional_secret_from_env(name).ok_or_else(|| Stop::Usage(format!("{name} is not set")))
}

fn optional_secret_from_env(name: &str) -> Option<SecretString> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(SecretString::from(value)),
        _ => None,
    }
}

/// The authenticated client for the chosen backend.
fn build_client(options: &Options) -> Result<AuthClient, Stop> {
    let backend = options.backend.as_deref().unwrap_or("uipath");
    let url = || required(&options.url, "--url");
    let setting = |name: &str| uipath_setting(options, name);
    let client = match backend {
        "uipath" => {
            need(
                options,
                ENV_URL,
                "--url (or UIPATH_URL) is required for this backend",
            )?;
            need(
                options,
                ENV_USERNAME,
                "--user (or UIPATH_USERNAME) is required for this backend",
            )?;
            need(
                options,
                ENV_PASSWORD,
                "RPA_AUTH_PASSWORD is not set (nor UIPATH_PASSWORD)",
            )?;
            AuthClient::builder(UiPathBearerLogin::from_env_with(setting)?)
        }
        "pyramid" => {
            let mut login = PyramidPasswordLogin::new(
                url()?,
                required(&options.user, "--user")?,
                secret_from_env("RPA_AUTH_PASSWORD")?,
            )?;
            if let Some(domain) = &options.domain {
                login = login.domain(domain);
            }
            AuthClient::builder(login)
        }
        "uipath-ntlm" => {
            let mut login = UiPathNtlmLogin::new(
                url()?,
                required(&options.user, "--user")?,
                secret_from_env("RPA_AUTH_PASSWORD")?,
            )?;
            if let Some(domain) = &options.domain {
                login = login.domain(domain);
            }
            if let Some(tenant) = &options.tenant {
                login = login.tenant_header(tenant)?;
            }
            if let Some(folder) = options.folder_id {
                login = login.folder_id(folder);
            }
            AuthClient::builder(login)
        }
        "pyramid-windows" => {
            let mut login = PyramidWindowsLogin::new(
                url()?,
                required(&options.user, "--user")?,
                secret_from_env("RPA_AUTH_PASSWORD")?,
            )?;
            if let Some(domain) = &options.domain {
                login = login.domain(domain);
            }
            AuthClient::builder(login)
        }
        "aa" => {
            // `--domain corp --user jdoe` is the directory user `corp\jdoe`.
            let user = required(&options.user, "--user")?;
            let user = match &options.domain {
                Some(domain) => format!("{domain}\\{user}"),
                None => user.to_owned(),
            };
            // The API key wins when both are set: its tokens do not end the user's other sessions.
            let login = match optional_secret_from_env("RPA_AUTH_API_KEY") {
                Some(key) => AutomationAnywhereLogin::with_api_key(url()?, user, key)?,
                None => match optional_secret_from_env("RPA_AUTH_PASSWORD") {
                    Some(password) => {
                        AutomationAnywhereLogin::with_password(url()?, user, password)?
                    }
                    None => {
                        return Err(Stop::Usage(
                            "RPA_AUTH_API_KEY or RPA_AUTH_PASSWORD is not set".into(),
                        ));
                    }
                },
            };
            let login = match optional_secret_from_env("RPA_AUTH_MFA_CODE") {
                Some(code) => login.mfa_code(code)?,
                None => login,
            };
            AuthClient::builder(login)
        }
        "uipath-oauth" => {
            need(
                options,
                ENV_URL,
                "--url (or UIPATH_URL) is required for this backend",
            )?;
            need(
                options,
                ENV_CLIENT_ID,
                "--client-id (or UIPATH_CLIENT_ID) is required for this backend",
            )?;
            need(
                options,
                ENV_CLIENT_SECRET,
                "RPA_AUTH_CLIENT_SECRET is not set (nor UIPATH_CLIENT_SECRET)",
            )?;
            AuthClient::builder(UiPathClientCredentialsLogin::from_env_with(setting)?)
        }
        other => return Err(Stop::Usage(format!("unknown backend `{other}`"))),
    };
    Ok(client.allow_http(options.allow_http).build()?)
}

async fn run(options: Options, command: Command) -> Result<(), Stop> {
    let client = build_client(&options)?;
    match command {
        Command::Token => {
            let credential = client.credential().await?;
            if credential.placement() == &rpa_auth::Placement::Connection {
                // Windows passthrough has no token: the login is the authenticated connection.
                return Err(Stop::Usage(format!(
                    "{}: the login checked out, but it is an authenticated connection, not a token: use `call`",
                    client.backend()
                )));
            }
            println!("{}", credential.secret().expose_secret());
            Ok(())
        }
        Command::Call { method, path } => {
            let body = match &options.data {
                Some(text) => Some(
                    serde_json::from_str::<serde_json::Value>(text)
                        .map_err(|e| Stop::Usage(format!("--data is not valid JSON ({e})")))?,
                ),
                None => None,
            };
            let mut failure = None;
            for round in 0..options.repeat {
                if round > 0 && !options.interval.is_zero() {
                    tokio::time::sleep(options.interval).await;
                }
                let mut request = client.request(method.clone(), &path);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let response = request.send().await?;
                let status = response.status();
                let text = response.text().await.map_err(|e| {
                    Stop::Failed(format!(
                        "{}: {method} {path}: could not read the answer ({e})",
                        client.backend()
                    ))
                })?;
                println!("{}", text.trim_end());
                if !status.is_success() && failure.is_none() {
                    // Method and path only: the query string could carry something that is not for logs.
                    let endpoint = client
                        .base_url()
                        .join(path.trim_start_matches('/'))
                        .map(|url| rpa_auth::Endpoint::new(method.clone(), &url).to_string())
                        .unwrap_or_else(|_| format!("{method} {path}"));
                    failure = Some(format!(
                        "{}: {endpoint} answered HTTP {}",
                        client.backend(),
                        status.as_u16()
                    ));
                }
            }
            failure.map_or(Ok(()), |message| Err(Stop::Failed(message)))
        }
    }
}

fn main() -> ExitCode {
    let (options, command) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(Stop::Usage(message)) | Err(Stop::Failed(message)) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime ({e})");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(options, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Stop::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}
