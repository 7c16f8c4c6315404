//! Every tracing event and span, at TRACE, during a full run of every backend (logins, refreshes, a 401
//! retry, wrong passwords, logout) is captured, and none of the secrets appears in it.

mod support;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpa_auth::AutomationAnywhereLogin;
use rpa_auth::UiPathClientCredentialsLogin;
use rpa_auth::emulator::automation_anywhere::AutomationAnywhereEmulator;
use rpa_auth::emulator::pyramid::PyramidEmulator;
use rpa_auth::emulator::uipath::UiPathEmulator;
use rpa_auth::{AuthClient, ExposeSecret, SecretString, UiPathBearerLogin, UiPathNtlmLogin};
use rpa_auth::{PyramidApi, PyramidPasswordLogin, PyramidWindowsLogin};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Writes every event and span field, at every level, into one string.
struct Capture {
    text: Arc<Mutex<String>>,
    next_id: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = self.text.lock().unwrap();
        let _ = write!(text, "\nspan {}", span.metadata().name());
        span.record(&mut Fields(&mut text));
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&mut self.text.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut text = self.text.lock().unwrap();
        let _ = write!(
            text,
            "\n{} {}",
            event.metadata().level(),
            event.metadata().target()
        );
        event.record(&mut Fields(&mut text));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

const UIPATH_PASSWORD: &str = "leak-check-uipath-Pw1";
const WINDOWS_PASSWORD: &str = "leak-check-windows-Pw2";
const CLIENT_SECRET: &str = "leak-check-client-secret-3";
const AA_PASSWORD: &str = "leak-check-aa-Pw4";
const AA_KEY: &str = "leakcheckapikey0123456789abcdef0123456789";
const PYRAMID_PASSWORD: &str = "leak-check-pyramid-Pw5";
const MFA: u32 = 913_577;

#[tokio::test]
async fn no_secret_reaches_a_trace_event() {
    let text = Arc::new(Mutex::new(String::new()));
    tracing::subscriber::set_global_default(Capture {
        text: text.clone(),
        next_id: AtomicU64::new(0),
    })
    .unwrap();
    let mut secrets: Vec<String> = [
        UIPATH_PASSWORD,
        WINDOWS_PASSWORD,
        CLIENT_SECRET,
        AA_PASSWORD,
        AA_KEY,
        PYRAMID_PASSWORD,
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.push(MFA.to_string());

    // UiPath: bearer (with a wrong password and a 401 retry), OAuth, Windows passthrough.
    let orchestrator = UiPathEmulator::builder()
        .user("admin", UIPATH_PASSWORD)
        .windows_user("CORP", "robot", WINDOWS_PASSWORD)
        .client("app", CLIENT_SECRET, &["OR.Jobs"])
        .start()
        .await
        .unwrap();
    let url = orchestrator.url().to_string();
    let bearer = AuthClient::new(
        UiPathBearerLogin::new(&url, "admin", SecretString::from(UIPATH_PASSWORD)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        bearer.get("odata/Robots").send().await.unwrap().status(),
        200
    );
    secrets.push(
        bearer
            .credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned(),
    );
    orchestrator.expire_all_tokens();
    assert_eq!(
        bearer.get("odata/Robots").send().await.unwrap().status(),
        200
    );
    secrets.push(
        bearer
            .credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned(),
    );
    let wrong = AuthClient::new(
        UiPathBearerLogin::new(&url, "admin", SecretString::from("wrong-Leak-6")).unwrap(),
    )
    .unwrap();
    assert!(wrong.credential().await.is_err());
    secrets.push("wrong-Leak-6".to_owned());

    let oauth = UiPathClientCredentialsLogin::new(&url, "app", SecretString::from(CLIENT_SECRET))
        .unwrap()
        .scope("OR.Jobs")
        .unwrap();
    let oauth = AuthClient::new(oauth).unwrap();
    assert_eq!(
        oauth.get("odata/Robots").send().await.unwrap().status(),
        200
    );
    secrets.push(
        oauth
            .credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned(),
    );

    let ntlm = AuthClient::new(
        UiPathNtlmLogin::new(&url, r"CORP\robot", SecretString::from(WINDOWS_PASSWORD)).unwrap(),
    )
    .unwrap();
    assert_eq!(ntlm.get("odata/Robots").send().await.unwrap().status(), 200);

    // The same bearer login inside a reqwest-middleware chain, through a 401 and a re-login.
    let chain = reqwest_middleware::ClientBuilder::new(bearer.http().clone())
        .with(rpa_auth::middleware::AuthMiddleware::new(bearer.clone()))
        .build();
    orchestrator.expire_all_tokens();
    let robots = format!("{url}odata/Robots");
    assert_eq!(chain.get(&robots).send().await.unwrap().status(), 200);
    secrets.push(
        bearer
            .credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned(),
    );

    // Automation Anywhere: password with a short token (refreshed), API key, MFA, logout.
    let control_room = AutomationAnywhereEmulator::builder()
        .user("creator", AA_PASSWORD)
        .api_key_user("runner", AA_KEY)
        .mfa_user("auditor", AA_PASSWORD)
        .mfa_code(MFA)
        .token_lifetime(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let cr = control_room.url().to_string();
    let password = AuthClient::new(
        AutomationAnywhereLogin::new(&cr, "creator", SecretString::from(AA_PASSWORD)).unwrap(),
    )
    .unwrap();
    secrets.push(
        password
            .credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned(),
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Inside the refresh window: served at once, renewed in the background.
    let first = secrets.last().unwrap().clone();
    secrets.push(support::renewed(&password, &first).await);
    assert!(
        control_room.refreshes() >= 1,
        "the short token was refreshed"
    );
    password.logout().await.unwrap();
    let key_login =
        AutomationAnywhereLogin::with_api_key(&cr, "runner", SecretString::from(AA_KEY)).unwrap();
    let key = AuthClient::new(key_login.clone()).unwrap();
    // `validate` sends the token in the query string: it must not reach an event either.
    let key_token = key.credential().await.unwrap();
    assert!(key_login.validate(key.http(), &key_token).await.unwrap());
    secrets.push(
        key.credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned(),
    );
    let mfa = AutomationAnywhereLogin::new(&cr, "auditor", SecretString::from(AA_PASSWORD))
        .unwrap()
        .mfa_code(SecretString::from(MFA.to_string()))
        .unwrap();
    let mfa = AuthClient::new(mfa).unwrap();
    secrets.push(
        mfa.credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned(),
    );

    // Pyramid: password (API2 and API3) and Windows SSO.
    let pyramid = PyramidEmulator::builder()
        .user("analyst", PYRAMID_PASSWORD)
        .windows_user("CORP", "analyst", WINDOWS_PASSWORD)
        .start()
        .await
        .unwrap();
    let py = pyramid.url().to_string();
    for api in [PyramidApi::Api2, PyramidApi::Api3] {
        let login = PyramidPasswordLogin::new(&py, "analyst", SecretString::from(PYRAMID_PASSWORD))
            .unwrap()
            .api(api);
        let client = AuthClient::new(login).unwrap();
        secrets.push(
            client
                .credential()
                .await
                .unwrap()
                .secret()
                .expose_secret()
                .to_owned(),
        );
    }
    let windows = AuthClient::new(
        PyramidWindowsLogin::new(&py, r"CORP\analyst", SecretString::from(WINDOWS_PASSWORD))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        windows
            .post("API2/access/getMe")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    secrets.push(
        windows
            .credential()
            .await
            .unwrap()
            .secret()
            .expose_secret()
            .to_owned(),
    );

    let captured = text.lock().unwrap().clone();
    // The capture is not empty: it saw the wrapper's and the handshake's events.
    for expected in [
        "logged in",
        "login failed",
        "answered 401",
        "windows authentication",
        "connection authenticated",
    ] {
        assert!(
            captured.contains(expected),
            "no `{expected}` event captured:\n{captured}"
        );
    }
    for secret in &secrets {
        assert!(
            secret.len() >= 6,
            "a secret too short to search for: {secret}"
        );
        assert!(
            !captured.contains(secret.as_str()),
            "a secret reached a trace event"
        );
    }
}
