//! One keep-alive HTTP/1.1 connection to the server, as each load client holds it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// No single request may take longer than this; the run stays bounded whatever the server does.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    /// Drives the connection; aborted when the connection is dropped.
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A response's status and whole body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, when the status is `expected`.
    pub fn json(&self, expected: StatusCode, what: &str) -> Result<serde_json::Value> {
        if self.status != expected {
            bail!(
                "{what}: expected {expected}, got {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        serde_json::from_slice(&self.body).with_context(|| format!("{what}: body is not JSON"))
    }
}

impl Connection {
    pub async fn open(address: SocketAddr) -> Result<Self> {
        let stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| anyhow!("connecting to {address} timed out"))?
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        let driver = tokio::spawn(async move {
            // The connection ends when the server closes it or the sender is dropped; the next
            // request then fails and says why.
            let _ = connection.await;
        });
        let host = HeaderValue::from_str(&address.to_string())?;
        Ok(Self {
            sender,
            host,
            driver,
        })
    }

    /// Sends one request and reads the whole response. `headers` are added as given.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&'static str, &str)],
        body: Option<Bytes>,
    ) -> Result<Reply> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(token) = token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body.unwrap_or_default()))?;
        let exchange = async {
            self.sender.ready().await.context("connection not ready")?;
            let response = self
                .sender
                .send_request(request)
                .await
                .context("sending the request")?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .context("reading the response body")?
                .to_bytes();
            Ok::<_, anyhow::Error>(Reply { status, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow!("no response within {}s", REQUEST_TIMEOUT.as_secs()))?
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None, &[], None).await
    }

    pub async fn post_json(
        &mut self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<Reply> {
        let body = Bytes::from(serde_json::to_vec(body)?);
        self.send(Method::POST, path, Some(token), &[], Some(body))
            .await
    }
}
