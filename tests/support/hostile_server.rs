//! A raw-TCP server whose every answer is bytes chosen by the test, so it can send broken HTTP: invalid
//! status lines, conflicting lengths, bad chunking, bodies cut short, resets, silence. The behaviour
//! can be switched while a client is connected, to check that the client recovers once the server
//! behaves again. Optionally speaks TLS (with a switch to answer the handshake with plain text).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Action {
    /// Write these bytes and read the next request on the connection.
    Respond(Vec<u8>),
    /// Write these bytes, then close the connection.
    RespondClose(Vec<u8>),
    /// Close without answering.
    Close,
    /// Reset the connection (RST) without answering.
    Reset,
    /// Never answer.
    Hang,
}

pub type Handler = Arc<dyn Fn(&Request) -> Action + Send + Sync>;

pub struct HostileServer {
    pub addr: SocketAddr,
    handler: Arc<Mutex<Handler>>,
    seen: Arc<Mutex<Vec<Request>>>,
    plain_to_tls: Arc<AtomicBool>,
    tls: bool,
    task: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    /// A plain-HTTP server on a free loopback port.
    pub async fn start(handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, handler, None)
    }

    /// A plain-HTTP server on `addr` (to come back on a port that refused connections).
    pub async fn start_on(addr: SocketAddr, handler: Handler) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        Self::serve(listener, handler, None)
    }

    /// A TLS server with the given acceptor.
    pub async fn start_tls(handler: Handler, acceptor: TlsAcceptor) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, handler, Some(acceptor))
    }

    fn serve(listener: TcpListener, handler: Handler, tls: Option<TlsAcceptor>) -> Self {
        let addr = listener.local_addr().unwrap();
        let handler = Arc::new(Mutex::new(handler));
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let plain_to_tls = Arc::new(AtomicBool::new(false));
        let is_tls = tls.is_some();
        let (h, s, p) = (handler.clone(), seen.clone(), plain_to_tls.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (h, s, p, tls) = (h.clone(), s.clone(), p.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => connection(stream, h, s).await,
                        Some(_) if p.load(Ordering::SeqCst) => {
                            let mut stream = stream;
                            let mut hello = [0u8; 512];
                            let _ = stream.read(&mut hello).await;
                            let _ = stream
                                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(stream).await {
                                connection(tls, h, s).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            addr,
            handler,
            seen,
            plain_to_tls,
            tls: is_tls,
            task,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/", self.addr)
    }

    /// Replaces the behaviour, for connections old and new.
    pub fn set(&self, handler: Handler) {
        *self.handler.lock().unwrap() = handler;
    }

    /// TLS servers only: answer the TLS handshake with plain HTTP (`true`) or speak TLS (`false`).
    pub fn answer_tls_with_plain_text(&self, plain: bool) {
        self.plain_to_tls.store(plain, Ordering::SeqCst);
    }

    /// Every request read so far.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection<S>(mut stream: S, handler: Arc<Mutex<Handler>>, seen: Arc<Mutex<Vec<Request>>>)
where
    S: AsyncRead + AsyncWrite + Unpin + ResetOnDrop,
{
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        seen.lock().unwrap().push(request.clone());
        let action = {
            let handler = handler.lock().unwrap().clone();
            handler(&request)
        };
        match action {
            Action::Respond(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
            }
            Action::RespondClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
                let _ = stream.shutdown().await;
                return;
            }
            Action::Close => {
                let _ = stream.shutdown().await;
                return;
            }
            Action::Reset => {
                stream.reset();
                return;
            }
            Action::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

/// Streams that can be reset rather than closed.
pub trait ResetOnDrop {
    fn reset(self);
}

impl ResetOnDrop for TcpStream {
    fn reset(self) {
        // SO_LINGER 0: closing sends RST instead of FIN.
        let _ = self.set_zero_linger();
        drop(self);
    }
}

impl ResetOnDrop for tokio_rustls::server::TlsStream<TcpStream> {
    fn reset(self) {
        let (tcp, _) = self.into_inner();
        tcp.reset();
    }
}

async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> Option<Request> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buffer.len() > 1 << 20 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[body_start..body_start + length].to_vec();
    buffer.drain(..body_start + length);
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// A complete answer with `Content-Length`.
pub fn http(status: u16, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} Status\r\n");
    if let Some(kind) = content_type {
        out.push_str(&format!("Content-Type: {kind}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A JSON answer.
pub fn json(status: u16, body: &str) -> Action {
    Action::Respond(http(
        status,
        Some("application/json; charset=utf-8"),
        body.as_bytes(),
    ))
}
