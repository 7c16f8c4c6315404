//! What an `AuthClient` costs to make, in bytes and time, beside what it cost when each client built its
//! own `reqwest::Client` (measured in the same run by passing a fresh one to `http_client`).
//!
//! `cargo bench --bench client_new`: inside one tokio runtime, makes `AuthClient::new(login)` many times
//! and keeps every client alive, counting the bytes still held (a counting global allocator) and the
//! time, in interleaved rounds with the same number made with their own `reqwest::Client`. The logins
//! are made before counting starts. The first client on the runtime builds the shared
//! `reqwest::Client`; its cost is printed on its own.

#[path = "support/alloc.rs"]
mod alloc;
#[path = "support/stats.rs"]
mod stats;

use std::time::{Duration, Instant};

use rpa_auth::{AuthClient, SecretString, UiPathBearerLogin};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

const ROUNDS: usize = 9;
const SHARED_PER_ROUND: usize = 1000;
const OWN_PER_ROUND: usize = 20;

fn logins(n: usize) -> Vec<UiPathBearerLogin> {
    (0..n)
        .map(|_| {
            UiPathBearerLogin::new(
                "https://orchestrator.example.com/",
                "admin",
                SecretString::from("bench"),
            )
            .expect("login")
        })
        .collect()
}

fn own_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(rpa_auth::client::DEFAULT_TIMEOUT)
        .connect_timeout(rpa_auth::client::DEFAULT_CONNECT_TIMEOUT)
        .build()
        .expect("reqwest client")
}

/// Makes one client per login with `make`; the bytes still held and the time, per client.
fn measure(
    logins: Vec<UiPathBearerLogin>,
    make: impl Fn(UiPathBearerLogin) -> AuthClient,
) -> (f64, Duration, Vec<AuthClient>) {
    let n = logins.len();
    let mut clients = Vec::with_capacity(n);
    alloc::start();
    let started = Instant::now();
    for login in logins {
        clients.push(make(login));
    }
    let elapsed = started.elapsed();
    let counts = alloc::stop();
    (counts.live() as f64 / n as f64, elapsed / n as u32, clients)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!(
        "machine: {} CPUs, load average at start {}",
        stats::cpus(),
        stats::load()
    );
    let (first_bytes, first_time, first) =
        measure(logins(1), |login| AuthClient::new(login).expect("client"));
    println!(
        "first AuthClient::new on the runtime (builds the shared reqwest::Client): {:.1} KB, {first_time:?}",
        first_bytes / 1024.0
    );

    let (mut shared_bytes, mut shared_times, mut own_bytes, mut own_times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut keep = vec![first];
    for round in 0..ROUNDS {
        let shared = || {
            measure(logins(SHARED_PER_ROUND), |l| {
                AuthClient::new(l).expect("client")
            })
        };
        let own = || {
            measure(logins(OWN_PER_ROUND), |l| {
                AuthClient::builder(l)
                    .http_client(own_http())
                    .build()
                    .expect("client")
            })
        };
        let (a, b) = if round % 2 == 0 {
            let a = shared();
            (a, own())
        } else {
            let b = own();
            (shared(), b)
        };
        shared_bytes.push(a.0);
        shared_times.push(a.1.as_secs_f64());
        own_bytes.push(b.0);
        own_times.push(b.1.as_secs_f64());
        keep.push(a.2);
        keep.push(b.2);
    }
    let (sb, st) = (stats::median(shared_bytes), stats::median(shared_times));
    let (ob, ot) = (stats::median(own_bytes), stats::median(own_times));
    println!("median of {ROUNDS} interleaved rounds (clients kept alive):");
    println!(
        "  AuthClient::new, shared default reqwest::Client: {:>8.0} bytes, {:>10.2?} per client",
        sb,
        Duration::from_secs_f64(st)
    );
    println!(
        "  AuthClient with its own reqwest::Client:          {:>8.0} bytes, {:>10.2?} per client",
        ob,
        Duration::from_secs_f64(ot)
    );
    println!("  shared ÷ own: bytes {:.4}, time {:.4}", sb / ob, st / ot);
    println!(
        "clients alive at the end: {}; load average at end {}",
        keep.iter().map(Vec::len).sum::<usize>(),
        stats::load()
    );
}
