//! The results: a table with one row per engine and phase, a second with each engine's
//! ratios and sizes, and all of it as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::bound::BoundOutcome;
use crate::load::{Outcome, Peaks};
use crate::prefill::PrefillFigures;
use crate::size::Footprint;
use crate::wrk::WrkOutcome;

const MIB: f64 = 1024.0 * 1024.0;

/// One engine's figures.
#[derive(Debug, Serialize)]
pub struct EngineResult {
    pub engine: String,
    /// Our own client's submissions on an empty database.
    pub http: LoadFigures,
    /// The same submissions posted by wrk, right after, to the same server.
    pub wrk: Option<WrkFigures>,
    /// Why wrk did not run, when it did not.
    pub wrk_not_run: Option<String>,
    /// Submissions to several tenants at once, the clients split among them.
    pub many_tenants: Option<ManyTenantsFigures>,
    /// A random subject's last observations of one code, after the writes.
    pub reads: Option<LoadFigures>,
    /// The same loads on a database prefilled with `--prefill-observations`.
    pub large: Option<LargeFigures>,
    pub store_only: Option<LoadFigures>,
    pub engine_bound: Option<BoundFigures>,
    /// HTTP submissions/s over store-only submissions/s.
    pub ratio_http_to_store: Option<f64>,
    /// Store-only submissions/s over the engine bound's.
    pub ratio_store_to_bound: Option<f64>,
    /// The HTTP phases' database after the loads, WAL checkpointed.
    pub footprint: Option<Footprint>,
    /// PostgreSQL only: how much `pg_database_size` grew from before the first load to after
    /// the last.
    pub database_growth_bytes: Option<i64>,
    pub server_rss: RssFigures,
    /// Whether the server stopped within its grace period after SIGTERM.
    pub server_stopped_on_sigterm: bool,
}

/// A load of N clients for the phase's duration.
#[derive(Debug, Serialize)]
pub struct LoadFigures {
    /// Successes per second: submissions stored (201), reads answered (200), or appends.
    pub per_second: f64,
    pub successes: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub elapsed_seconds: f64,
    /// Latency of the successes: from sending the request to the last byte of the body, or
    /// from `Store::append` to its durable answer.
    pub latency_ms: Latency,
    /// 1-minute load average as the phase began.
    pub load_average: Option<f64>,
    /// The server while the phase ran (none for the store-only load).
    pub server: Option<ServerFigures>,
    /// Store-only: appends per committed batch.
    pub mean_batch: Option<f64>,
}

/// What was sampled every 250 ms during a phase.
#[derive(Debug, Serialize)]
pub struct ServerFigures {
    pub rss_peak_mib: f64,
    pub samples: u64,
    /// SQLite only: the largest `-wal` file.
    pub wal_peak_mib: Option<f64>,
    /// SQLite only: the largest database file (its WAL apart).
    pub database_file_peak_mib: Option<f64>,
}

/// wrk's figures. Its latencies cover every response, not only the 201s.
#[derive(Debug, Serialize)]
pub struct WrkFigures {
    /// 201 responses per second.
    pub per_second: f64,
    pub connections: usize,
    pub latency_ms: Latency,
    pub outcome: WrkOutcome,
    pub load_average: Option<f64>,
    pub server: ServerFigures,
}

#[derive(Debug, Serialize)]
pub struct ManyTenantsFigures {
    pub tenants: usize,
    #[serde(flatten)]
    pub load: LoadFigures,
}

/// The loads again on a database that already held many observations.
#[derive(Debug, Serialize)]
pub struct LargeFigures {
    pub prefill: PrefillFigures,
    pub http: LoadFigures,
    pub reads: Option<LoadFigures>,
    /// Submissions/s on the large database over those on the empty one.
    pub ratio_write_large_to_empty: f64,
    pub ratio_read_large_to_empty: Option<f64>,
    pub footprint: Option<Footprint>,
    pub server_rss_idle_mib: f64,
}

/// The same rows written by the tightest code (see `bound.rs`).
#[derive(Debug, Serialize)]
pub struct BoundFigures {
    pub per_second: f64,
    pub submissions: u64,
    pub submissions_per_transaction: usize,
    pub elapsed_seconds: f64,
    pub load_average: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize)]
pub struct RssFigures {
    pub idle_mib: f64,
    /// The largest 250 ms sample over the HTTP phases.
    pub peak_mib: f64,
    /// The kernel's high-water mark (VmHWM) at the end of the HTTP phases.
    pub high_water_mib: Option<f64>,
}

impl Latency {
    fn of(outcome: &Outcome) -> Self {
        let mean = if outcome.latency.is_empty() {
            0.0
        } else {
            outcome.latency.mean() / 1000.0
        };
        Self {
            p50: outcome.percentile_ms(50.0),
            p99: outcome.percentile_ms(99.0),
            p99_9: outcome.percentile_ms(99.9),
            max: outcome.latency.max() as f64 / 1000.0,
            mean,
        }
    }

    fn of_wrk(outcome: &WrkOutcome) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            p50: ms(outcome.p50_us),
            p99: ms(outcome.p99_us),
            p99_9: ms(outcome.p99_9_us),
            max: ms(outcome.max_us),
            mean: outcome.mean_us / 1000.0,
        }
    }
}

impl ServerFigures {
    pub fn of(peaks: &Peaks) -> Self {
        let mib = |bytes: u64| bytes as f64 / MIB;
        Self {
            rss_peak_mib: mib(peaks.rss_bytes),
            samples: peaks.samples,
            wal_peak_mib: peaks.wal_bytes.map(mib),
            database_file_peak_mib: peaks.database_file_bytes.map(mib),
        }
    }
}

impl LoadFigures {
    pub fn new(outcome: &Outcome, load_average: Option<f64>, peaks: Option<&Peaks>) -> Self {
        Self {
            per_second: outcome.per_second(),
            successes: outcome.successes,
            errors: outcome.error_count(),
            errors_by_kind: outcome.errors.clone(),
            elapsed_seconds: outcome.elapsed.as_secs_f64(),
            latency_ms: Latency::of(outcome),
            load_average,
            server: peaks.map(ServerFigures::of),
            mean_batch: outcome.mean_batch,
        }
    }
}

impl WrkFigures {
    pub fn new(
        outcome: WrkOutcome,
        connections: usize,
        load_average: Option<f64>,
        peaks: &Peaks,
    ) -> Self {
        Self {
            per_second: outcome.per_second(),
            connections,
            latency_ms: Latency::of_wrk(&outcome),
            outcome,
            load_average,
            server: ServerFigures::of(peaks),
        }
    }
}

impl BoundFigures {
    pub fn new(outcome: &BoundOutcome, load_average: Option<f64>) -> Self {
        Self {
            per_second: outcome.per_second(),
            submissions: outcome.submissions,
            submissions_per_transaction: outcome.batch,
            elapsed_seconds: outcome.elapsed.as_secs_f64(),
            load_average,
        }
    }
}

pub fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

/// The whole run, as written to JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    pub command: String,
    pub clients: usize,
    pub duration_seconds: u64,
    pub cpus: usize,
    /// Unix time, seconds, when the run finished.
    pub finished_at_unix: u64,
    pub results: Vec<EngineResult>,
    /// Engines that could not be measured, and why.
    pub failures: BTreeMap<String, String>,
}

fn number(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

fn maybe(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_owned(), |value| number(value, decimals))
}

/// One row of the phase table.
fn load_row(engine: &str, phase: &str, figures: &LoadFigures) -> Vec<String> {
    let server = figures.server.as_ref();
    vec![
        engine.to_owned(),
        phase.to_owned(),
        number(figures.per_second, 0),
        number(figures.latency_ms.p50, 2),
        number(figures.latency_ms.p99, 2),
        number(figures.latency_ms.p99_9, 2),
        figures.errors.to_string(),
        maybe(server.map(|server| server.rss_peak_mib), 1),
        maybe(server.and_then(|server| server.wal_peak_mib), 1),
        maybe(server.and_then(|server| server.database_file_peak_mib), 1),
        maybe(figures.load_average, 1),
    ]
}

/// Columns padded to their widest cell: the first two to the left, numbers to the right.
fn render(header: &[&str], rows: &[Vec<String>], text: &mut String) {
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column).map(String::len))
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if column < 2 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        let _ = writeln!(text, "{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    line(rule.iter().map(String::as_str).collect());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

impl EngineResult {
    fn phase_rows(&self) -> Vec<Vec<String>> {
        let engine = self.engine.as_str();
        let mut rows = vec![load_row(engine, "HTTP write", &self.http)];
        if let Some(wrk) = &self.wrk {
            rows.push(vec![
                engine.to_owned(),
                "wrk write".to_owned(),
                number(wrk.per_second, 0),
                number(wrk.latency_ms.p50, 2),
                number(wrk.latency_ms.p99, 2),
                number(wrk.latency_ms.p99_9, 2),
                wrk.outcome.errors().to_string(),
                number(wrk.server.rss_peak_mib, 1),
                maybe(wrk.server.wal_peak_mib, 1),
                maybe(wrk.server.database_file_peak_mib, 1),
                maybe(wrk.load_average, 1),
            ]);
        }
        if let Some(many) = &self.many_tenants {
            let phase = format!("{} tenants write", many.tenants);
            rows.push(load_row(engine, &phase, &many.load));
        }
        if let Some(reads) = &self.reads {
            rows.push(load_row(engine, "HTTP read", reads));
        }
        if let Some(large) = &self.large {
            let millions = large.prefill.observations as f64 / 1e6;
            let phase = |what: &str| format!("{what}, {millions:.1}M obs");
            rows.push(load_row(engine, &phase("HTTP write"), &large.http));
            if let Some(reads) = &large.reads {
                rows.push(load_row(engine, &phase("HTTP read"), reads));
            }
        }
        if let Some(store) = &self.store_only {
            rows.push(load_row(engine, "store-only", store));
        }
        if let Some(bound) = &self.engine_bound {
            rows.push(vec![
                engine.to_owned(),
                format!("bound, {}/tx", bound.submissions_per_transaction),
                number(bound.per_second, 0),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "0".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                maybe(bound.load_average, 1),
            ]);
        }
        rows
    }

    fn summary_row(&self) -> Vec<String> {
        let large = self.large.as_ref();
        vec![
            self.engine.clone(),
            maybe(self.ratio_http_to_store, 2),
            maybe(self.ratio_store_to_bound, 2),
            maybe(
                self.footprint
                    .as_ref()
                    .map(|footprint| footprint.bytes_per_submission),
                0,
            ),
            maybe(
                self.database_growth_bytes.map(|bytes| bytes as f64 / MIB),
                1,
            ),
            number(self.server_rss.idle_mib, 1),
            number(self.server_rss.peak_mib, 1),
            maybe(large.map(|large| large.prefill.seconds), 0),
            maybe(large.map(|large| large.ratio_write_large_to_empty), 2),
            maybe(large.and_then(|large| large.ratio_read_large_to_empty), 2),
        ]
    }
}

impl Report {
    pub fn table(&self) -> String {
        let mut text = String::new();
        let rows: Vec<Vec<String>> = self
            .results
            .iter()
            .flat_map(EngineResult::phase_rows)
            .collect();
        render(
            &[
                "engine",
                "phase",
                "per s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "errors",
                "RSS peak MiB",
                "WAL peak MiB",
                "DB file peak MiB",
                "load avg",
            ],
            &rows,
            &mut text,
        );
        text.push('\n');
        let summary: Vec<Vec<String>> =
            self.results.iter().map(EngineResult::summary_row).collect();
        render(
            &[
                "engine",
                "HTTP/store",
                "store/bound",
                "bytes/sub",
                "DB growth MiB",
                "RSS idle MiB",
                "RSS peak MiB",
                "prefill s",
                "large/empty write",
                "large/empty read",
            ],
            &summary,
            &mut text,
        );
        for (engine, reason) in &self.failures {
            let _ = writeln!(text, "{engine}: not measured: {reason}");
        }
        let _ = writeln!(
            text,
            "\n{} clients (wrk: as many connections), {} s per load, {} CPUs shared by client \
             and server.",
            self.clients, self.duration_seconds, self.cpus
        );
        let _ = writeln!(
            text,
            "per s: submissions stored (201s), reads answered (200s) or appends; latency of \
             those only, except wrk's, which covers every response. WAL/DB file peak: the \
             largest SQLite `-wal` and database file sampled every 250 ms. bytes/sub: the \
             database after the HTTP phases (indexes included, WAL checkpointed). DB growth: \
             PostgreSQL's pg_database_size over the HTTP phases. load avg: 1-minute load as \
             the phase began."
        );
        for result in &self.results {
            self.notes(result, &mut text);
        }
        let _ = writeln!(text, "command: {}", self.command);
        text
    }

    fn notes(&self, result: &EngineResult, text: &mut String) {
        let engine = &result.engine;
        if let Some(reason) = &result.wrk_not_run {
            let _ = writeln!(text, "{engine}: wrk write not run: {reason}");
        }
        if let Some(mean) = result
            .store_only
            .as_ref()
            .and_then(|store| store.mean_batch)
        {
            let _ = writeln!(
                text,
                "{engine}: store-only batches held {mean:.1} appends on average"
            );
        }
        if let Some(footprint) = &result.footprint {
            let _ = writeln!(
                text,
                "{engine}: {} submissions in {} bytes{}",
                footprint.submissions,
                footprint.bytes,
                footprint
                    .wal_bytes_at_end
                    .map_or(String::new(), |wal| format!(
                        "; WAL {wal} bytes at the end of the loads"
                    )),
            );
        }
        if let Some(large) = &result.large {
            let prefill = &large.prefill;
            let _ = writeln!(
                text,
                "{engine}: prefill of {} observations ({} submissions, chain-valid, real \
                 payloads) took {:.0} s, {:.0} submissions/s",
                prefill.observations,
                prefill.submissions,
                prefill.seconds,
                prefill.submissions_per_second
            );
        }
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn figures(per_second: u64) -> Result<LoadFigures> {
        let mut latency = hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3)?;
        latency.record(2_000)?;
        let outcome = Outcome {
            successes: per_second,
            errors: BTreeMap::new(),
            elapsed: Duration::from_secs(1),
            latency,
            mean_batch: None,
        };
        let peaks = Peaks {
            rss_bytes: 20 * 1024 * 1024,
            samples: 4,
            wal_bytes: Some(4 * 1024 * 1024),
            database_file_bytes: Some(8 * 1024 * 1024),
        };
        Ok(LoadFigures::new(&outcome, Some(1.5), Some(&peaks)))
    }

    #[test]
    fn the_table_has_a_row_per_phase_and_says_why_wrk_did_not_run() -> Result<()> {
        let result = EngineResult {
            engine: "sqlite".to_owned(),
            http: figures(1000)?,
            wrk: None,
            wrk_not_run: Some("no `wrk` on PATH".to_owned()),
            many_tenants: Some(ManyTenantsFigures {
                tenants: 10,
                load: figures(900)?,
            }),
            reads: Some(figures(5000)?),
            large: None,
            store_only: Some(LoadFigures {
                server: None,
                ..figures(1200)?
            }),
            engine_bound: None,
            ratio_http_to_store: Some(1000.0 / 1200.0),
            ratio_store_to_bound: None,
            footprint: None,
            database_growth_bytes: None,
            server_rss: RssFigures {
                idle_mib: 15.0,
                peak_mib: 20.0,
                high_water_mib: None,
            },
            server_stopped_on_sigterm: true,
        };
        let report = Report {
            command: "hale-bench".to_owned(),
            clients: 16,
            duration_seconds: 1,
            cpus: 2,
            finished_at_unix: 0,
            results: vec![result],
            failures: BTreeMap::new(),
        };
        let table = report.table();
        let row = |phase: &str| {
            table
                .lines()
                .find(|line| line.starts_with("sqlite") && line.contains(phase))
                .map(str::to_owned)
        };
        assert!(row("HTTP write").is_some_and(|line| line.contains("1000")));
        assert!(row("10 tenants write").is_some_and(|line| line.contains("900")));
        assert!(row("HTTP read").is_some_and(|line| line.contains("5000")));
        assert!(row("store-only").is_some_and(|line| line.contains("1200")));
        // 4 MiB of WAL at most, in the WAL column.
        assert!(row("HTTP write").is_some_and(|line| line.contains("4.0")));
        assert!(table.contains("sqlite: wrk write not run: no `wrk` on PATH"));
        let json = serde_json::to_value(&report.results[0])?;
        assert_eq!(json["many_tenants"]["tenants"], 10);
        assert_eq!(json["http"]["server"]["wal_peak_mib"], 4.0);
        Ok(())
    }
}
