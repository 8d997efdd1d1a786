//! The denial-of-service benchmark: floods a real `hale serve` on loopback — unauthenticated
//! requests, one user far over their rate limit, idle connections that never send a byte and
//! slow connections that trickle their headers, all from 127.0.0.1 — while a legitimate user
//! keeps working from 127.0.0.2, and
//! prints the legitimate user's success rate and latency. Bounded in count and time; nothing
//! is asserted (speed is measured, not tested).
//!
//!   cargo run --release -p hale-bench --bin hale-flood -- [--duration 20] [--idle 2000]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
struct Args {
    /// Seconds of flood.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=300))]
    duration: u64,
    /// Idle connections opened and held (no byte sent).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=15000))]
    idle: u64,
    /// Slow connections, each sending one header byte a second.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=5000))]
    slow: u64,
    /// Concurrent unauthenticated flooders.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=512))]
    anonymous: u64,
    /// Concurrent connections of the one user far over their limit.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(0..=512))]
    greedy: u64,
    /// Milliseconds between the legitimate user's calls.
    #[arg(long, default_value_t = 50)]
    pace_ms: u64,
    /// The `hale` binary; by default the one built beside this benchmark.
    #[arg(long, env = "HALE_BIN")]
    hale: Option<PathBuf>,
}

struct Server {
    child: Child,
    address: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hale(binary: &PathBuf, data: &std::path::Path, args: &[&str]) -> Result<String> {
    let output = Command::new(binary)
        .env("HALE_LOG", "error")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .with_context(|| format!("running hale {args:?}"))?;
    if !output.status.success() {
        bail!("hale {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// A fresh SQLite site with two clinicians (the legitimate one and the greedy one), served on
/// a free loopback port.
fn start(binary: &PathBuf) -> Result<(Server, String, String)> {
    let data = tempfile::tempdir()?;
    hale(
        binary,
        data.path(),
        &["tenant", "create", "--slug", "contoso", "--name", "C"],
    )?;
    let legitimate = hale(
        binary,
        data.path(),
        &[
            "token",
            "issue",
            "--tenant",
            "contoso",
            "--role",
            "clinician",
        ],
    )?;
    let greedy = hale(
        binary,
        data.path(),
        &[
            "token",
            "issue",
            "--tenant",
            "contoso",
            "--role",
            "clinician",
        ],
    )?;
    let mut child = Command::new(binary)
        .env("HALE_LOG", "error")
        .arg("--data-dir")
        .arg(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let address = loop {
        let Some(line) = lines.next() else {
            bail!("hale serve stopped before serving");
        };
        if let Some(address) = line?.strip_prefix("Hale is serving on http://") {
            break address.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((
        Server {
            child,
            address,
            _data: data,
        },
        legitimate,
        greedy,
    ))
}

/// Where the legitimate user connects from: another loopback address than the flood's, as a
/// real user's device is not the attacker's (the per-client connection cap keys on it).
const LEGITIMATE_SOURCE: [u8; 4] = [127, 0, 0, 2];

/// One request on a fresh connection (from `source` when given); the status, or `None` when
/// the exchange failed.
async fn call(address: &str, token: Option<&str>, source: Option<[u8; 4]>) -> Option<u16> {
    let mut stream = match source {
        None => TcpStream::connect(address).await.ok()?,
        Some(source) => {
            let socket = tokio::net::TcpSocket::new_v4().ok()?;
            socket.bind(std::net::SocketAddr::from((source, 0))).ok()?;
            socket.connect(address.parse().ok()?).await.ok()?
        }
    };
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /api/v1/auth/me HTTP/1.1\r\nHost: hale\r\n{authorization}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).await.ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn count(&self, status: Option<u16>) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        match status {
            Some(429 | 401 | 503) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {}
            None => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<28} {:>8} sent {:>8} refused (401/429/503) {:>6} failed",
            self.sent.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed)
        )
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = match args.hale {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("no build directory")?
            .join("hale"),
    };
    let (server, legitimate, greedy) = start(&binary)?;
    let address = server.address.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(args.duration);

    // Idle connections: opened, held, never written to.
    let mut idle = Vec::new();
    let mut idle_refused = 0_u64;
    for _ in 0..args.idle {
        match TcpStream::connect(&address).await {
            Ok(stream) => idle.push(stream),
            Err(_) => idle_refused += 1,
        }
    }
    let mut tasks = Vec::new();
    // Slow connections: a request head, one byte a second.
    let slow_closed = Arc::new(AtomicU64::new(0));
    for _ in 0..args.slow {
        let (address, stop, closed) = (address.clone(), stop.clone(), slow_closed.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(&address).await else {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            for byte in b"GET /api/v1/auth/me HTTP/1.1\r\nHost: hale\r\nX-Slow: "
                .iter()
                .cycle()
            {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if stream.write_all(&[*byte]).await.is_err() {
                    closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    let anonymous = Arc::new(Tally::default());
    for _ in 0..args.anonymous {
        let (address, stop, tally) = (address.clone(), stop.clone(), anonymous.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tally.count(call(&address, None, None).await);
            }
        }));
    }
    let over = Arc::new(Tally::default());
    for _ in 0..args.greedy {
        let (address, stop, tally, token) =
            (address.clone(), stop.clone(), over.clone(), greedy.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tally.count(call(&address, Some(&token), None).await);
            }
        }));
    }

    // The legitimate user, at a steady pace, on fresh connections.
    let mut latency = Histogram::<u64>::new(3)?;
    let (mut ok, mut total) = (0_u64, 0_u64);
    let mut statuses = std::collections::BTreeMap::<String, u64>::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let status = call(&address, Some(&legitimate), Some(LEGITIMATE_SOURCE)).await;
        let took = started.elapsed();
        total += 1;
        if status == Some(200) {
            ok += 1;
            latency.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX))?;
        }
        *statuses
            .entry(status.map_or_else(|| "failed".to_owned(), |s| s.to_string()))
            .or_default() += 1;
        tokio::time::sleep(Duration::from_millis(args.pace_ms).saturating_sub(took)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    // Whether the idle connections are still open: a read that ends means the server closed.
    let mut idle_closed = 0;
    for stream in &mut idle {
        let mut byte = [0_u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(5), stream.read(&mut byte)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            idle_closed += 1;
        }
    }
    let health = call(&address, None, Some(LEGITIMATE_SOURCE)).await;

    println!("flood on {address} for {} s", args.duration);
    println!(
        "legitimate user: {ok}/{total} succeeded ({:.2}%), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; statuses {statuses:?}",
        100.0 * ok as f64 / total.max(1) as f64,
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0,
    );
    println!("{}", anonymous.line("unauthenticated flood"));
    println!("{}", over.line("one user over the limit"));
    println!(
        "idle connections: {} opened, {idle_refused} refused at connect, {idle_closed} closed by the server by the end",
        idle.len()
    );
    println!(
        "slow connections: {} opened, {} closed by the server",
        args.slow,
        slow_closed.load(Ordering::Relaxed)
    );
    println!("a fresh call after the flood: {health:?}");
    drop(server);
    Ok(())
}
