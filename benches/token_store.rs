//! What a token store costs on the cached path, and how many logins N processes make with one.
//!
//! `cargo build --release --example rpa-auth && cargo bench --bench token_store`:
//! 1. sends the same authenticated `GET` to the UiPath emulator alternately through raw reqwest, an
//!    `AuthClient` without a store and one with a file store, in rounds, and reports the median
//!    per-request time of each and the ratio without ÷ with (goal ≥ 0.99: the store is not on the cached
//!    path); and the cached `credential()` lookup alone, with and without;
//! 2. starts N `rpa-auth` processes at once sharing a file store (and a Redis store when `redis-server`
//!    is installed) and reports how many logins the emulator saw (goal: 1).
//!
//! Numbers are for comparison within one run, not absolutes.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpa_auth::emulator::Fault;
use rpa_auth::emulator::uipath::UiPathEmulator;
use rpa_auth::store::file::FileStore;
use rpa_auth::{AuthClient, ExposeSecret, SecretString, UiPathBearerLogin};

const ROUNDS: usize = 15;
const REQUESTS_PER_ROUND: usize = 400;
const LOOKUPS: u32 = 200_000;
const PROCESSES: usize = 20;
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rpa-auth-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

async fn round(client: &AuthClient) -> Duration {
    let started = Instant::now();
    for _ in 0..REQUESTS_PER_ROUND {
        let response = client.get("odata/Robots").send().await.expect("auth");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
    }
    started.elapsed() / REQUESTS_PER_ROUND as u32
}

async fn lookups(client: &AuthClient) -> Duration {
    let started = Instant::now();
    for _ in 0..LOOKUPS {
        std::hint::black_box(client.credential().await.expect("credential"));
    }
    started.elapsed() / LOOKUPS
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let emulator = UiPathEmulator::builder()
        .user("admin", "bench")
        .start()
        .await
        .expect("emulator");
    let base = emulator.url();
    let login = || {
        UiPathBearerLogin::new(base.as_str(), "admin", SecretString::from("bench")).expect("login")
    };
    // One reqwest client (one connection pool) for all three, so only the wrapper differs.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let plain = AuthClient::builder(login())
        .http_client(http.clone())
        .build()
        .expect("client");
    let dir = temp_dir("cached");
    let stored = AuthClient::builder(login())
        .http_client(http.clone())
        .token_store(Arc::new(FileStore::new(dir.join("cache"))))
        .build()
        .expect("client");
    let token = plain
        .credential()
        .await
        .expect("credential")
        .secret()
        .expose_secret()
        .to_owned();
    stored.credential().await.expect("credential");
    let raw = http;
    let url = format!("{base}odata/Robots");

    for _ in 0..200 {
        raw.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("raw")
            .bytes()
            .await
            .expect("body");
        round_one(&plain).await;
        round_one(&stored).await;
    }

    let (mut raw_rounds, mut plain_rounds, mut stored_rounds) =
        (Vec::new(), Vec::new(), Vec::new());
    for n in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..REQUESTS_PER_ROUND {
            let response = raw.get(&url).bearer_auth(&token).send().await.expect("raw");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
        }
        raw_rounds.push(started.elapsed() / REQUESTS_PER_ROUND as u32);
        // Alternate which client goes first, so neither always runs on a warmer machine.
        if n % 2 == 0 {
            plain_rounds.push(round(&plain).await);
            stored_rounds.push(round(&stored).await);
        } else {
            stored_rounds.push(round(&stored).await);
            plain_rounds.push(round(&plain).await);
        }
    }
    let (raw_t, plain_t, stored_t) = (
        median(raw_rounds),
        median(plain_rounds),
        median(stored_rounds),
    );
    println!("cached request, median per request over {ROUNDS} rounds of {REQUESTS_PER_ROUND}:");
    println!("  raw reqwest            {raw_t:?}");
    println!("  AuthClient, no store   {plain_t:?}");
    println!("  AuthClient, file store {stored_t:?}");
    println!(
        "  without ÷ with store: {:.3} (goal ≥ 0.99); raw ÷ with store: {:.3}",
        plain_t.as_secs_f64() / stored_t.as_secs_f64(),
        raw_t.as_secs_f64() / stored_t.as_secs_f64()
    );

    let (mut plain_lookups, mut stored_lookups) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        plain_lookups.push(lookups(&plain).await);
        stored_lookups.push(lookups(&stored).await);
    }
    let (plain_l, stored_l) = (median(plain_lookups), median(stored_lookups));
    println!("cached credential() lookup: no store {plain_l:?}, file store {stored_l:?}");
    let logins_before = emulator.logins();
    assert_eq!(
        logins_before, 2,
        "one login per client, none on the cached path"
    );

    processes(
        &emulator,
        "file",
        &dir.join("fleet").display().to_string(),
        None,
    )
    .await;
    match std::process::Command::new("redis-server")
        .arg("--version")
        .output()
    {
        Ok(_) => {
            let redis_dir = temp_dir("redis");
            let socket = redis_dir.join("redis.sock");
            let mut server = std::process::Command::new("redis-server")
                .args(["--port", "0", "--unixsocket"])
                .arg(&socket)
                .args(["--save", "", "--appendonly", "no", "--dir"])
                .arg(&redis_dir)
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !socket.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let url = format!("redis+unix://{}", socket.display());
            processes(&emulator, "redis", &url, Some(KEY)).await;
            let _ = server.kill();
            let _ = server.wait();
            let _ = std::fs::remove_dir_all(&redis_dir);
        }
        Err(_) => println!("redis-server not installed: the Redis fleet figure is not measured"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn round_one(client: &AuthClient) {
    client
        .get("odata/Robots")
        .send()
        .await
        .expect("auth")
        .bytes()
        .await
        .expect("body");
}

/// Starts `PROCESSES` CLI processes at once sharing `cache` and prints the logins they made.
async fn processes(emulator: &UiPathEmulator, kind: &str, cache: &str, key: Option<&str>) {
    let exe = std::env::current_exe().expect("bench path");
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(format!("rpa-auth{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        println!(
            "{} is missing (cargo build --release --example rpa-auth): the {kind} fleet figure is not measured",
            binary.display()
        );
        return;
    }
    let before = emulator.logins();
    emulator.inject(
        Fault::Delay(Duration::from_millis(300)),
        Some("api/account/authenticate"),
        1,
    );
    let url = emulator.url().to_string();
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let mut command = tokio::process::Command::new(&binary);
            command
                .args([
                    "--token-cache",
                    cache,
                    "--url",
                    &url,
                    "--user",
                    "admin",
                    "token",
                ])
                .env("RPA_AUTH_PASSWORD", "bench")
                .env_remove("RPA_AUTH_CACHE_KEY")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if let Some(key) = key {
                command.env("RPA_AUTH_CACHE_KEY", key);
            }
            command.spawn().expect("rpa-auth")
        })
        .collect();
    let mut failed = 0;
    for child in children {
        if !child
            .wait_with_output()
            .await
            .expect("rpa-auth")
            .status
            .success()
        {
            failed += 1;
        }
    }
    println!(
        "{PROCESSES} processes at once, {kind} store: {} login(s) (goal 1), {failed} failed, {:?} in all",
        emulator.logins() - before,
        started.elapsed()
    );
}
