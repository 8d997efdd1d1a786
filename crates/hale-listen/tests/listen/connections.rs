//! Connection caps, timeouts and shutdown against real sockets on the loopback.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hale_listen::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{Client, Running, SLOW_ARRIVED, SLOW_RELEASE, connect_from, get_plain};

fn limits(max_connections: usize, max_per_client: usize) -> ConnectionLimits {
    ConnectionLimits {
        max_connections,
        max_per_client,
        // Long enough that no idle connection of these tests is closed by a timeout.
        header_read_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(120),
        probe_reserve: 0,
    }
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Reads until the server closes the connection; panics if it stays open for a minute.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    match tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut received)).await {
        Ok(_) => received,
        Err(_) => panic!("the server kept the connection open"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_a_clients_share_are_closed_and_health_still_answers() {
    let server = Running::plain(limits(1000, 50)).await;
    // 300 connections that send nothing, 60 from each of five client addresses.
    let mut idle = Vec::new();
    for client in 2..=6 {
        for _ in 0..60 {
            idle.push((
                client,
                connect_from(loopback(client), server.address)
                    .await
                    .unwrap(),
            ));
        }
    }
    server.until_decided(300).await;
    assert_eq!(server.counters.accepted(), 250);
    assert_eq!(server.counters.refused_client_cap(), 50);
    assert_eq!(server.counters.open(), 250);

    let health = get_plain(server.address, "/health").await.unwrap();
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    // The admitted ones were held open, not queued: each still answers now; the ten over each
    // client's share were closed.
    let mut served = [0usize; 7];
    for (client, stream) in idle {
        let mut http = Client::over(stream).await.unwrap();
        if let Ok(answer) = http.get("/health").await {
            assert_eq!(answer.status, 200);
            served[usize::from(client)] += 1;
        }
    }
    assert_eq!(served[2..], [50; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_slot_is_taken_a_new_connection_is_closed_at_once() {
    let server = Running::plain(limits(20, 64)).await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(connect_from(loopback(2), server.address).await.unwrap());
    }
    server.until_decided(20).await;
    assert_eq!(server.counters.open(), 20);

    let mut refused = connect_from(loopback(1), server.address).await.unwrap();
    refused
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok();
    let answer = until_closed(&mut refused).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(server.counters.refused_total_cap(), 1);

    // Connections that go away give their slots back.
    idle.truncate(15);
    server.until(|counters| counters.open() == 15).await;
    let health = get_plain(server.address, "/health").await.unwrap();
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_clients_take_every_slot_the_probe_reserve_answers_health_and_nothing_else() {
    let limits = ConnectionLimits {
        probe_reserve: 2,
        ..limits(20, 64)
    };
    let server = Running::with_probes(limits, &["/health"]).await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(connect_from(loopback(2), server.address).await.unwrap());
    }
    server.until_decided(20).await;

    // Past the cap, a probe is answered on the reserve; anything else there is told to retry.
    let health = get_plain(server.address, "/health").await.unwrap();
    assert_eq!(health.status, 200);
    let other = get_plain(server.address, "/whoami").await.unwrap();
    assert_eq!(other.status, 503);
    assert_eq!(other.headers["retry-after"], "1");
    assert_eq!(other.headers["content-type"], "application/problem+json");
    assert_eq!(server.counters.probes(), 2);
    assert_eq!(server.counters.refused_total_cap(), 0);

    // A reserve connection answers one request, then closes; the slots of those before it are
    // back once their tasks end (a client sees the close a moment before that).
    server.until(|counters| counters.open() == 20).await;
    let mut once = connect_from(loopback(3), server.address).await.unwrap();
    once.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = String::from_utf8(until_closed(&mut once).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Clients holding the reserve idle are closed after the probe's short header timeout, and
    // while they hold it, the next connection is closed at once.
    server.until(|counters| counters.open() == 20).await;
    let _held: Vec<_> = [
        connect_from(loopback(4), server.address).await.unwrap(),
        connect_from(loopback(4), server.address).await.unwrap(),
    ]
    .into();
    server.until(|counters| counters.probes() == 5).await;
    let mut refused = connect_from(loopback(5), server.address).await.unwrap();
    let answer = until_closed(&mut refused).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(server.counters.refused_total_cap(), 1);
    server.until(|counters| counters.open() == 20).await;
    let health = get_plain(server.address, "/health").await.unwrap();
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let server = Running::plain(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        ..limits(100, 10)
    })
    .await;
    let mut silent = connect_from(loopback(2), server.address).await.unwrap();
    let received = until_closed(&mut silent).await;
    assert!(
        !String::from_utf8_lossy(&received).contains(" 200 "),
        "nothing was asked, nothing may be answered"
    );
    server.until(|counters| counters.open() == 0).await;
    // A client that does send its request is served.
    assert_eq!(
        get_plain(server.address, "/health").await.unwrap().status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_a_line_at_a_time_are_cut_off_at_the_header_timeout() {
    let server = Running::plain(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        ..limits(100, 10)
    })
    .await;
    let stream = connect_from(loopback(2), server.address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let closed = tokio::spawn(async move {
        let mut received = Vec::new();
        let _ = reader.read_to_end(&mut received).await;
        received
    });
    writer.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    // At most 60 s of trickling; the server must give up long before the headers end.
    let mut cut_off = false;
    for line in 0..600 {
        if closed.is_finished() {
            cut_off = true;
            break;
        }
        if writer
            .write_all(format!("X-Line-{line}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cut_off, "the server waited for a minute of headers");
    let received = closed.await.unwrap();
    assert!(!String::from_utf8_lossy(&received).contains(" 200 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_is_closed_once_idle() {
    let server = Running::plain(ConnectionLimits {
        idle_timeout: Duration::from_secs(1),
        ..limits(100, 10)
    })
    .await;
    let mut stream = connect_from(loopback(2), server.address).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // One answer (kept alive: no `Connection: close`), then the server closes the idle
    // connection although its header timeout is two minutes.
    let received = String::from_utf8(until_closed(&mut stream).await).unwrap();
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    assert!(
        !received.to_ascii_lowercase().contains("connection: close"),
        "{received}"
    );
    assert!(received.ends_with("\r\n\r\nok"), "{received}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_lets_the_request_in_flight_finish() {
    let mut server = Running::plain(limits(100, 10)).await;
    let address = server.address;
    // An idle kept-alive connection does not hold the shutdown up.
    let mut kept_alive = Client::over(connect_from(loopback(3), address).await.unwrap())
        .await
        .unwrap();
    assert_eq!(kept_alive.get("/health").await.unwrap().status, 200);

    let in_flight = tokio::spawn(async move { get_plain(address, "/slow").await });
    SLOW_ARRIVED.notified().await;
    let stopped = server.shut_down();
    // Once the loop has let go of the socket, nothing more connects.
    let mut refused = false;
    for _ in 0..3000 {
        if tokio::net::TcpStream::connect(address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the socket still accepts after shutdown");
    assert!(
        !stopped.is_finished(),
        "shutdown did not wait for the request in flight"
    );
    SLOW_RELEASE.notify_one();
    let answer = in_flight.await.unwrap().unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "done"));
    tokio::time::timeout(Duration::from_secs(60), stopped)
        .await
        .expect("the server drained")
        .unwrap();
    assert!(kept_alive.get("/health").await.is_err());
}

/// Runs in a child process (the parent below starts it): serves with a descriptor limit a few
/// above what the process already holds and a connection cap far above it, so `accept` runs out
/// of descriptors; `/counters` reports how often.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by accept_survives_running_out_of_descriptors in a child process"]
async fn descriptor_starved_child() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, open + 12, hard).unwrap();
    let server = hale_listen::Server::new(
        listener,
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(2),
            ..limits(10_000, 10_000)
        },
    );
    let counters = server.counters();
    let app = axum::Router::new().route(
        "/counters",
        axum::routing::get(move || async move { counters.accept_errors().to_string() }),
    );
    println!("listening on {}", server.local_addr().unwrap());
    server.serve(app, std::future::pending()).await;
}

#[test]
fn accept_survives_running_out_of_descriptors() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "listen::connections::descriptor_starved_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let address: std::net::SocketAddr = loop {
        let line = lines
            .next()
            .expect("the child printed its address")
            .unwrap();
        // The harness prints the test's name on the same line first.
        if let Some((_, address)) = line.split_once("listening on ") {
            break address.trim().parse().unwrap();
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime.block_on(async {
        // Far more connections than the child has descriptors: its accepts fail until the
        // header timeout closes the first ones.
        let mut idle = Vec::new();
        for _ in 0..40 {
            idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
        }
        let answer = tokio::time::timeout(Duration::from_secs(120), async {
            get_plain(address, "/counters").await
        })
        .await;
        drop(idle);
        answer
    });
    let _ = child.kill();
    let _ = child.wait();
    let answer = outcome.expect("the child answered in time").unwrap();
    assert_eq!(answer.status, 200);
    let accept_errors: u64 = answer.body.parse().unwrap();
    assert!(accept_errors > 0, "the child never ran out of descriptors");
}
