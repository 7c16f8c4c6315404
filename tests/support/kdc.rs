//! A real MIT Kerberos KDC for the tests, and the independent Negotiate acceptor
//! (`tests/negotiate_acceptor.py`) that checks its tickets.
//!
//! [`Kdc::start`] makes a temporary realm in a directory under the target directory (`kdb5_util create -s`),
//! adds the users and the `HTTP/localhost` service with keytabs (`kadmin.local`), and runs `krb5kdc -n` on a
//! free loopback port with its output redirected to a file; dropping the value stops the KDC and removes
//! the directory. Everything is configured through files in that directory (`KRB5_CONFIG`,
//! `KRB5_KDC_PROFILE`, `KRB5_KTNAME`, ccaches), with `rdns = false` and `dns_canonicalize_hostname = false`.
//!
//! A missing program fails the test with the Debian package to install; nothing is skipped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const REALM: &str = "EXAMPLE.TEST";
/// alice's password (she also has a keytab with the same key).
pub const ALICE_PASSWORD: &str = "Alice-Krb5-Pass1";
/// bob's password (no keytab).
pub const BOB_PASSWORD: &str = "Bob-Krb5-Pass1";

/// A running KDC with its realm in a temporary directory.
pub struct Kdc {
    dir: PathBuf,
    port: u16,
    process: Child,
}

/// The program `name` (from `package`), or a failure naming the package.
fn program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the Kerberos tests need `{name}`: install the Debian package `{package}` \
                 (scripts/test installs it)"
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Kdc {
    /// Makes the realm and starts the KDC; waits until it accepts connections.
    pub fn start() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "kdc-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the KDC directory");
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n \
             dns_canonicalize_hostname = false\n rdns = false\n udp_preference_limit = 1\n \
             kdc_timeout = 2000\n max_retries = 1\n\
             [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n  database_name = {d}/principal\n  \
             key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n }}\n\
             [domain_realm]\n localhost = {REALM}\n\
             [kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
             [logging]\n kdc = FILE:{d}/kdc-events.log\n"
        );
        std::fs::write(dir.join("krb5.conf"), conf).expect("write krb5.conf");
        std::fs::write(dir.join("kadm5.acl"), "").expect("write kadm5.acl");

        run_in(
            &dir,
            &program("kdb5_util", "krb5-kdc"),
            &["create", "-s", "-r", REALM, "-P", "Master-Key-Pass1"],
        );
        let kadmin = program("kadmin.local", "krb5-admin-server");
        for query in [
            format!("addprinc -pw {ALICE_PASSWORD} alice"),
            format!("addprinc -pw {BOB_PASSWORD} bob"),
            "addprinc -randkey HTTP/localhost".to_owned(),
            format!("ktadd -k {d}/http.keytab HTTP/localhost"),
            format!("ktadd -norandkey -k {d}/alice.keytab alice"),
        ] {
            run_in(&dir, &kadmin, &["-r", REALM, "-q", &query]);
        }
        let log = std::fs::File::create(dir.join("kdc.log")).expect("kdc.log");
        let process = command_in(&dir, &program("krb5kdc", "krb5-kdc"))
            .args(["-n", "-r", REALM, "-P"])
            .arg(dir.join("kdc.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start krb5kdc");
        let mut kdc = Self { dir, port, process };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", kdc.port)).is_err() {
            if let Ok(Some(status)) = kdc.process.try_wait() {
                panic!("krb5kdc exited ({status}): {}", kdc.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "krb5kdc did not listen within 20 s: {}",
                kdc.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        kdc
    }

    /// Stops the KDC (the realm's files stay until drop), so it cannot be reached.
    pub fn stop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kdc.log")).unwrap_or_default()
    }

    /// A command with this realm's configuration in its environment.
    pub fn command(&self, program: &Path) -> Command {
        command_in(&self.dir, program)
    }

    /// The `krb5.conf` (also the KDC profile) of this realm.
    pub fn config(&self) -> PathBuf {
        self.dir.join("krb5.conf")
    }

    /// The service keytab (`HTTP/localhost`).
    pub fn service_keytab(&self) -> PathBuf {
        self.dir.join("http.keytab")
    }

    /// The KDC's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A ccache path under the realm's directory (not created).
    pub fn ccache(&self, name: &str) -> String {
        format!("FILE:{}", self.dir.join(format!("{name}.cc")).display())
    }

    /// `kinit` alice from her keytab into the ccache `name`, for `lifetime` (e.g. `"10h"`, `"3s"`).
    pub fn kinit_alice(&self, name: &str, lifetime: &str) -> String {
        let ccache = self.ccache(name);
        let keytab = self.dir.join("alice.keytab");
        let keytab = keytab.display().to_string();
        let kinit = program("kinit", "krb5-user");
        let out = self
            .command(&kinit)
            .env("KRB5CCNAME", &ccache)
            .args(["-k", "-t", &keytab, "-l", lifetime, "alice"])
            .output()
            .expect("run kinit");
        assert!(
            out.status.success(),
            "kinit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ccache
    }

    /// Points this process's Kerberos variables at the realm, with `ccache` as the default ccache
    /// (`None`: a ccache that does not exist) and the service keytab as the default keytab. Callers hold [`env_lock`] for as long as the values matter.
    pub fn use_in_this_process(&self, ccache: Option<&str>) {
        let ccache = ccache.map_or_else(|| self.ccache("none"), str::to_owned);
        // SAFETY (edition 2024 `set_var`): every test of this binary holds `env_lock` while it sets and
        // uses these variables, so no other thread of the test reads the environment concurrently.
        unsafe {
            std::env::set_var("KRB5_CONFIG", self.config());
            std::env::set_var("KRB5CCNAME", ccache);
            // For the emulators' own acceptors; the client side never reads it.
            std::env::set_var(
                "KRB5_KTNAME",
                format!("FILE:{}", self.service_keytab().display()),
            );
            std::env::remove_var("KRB5_CLIENT_KTNAME");
        }
    }

    /// Starts `tests/negotiate_acceptor.py` for this realm (service keytab `HTTP/localhost`), with `offer`
    /// (`both`, `negotiate` or `ntlm`); returns the child (killed on drop) and its port.
    pub async fn start_acceptor(&self, offer: &str) -> (tokio::process::Child, u16) {
        self.start_acceptor_with(offer, &[]).await
    }

    /// [`start_acceptor`](Self::start_acceptor) with extra environment (`TLS_CERT`, `TLS_KEY`,
    /// `CB_MISMATCH`).
    pub async fn start_acceptor_with(
        &self,
        offer: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> (tokio::process::Child, u16) {
        let python = Path::new("/usr/bin/python3");
        assert!(
            python.is_file(),
            "the Kerberos acceptor needs Debian's /usr/bin/python3: install `python3` and `python3-gssapi`"
        );
        let check = std::process::Command::new(python)
            .args(["-c", "import gssapi"])
            .output()
            .expect("run /usr/bin/python3");
        assert!(
            check.status.success(),
            "the Kerberos acceptor needs python3-gssapi: install the Debian package `python3-gssapi` \
             (scripts/test installs it): {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let mut child = tokio::process::Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/negotiate_acceptor.py"))
            .env("PYTHONPATH", super::pyspnego::pyspnego_dir())
            .env("NTLM_USER_FILE", super::pyspnego::user_file())
            .env("LM_COMPAT_LEVEL", "5")
            .env("KRB5_CONFIG", self.config())
            .env(
                "KRB5_KTNAME",
                format!("FILE:{}", self.service_keytab().display()),
            )
            .env("KRB5CCNAME", self.ccache("acceptor"))
            .env("OFFER", offer)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start tests/negotiate_acceptor.py");
        let port = super::pyspnego::read_port(&mut child, "negotiate_acceptor.py").await;
        (child, port)
    }
}

/// `program` with the configuration of the realm in `dir` in its environment, and no terminal.
fn command_in(dir: &Path, program: &Path) -> Command {
    let config = dir.join("krb5.conf");
    let mut command = Command::new(program);
    command
        .env("KRB5_CONFIG", &config)
        .env("KRB5_KDC_PROFILE", &config)
        .env(
            "KRB5CCNAME",
            format!("FILE:{}", dir.join("none.cc").display()),
        )
        .env_remove("KRB5_KTNAME")
        .stdin(Stdio::null());
    command
}

fn run_in(dir: &Path, program: &Path, args: &[&str]) {
    let out = command_in(dir, program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The lock every Kerberos test holds: the Kerberos variables are process-wide.
pub fn env_lock() -> &'static tokio::sync::Mutex<()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    &LOCK
}
