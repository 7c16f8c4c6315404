//! Refresh and first-login behaviour under load, with raw reqwest measured in the same run.
//!
//! `cargo bench --bench refresh`:
//! - **Early refresh**: 64 tasks send `GET`s (each waits 50 ms between requests) through one
//!   `AuthClient` for three token lifetimes each of 2 s, 3 s and 4 s, against a UiPath emulator whose
//!   login takes 250 ms; the latency distribution (p50, p99, max) and the number of requests that took
//!   100 ms or more, beside the same load through raw reqwest with a long-lived token.
//! - **Cold start**: 1000 tasks start at once on a new `AuthClient` and each sends one request; the
//!   number of logins and the wall time over (one login + the same 1000 requests through raw reqwest),
//!   in interleaved rounds, median of the per-round ratios; and, to tell the cold start from the
//!   per-request cost at that concurrency, the same burst on a logged-in `AuthClient` ÷ raw.
//!
//! Numbers are for comparison within one run, not absolutes: the machine's load is printed with them.

#[path = "support/stats.rs"]
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rpa_auth::emulator::Fault;
use rpa_auth::emulator::uipath::{TokenFormat, UiPathEmulator};
use rpa_auth::{AuthClient, ExposeSecret, SecretString, UiPathBearerLogin};

const PATH: &str = "odata/Robots";
const TASKS: usize = 64;
const PAUSE: Duration = Duration::from_millis(50);
const SLOW_LOGIN: Duration = Duration::from_millis(250);
const DELAYED: Duration = Duration::from_millis(100);
const COLD_CALLERS: usize = 1000;
const COLD_ROUNDS: usize = 9;

async fn emulator(lifetime: Duration) -> UiPathEmulator {
    UiPathEmulator::builder()
        .user("admin", "bench")
        .token_format(TokenFormat::Jwt)
        .token_lifetime(lifetime)
        .start()
        .await
        .expect("emulator")
}

fn login(emulator: &UiPathEmulator) -> UiPathBearerLogin {
    UiPathBearerLogin::new(
        emulator.url().as_str(),
        "admin",
        SecretString::from("bench"),
    )
    .expect("login")
}

/// The latencies of `TASKS` tasks sending `request()` every `PAUSE` for `duration`.
async fn load<F, Fut>(duration: Duration, request: F) -> Vec<Duration>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = reqwest::Response> + Send,
{
    let request = Arc::new(request);
    let until = Instant::now() + duration;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    let response = request().await;
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("body");
                    latencies.push(started.elapsed());
                    tokio::time::sleep(PAUSE).await;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort();
    all
}

fn summary(latencies: &[Duration]) -> String {
    let delayed = latencies.iter().filter(|l| **l >= DELAYED).count();
    format!(
        "{:>6} requests  p50 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}  ≥100 ms: {delayed}",
        latencies.len(),
        stats::percentile(latencies, 50.0),
        stats::percentile(latencies, 99.0),
        latencies[latencies.len() - 1],
    )
}

async fn early_refresh() {
    println!(
        "early refresh: {TASKS} tasks, one request each per {PAUSE:?}, login takes {SLOW_LOGIN:?}, three lifetimes each"
    );
    // The baseline: raw reqwest with a token that outlives the run.
    let long = emulator(Duration::from_secs(3600)).await;
    let http = AuthClient::new(login(&long)).expect("client");
    let token = http
        .credential()
        .await
        .expect("credential")
        .secret()
        .expose_secret()
        .to_owned();
    let (raw, url) = (http.http().clone(), format!("{}{PATH}", long.url()));
    let mut all_raw = Vec::new();
    let mut all_wrapped = Vec::new();
    let mut total_delayed = 0;
    for seconds in [2, 3, 4] {
        let lifetime = Duration::from_secs(seconds);
        let (raw, url, token) = (raw.clone(), url.clone(), token.clone());
        let raw_latencies = load(lifetime * 3, move || {
            let request = raw.get(&url).bearer_auth(&token).send();
            async move { request.await.expect("raw request") }
        })
        .await;

        let short = emulator(lifetime).await;
        short.inject(
            Fault::Delay(SLOW_LOGIN),
            Some("api/Account/Authenticate"),
            u32::MAX,
        );
        let client = AuthClient::new(login(&short)).expect("client");
        client.credential().await.expect("first login");
        let wrapped = client.clone();
        let wrapped_latencies = load(lifetime * 3, move || {
            let request = wrapped.get(PATH).send();
            async move { request.await.expect("request") }
        })
        .await;
        let delayed = wrapped_latencies.iter().filter(|l| **l >= DELAYED).count();
        total_delayed += delayed;
        println!(
            "  {seconds} s tokens, {} logins (first + refreshes)",
            short.logins()
        );
        println!("    raw reqwest: {}", summary(&raw_latencies));
        println!("    AuthClient:  {}", summary(&wrapped_latencies));
        all_raw.extend(raw_latencies);
        all_wrapped.extend(wrapped_latencies);
    }
    all_raw.sort();
    all_wrapped.sort();
    println!("  all lifetimes:");
    println!("    raw reqwest: {}", summary(&all_raw));
    println!("    AuthClient:  {}", summary(&all_wrapped));
    println!("  requests delayed ≥100 ms with a refresh under way: {total_delayed}");
}

/// The wall time of `COLD_CALLERS` tasks each sending one request made by `request`. The request is
/// made and sent inside its task, for raw reqwest and `AuthClient` alike.
async fn burst<F, Fut>(request: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = reqwest::Response> + Send,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let tasks: Vec<_> = (0..COLD_CALLERS)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let response = request().await;
                assert_eq!(response.status(), 200);
                response.bytes().await.expect("body");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    started.elapsed()
}

async fn cold_start() {
    let emulator = emulator(Duration::from_secs(3600)).await;
    let warm = AuthClient::new(login(&emulator)).expect("client");
    let token = warm
        .credential()
        .await
        .expect("credential")
        .secret()
        .expose_secret()
        .to_owned();
    let (raw, url) = (warm.http().clone(), format!("{}{PATH}", emulator.url()));
    let raw_burst = || {
        let (raw, url, token) = (raw.clone(), url.clone(), token.clone());
        burst(move || {
            let (raw, url, token) = (raw.clone(), url.clone(), token.clone());
            async move {
                let request = raw.get(&url).bearer_auth(&token).send();
                request.await.expect("raw request")
            }
        })
    };
    raw_burst().await; // warm the pool for this many connections
    let warm_burst = || {
        let warm = warm.clone();
        burst(move || {
            let warm = warm.clone();
            async move { warm.get(PATH).send().await.expect("request") }
        })
    };
    let (mut ratios, mut logins, mut walls, mut baselines) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut warm_ratios = Vec::new();
    for round in 0..COLD_ROUNDS {
        let one_login = async {
            let started = Instant::now();
            login(&emulator).login(&raw).await.expect("login");
            started.elapsed()
        };
        let cold = async {
            let client = AuthClient::new(login(&emulator)).expect("client");
            let before = emulator.logins();
            let cold = client.clone();
            let wall = burst(move || {
                let cold = cold.clone();
                async move { cold.get(PATH).send().await.expect("request") }
            })
            .await;
            (wall, emulator.logins() - before)
        };
        let (baseline, (wall, made)) = if round % 2 == 0 {
            let baseline = one_login.await + raw_burst().await;
            (baseline, cold.await)
        } else {
            let cold = cold.await;
            (one_login.await + raw_burst().await, cold)
        };
        let (raw_wall, warm_wall) = if round % 2 == 0 {
            (raw_burst().await, warm_burst().await)
        } else {
            let warm_wall = warm_burst().await;
            (raw_burst().await, warm_wall)
        };
        warm_ratios.push(warm_wall.as_secs_f64() / raw_wall.as_secs_f64());
        ratios.push(wall.as_secs_f64() / baseline.as_secs_f64());
        logins.push(made);
        walls.push(wall.as_secs_f64());
        baselines.push(baseline.as_secs_f64());
    }
    println!(
        "cold start: {COLD_CALLERS} concurrent first callers, {COLD_ROUNDS} interleaved rounds: logins per round {logins:?}"
    );
    println!(
        "  wall ÷ (one login + {COLD_CALLERS} raw requests): median {:.3}  (median wall {:.1} ms, median baseline {:.1} ms)",
        stats::median(ratios),
        stats::median(walls) * 1e3,
        stats::median(baselines) * 1e3,
    );
    println!(
        "  for comparison, the same burst on a logged-in AuthClient ÷ raw: median {:.3}",
        stats::median(warm_ratios)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "machine: {} CPUs, load average at start {}",
        stats::cpus(),
        stats::load()
    );
    early_refresh().await;
    cold_start().await;
    println!("load average at end {}", stats::load());
}
