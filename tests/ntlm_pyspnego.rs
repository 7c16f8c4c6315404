//! The client against an independent acceptor: pyspnego (`tests/ntlm_acceptor.py`).
//!
//! Installs pyspnego into the target directory when it is missing; fails (never skips) when
//! python3 or pyspnego cannot be set up.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rpa_auth::ntlm::{HandshakeError, NtlmConnection, Scheme, WindowsCredentials};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const PASSWORD: &str = "Py-Spnego-Pass1";

/// `PYTHONPATH` holding pyspnego, installed on first use.
fn pyspnego_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyspnego");
        let importable = || {
            std::process::Command::new("python3")
                .args(["-c", "import spnego"])
                .env("PYTHONPATH", &dir)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !importable() {
            let out = std::process::Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
                .arg(&dir)
                .arg("pyspnego")
                .output()
                .unwrap_or_else(|e| panic!("pyspnego test needs python3 on PATH: {e}"));
            assert!(
                out.status.success() && importable(),
                "could not install pyspnego with `python3 -m pip install --target {}` (needs pip and \
                 access to PyPI): {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dir
    })
}

/// Starts `tests/ntlm_acceptor.py`; returns the child (killed on drop) and its port.
async fn start_acceptor() -> (Child, u16) {
    let dir = pyspnego_dir();
    let users = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ntlm-users.txt");
    std::fs::write(&users, format!("CORP:alice:{PASSWORD}\nCORP:bob:other\n"))
        .expect("write user file");
    let mut child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ntlm_acceptor.py"))
        .env("PYTHONPATH", dir)
        .env("NTLM_USER_FILE", &users)
        .env("LM_COMPAT_LEVEL", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start tests/ntlm_acceptor.py");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("ntlm_acceptor.py did not print its port within 20 s")
    .expect("read port");
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ntlm_acceptor.py printed {line:?}, not a port"));
    (child, port)
}

async fn login(
    port: u16,
    scheme: Scheme,
    password: &str,
) -> Result<(http::Response<Bytes>, u32), HandshakeError> {
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let mut conn = NtlmConnection::connect(&url, None, Duration::from_secs(5))
        .await?
        .force_scheme(scheme);
    let creds = WindowsCredentials::new(r"CORP\alice", SecretString::from(password));
    let req = http::Request::post("/API2/auth/authenticateUserWindows")
        .body(Bytes::from_static(b"{}"))
        .expect("request");
    let resp = conn.send(req, &creds).await?;
    // The connection stays authenticated.
    let again = conn
        .send(
            http::Request::get("/").body(Bytes::new()).expect("req"),
            &creds,
        )
        .await?;
    assert_eq!(again.status(), 200);
    Ok((resp, conn.handshakes()))
}

#[tokio::test]
async fn pyspnego_accepts_right_password_and_refuses_wrong_one_for_both_schemes() {
    let (_child, port) = start_acceptor().await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let (resp, handshakes) = login(port, scheme, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e:?}"));
        let body = String::from_utf8_lossy(resp.body());
        assert_eq!(resp.status(), 200, "{scheme}: {body}");
        assert!(
            body.contains(r#""user": "CORP\\alice""#),
            "{scheme}: {body}"
        );
        assert!(body.contains(r#""body_len": 2"#), "{scheme}: {body}");
        assert_eq!(handshakes, 1);

        let err = login(port, scheme, "wrong-password")
            .await
            .expect_err("wrong password must fail");
        assert!(
            matches!(err, HandshakeError::Rejected { scheme: s } if s == scheme),
            "{scheme}: {err:?}"
        );
    }
}

#[tokio::test]
async fn pyspnego_twenty_concurrent_handshakes() {
    let (_child, port) = start_acceptor().await;
    for scheme in [Scheme::Ntlm, Scheme::Negotiate] {
        let started = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| tokio::spawn(login(port, scheme, PASSWORD)))
            .collect();
        let mut ok = 0;
        for t in tasks {
            let (resp, handshakes) = t.await.expect("task").expect("handshake");
            assert_eq!((resp.status().as_u16(), handshakes), (200, 1));
            ok += 1;
        }
        eprintln!(
            "pyspnego {scheme}: {ok}/20 concurrent handshakes in {:?}",
            started.elapsed()
        );
    }
}
