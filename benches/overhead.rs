//! What the wrapper costs per request, as ratios against raw reqwest measured in the same run.
//!
//! `cargo bench --bench overhead` starts the UiPath emulator on loopback and logs in once, then:
//! - sends the same authenticated `GET` through raw reqwest (same `reqwest::Client`, the token placed by
//!   hand with `bearer_auth`) and through `AuthClient` (cached credential), in interleaved rounds (the
//!   order alternating), at concurrency 1 and 64, and prints the median of the per-round throughput
//!   ratios `AuthClient ÷ raw` (1.0 = no cost, higher is better);
//! - counts the allocations per request of each (the emulator's own, in the same process, included
//!   in both; the difference is the wrapper's);
//! - compares NTLM (Windows authentication over authenticated connections) with bearer, both through
//!   `AuthClient`, at concurrency 16: `NTLM ÷ bearer` throughput.
//!
//! Numbers are for comparison within one run, not absolutes: the machine's load is printed with them.

#[path = "support/alloc.rs"]
mod alloc;
#[path = "support/stats.rs"]
mod stats;

use std::time::{Duration, Instant};

use rpa_auth::emulator::uipath::UiPathEmulator;
use rpa_auth::{AuthClient, ExposeSecret, SecretString, UiPathBearerLogin, UiPathNtlmLogin};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

const PATH: &str = "odata/Robots";
const ROUNDS: usize = 21;

/// One way of sending the request under test.
#[derive(Clone)]
enum Way {
    Raw {
        http: reqwest::Client,
        url: String,
        token: String,
        headers: reqwest::header::HeaderMap,
    },
    Wrapped(AuthClient),
}

impl Way {
    async fn once(&self) {
        let response = match self {
            Self::Raw {
                http,
                url,
                token,
                headers,
            } => http
                .get(url)
                .headers(headers.clone())
                .bearer_auth(token)
                .send()
                .await
                .expect("raw request"),
            Self::Wrapped(client) => client.get(PATH).send().await.expect("request"),
        };
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
    }

    /// The wall time of `concurrency` tasks each sending `each` requests one after another.
    async fn round(&self, concurrency: usize, each: usize) -> Duration {
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let way = self.clone();
                tokio::spawn(async move {
                    for _ in 0..each {
                        way.once().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        started.elapsed()
    }
}

/// Interleaved rounds of `a` and `b` (order alternating); the median of the per-round ratios
/// `time(b) ÷ time(a)`, i.e. the throughput of `a` over that of `b`, and the median time per request
/// of each.
async fn compare(a: &Way, b: &Way, concurrency: usize, each: usize) -> (f64, Duration, Duration) {
    let requests = (concurrency * each) as u32;
    let (mut ratios, mut times_a, mut times_b) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (ta, tb) = if round % 2 == 0 {
            let ta = a.round(concurrency, each).await;
            (ta, b.round(concurrency, each).await)
        } else {
            let tb = b.round(concurrency, each).await;
            (a.round(concurrency, each).await, tb)
        };
        ratios.push(tb.as_secs_f64() / ta.as_secs_f64());
        times_a.push((ta / requests).as_secs_f64());
        times_b.push((tb / requests).as_secs_f64());
    }
    (
        stats::median(ratios),
        Duration::from_secs_f64(stats::median(times_a)),
        Duration::from_secs_f64(stats::median(times_b)),
    )
}

async fn allocations_per_request(way: &Way, requests: u64) -> f64 {
    alloc::start();
    for _ in 0..requests {
        way.once().await;
    }
    alloc::stop().allocations as f64 / requests as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "machine: {} CPUs, load average at start {}",
        stats::cpus(),
        stats::load()
    );
    let emulator = UiPathEmulator::builder()
        .user("admin", "bench")
        .windows_user("CORP", "robot", "Dom4in-Pass!")
        .start()
        .await
        .expect("emulator");
    let base = emulator.url();
    let login =
        UiPathBearerLogin::new(base.as_str(), "admin", SecretString::from("bench")).expect("login");
    let client = AuthClient::new(login).expect("client");
    let credential = client.credential().await.expect("credential");
    let raw = Way::Raw {
        http: client.http().clone(),
        url: format!("{base}{PATH}"),
        token: credential.secret().expose_secret().to_owned(),
        headers: credential.headers().clone(),
    };
    let raw_future = std::mem::size_of_val(&client.http().get(base.as_str()).send());
    let wrapped_future = std::mem::size_of_val(&client.get(PATH).send());
    let wrapped = Way::Wrapped(client);
    let ntlm = Way::Wrapped(
        AuthClient::new(
            UiPathNtlmLogin::new(
                base.as_str(),
                r"CORP\robot",
                SecretString::from("Dom4in-Pass!"),
            )
            .expect("ntlm login"),
        )
        .expect("ntlm client"),
    );

    // Warm every path: connections, the NTLM pool, the allocator.
    for way in [&raw, &wrapped, &ntlm] {
        way.round(16, 20).await;
    }

    let (c1, raw1, wrapped1) = compare(&wrapped, &raw, 1, 200).await;
    let (c64, raw64, wrapped64) = compare(&wrapped, &raw, 64, 10).await;
    let (ntlm16, ntlm_time, bearer_time) = compare(&ntlm, &wrapped, 16, 20).await;
    let raw_allocations = allocations_per_request(&raw, 2000).await;
    let wrapped_allocations = allocations_per_request(&wrapped, 2000).await;

    println!("median of {ROUNDS} interleaved rounds, GET /{PATH} on loopback:");
    println!(
        "  c=1:  AuthClient ÷ raw reqwest throughput {c1:.3}   (per request: raw {raw1:?}, AuthClient {wrapped1:?})"
    );
    println!(
        "  c=64: AuthClient ÷ raw reqwest throughput {c64:.3}   (per request: raw {raw64:?}, AuthClient {wrapped64:?})"
    );
    println!(
        "  c=16: NTLM ÷ bearer throughput            {ntlm16:.3}   (per request: NTLM {ntlm_time:?}, bearer {bearer_time:?})"
    );
    println!(
        "allocations per request (client and in-process emulator together): raw {raw_allocations:.1}, AuthClient {wrapped_allocations:.1}, difference {:+.1}",
        wrapped_allocations - raw_allocations
    );
    println!(
        "size of the future of one send: raw reqwest {raw_future} bytes, AuthClient {wrapped_future} bytes"
    );
    println!(
        "logins during the run: {} bearer, {} NTLM handshakes; load average at end {}",
        emulator.logins(),
        emulator.handshakes(),
        stats::load()
    );
}
