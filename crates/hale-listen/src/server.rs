//! The accept loop: admits a connection below the caps or closes it at once, shakes hands when
//! serving TLS, serves HTTP/1.1 with the header-read and keep-alive timeouts, survives running
//! out of descriptors, and on shutdown stops accepting and lets in-flight requests finish.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

use crate::identity::ClientCertificate;
use crate::limits::{Admission, ConnectionLimits, Counters, Permit};
use crate::tls::Reloader;

/// How often the certificate files are looked at by default.
pub const DEFAULT_RELOAD_POLL: Duration = Duration::from_secs(5);

/// How long a connection in the probe reserve may take to send its request: a probe asks at
/// once, and a reserve slot held open by an idle client is back within this.
pub const PROBE_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// A bound socket with its limits, and TLS when configured.
pub struct Server {
    listener: TcpListener,
    limits: ConnectionLimits,
    tls: Option<Reloader>,
    counters: Arc<Counters>,
    probe_paths: Arc<[String]>,
}

impl Server {
    pub fn new(listener: TcpListener, limits: ConnectionLimits) -> Self {
        Self {
            listener,
            limits,
            tls: None,
            counters: Arc::new(Counters::default()),
            probe_paths: Arc::from([]),
        }
    }

    /// The paths (exact, such as `/health`) that connections in the probe reserve may ask for;
    /// with none, there is no reserve and every connection past the cap is closed.
    pub fn with_probe_paths(mut self, paths: &[&str]) -> Self {
        self.probe_paths = paths.iter().map(|path| (*path).to_owned()).collect();
        self
    }

    /// Serve TLS with the reloader's certificates, reloaded while serving.
    pub fn with_tls(mut self, reloader: Reloader) -> Self {
        self.tls = Some(reloader);
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The loop's running totals (shared: they keep counting while it serves).
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Serves `app` until `shutdown` completes, then stops accepting, closes idle connections,
    /// lets every request in flight finish, and returns. Each request carries
    /// `ConnectInfo<SocketAddr>` and, on a TLS connection with a verified client certificate,
    /// a [`ClientCertificate`].
    pub async fn serve(self, app: Router, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            limits,
            tls,
            counters,
            probe_paths,
        } = self;
        let admission = Admission::new(&limits, !probe_paths.is_empty(), Arc::clone(&counters));
        let (stop_sender, stop) = watch::channel(false);
        // Every connection task holds a sender; when the last one ends, `recv` returns None.
        let (running, mut all_ended) = mpsc::channel::<()>(1);
        let certificates = tls.as_ref().map(|reloader| Arc::clone(reloader.tls()));
        let reloader = tls.map(|reloader| tokio::spawn(reloader.run()));
        let mut backoff = Backoff::default();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff.reset();
                    let permit = match admission.admit(peer.ip()) {
                        Ok(permit) => permit,
                        Err(refusal) => {
                            // Closed at once, never queued: a client over its share, or every
                            // slot taken, must not hold a descriptor while it waits.
                            drop(stream);
                            let refused =
                                counters.refused_total_cap() + counters.refused_client_cap();
                            // The 1st, 2nd, 4th, 8th… refusal: a flood shows, without a line each.
                            if refused.is_power_of_two() {
                                tracing::warn!(
                                    ?refusal,
                                    refused,
                                    open = counters.open(),
                                    "connections refused at the cap"
                                );
                            }
                            continue;
                        }
                    };
                    let connection = Connection {
                        probe_paths: permit.is_probe().then(|| Arc::clone(&probe_paths)),
                        app: app.clone(),
                        tls: certificates.as_ref().map(|tls| tls.config()),
                        peer,
                        limits,
                        stop: stop.clone(),
                        _permit: permit,
                        _running: running.clone(),
                    };
                    tokio::spawn(connection.run(stream));
                }
                Err(error) => {
                    counters.accept_failed();
                    if classify(&error) == AcceptFailure::PeerGone {
                        continue;
                    }
                    let pause = backoff.next();
                    tracing::warn!(%error, pause_ms = pause.as_millis() as u64, "accept failed; pausing");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
        drop(listener);
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        let _ = stop_sender.send(true);
        drop(running);
        let _ = all_ended.recv().await;
    }
}

/// What a failed `accept` means for the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptFailure {
    /// The peer went away before it was accepted: take the next one.
    PeerGone,
    /// Out of descriptors or memory: pause, then keep serving (open connections close and give
    /// theirs back).
    Exhausted,
    /// Anything else: pause too, never end the loop.
    Other,
}

pub fn classify(error: &io::Error) -> AcceptFailure {
    use nix::errno::Errno;
    match error.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM) => {
            AcceptFailure::Exhausted
        }
        Some(
            Errno::ECONNABORTED
            | Errno::ECONNRESET
            | Errno::EINTR
            | Errno::EPROTO
            | Errno::EPERM
            | Errno::ETIMEDOUT,
        ) => AcceptFailure::PeerGone,
        _ => match error.kind() {
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted => AcceptFailure::PeerGone,
            _ => AcceptFailure::Other,
        },
    }
}

/// Pauses after failed accepts: 10 ms, doubling to 1 s, back to 10 ms after a success.
#[derive(Debug, Default)]
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
        let pause = Duration::from_millis(10u64 << self.0.min(7)).min(Duration::from_secs(1));
        self.0 = self.0.saturating_add(1);
        pause
    }
    fn reset(&mut self) {
        self.0 = 0;
    }
}

/// What a kept-alive connection's idle timer watches.
#[derive(Clone, Copy, Debug, Default)]
struct Activity {
    in_flight: usize,
    requests: u64,
}

/// One request being answered; counts itself out when dropped (answered or abandoned).
struct InFlight(Arc<watch::Sender<Activity>>);

impl InFlight {
    fn start(activity: &Arc<watch::Sender<Activity>>) -> Self {
        activity.send_modify(|now| {
            now.in_flight += 1;
            now.requests += 1;
        });
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .send_modify(|now| now.in_flight = now.in_flight.saturating_sub(1));
    }
}

/// Completes once the connection has answered a request and then waited `idle` with nothing in
/// flight. A connection that has sent nothing yet is the header-read timeout's to close.
async fn idle_expired(mut activity: watch::Receiver<Activity>, idle: Duration) {
    loop {
        let now = *activity.borrow_and_update();
        let changed = if now.requests > 0 && now.in_flight == 0 {
            match tokio::time::timeout(idle, activity.changed()).await {
                Err(_) => return,
                Ok(changed) => changed,
            }
        } else {
            activity.changed().await
        };
        if changed.is_err() {
            return std::future::pending().await;
        }
    }
}

struct Connection {
    /// On a connection of the probe reserve, the only paths it may ask for.
    probe_paths: Option<Arc<[String]>>,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    peer: SocketAddr,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
    _permit: Permit,
    _running: mpsc::Sender<()>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let Some(config) = self.tls.take() else {
            return self.serve_http(stream, None).await;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let handshake =
            tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            outcome = handshake => match outcome {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            },
            _ = self.stop.wait_for(|stop| *stop) => return,
        };
        let certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|end_entity| ClientCertificate::from_der(end_entity));
        self.serve_http(stream, certificate).await;
    }

    async fn serve_http<I>(self, io: I, certificate: Option<ClientCertificate>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            app,
            peer,
            limits,
            mut stop,
            probe_paths,
            ..
        } = self;
        let probe = probe_paths.is_some();
        let (activity, watched) = watch::channel(Activity::default());
        let activity = Arc::new(activity);
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(certificate) = &certificate {
                request.extensions_mut().insert(certificate.clone());
            }
            let in_flight = InFlight::start(&activity);
            let app = app.clone();
            let refused = probe_paths
                .as_ref()
                .is_some_and(|paths| !paths.iter().any(|path| path == request.uri().path()));
            async move {
                if refused {
                    return Ok(busy());
                }
                let response = app.oneshot(request).await;
                drop(in_flight);
                response
            }
        });
        let header_read_timeout = if probe {
            limits.header_read_timeout.min(PROBE_HEADER_READ_TIMEOUT)
        } else {
            limits.header_read_timeout
        };
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .keep_alive(!probe);
        let connection = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let idle = idle_expired(watched, limits.idle_timeout);
        tokio::pin!(idle);
        let mut closing = false;
        loop {
            tokio::select! {
                outcome = connection.as_mut() => {
                    if let Err(error) = outcome {
                        tracing::debug!(%error, "connection ended");
                    }
                    return;
                }
                _ = stop.wait_for(|stop| *stop), if !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = &mut idle, if !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The answer on the probe reserve to anything but a probe: every slot is taken, try again.
fn busy() -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::from(
        r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"every connection slot is taken; retry shortly"}"#,
    ));
    *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from_static("1"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_pauses_and_never_ends_the_loop() {
        for errno in [nix::errno::Errno::EMFILE, nix::errno::Errno::ENFILE] {
            let error = io::Error::from_raw_os_error(errno as i32);
            assert_eq!(classify(&error), AcceptFailure::Exhausted);
        }
        let aborted = io::Error::from_raw_os_error(nix::errno::Errno::ECONNABORTED as i32);
        assert_eq!(classify(&aborted), AcceptFailure::PeerGone);
        assert_eq!(
            classify(&io::Error::other("anything")),
            AcceptFailure::Other
        );
    }

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut backoff = Backoff::default();
        let pauses: Vec<_> = (0..10).map(|_| backoff.next().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next().as_millis(), 10);
    }
}
