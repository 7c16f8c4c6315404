//! A real `redis-server` on a unix socket in a temporary directory, with no persistence, for the token
//! store tests. A missing binary fails the test with what to install.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, stopped when dropped.
pub struct RedisServer {
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on `<a new temporary directory>/redis.sock`.
    pub fn start() -> Self {
        let dir = super::temp_dir("redis");
        let mut server = Self { dir, child: None };
        server.restart();
        server
    }

    /// The socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// The URL the CLI and the library take: `redis+unix:///…/redis.sock`.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Starts the server again (after [`stop`](Self::stop)), empty, on the same socket.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let spawned = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args([
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot start redis-server ({e}): install Debian's `redis-server` package (scripts/test installs it)"
            ),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.cli(&["ping"]).trim() == "PONG" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (no save) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self.cli(&["shutdown", "nosave"]);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(self.socket());
        }
    }

    /// Runs `redis-cli` against the server and returns its output (empty when it cannot run).
    pub fn cli(&self, args: &[&str]) -> String {
        cli(&self.socket(), args)
    }

    /// Every key the server holds.
    pub fn keys(&self) -> Vec<String> {
        self.cli(&["--scan"])
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

fn cli(socket: &Path, args: &[&str]) -> String {
    match Command::new("redis-cli")
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!(
                "redis-cli is missing: install Debian's `redis-server` package (scripts/test installs it)"
            )
        }
        Err(_) => String::new(),
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
