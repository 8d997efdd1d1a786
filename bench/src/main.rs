//! Hale's load benchmark. For each engine it starts the real `hale serve` on a fresh database,
//! sets up a tenant, tokens, subjects and a published app, and has N keep-alive clients post
//! submissions for a fixed time; then it makes the same appends straight through the store, the
//! lower bound no server can beat. It reports throughput, latency, errors and the server's
//! memory, as a table and as JSON. It only measures: no figure is ever asserted.
//!
//! ```text
//! cargo run --release -p hale-bench -- --engine both --duration 30 --clients 16
//! ```

mod bound;
mod client;
mod engine;
mod load;
mod report;
mod server;
mod setup;
mod size;
mod workload;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;

use engine::{Engine, EngineChoice, FreshDatabase};
use load::Load;
use report::{BoundPhase, EngineResult, HttpPhase, Report};
use server::Hale;

#[derive(Debug, Parser)]
#[command(
    name = "hale-bench",
    about = "Load benchmark of Hale's submission path"
)]
struct Args {
    /// Which database engines to measure.
    #[arg(long, value_enum, default_value = "both")]
    engine: EngineChoice,
    /// Seconds each load runs (HTTP, then store-only), per engine.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    duration: u64,
    /// Concurrent clients, each with one keep-alive connection.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    clients: u64,
    /// The `hale` binary; by default the one built beside this benchmark.
    #[arg(long, env = "HALE_BIN")]
    hale_bin: Option<PathBuf>,
    /// Where to write the JSON results; by default `bench-results.json` in the target directory.
    #[arg(long)]
    output: Option<PathBuf>,
}

impl Args {
    /// The command that reproduces this run, every setting spelt out.
    fn command(&self) -> String {
        let mut command = String::new();
        if let Ok(url) = std::env::var("HALE_BENCH_DATABASE_URL")
            && !url.is_empty()
            && self.engine != EngineChoice::Sqlite
        {
            command += &format!("HALE_BENCH_DATABASE_URL={} ", engine::redact(&url));
        }
        command += &format!(
            "cargo run --release -p hale-bench -- --engine {} --duration {} --clients {}",
            self.engine.name(),
            self.duration,
            self.clients
        );
        if let Some(binary) = &self.hale_bin {
            command += &format!(" --hale-bin {}", binary.display());
        }
        command
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let executable = std::env::current_exe().context("locating this executable")?;
    let build_dir = executable
        .parent()
        .ok_or_else(|| anyhow!("this executable has no directory"))?;
    let hale_bin = args
        .hale_bin
        .clone()
        .unwrap_or_else(|| build_dir.join("hale"));
    if !hale_bin.is_file() {
        bail!(
            "no hale binary at {}: build it with `cargo build --release -p hale` (or pass --hale-bin)",
            hale_bin.display()
        );
    }
    let output = match &args.output {
        Some(path) => path.clone(),
        None => build_dir
            .parent()
            .unwrap_or(build_dir)
            .join("bench-results.json"),
    };
    let load = Load {
        clients: usize::try_from(args.clients)?,
        duration: Duration::from_secs(args.duration),
    };

    let mut results = Vec::new();
    let mut failures = BTreeMap::new();
    for engine in args.engine.engines() {
        eprintln!("== {engine}");
        match bench_engine(engine, &hale_bin, load).await {
            Ok(result) => results.push(result),
            Err(error) => {
                eprintln!("{engine}: {error:#}");
                failures.insert(engine.to_string(), format!("{error:#}"));
                if error.is::<Interrupted>() {
                    break;
                }
            }
        }
    }

    let report = Report {
        command: args.command(),
        clients: load.clients,
        duration_seconds: args.duration,
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        finished_at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs()),
        results,
        failures,
    };
    println!("\n{}", report.table());
    report.write_json(&output)?;
    println!("results: {}", output.display());
    if !report.failures.is_empty() {
        bail!("{} engine(s) could not be measured", report.failures.len());
    }
    Ok(())
}

/// Ctrl-C during a phase.
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Runs `phase` unless Ctrl-C comes first; either way the phase's guards have been dropped (the
/// server stopped) when this returns, so the caller can clean up after it.
async fn interruptible<T>(phase: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::select! {
        result = phase => result,
        _ = tokio::signal::ctrl_c() => Err(Interrupted.into()),
    }
}

async fn bench_engine(engine: Engine, hale_bin: &Path, load: Load) -> Result<EngineResult> {
    let database = FreshDatabase::create(engine).await?;
    eprintln!(
        "   HTTP load on a fresh database ({})",
        database.root().display()
    );
    let http_load = size::load_average();
    let http = interruptible(http_phase(&database, hale_bin, load)).await;
    let footprint = match (&http, engine) {
        (Err(_), _) => None,
        (Ok(_), Engine::Sqlite) => Some(size::sqlite(&database.sqlite_file())),
        (Ok(_), Engine::Postgres) => Some(size::postgres(&database.url).await),
    };
    let dropped = database.drop_database().await;
    let mut http = http?;
    http.footprint = footprint.transpose()?;
    http.load_average = http_load;
    dropped?;

    let database = FreshDatabase::create(engine).await?;
    eprintln!("   store-only load on another fresh database");
    let store_load = size::load_average();
    let store = interruptible(load::store_only(&database.url, load)).await;
    let dropped = database.drop_database().await;
    let store = store?;
    dropped?;

    let database = FreshDatabase::create(engine).await?;
    eprintln!(
        "   engine bound on another fresh database, {} submissions per transaction",
        load.clients
    );
    let bound_load = size::load_average();
    let bound = interruptible(bound_phase(&database, load)).await;
    let dropped = database.drop_database().await;
    let bound = bound?;
    dropped?;

    let result = EngineResult::new(
        &engine.to_string(),
        http,
        (&store, store_load),
        BoundPhase {
            outcome: bound,
            load_average: bound_load,
        },
    );
    eprintln!(
        "   {:.0} submissions/s over HTTP, {:.0} through the store, {:.0} engine bound",
        result.http.submissions_per_second,
        result.store_only.submissions_per_second,
        result.engine_bound.submissions_per_second
    );
    Ok(result)
}

async fn bound_phase(database: &FreshDatabase, load: Load) -> Result<bound::BoundOutcome> {
    bound::migrate(&database.url).await?;
    match database.engine {
        Engine::Sqlite => {
            let path = database.sqlite_file();
            let (duration, batch) = (load.duration, load.clients);
            tokio::task::spawn_blocking(move || bound::sqlite(&path, duration, batch))
                .await
                .context("the SQLite bound panicked")?
        }
        Engine::Postgres => bound::postgres(&database.url, load.duration, load.clients).await,
    }
}

async fn http_phase(database: &FreshDatabase, hale_bin: &Path, load: Load) -> Result<HttpPhase> {
    let hale = Hale::new(hale_bin, database);
    let tokens = setup::provision(&hale)
        .await
        .context("setting up with the CLI")?;
    let server = hale.serve().await?;
    eprintln!("   server pid {} on {}", server.pid(), server.address);
    let fixture = setup::populate(&server, tokens)
        .await
        .with_context(|| format!("setting up over HTTP{}", server.log_tail()))?;
    // Let the setup's allocations settle before calling the server idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle_bytes = server.rss_bytes()?;
    eprintln!(
        "   {} subjects and app {} ready; {} clients for {} s",
        fixture.subjects.len(),
        fixture.app_id,
        load.clients,
        load.duration.as_secs()
    );
    let (outcome, rss_peak) = load::http(&server, &fixture, load).await?;
    let rss_high_water_bytes = server.rss_high_water_bytes().ok();
    if outcome.successes == 0 {
        eprintln!(
            "   no submission succeeded ({:?}){}",
            outcome.errors,
            server.log_tail()
        );
    }
    let stopped_on_sigterm = server.stop().await;
    Ok(HttpPhase {
        outcome,
        rss_idle_bytes,
        rss_peak,
        rss_high_water_bytes,
        stopped_on_sigterm,
        footprint: None,
        load_average: None,
    })
}
