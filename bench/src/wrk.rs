//! The same submissions posted by `wrk`, an independent load generator written in C, when it
//! is installed: a second opinion on the server's throughput and tail that does not share our
//! own client's costs. Its Lua script (`wrk.lua`) is written into a temporary directory, and
//! its `done()` prints one JSON line that [`parse`] reads.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::load::Load;
use crate::setup::Fixture;

const SCRIPT: &str = include_str!("wrk.lua");
/// What starts the line of figures the script prints.
const MARKER: &str = "hale-bench-wrk ";

/// `wrk` on PATH, if there is one.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join("wrk"))
        .find(|candidate| candidate.is_file())
}

/// What the script's `done()` reports. Latencies are wrk's, in microseconds, over every
/// response it timed (wrk cannot keep the 201s apart in its histogram).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct WrkOutcome {
    pub requests: u64,
    /// Responses with status 201: submissions stored.
    pub created: u64,
    /// Responses with any other status.
    pub not_created: u64,
    /// One of those other statuses (0 when there were none), to say what went wrong.
    pub last_other_status: u16,
    /// wrk's own count of responses outside 2xx and 3xx.
    pub non_2xx_3xx: u64,
    pub connect_errors: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    pub timeouts: u64,
    pub duration_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p99_9_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl WrkOutcome {
    /// Stored submissions per second.
    pub fn per_second(&self) -> f64 {
        self.created as f64 / (self.duration_us as f64 / 1e6).max(f64::EPSILON)
    }

    /// Everything that did not store a submission: other statuses and socket errors.
    pub fn errors(&self) -> u64 {
        self.not_created
            + self.connect_errors
            + self.read_errors
            + self.write_errors
            + self.timeouts
    }
}

/// Reads the figures from wrk's standard output: the line the script's `done()` printed.
pub fn parse(stdout: &str) -> Result<WrkOutcome> {
    let line = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix(MARKER))
        .ok_or_else(|| anyhow!("wrk printed no `{}` line", MARKER.trim()))?;
    serde_json::from_str(line)
        .with_context(|| format!("wrk's figures are not what we wrote: {line}"))
}

/// Runs wrk at `binary` against the server at `address` with `load.clients` connections for
/// `load.duration`, posting to `fixture`'s tenant.
pub async fn run(
    binary: &std::path::Path,
    address: SocketAddr,
    fixture: &Fixture,
    load: Load,
) -> Result<WrkOutcome> {
    let directory = tempfile::tempdir().context("a directory for wrk's script")?;
    let script = directory.path().join("submissions.lua");
    std::fs::write(&script, SCRIPT).context("writing wrk's script")?;
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cpus.min(load.clients).max(1);
    let key_prefix = format!("wrk-{}-", uuid::Uuid::new_v4().simple());
    let mut command = tokio::process::Command::new(binary);
    command
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--connections")
        .arg(load.clients.to_string())
        .arg("--duration")
        .arg(format!("{}s", load.duration.as_secs().max(1)))
        .arg("--timeout")
        .arg(format!("{}s", crate::client::REQUEST_TIMEOUT.as_secs()))
        .arg("--latency")
        .arg("--script")
        .arg(&script)
        .arg(format!("http://{address}"))
        .arg("--")
        .arg(format!("/api/v1/tenants/{}/submissions", fixture.tenant))
        .arg(&fixture.tokens.clinician)
        .arg(&fixture.app_id)
        .arg(key_prefix)
        .arg(fixture.subjects.join(","))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let allowed = load.duration + Duration::from_secs(60);
    let output = tokio::time::timeout(allowed, command.output())
        .await
        .map_err(|_| anyhow!("wrk did not finish within {} s", allowed.as_secs()))?
        .with_context(|| format!("running {}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            stdout.trim()
        );
    }
    parse(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What wrk 4.1 prints with `--latency` and the script's `done()`.
    const OUTPUT: &str = "\
Running 5s test @ http://127.0.0.1:40123
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.12ms    3.01ms  61.20ms   91.02%
    Req/Sec     2.01k   210.33     2.40k    70.00%
  Latency Distribution
     50%    3.40ms
     75%    4.80ms
     90%    6.90ms
     99%   14.20ms
  20040 requests in 5.00s, 9.12MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   4006.42
Transfer/sec:      1.82MB
hale-bench-wrk {\"requests\":20040,\"created\":20035,\"not_created\":5,\"last_other_status\":503,\
\"non_2xx_3xx\":3,\"connect_errors\":0,\"read_errors\":1,\"write_errors\":0,\"timeouts\":2,\
\"duration_us\":5001873,\"p50_us\":3401,\"p99_us\":14203,\"p99_9_us\":40110,\"max_us\":61200,\
\"mean_us\":4120.5}
";

    #[test]
    fn the_scripts_line_is_found_among_wrks_own() -> Result<()> {
        let outcome = parse(OUTPUT)?;
        assert_eq!(outcome.requests, 20040);
        assert_eq!(outcome.created, 20035);
        assert_eq!(outcome.not_created, 5);
        assert_eq!(outcome.last_other_status, 503);
        assert_eq!(outcome.non_2xx_3xx, 3);
        assert_eq!(outcome.timeouts, 2);
        assert_eq!(outcome.p50_us, 3401);
        assert_eq!(outcome.p99_9_us, 40110);
        assert_eq!(outcome.mean_us, 4120.5);
        assert_eq!(outcome.errors(), 5 + 1 + 2);
        assert!((outcome.per_second() - 20035.0 / 5.001873).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn output_without_the_line_or_with_a_broken_one_is_refused() {
        assert!(parse("Running 5s test @ http://127.0.0.1:1\n").is_err());
        assert!(parse("hale-bench-wrk {\"requests\":1}\n").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn a_zero_duration_does_not_divide_by_zero() -> Result<()> {
        let mut outcome = parse(OUTPUT)?;
        outcome.duration_us = 0;
        assert!(outcome.per_second().is_finite());
        Ok(())
    }
}
