//! `rpa-auth`: log into an RPA or BI control plane from a script.
//!
//! ```text
//! rpa-auth [OPTIONS] token
//! rpa-auth [OPTIONS] call <METHOD> <PATH> [--data <JSON>] [--repeat <N>] [--interval <SECONDS>]
//! ```
//!
//! `token` logs in and prints the credential on one line. `call` makes the authenticated request N times
//! on one client and prints each response body on its own line. Secrets come only from the environment.
//! A flag that is absent falls back to the vendor variable of the same meaning (`UIPATH_URL`,
//! `UIPATH_CLIENT_ID`, `AA_URL`, `PYRAMID_USERNAME`, …; see the README), and a secret to the vendor's
//! variable when its `RPA_AUTH_*` variable is unset.
//! `--token-cache` (or `RPA_AUTH_TOKEN_CACHE`) shares one login between every process that names the same
//! directory or Redis server; `RPA_AUTH_CACHE_KEY` (32 random bytes, base64) encrypts the entries.
//! Exit status: 0 when every response was 2xx, 1 on failure (one `error:` line on stderr), 2 on usage errors.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rpa_auth::store::file::FileStore;
use rpa_auth::store::{EncryptionKey, TokenStore};
use rpa_auth::{
    AuthClient, AutomationAnywhereLogin, ExposeSecret, PyramidPasswordLogin, PyramidWindowsLogin,
    UiPathBearerLogin, UiPathClientCredentialsLogin, UiPathNtlmLogin,
};

const USAGE: &str = "\
usage: rpa-auth [OPTIONS] token
       rpa-auth [OPTIONS] call <METHOD> <PATH> [--data <JSON>] [--repeat <N>] [--interval <SECONDS>]

options:
  --backend <uipath|uipath-ntlm|uipath-oauth|aa|pyramid|pyramid-windows>
  --url <BASE_URL>   --user <NAME>   --tenant <NAME>   --domain <NAME>   --folder-id <ID>
  --client-id <ID>   --scope <SCOPES>   --allow-http
  --spn <SERVICE/HOST or SERVICE@HOST>   Kerberos service name (default HTTP@<host of the URL>)
  --token-cache <DIR | redis://HOST:PORT[/DB] | rediss://... | redis+unix:///PATH>
                     share one login with every process using the same cache (or RPA_AUTH_TOKEN_CACHE)
  --token-cache-lease <SECONDS>   how long a login in progress holds the cache's lease (default 60)

secrets only from the environment:
  RPA_AUTH_PASSWORD, RPA_AUTH_API_KEY, RPA_AUTH_MFA_CODE, RPA_AUTH_CLIENT_SECRET
  RPA_AUTH_CACHE_KEY: encrypts the token cache (32 random bytes in base64; required for Redis)

uipath-ntlm and pyramid-windows with no password set log in as the current user from the Kerberos
ticket cache (kinit, KRB5CCNAME); --user is then not needed (built with --features kerberos)

when the matching flag (or RPA_AUTH_ secret) is absent, the backends read
  uipath, uipath-oauth, uipath-ntlm: UIPATH_URL, UIPATH_USERNAME, UIPATH_PASSWORD, UIPATH_DOMAIN,
    UIPATH_CLIENT_ID, UIPATH_CLIENT_SECRET, UIPATH_SCOPE (or UIPATH_AUTH_SCOPES), UIPATH_TOKEN_URL,
    UIPATH_TENANT, UIPATH_FOLDER_PATH, UIPATH_FOLDER_ID
  aa: AA_URL, AA_USERNAME, AA_DOMAIN, AA_API_KEY, AA_PASSWORD, AA_MFA_CODE, AA_MULTIPLE_LOGIN,
    AA_API_VERSION
  pyramid, pyramid-windows: PYRAMID_URL, PYRAMID_USERNAME, PYRAMID_PASSWORD, PYRAMID_DOMAIN, PYRAMID_API";

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
    spn: Option<String>,
    folder_id: Option<i64>,
    client_id: Option<String>,
    scope: Option<String>,
    allow_http: bool,
    token_cache: Option<String>,
    token_cache_lease: Option<Duration>,
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
            "--spn" => options.spn = Some(value("--spn")?),
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
            "--token-cache" => options.token_cache = Some(value("--token-cache")?),
            "--token-cache-lease" => {
                let text = value("--token-cache-lease")?;
                let seconds: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        Stop::Usage(format!("--token-cache-lease takes seconds, not `{text}`"))
                    })?;
                options.token_cache_lease = Some(Duration::from_secs_f64(seconds));
            }
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

/// A setting: the flag (or `RPA_AUTH_` secret) when given, else the vendor variable `name`.
fn setting(options: &Options, name: &str) -> Option<String> {
    let secret = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    let given = match name {
        "UIPATH_URL" | "AA_URL" | "PYRAMID_URL" => options.url.clone(),
        "UIPATH_USERNAME" | "AA_USERNAME" | "PYRAMID_USERNAME" => options.user.clone(),
        "UIPATH_DOMAIN" | "AA_DOMAIN" | "PYRAMID_DOMAIN" => options.domain.clone(),
        "UIPATH_PASSWORD" | "AA_PASSWORD" | "PYRAMID_PASSWORD" => secret("RPA_AUTH_PASSWORD"),
        "AA_API_KEY" => secret("RPA_AUTH_API_KEY"),
        "AA_MFA_CODE" => secret("RPA_AUTH_MFA_CODE"),
        "UIPATH_CLIENT_ID" => options.client_id.clone(),
        "UIPATH_CLIENT_SECRET" => secret("RPA_AUTH_CLIENT_SECRET"),
        "UIPATH_SCOPE" => options.scope.clone(),
        "UIPATH_TENANT" => options.tenant.clone(),
        "UIPATH_FOLDER_ID" => options.folder_id.map(|id| id.to_string()),
        _ => None,
    };
    given.or_else(|| std::env::var(name).ok())
}

/// A usage error saying `how` unless one of the settings `names` is given.
fn need(options: &Options, names: &[&str], how: &str) -> Result<(), Stop> {
    let given = |name: &&str| setting(options, name).is_some_and(|value| !value.trim().is_empty());
    if names.iter().any(given) {
        Ok(())
    } else {
        Err(Stop::Usage(how.to_owned()))
    }
}

/// The usage errors shared by the backends that log in with a user name and password.
fn need_user_and_password(
    options: &Options,
    url: &str,
    user: &str,
    password: &str,
) -> Result<(), Stop> {
    need(
        options,
        &[url],
        &format!("--url (or {url}) is required for this backend"),
    )?;
    need(
        options,
        &[user],
        &format!("--user (or {user}) is required for this backend"),
    )?;
    need(
        options,
        &[password],
        &format!("RPA_AUTH_PASSWORD is not set (nor {password})"),
    )
}

/// The usage errors of the Windows logins: with the `kerberos` feature and no password set, only the URL
/// is needed (the current user's ticket); otherwise as for any password login.
fn need_windows_login(
    options: &Options,
    url: &str,
    user: &str,
    password: &str,
) -> Result<(), Stop> {
    if cfg!(feature = "kerberos") && need(options, &[password], "").is_err() {
        return need(
            options,
            &[url],
            &format!("--url (or {url}) is required for this backend"),
        );
    }
    need_user_and_password(options, url, user, password).map_err(|stop| match stop {
        Stop::Usage(message) if !cfg!(feature = "kerberos") && message.contains("PASSWORD") => {
            Stop::Usage(format!(
                "{message}; to log in as the current user with a Kerberos ticket, build with --features kerberos"
            ))
        }
        other => other,
    })
}

/// The authenticated client for the chosen backend.
fn build_client(options: &Options) -> Result<AuthClient, Stop> {
    let backend = options.backend.as_deref().unwrap_or("uipath");
    let setting = |name: &str| setting(options, name);
    let client = match backend {
        "uipath" => {
            need_user_and_password(options, "UIPATH_URL", "UIPATH_USERNAME", "UIPATH_PASSWORD")?;
            AuthClient::builder(UiPathBearerLogin::from_env_with(setting)?)
        }
        "uipath-ntlm" => {
            need_windows_login(options, "UIPATH_URL", "UIPATH_USERNAME", "UIPATH_PASSWORD")?;
            let mut login = UiPathNtlmLogin::from_env_with(setting)?;
            if let Some(spn) = &options.spn {
                login = login.spn(spn);
            }
            AuthClient::builder(login)
        }
        "pyramid" => {
            need_user_and_password(
                options,
                "PYRAMID_URL",
                "PYRAMID_USERNAME",
                "PYRAMID_PASSWORD",
            )?;
            AuthClient::builder(PyramidPasswordLogin::from_env_with(setting)?)
        }
        "pyramid-windows" => {
            need_windows_login(
                options,
                "PYRAMID_URL",
                "PYRAMID_USERNAME",
                "PYRAMID_PASSWORD",
            )?;
            let mut login = PyramidWindowsLogin::from_env_with(setting)?;
            if let Some(spn) = &options.spn {
                login = login.spn(spn);
            }
            AuthClient::builder(login)
        }
        "aa" => {
            // `--domain corp --user jdoe` is the directory user `corp\jdoe`. The API key wins when both
            // secrets are set: its tokens do not end the user's other sessions.
            need(
                options,
                &["AA_URL"],
                "--url (or AA_URL) is required for this backend",
            )?;
            need(
                options,
                &["AA_USERNAME"],
                "--user (or AA_USERNAME) is required for this backend",
            )?;
            need(
                options,
                &["AA_API_KEY", "AA_PASSWORD"],
                "RPA_AUTH_API_KEY or RPA_AUTH_PASSWORD is not set (nor AA_API_KEY or AA_PASSWORD)",
            )?;
            AuthClient::builder(AutomationAnywhereLogin::from_env_with(setting)?)
        }
        "uipath-oauth" => {
            need(
                options,
                &["UIPATH_URL"],
                "--url (or UIPATH_URL) is required for this backend",
            )?;
            need(
                options,
                &["UIPATH_CLIENT_ID"],
                "--client-id (or UIPATH_CLIENT_ID) is required for this backend",
            )?;
            need(
                options,
                &["UIPATH_CLIENT_SECRET"],
                "RPA_AUTH_CLIENT_SECRET is not set (nor UIPATH_CLIENT_SECRET)",
            )?;
            AuthClient::builder(UiPathClientCredentialsLogin::from_env_with(setting)?)
        }
        other => return Err(Stop::Usage(format!("unknown backend `{other}`"))),
    };
    let client = match token_store(options)? {
        Some(store) => client.token_store(store),
        None => client,
    };
    Ok(client.allow_http(options.allow_http).build()?)
}

/// The token store `--token-cache` (or `RPA_AUTH_TOKEN_CACHE`) names, sealed with `RPA_AUTH_CACHE_KEY`.
fn token_store(options: &Options) -> Result<Option<Arc<dyn TokenStore>>, Stop> {
    let Some(target) = options
        .token_cache
        .clone()
        .or_else(|| std::env::var("RPA_AUTH_TOKEN_CACHE").ok())
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(None);
    };
    let key = EncryptionKey::from_env().map_err(|e| Stop::Usage(e.to_string()))?;
    if target.starts_with("redis://")
        || target.starts_with("rediss://")
        || target.starts_with("redis+unix://")
        || target.starts_with("unix://")
    {
        let key = key.ok_or_else(|| {
            Stop::Usage(
                "RPA_AUTH_CACHE_KEY is required for a Redis token cache (`openssl rand -base64 32`)"
                    .into(),
            )
        })?;
        let mut store = rpa_auth::store::redis::RedisStore::new(&target, key)
            .map_err(|e| Stop::Usage(format!("--token-cache: {e}")))?;
        if let Some(lease) = options.token_cache_lease {
            store = store.lease(lease);
        }
        return Ok(Some(Arc::new(store)));
    }
    let mut store = FileStore::new(target);
    if let Some(key) = key {
        store = store.encryption_key(key);
    }
    if let Some(lease) = options.token_cache_lease {
        store = store.lease(lease);
    }
    Ok(Some(Arc::new(store)))
}

/// A response body on one line: JSON loses its line breaks (raw ones cannot be inside its strings, so
/// nothing else changes); other text has them replaced by spaces.
fn one_line(body: &str) -> String {
    let body = body.trim_end();
    if serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() {
        body.replace(['\r', '\n'], "")
    } else {
        body.replace("\r\n", " ").replace(['\r', '\n'], " ")
    }
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
                // Method and path only: the query string could carry something that is not for logs.
                let endpoint = rpa_auth::Endpoint::new(method.clone(), response.url());
                let text = response.text().await.map_err(|e| {
                    // The crate's own words for the cause, without reqwest's URL.
                    Stop::Failed(
                        rpa_auth::Error::body_read(client.backend(), endpoint.clone(), e)
                            .to_string(),
                    )
                })?;
                // A server may echo what it was sent: never print a secret the client holds.
                println!("{}", one_line(&client.redact(&text)));
                if !status.is_success() && failure.is_none() {
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
