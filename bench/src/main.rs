//! Hale's load benchmark. For each engine it starts the real `hale serve` on a fresh database,
//! sets up tenants, tokens, subjects and a published app, and has N keep-alive clients post
//! submissions for a fixed time; then `wrk` posts the same submissions (when installed), ten
//! tenants write at once, and N clients read observations back. With
//! `--prefill-observations` it does the writes and reads again on a database filled
//! beforehand. Last come the same appends straight through the store, and the engine bound.
//! It reports throughput, latency, errors, the server's memory, the WAL and database sizes,
//! as a table and as JSON. It only measures: no figure is ever asserted.
//!
//! ```text
//! cargo run --release -p hale-bench -- --engine both --duration 30 --clients 16
//! ```

mod bound;
mod client;
mod engine;
mod load;
mod prefill;
mod report;
mod server;
mod setup;
mod size;
mod workload;
mod wrk;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;

use engine::{Engine, EngineChoice, FreshDatabase};
use load::{Load, Outcome, Peaks, Sampler};
use report::{
    BoundFigures, EngineResult, LargeFigures, LoadFigures, ManyTenantsFigures, Report, RssFigures,
    WrkFigures, ratio,
};
use server::{Hale, Server};
use setup::Fixture;

/// A phase that may be left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Skip {
    /// wrk's submissions.
    Wrk,
    /// Ten tenants writing at once.
    Tenants,
    /// The read load.
    Reads,
    /// The store-only load.
    Store,
    /// The engine bound.
    Bound,
}

impl Skip {
    fn name(self) -> &'static str {
        match self {
            Skip::Wrk => "wrk",
            Skip::Tenants => "tenants",
            Skip::Reads => "reads",
            Skip::Store => "store",
            Skip::Bound => "bound",
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "hale-bench",
    about = "Load benchmark of Hale's submission path"
)]
struct Args {
    /// Which database engines to measure.
    #[arg(long, value_enum, default_value = "both")]
    engine: EngineChoice,
    /// Seconds each load runs, per phase and engine.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    duration: u64,
    /// Concurrent clients (and wrk connections), each with one keep-alive connection.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    clients: u64,
    /// Also run the writes and reads on a database first filled with this many observations
    /// (a fifth as many submissions), e.g. 10000000.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    prefill_observations: Option<u64>,
    /// Phases to leave out, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    skip: Vec<Skip>,
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
        if let Some(observations) = self.prefill_observations {
            command += &format!(" --prefill-observations {observations}");
        }
        if !self.skip.is_empty() {
            let skipped: Vec<&str> = self.skip.iter().map(|skip| skip.name()).collect();
            command += &format!(" --skip {}", skipped.join(","));
        }
        if let Some(binary) = &self.hale_bin {
            command += &format!(" --hale-bin {}", binary.display());
        }
        command
    }
}

/// What one engine's run does.
struct Plan {
    load: Load,
    skip: Vec<Skip>,
    prefill_observations: Option<u64>,
    /// wrk's path, or why it will not run.
    wrk: Result<PathBuf, String>,
}

impl Plan {
    fn runs(&self, phase: Skip) -> bool {
        !self.skip.contains(&phase)
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
    let wrk = if args.skip.contains(&Skip::Wrk) {
        Err("left out (--skip wrk)".to_owned())
    } else {
        wrk::find()
            .ok_or_else(|| "no `wrk` on PATH (Debian's package `wrk` provides it)".to_owned())
    };
    if let Err(reason) = &wrk {
        eprintln!("wrk phase not run: {reason}");
    }
    let plan = Plan {
        load: Load {
            clients: usize::try_from(args.clients)?,
            duration: Duration::from_secs(args.duration),
        },
        skip: args.skip.clone(),
        prefill_observations: args.prefill_observations,
        wrk,
    };

    let mut results = Vec::new();
    let mut failures = BTreeMap::new();
    for engine in args.engine.engines() {
        eprintln!("== {engine}");
        match bench_engine(engine, &hale_bin, &plan).await {
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
        clients: plan.load.clients,
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

/// Runs `work` on a fresh database of `engine`, which is dropped afterwards whatever happens.
async fn on_fresh_database<T>(
    engine: Engine,
    work: impl AsyncFnOnce(&FreshDatabase) -> Result<T>,
) -> Result<T> {
    let database = FreshDatabase::create(engine).await?;
    let result = interruptible(work(&database)).await;
    let dropped = database.drop_database().await;
    let result = result?;
    dropped?;
    Ok(result)
}

async fn bench_engine(engine: Engine, hale_bin: &Path, plan: &Plan) -> Result<EngineResult> {
    let empty = on_fresh_database(engine, async |database| {
        eprintln!(
            "   HTTP loads on a fresh database ({})",
            database.root().display()
        );
        http_session(database, hale_bin, plan, None).await
    })
    .await?;

    let large = match plan.prefill_observations {
        Some(observations) => Some(
            on_fresh_database(engine, async |database| {
                eprintln!(
                    "   HTTP loads on a database prefilled with {observations} observations ({})",
                    database.root().display()
                );
                http_session(database, hale_bin, plan, Some(observations)).await
            })
            .await?,
        ),
        None => None,
    };

    let store_only = if plan.runs(Skip::Store) {
        let store = on_fresh_database(engine, async |database| {
            eprintln!("   store-only load on another fresh database");
            measure_store(database, plan.load).await
        })
        .await?;
        Some(store)
    } else {
        None
    };

    let engine_bound = if plan.runs(Skip::Bound) {
        let bound = on_fresh_database(engine, async |database| {
            eprintln!(
                "   engine bound on another fresh database, {} submissions per transaction",
                plan.load.clients
            );
            bound_phase(database, plan.load).await
        })
        .await?;
        Some(bound)
    } else {
        None
    };

    let result = assemble(engine, empty, large, store_only, engine_bound);
    eprintln!(
        "   {:.0} submissions/s over HTTP{}{}",
        result.http.per_second,
        result
            .store_only
            .as_ref()
            .map_or(String::new(), |store| format!(
                ", {:.0} through the store",
                store.per_second
            )),
        result
            .engine_bound
            .as_ref()
            .map_or(String::new(), |bound| format!(
                ", {:.0} engine bound",
                bound.per_second
            )),
    );
    Ok(result)
}

/// What one server's life on one database measured.
struct Session {
    writes: LoadFigures,
    wrk: Result<WrkFigures, String>,
    many_tenants: Option<ManyTenantsFigures>,
    reads: Option<LoadFigures>,
    prefill: Option<prefill::PrefillFigures>,
    footprint: Option<size::Footprint>,
    database_growth_bytes: Option<i64>,
    rss: RssFigures,
    stopped_on_sigterm: bool,
}

fn assemble(
    engine: Engine,
    empty: Session,
    large: Option<Session>,
    store_only: Option<LoadFigures>,
    engine_bound: Option<BoundFigures>,
) -> EngineResult {
    let http_rate = empty.writes.per_second;
    let large = large.and_then(|large| {
        let prefill = large.prefill?;
        Some(LargeFigures {
            prefill,
            ratio_write_large_to_empty: ratio(large.writes.per_second, http_rate),
            ratio_read_large_to_empty: large
                .reads
                .as_ref()
                .zip(empty.reads.as_ref())
                .map(|(large, empty)| ratio(large.per_second, empty.per_second)),
            http: large.writes,
            reads: large.reads,
            footprint: large.footprint,
            server_rss_idle_mib: large.rss.idle_mib,
        })
    });
    let (wrk, wrk_not_run) = match empty.wrk {
        Ok(figures) => (Some(figures), None),
        Err(reason) => (None, Some(reason)),
    };
    EngineResult {
        engine: engine.to_string(),
        ratio_http_to_store: store_only
            .as_ref()
            .map(|store| ratio(http_rate, store.per_second)),
        ratio_store_to_bound: store_only
            .as_ref()
            .zip(engine_bound.as_ref())
            .map(|(store, bound)| ratio(store.per_second, bound.per_second)),
        http: empty.writes,
        wrk,
        wrk_not_run,
        many_tenants: empty.many_tenants,
        reads: empty.reads,
        large,
        store_only,
        engine_bound,
        footprint: empty.footprint,
        database_growth_bytes: empty.database_growth_bytes,
        server_rss: empty.rss,
        server_stopped_on_sigterm: empty.stopped_on_sigterm,
    }
}

async fn measure_store(database: &FreshDatabase, load: Load) -> Result<LoadFigures> {
    let load_average = size::load_average();
    let outcome = load::store_only(&database.url, load).await?;
    Ok(LoadFigures::new(&outcome, load_average, None))
}

async fn bound_phase(database: &FreshDatabase, load: Load) -> Result<BoundFigures> {
    bound::migrate(&database.url).await?;
    let load_average = size::load_average();
    let outcome = match database.engine {
        Engine::Sqlite => {
            let path = database.sqlite_file();
            let (duration, batch) = (load.duration, load.clients);
            tokio::task::spawn_blocking(move || bound::sqlite(&path, duration, batch))
                .await
                .context("the SQLite bound panicked")??
        }
        Engine::Postgres => bound::postgres(&database.url, load.duration, load.clients).await?,
    };
    Ok(BoundFigures::new(&outcome, load_average))
}

/// A phase's result with the server's samples and the load average as it began.
struct Measured<T> {
    result: T,
    peaks: Peaks,
    load_average: Option<f64>,
}

/// Runs one load against `server`, sampling it (and SQLite's files) throughout.
async fn measured<T>(
    server: &Server,
    sqlite_file: Option<&Path>,
    load: impl Future<Output = Result<T>>,
) -> Result<Measured<T>> {
    let load_average = size::load_average();
    let sampler = Sampler::start(server.pid(), sqlite_file.map(Path::to_owned));
    let result = load.await;
    let peaks = sampler.finish().await?;
    Ok(Measured {
        result: result?,
        peaks,
        load_average,
    })
}

impl Measured<Outcome> {
    fn figures(&self) -> LoadFigures {
        LoadFigures::new(&self.result, self.load_average, Some(&self.peaks))
    }
}

/// Sets up the tenants, starts the server and runs the HTTP phases on `database`; with
/// `prefill`, fills the database between setup and load and runs only the writes and reads.
async fn http_session(
    database: &FreshDatabase,
    hale_bin: &Path,
    plan: &Plan,
    prefill: Option<u64>,
) -> Result<Session> {
    let load = plan.load;
    let many = prefill.is_none() && plan.runs(Skip::Tenants);
    let mut slugs = vec![setup::TENANT_SLUG.to_owned()];
    if many {
        slugs.extend(setup::many_tenant_slugs());
    }
    let hale = Hale::new(hale_bin, database);
    let provisioned = setup::provision(&hale, &slugs)
        .await
        .context("setting up with the CLI")?;
    let mut server = hale.serve().await?;
    eprintln!("   server pid {} on {}", server.pid(), server.address);
    let mut fixtures: Vec<Fixture> = Vec::with_capacity(provisioned.len());
    for (slug, tokens) in provisioned {
        let fixture = setup::populate(&server, slug, tokens)
            .await
            .with_context(|| format!("setting up over HTTP{}", server.log_tail()))?;
        fixtures.push(fixture);
    }
    let (main, others) = fixtures
        .split_first()
        .ok_or_else(|| anyhow!("no tenant was set up"))?;

    let prefilled = match prefill {
        Some(observations) => {
            // Rows are written behind the server's back only while it is stopped.
            server.stop().await;
            eprintln!(
                "   prefilling {observations} observations ({} submissions)",
                prefill::submissions_for(observations)
            );
            let figures = prefill::run(database, main, observations).await?;
            eprintln!(
                "   prefill took {:.0} s ({:.0} submissions/s)",
                figures.seconds, figures.submissions_per_second
            );
            server = hale.serve().await?;
            Some(figures)
        }
        None => None,
    };

    // Let the setup's allocations settle before calling the server idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle_bytes = server.rss_bytes()?;
    let sqlite_file = (database.engine == Engine::Sqlite).then(|| database.sqlite_file());
    let sqlite_file = sqlite_file.as_deref();
    let size_before = postgres_size(database).await?;
    let seconds = load.duration.as_secs();
    let mut peaks = Vec::new();

    eprintln!(
        "   {} subjects and app {} ready; {} clients for {seconds} s",
        main.subjects.len(),
        main.app_id,
        load.clients,
    );
    let writes = measured(
        &server,
        sqlite_file,
        load::submissions(server.address, std::slice::from_ref(main), load),
    )
    .await?;
    if writes.result.successes == 0 {
        eprintln!(
            "   no submission succeeded ({:?}){}",
            writes.result.errors,
            server.log_tail()
        );
    }
    peaks.push(writes.peaks);

    let wrk = match (&plan.wrk, prefill) {
        (_, Some(_)) => Err("not run on the prefilled database".to_owned()),
        (Err(reason), None) => Err(reason.clone()),
        (Ok(binary), None) => {
            eprintln!("   wrk: {} connections for {seconds} s", load.clients);
            let ran = measured(
                &server,
                sqlite_file,
                wrk::run(binary, server.address, main, load),
            )
            .await;
            match ran {
                Ok(ran) => {
                    peaks.push(ran.peaks);
                    Ok(WrkFigures::new(
                        ran.result,
                        load.clients,
                        ran.load_average,
                        &ran.peaks,
                    ))
                }
                Err(error) => {
                    eprintln!("   wrk failed: {error:#}");
                    Err(format!("wrk failed: {error:#}"))
                }
            }
        }
    };

    let many_tenants = if many {
        eprintln!(
            "   {} tenants at once: {} clients for {seconds} s",
            others.len(),
            load.clients
        );
        let ran = measured(
            &server,
            sqlite_file,
            load::submissions(server.address, others, load),
        )
        .await?;
        peaks.push(ran.peaks);
        Some(ManyTenantsFigures {
            tenants: others.len(),
            load: ran.figures(),
        })
    } else {
        None
    };

    let reads = if plan.runs(Skip::Reads) {
        eprintln!(
            "   reads of the last {} {} observations: {} clients for {seconds} s",
            load::READ_LIMIT,
            load::READ_CODE,
            load.clients
        );
        let ran = measured(
            &server,
            sqlite_file,
            load::reads(server.address, main, load),
        )
        .await?;
        peaks.push(ran.peaks);
        Some(ran.figures())
    } else {
        None
    };

    let rss_high_water_bytes = server.rss_high_water_bytes().ok();
    let log_path = server.log_path();
    let stopped_on_sigterm = server.stop().await;
    // What the store's writer says of its batches as it stops (the mean over every phase).
    if let Some(line) = std::fs::read_to_string(&log_path).ok().and_then(|log| {
        log.lines()
            .rev()
            .find(|line| line.contains("the writer stopped"))
            .map(str::to_owned)
    }) {
        eprintln!("   server's writer: {line}");
    }
    let footprint = match database.engine {
        Engine::Sqlite => size::sqlite(&database.sqlite_file())?,
        Engine::Postgres => size::postgres(&database.url).await?,
    };
    let size_after = postgres_size(database).await?;
    Ok(Session {
        writes: writes.figures(),
        wrk,
        many_tenants,
        reads,
        prefill: prefilled,
        footprint: Some(footprint),
        database_growth_bytes: size_before
            .zip(size_after)
            .map(|(before, after)| after - before),
        rss: RssFigures {
            idle_mib: rss_idle_bytes as f64 / (1024.0 * 1024.0),
            peak_mib: peaks.iter().map(|peaks| peaks.rss_bytes).max().unwrap_or(0) as f64
                / (1024.0 * 1024.0),
            high_water_mib: rss_high_water_bytes.map(|bytes| bytes as f64 / (1024.0 * 1024.0)),
        },
        stopped_on_sigterm,
    })
}

/// PostgreSQL's database size now; nothing for SQLite, whose files are sampled instead.
async fn postgres_size(database: &FreshDatabase) -> Result<Option<i64>> {
    match database.engine {
        Engine::Sqlite => Ok(None),
        Engine::Postgres => size::postgres_database_bytes(&database.url).await.map(Some),
    }
}
