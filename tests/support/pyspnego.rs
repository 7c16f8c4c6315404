//! pyspnego's acceptor (`tests/ntlm_acceptor.py`), an NTLM / Negotiate server independent of this crate.
//!
//! Installs pyspnego into the target directory when it is missing; fails (never skips) when python3 or
//! pyspnego cannot be set up.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub const PASSWORD: &str = "Py-Spnego-Pass1";

/// `PYTHONPATH` holding pyspnego, installed on first use.
pub fn pyspnego_dir() -> &'static Path {
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

/// The acceptors' user file, written once per test process: rewriting one shared file for every acceptor
/// truncated it under acceptors of concurrent tests, which then found no user mid-handshake.
pub fn user_file() -> &'static Path {
    static USERS: OnceLock<PathBuf> = OnceLock::new();
    USERS.get_or_init(|| {
        let users = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ntlm-users-{}.txt", std::process::id()));
        std::fs::write(&users, format!("CORP:alice:{PASSWORD}\nCORP:bob:other\n"))
            .expect("write user file");
        users
    })
}

/// Starts `tests/ntlm_acceptor.py`; returns the child (killed on drop) and its port.
pub async fn start_acceptor() -> (Child, u16) {
    start_acceptor_with(&[]).await
}

/// Starts `tests/ntlm_acceptor.py` with extra environment (e.g. `TLS_CERT`, `TLS_KEY`, `CB_MISMATCH`).
pub async fn start_acceptor_with(env: &[(&str, &std::ffi::OsStr)]) -> (Child, u16) {
    let dir = pyspnego_dir();
    let users = user_file();
    let mut child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ntlm_acceptor.py"))
        .env("PYTHONPATH", dir)
        .env("NTLM_USER_FILE", users)
        .env("LM_COMPAT_LEVEL", "5")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start tests/ntlm_acceptor.py");
    let port = read_port(&mut child, "ntlm_acceptor.py").await;
    (child, port)
}

/// The port a test server script prints as its first line on stdout (within 20 s), read from `child`
/// (started with a piped stdout); `name` names the script in the panic.
pub async fn read_port(child: &mut Child, name: &str) -> u16 {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .unwrap_or_else(|_| panic!("{name} did not print its port within 20 s"))
    .expect("read port");
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{name} printed {line:?}, not a port"))
}
