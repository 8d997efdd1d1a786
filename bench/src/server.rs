//! The `hale` binary under test: its administrative subcommands, and `hale serve` as a child
//! process on a free loopback port that is always stopped (SIGTERM, then SIGKILL), even when the
//! benchmark fails or is interrupted.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::client::Connection;
use crate::engine::{Engine, FreshDatabase};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Environment variables `hale` reads settings from; `HALE_LOG` is left to the caller.
const INHERITED_SETTINGS: [&str; 6] = [
    "HALE_CONFIG",
    "HALE_DATA_DIR",
    "HALE_DATABASE_URL",
    "HALE_LISTEN",
    "HALE_MAX_BODY_BYTES",
    "HALE_LOG_FORMAT",
];

/// How to invoke `hale` against one fresh database.
pub struct Hale {
    binary: PathBuf,
    data_dir: PathBuf,
    /// `--database-url`, for PostgreSQL; SQLite is the data directory's default.
    database_url: Option<String>,
    log_path: PathBuf,
    /// A configuration file with no rate-limit rules.
    config_path: PathBuf,
}

impl Hale {
    pub fn new(binary: &Path, database: &FreshDatabase) -> Self {
        Self {
            binary: binary.to_owned(),
            data_dir: database.data_dir(),
            database_url: (database.engine == Engine::Postgres).then(|| database.url.clone()),
            log_path: database.log_path(),
            config_path: database.config_path(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        // Only the flags below configure the server under test, not the caller's environment.
        for variable in INHERITED_SETTINGS {
            command.env_remove(variable);
        }
        command.arg("--data-dir").arg(&self.data_dir);
        // No rate limit that counts its calls: the benchmark measures how fast submissions are
        // stored, and the shipped staff limit would refuse most of them (`SERVER_CONFIG`).
        command.arg("--config").arg(&self.config_path);
        if let Some(url) = &self.database_url {
            command.arg("--database-url").arg(url);
        }
        command.stdin(Stdio::null());
        command
    }

    /// Runs an administrative subcommand to completion and returns its standard output.
    pub async fn run(&self, args: &[&str]) -> Result<String> {
        let mut command = tokio::process::Command::from(self.command());
        command.args(args).kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .map_err(|_| anyhow!("`hale {}` took over two minutes", args.join(" ")))?
            .with_context(|| format!("running {}", self.binary.display()))?;
        if !output.status.success() {
            bail!(
                "`hale {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        String::from_utf8(output.stdout).context("hale printed something that is not UTF-8")
    }

    /// Starts `hale serve` on a free loopback port and waits until `GET /ready` answers 200.
    pub async fn serve(&self) -> Result<Server> {
        let address = free_port()?;
        let log = std::fs::File::create(&self.log_path).context("creating the server log")?;
        let child = self
            .command()
            .arg("serve")
            .arg("--listen")
            .arg(address.to_string())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let mut server = Server {
            child,
            address,
            log_path: self.log_path.clone(),
        };
        server.wait_ready().await?;
        Ok(server)
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// A running `hale serve`; stopped when dropped if not stopped before.
pub struct Server {
    child: Child,
    pub address: SocketAddr,
    log_path: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "hale serve exited ({status}) before it was ready{}",
                    self.log_tail()
                );
            }
            if let Ok(mut connection) = Connection::open(self.address).await
                && let Ok(reply) = connection.get("/ready").await
                && reply.status.is_success()
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "hale serve was not ready within {}s{}",
                    READY_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's resident set size in bytes, from /proc.
    pub fn rss_bytes(&self) -> Result<u64> {
        rss_bytes(self.pid())
    }

    /// The most the server has ever been resident (VmHWM), in bytes.
    pub fn rss_high_water_bytes(&self) -> Result<u64> {
        proc_status_kib(self.pid(), "VmHWM:").map(|kib| kib * 1024)
    }

    /// Where the server writes its log.
    pub fn log_path(&self) -> PathBuf {
        self.log_path.clone()
    }

    /// The last lines the server printed, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its last output:\n{tail}")
        }
    }

    /// SIGTERM, up to ten seconds' grace, then SIGKILL. Returns whether it stopped in time.
    pub async fn stop(mut self) -> bool {
        let _ = terminate(&self.child);
        let started = Instant::now();
        while started.elapsed() < STOP_GRACE {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
        // Drop finds the child reaped and does nothing more.
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // Reached on an error or an interruption: no runtime to sleep on, so wait briefly here.
        let _ = terminate(&self.child);
        let started = Instant::now();
        while started.elapsed() < STOP_GRACE {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(child: &Child) -> Result<()> {
    let pid = i32::try_from(child.id()).context("process id out of range")?;
    kill(Pid::from_raw(pid), Signal::SIGTERM).context("sending SIGTERM")?;
    Ok(())
}

pub fn rss_bytes(pid: u32) -> Result<u64> {
    proc_status_kib(pid, "VmRSS:").map(|kib| kib * 1024)
}

/// A `kB` line of /proc/PID/status.
fn proc_status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_status_kib(&status, key).ok_or_else(|| anyhow!("no {key} in /proc/{pid}/status"))
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|number| number.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_in_kib() {
        let status = "Name:\thale\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn our_own_rss_is_readable() -> Result<()> {
        assert!(rss_bytes(std::process::id())? > 0);
        Ok(())
    }
}
