//! One login for many processes: the `rpa-auth` command line run as separate OS processes against the
//! emulators, sharing a file store (one machine) or a real `redis-server` (a fleet).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use rpa_auth::emulator::Fault;
use rpa_auth::emulator::automation_anywhere::AutomationAnywhereEmulator;
use rpa_auth::emulator::uipath::UiPathEmulator;
use support::redis_server::RedisServer;

const PASSWORD: &str = "store-Pa55word";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxscGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAAA=";
const LOGIN_PATH: &str = "api/account/authenticate";

/// Variables the CLI reads; removed so the developer's own environment cannot change a test.
const READ_FROM_ENV: &[&str] = &[
    "RPA_AUTH_PASSWORD",
    "RPA_AUTH_API_KEY",
    "RPA_AUTH_MFA_CODE",
    "RPA_AUTH_CLIENT_SECRET",
    "RPA_AUTH_TOKEN_CACHE",
    "RPA_AUTH_CACHE_KEY",
    "UIPATH_URL",
    "UIPATH_USERNAME",
    "UIPATH_PASSWORD",
    "UIPATH_TENANT",
    "UIPATH_FOLDER_PATH",
    "UIPATH_FOLDER_ID",
    "AA_URL",
    "AA_USERNAME",
    "AA_API_KEY",
    "AA_PASSWORD",
    "AA_MULTIPLE_LOGIN",
];

/// Where the processes share their login.
struct Cache {
    target: String,
    dir: PathBuf,
    redis: Option<RedisServer>,
    key: Option<&'static str>,
}

impl Cache {
    /// A file store in a new directory, entries sealed with `KEY` when `sealed`.
    fn file(sealed: bool) -> Self {
        let dir = support::temp_dir("token-cache");
        Self {
            target: dir.join("cache").display().to_string(),
            dir,
            redis: None,
            key: sealed.then_some(KEY),
        }
    }

    /// A Redis store on a new `redis-server`.
    fn redis() -> Self {
        let redis = RedisServer::start();
        Self {
            target: redis.url(),
            dir: support::temp_dir("token-cache-redis"),
            redis: Some(redis),
            key: Some(KEY),
        }
    }

    fn both() -> [Self; 2] {
        [Self::file(false), Self::redis()]
    }

    fn kind(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "file"
        }
    }

    /// The CLI with `args`, sharing this cache, with `env` set on top of a clean environment.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(support::example_binary("rpa-auth"));
        command.args(["--token-cache", &self.target]).args(args);
        for key in READ_FROM_ENV {
            command.env_remove(key);
        }
        if let Some(key) = self.key {
            command.env("RPA_AUTH_CACHE_KEY", key);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let output = self.command(args, env).output().await.unwrap();
        assert!(
            output.status.success(),
            "{} store: {:?} failed: {}",
            self.kind(),
            args,
            text(&output.stderr)
        );
        output
    }

    /// Runs `count` processes at once and waits for all of them.
    async fn run_many(&self, count: usize, args: &[&str], env: &[(&str, &str)]) -> Vec<Output> {
        let children: Vec<_> = (0..count)
            .map(|_| self.command(args, env).spawn().unwrap())
            .collect();
        let mut outputs = Vec::new();
        for child in children {
            let output = child.wait_with_output().await.unwrap();
            assert!(
                output.status.success(),
                "{} store: {:?} failed: {}",
                self.kind(),
                args,
                text(&output.stderr)
            );
            outputs.push(output);
        }
        outputs
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Ok(target) = std::fs::metadata(&self.target)
            && target.is_dir()
        {
            let _ = std::fs::remove_dir_all(&self.target);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn orchestrator() -> UiPathEmulator {
    UiPathEmulator::builder()
        .user("admin", PASSWORD)
        .user("bob", PASSWORD)
        .start()
        .await
        .unwrap()
}

fn token_args(url: &str, user: &'static str) -> Vec<String> {
    ["--url", url, "--user", user, "--tenant", "Default", "token"]
        .map(str::to_owned)
        .to_vec()
}

fn call_args(url: &str) -> Vec<String> {
    [
        "--url",
        url,
        "--user",
        "admin",
        "--tenant",
        "Default",
        "--folder-id",
        "1",
        "call",
        "GET",
        "odata/Jobs",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

const WITH_PASSWORD: &[(&str, &str)] = &[("RPA_AUTH_PASSWORD", PASSWORD)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_processes_started_at_once_make_one_login_and_share_its_token() {
    for cache in Cache::both() {
        let emulator = orchestrator().await;
        // A slow login, so every process starts while it is in flight.
        emulator.inject(
            Fault::Delay(Duration::from_millis(700)),
            Some(LOGIN_PATH),
            1,
        );
        let args = token_args(emulator.url().as_str(), "admin");
        let outputs = cache.run_many(10, &refs(&args), WITH_PASSWORD).await;
        let tokens: Vec<String> = outputs
            .iter()
            .map(|o| text(&o.stdout).trim().to_owned())
            .collect();
        assert!(!tokens[0].is_empty());
        assert!(
            tokens.iter().all(|t| t == &tokens[0]),
            "{} store: tokens differ",
            cache.kind()
        );
        assert_eq!(emulator.logins(), 1, "{} store", cache.kind());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_runs_one_after_another_make_one_login() {
    for cache in Cache::both() {
        let emulator = orchestrator().await;
        let args = call_args(emulator.url().as_str());
        for _ in 0..5 {
            cache.run(&refs(&args), WITH_PASSWORD).await;
        }
        assert_eq!(emulator.logins(), 1, "{} store", cache.kind());
        assert_eq!(emulator.calls(), 5, "{} store", cache.kind());
        assert_eq!(emulator.rejected_calls(), 0, "{} store", cache.kind());
    }
}

/// Waits until the emulator has received a login request.
async fn login_started(emulator: &UiPathEmulator) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !emulator
        .recorded()
        .iter()
        .any(|r| r.path.eq_ignore_ascii_case("/api/Account/Authenticate"))
    {
        assert!(
            Instant::now() < deadline,
            "the first process never sent its login"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_lease_holder_mid_login_lets_another_process_take_over() {
    for cache in Cache::both() {
        let emulator = orchestrator().await;
        emulator.inject(Fault::Delay(Duration::from_secs(4)), Some(LOGIN_PATH), 1);
        let mut args = token_args(emulator.url().as_str(), "admin");
        // A short lease, so the Redis lease of the killed holder runs out quickly.
        args.splice(0..0, ["--token-cache-lease".to_owned(), "2".to_owned()]);
        let mut holder = cache.command(&refs(&args), WITH_PASSWORD).spawn().unwrap();
        login_started(&emulator).await;
        let waiter = cache.command(&refs(&args), WITH_PASSWORD).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        holder.start_kill().unwrap();
        let _ = holder.wait().await;

        let started = Instant::now();
        let output = waiter.wait_with_output().await.unwrap();
        assert!(
            output.status.success(),
            "{} store: {}",
            cache.kind(),
            text(&output.stderr)
        );
        // Within the lease plus the margin (5 s), with room for a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(2 + 5 + 5),
            "{} store",
            cache.kind()
        );
        let token = text(&output.stdout).trim().to_owned();
        // The waiter took over through the store (it wrote the entry): a later process logs in no more.
        let later = cache.run(&refs(&args), WITH_PASSWORD).await;
        assert_eq!(text(&later.stdout).trim(), token, "{} store", cache.kind());
        assert!(
            emulator.logins() <= 2,
            "{} store: {} logins",
            cache.kind(),
            emulator.logins()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automation_anywhere_password_six_processes_one_login_no_call_refused() {
    for cache in Cache::both() {
        let emulator = AutomationAnywhereEmulator::builder()
            .user("jdoe", PASSWORD)
            .start()
            .await
            .unwrap();
        emulator.inject(
            Fault::Delay(Duration::from_millis(500)),
            Some("v2/authentication"),
            1,
        );
        let url = emulator.url().to_string();
        let args = [
            "--backend",
            "aa",
            "--url",
            &url,
            "--user",
            "jdoe",
            "call",
            "GET",
            "v1/devices/list",
            "--repeat",
            "3",
            "--interval",
            "0.1",
        ];
        cache.run_many(6, &args, WITH_PASSWORD).await;
        assert_eq!(emulator.logins(), 1, "{} store", cache.kind());
        assert_eq!(emulator.rejected_calls(), 0, "{} store", cache.kind());
        assert_eq!(emulator.calls(), 18, "{} store", cache.kind());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_on_the_shared_token_makes_one_new_login_for_all() {
    for cache in Cache::both() {
        let emulator = orchestrator().await;
        let args = call_args(emulator.url().as_str());
        cache.run(&refs(&args), WITH_PASSWORD).await;
        assert_eq!(emulator.logins(), 1);
        // The server forgets the token: every process gets a 401 on it.
        emulator.expire_all_tokens();
        emulator.inject(
            Fault::Delay(Duration::from_millis(500)),
            Some(LOGIN_PATH),
            1,
        );
        cache.run_many(5, &refs(&args), WITH_PASSWORD).await;
        assert_eq!(emulator.logins(), 2, "{} store", cache.kind());
        // The fresh token is the stored one: the next process logs in no more.
        cache.run(&refs(&args), WITH_PASSWORD).await;
        assert_eq!(emulator.logins(), 2, "{} store", cache.kind());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_succeed_while_redis_is_down_and_use_it_again_once_back() {
    let mut cache = Cache::redis();
    let emulator = orchestrator().await;
    let url = emulator.url().to_string();
    let args = call_args(&url);
    let mut long_args = args.clone();
    long_args.extend(["--repeat", "20", "--interval", "0.1"].map(str::to_owned));
    let long_run = cache
        .command(&refs(&long_args), WITH_PASSWORD)
        .spawn()
        .unwrap();
    cache.run(&refs(&args), WITH_PASSWORD).await;
    assert_eq!(emulator.logins(), 1);

    // Both have the stored token in hand before Redis goes away.
    let deadline = Instant::now() + Duration::from_secs(20);
    while emulator.calls() < 2 {
        assert!(Instant::now() < deadline, "the long run made no call");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emulator.logins(), 1);

    // Redis stops in the middle of the long run; new processes log in by themselves and succeed.
    cache.redis.as_mut().unwrap().stop();
    cache.run_many(2, &refs(&args), WITH_PASSWORD).await;
    let output = long_run.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).lines().count(), 20);
    let while_down = emulator.logins();
    assert_eq!(while_down, 3);

    // Back (empty): one process logs in and stores, the next one uses the stored token.
    cache.redis.as_mut().unwrap().restart();
    cache.run(&refs(&args), WITH_PASSWORD).await;
    cache.run(&refs(&args), WITH_PASSWORD).await;
    assert_eq!(emulator.logins(), while_down + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_a_miss_and_a_new_login() {
    for mut cache in [Cache::file(true), Cache::redis()] {
        let emulator = orchestrator().await;
        let args = token_args(emulator.url().as_str(), "admin");
        let first = cache.run(&refs(&args), WITH_PASSWORD).await;
        cache.key = Some(OTHER_KEY);
        let second = cache.run(&refs(&args), WITH_PASSWORD).await;
        assert_eq!(emulator.logins(), 2, "{} store", cache.kind());
        assert_ne!(first.stdout, second.stdout);
        // A key that is not 32 bytes is a usage error, named without its value.
        cache.key = Some("c2hvcnQ=");
        let output = cache
            .command(&refs(&args), WITH_PASSWORD)
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with("error: RPA_AUTH_CACHE_KEY must be 32 bytes"),
            "{stderr}"
        );
        assert!(!stderr.contains("c2hvcnQ="));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_get_two_entries_and_never_each_others_token() {
    for cache in Cache::both() {
        let emulator = orchestrator().await;
        let url = emulator.url().to_string();
        let admin = token_args(&url, "admin");
        let bob = token_args(&url, "bob");
        let mut tokens = Vec::new();
        for args in [&admin, &bob, &admin, &bob] {
            let output = cache.run(&refs(args), WITH_PASSWORD).await;
            tokens.push(text(&output.stdout).trim().to_owned());
        }
        assert_eq!(emulator.logins(), 2, "{} store", cache.kind());
        assert_eq!(tokens[0], tokens[2]);
        assert_eq!(tokens[1], tokens[3]);
        assert_ne!(tokens[0], tokens[1]);
        // Each token really is its user's: the server says who it belongs to.
        for (token, user) in [(&tokens[0], "admin"), (&tokens[1], "bob")] {
            let me = reqwest::Client::new()
                .get(format!(
                    "{url}odata/Users/UiPath.Server.Configuration.OData.GetCurrentUser"
                ))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let me: serde_json::Value = serde_json::from_str(&me).unwrap();
            assert_eq!(
                me["UserName"].as_str().map(str::to_ascii_lowercase),
                Some(user.to_owned()),
                "{me}"
            );
        }
        let entries = match &cache.redis {
            Some(redis) => redis
                .keys()
                .iter()
                .filter(|k| !k.ends_with(":lock"))
                .count(),
            None => entry_files(Path::new(&cache.target)).len(),
        };
        assert_eq!(entries, 2, "{} store", cache.kind());
    }
}

fn entry_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "token"))
        .collect()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_private_and_no_token_is_kept_in_clear() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for sealed in [false, true] {
        let cache = Cache::file(sealed);
        let emulator = orchestrator().await;
        let args = token_args(emulator.url().as_str(), "admin");
        let output = cache.run(&refs(&args), WITH_PASSWORD).await;
        let token = text(&output.stdout).trim().to_owned();
        let dir = Path::new(&cache.target);
        assert_eq!(mode(dir), 0o700);
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            let contents = std::fs::read(&path).unwrap();
            let holds_token = String::from_utf8_lossy(&contents).contains(&token);
            if path.extension().is_some_and(|e| e == "token") {
                files += 1;
                // Without a key the directory's mode protects the entry; with one it is sealed.
                assert_eq!(holds_token, !sealed, "{}", path.display());
                assert!(!String::from_utf8_lossy(&contents).contains("admin"));
            } else {
                assert!(!holds_token);
            }
        }
        assert_eq!(files, 1);
    }

    let cache = Cache::redis();
    let emulator = orchestrator().await;
    let args = token_args(emulator.url().as_str(), "admin");
    let output = cache.run(&refs(&args), WITH_PASSWORD).await;
    let token = text(&output.stdout).trim().to_owned();
    let redis = cache.redis.as_ref().unwrap();
    let keys = redis.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("rpa-auth:"));
    let value = redis.cli(&["--no-raw", "get", &keys[0]]);
    assert!(value.len() > 100, "{value}");
    assert!(!value.contains(&token));
    assert!(!value.contains("admin"));
    let ttl: i64 = redis.cli(&["pttl", &keys[0]]).trim().parse().unwrap();
    assert!(ttl > 0, "the entry expires with its token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cache_every_process_logs_in_as_before() {
    let emulator = orchestrator().await;
    let args = token_args(emulator.url().as_str(), "admin");
    for _ in 0..2 {
        let output = tokio::process::Command::new(support::example_binary("rpa-auth"))
            .args(&args)
            .env_remove("RPA_AUTH_TOKEN_CACHE")
            .env_remove("RPA_AUTH_CACHE_KEY")
            .env("RPA_AUTH_PASSWORD", PASSWORD)
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    assert_eq!(emulator.logins(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_without_a_key_is_a_usage_error() {
    let emulator = orchestrator().await;
    let args = token_args(emulator.url().as_str(), "admin");
    let output = tokio::process::Command::new(support::example_binary("rpa-auth"))
        .args(["--token-cache", "redis://127.0.0.1:1/"])
        .args(&args)
        .env_remove("RPA_AUTH_CACHE_KEY")
        .env("RPA_AUTH_PASSWORD", PASSWORD)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).starts_with("error: RPA_AUTH_CACHE_KEY is required"));
    assert_eq!(emulator.logins(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_leases_writes_and_compares_before_deleting() {
    use rpa_auth::store::redis::RedisStore;
    use rpa_auth::store::{EncryptionKey, LeaseAttempt, LoginIdentity, StoreKey, TokenStore};
    use rpa_auth::{Credential, ExposeSecret, Placement, SecretString};

    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url(), EncryptionKey::from_base64(KEY).unwrap())
        .unwrap()
        .lease(Duration::from_millis(500));
    let key = StoreKey::new(
        "uipath",
        &url::Url::parse("https://orch.example.com/").unwrap(),
        &LoginIdentity::new("admin"),
    );
    let token = |text: &str| {
        Credential::new(SecretString::from(text.to_owned()), Placement::Bearer)
            .expires_in(Duration::from_secs(600))
    };
    assert!(store.read(&key).await.unwrap().is_none());
    let LeaseAttempt::Acquired(lease) = store.try_lease(&key).await.unwrap() else {
        panic!("busy on an empty server");
    };
    assert!(matches!(
        store.try_lease(&key).await.unwrap(),
        LeaseAttempt::Busy
    ));
    store.write(lease, &token("t1")).await.unwrap();
    let read = store.read(&key).await.unwrap().unwrap();
    assert_eq!(read.secret().expose_secret(), "t1");
    assert!(!store.remove_if(&key, &token("t0")).await.unwrap());
    assert!(store.remove_if(&key, &token("t1")).await.unwrap());
    assert!(store.read(&key).await.unwrap().is_none());

    // A holder whose lease ran out cannot write over the one who took over.
    let LeaseAttempt::Acquired(stale) = store.try_lease(&key).await.unwrap() else {
        panic!("busy after release");
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let LeaseAttempt::Acquired(fresh) = store.try_lease(&key).await.unwrap() else {
        panic!("the lease did not run out");
    };
    store.write(stale, &token("stale")).await.unwrap();
    assert!(store.read(&key).await.unwrap().is_none());
    store.write(fresh, &token("t2")).await.unwrap();
    let read = store.read(&key).await.unwrap().unwrap();
    assert_eq!(read.secret().expose_secret(), "t2");

    // An ACL user limited to the prefix and the commands the README lists is enough, and the prefix binds.
    let granted = redis.cli(&[
        "ACL",
        "SETUSER",
        "fleet",
        "on",
        ">acl-Pa55",
        "resetkeys",
        "~rpa-auth:*",
        "resetchannels",
        "-@all",
        "+get",
        "+set",
        "+del",
        "+evalsha",
        "+script|load",
    ]);
    assert_eq!(granted.trim(), "OK");
    let limited_url = format!("{}?user=fleet&pass=acl-Pa55", redis.url());
    let limited = RedisStore::new(&limited_url, EncryptionKey::from_base64(KEY).unwrap()).unwrap();
    assert!(!format!("{limited:?}").contains("acl-Pa55"));
    let other = StoreKey::new(
        "uipath",
        &url::Url::parse("https://orch.example.com/").unwrap(),
        &LoginIdentity::new("bob"),
    );
    let LeaseAttempt::Acquired(lease) = limited.try_lease(&other).await.unwrap() else {
        panic!("busy");
    };
    limited.write(lease, &token("t3")).await.unwrap();
    let read = limited.read(&other).await.unwrap().unwrap();
    assert_eq!(read.secret().expose_secret(), "t3");
    assert!(limited.remove_if(&other, &token("t3")).await.unwrap());
    let outside = RedisStore::new(&limited_url, EncryptionKey::from_base64(KEY).unwrap())
        .unwrap()
        .prefix("elsewhere:");
    let refused = outside.read(&other).await.unwrap_err();
    assert!(!refused.to_string().contains("acl-Pa55"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_authentication_is_never_stored() {
    let cache = Cache::file(false);
    let emulator = UiPathEmulator::builder()
        .windows_user("CORP", "robot", PASSWORD)
        .start()
        .await
        .unwrap();
    let url = emulator.url().to_string();
    let args = [
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
    ];
    for _ in 0..2 {
        cache.run(&args, WITH_PASSWORD).await;
    }
    // An authenticated connection cannot be shared: each process makes its own handshake, nothing is kept.
    assert_eq!(emulator.handshakes(), 2);
    let kept = std::fs::read_dir(&cache.target).map_or(0, |entries| entries.count());
    assert_eq!(kept, 0);
}
