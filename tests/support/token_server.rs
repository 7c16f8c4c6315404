//! A tiny HTTP server for wrapper tests: it accepts `Authorization: Bearer <token>` for the tokens it is
//! told to accept, answers 401 otherwise, and counts what it sees.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Default)]
pub struct Seen {
    pub requests: Vec<(String, Option<String>, Bytes)>,
}

pub struct TokenServer {
    pub addr: SocketAddr,
    accepted: Arc<Mutex<HashSet<String>>>,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl TokenServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (a, s) = (accepted.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (a, s) = (a.clone(), s.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: Request<hyper::body::Incoming>| {
                            let (a, s) = (a.clone(), s.clone());
                            async move {
                                let path = request.uri().path().to_owned();
                                let auth = request
                                    .headers()
                                    .get("authorization")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned);
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                s.lock().unwrap().requests.push((path, auth.clone(), body));
                                let token = auth.as_deref().and_then(|v| v.strip_prefix("Bearer "));
                                let ok = token.is_some_and(|t| a.lock().unwrap().contains(t));
                                let mut response =
                                    Response::new(Full::new(Bytes::from_static(b"{}")));
                                if !ok {
                                    *response.status_mut() = StatusCode::UNAUTHORIZED;
                                }
                                Ok::<_, Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            accepted,
            seen,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn accept(&self, token: &str) {
        self.accepted.lock().unwrap().insert(token.to_owned());
    }

    pub fn requests(&self) -> Vec<(String, Option<String>, Bytes)> {
        self.seen.lock().unwrap().requests.clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
