//! What the wrapper costs per request, as a ratio against raw reqwest measured in the same run.
//!
//! `cargo bench --bench overhead`: starts the UiPath emulator on loopback, logs in once, then sends the
//! same authenticated `GET` alternately through raw reqwest (the token placed by hand) and through
//! `AuthClient` (cache lookup, placement, 401 check), in rounds, and reports the median per-request time of
//! each and their ratio. It also times the cached `credential()` lookup alone, and checks that 1000
//! concurrent first callers cause one login. Numbers are for comparison within one run, not absolutes.

use std::time::{Duration, Instant};

use rpa_auth::emulator::uipath::UiPathEmulator;
use rpa_auth::{AuthClient, ExposeSecret, SecretString, UiPathBearerLogin};

const ROUNDS: usize = 15;
const REQUESTS_PER_ROUND: usize = 400;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let emulator = UiPathEmulator::builder()
        .user("admin", "bench")
        .start()
        .await
        .expect("emulator");
    let base = emulator.url();
    let login =
        UiPathBearerLogin::new(base.as_str(), "admin", SecretString::from("bench")).expect("login");
    let client = AuthClient::new(login).expect("client");
    let token = client
        .credential()
        .await
        .expect("credential")
        .secret()
        .expose_secret()
        .to_owned();
    let raw = client.http().clone();
    let url = format!("{base}odata/Robots");

    // Warm both paths (connections, allocator).
    for _ in 0..200 {
        raw.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("raw")
            .bytes()
            .await
            .expect("body");
        client
            .get("odata/Robots")
            .send()
            .await
            .expect("auth")
            .bytes()
            .await
            .expect("body");
    }

    let (mut raw_rounds, mut auth_rounds) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..REQUESTS_PER_ROUND {
            let response = raw.get(&url).bearer_auth(&token).send().await.expect("raw");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
        }
        raw_rounds.push(started.elapsed() / REQUESTS_PER_ROUND as u32);

        let started = Instant::now();
        for _ in 0..REQUESTS_PER_ROUND {
            let response = client.get("odata/Robots").send().await.expect("auth");
            assert_eq!(response.status(), 200);
            response.bytes().await.expect("body");
        }
        auth_rounds.push(started.elapsed() / REQUESTS_PER_ROUND as u32);
    }
    let (raw_median, auth_median) = (median(raw_rounds), median(auth_rounds));
    println!(
        "per request, median of {ROUNDS} rounds of {REQUESTS_PER_ROUND} sequential GETs on loopback:"
    );
    println!("  raw reqwest (token placed by hand): {raw_median:?}");
    println!("  AuthClient (cached credential):     {auth_median:?}");
    println!(
        "  ratio AuthClient / raw reqwest:     {:.3}",
        auth_median.as_secs_f64() / raw_median.as_secs_f64()
    );

    // The cache lookup alone, against building the header by hand.
    let lookups = 200_000;
    let started = Instant::now();
    for _ in 0..lookups {
        std::hint::black_box(client.credential().await.expect("credential"));
    }
    let lookup = started.elapsed() / lookups;
    let started = Instant::now();
    for _ in 0..lookups {
        std::hint::black_box(
            reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
    }
    let by_hand = started.elapsed() / lookups;
    println!(
        "cached credential() lookup: {lookup:?} per call (formatting a bearer header by hand: {by_hand:?})"
    );

    // 1000 concurrent first callers on a fresh client: one login.
    let before = emulator.logins();
    let fresh = AuthClient::new(
        UiPathBearerLogin::new(base.as_str(), "admin", SecretString::from("bench")).expect("login"),
    )
    .expect("client");
    let started = Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let fresh = fresh.clone();
            tokio::spawn(async move { fresh.credential().await.map(|_| ()) })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("credential");
    }
    println!(
        "1000 concurrent first callers: {} login(s), all served in {:?}",
        emulator.logins() - before,
        started.elapsed()
    );
}
