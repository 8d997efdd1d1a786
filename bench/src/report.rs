//! The results: one row per engine, printed as a table and written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::bound::BoundOutcome;
use crate::load::{Outcome, RssPeak};
use crate::size::Footprint;

const MIB: f64 = 1024.0 * 1024.0;

/// One engine's figures.
#[derive(Debug, Serialize)]
pub struct EngineResult {
    pub engine: String,
    pub http: HttpFigures,
    pub store_only: StoreFigures,
    pub engine_bound: BoundFigures,
    /// HTTP submissions/s over store-only submissions/s.
    pub ratio_http_to_store: f64,
    /// Store-only submissions/s over the engine bound's.
    pub ratio_store_to_bound: f64,
    /// The HTTP phase's database after the load, WAL checkpointed.
    pub footprint: Option<Footprint>,
    pub server_rss: RssFigures,
    /// Whether the server stopped within its grace period after SIGTERM.
    pub server_stopped_on_sigterm: bool,
}

#[derive(Debug, Serialize)]
pub struct HttpFigures {
    pub submissions_per_second: f64,
    pub successes: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub elapsed_seconds: f64,
    /// Latency of the 201 responses, from sending the request to the last byte of the body.
    pub latency_ms: Latency,
    /// 1-minute load average as the phase began.
    pub load_average: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct StoreFigures {
    pub submissions_per_second: f64,
    pub successes: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub elapsed_seconds: f64,
    /// Time from `Store::append` to its durable answer.
    pub latency_ms: Latency,
    pub load_average: Option<f64>,
}

/// The same rows written by the tightest code (see `bound.rs`).
#[derive(Debug, Serialize)]
pub struct BoundFigures {
    pub submissions_per_second: f64,
    pub submissions: u64,
    pub submissions_per_transaction: usize,
    pub elapsed_seconds: f64,
    pub load_average: Option<f64>,
}

/// What the engine-bound phase measured.
pub struct BoundPhase {
    pub outcome: BoundOutcome,
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
    /// Largest 250 ms sample during the load.
    pub peak_mib: f64,
    pub samples: u64,
    /// The kernel's high-water mark (VmHWM) at the end of the load.
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
}

/// What the HTTP phase measured, before the store-only phase runs.
pub struct HttpPhase {
    pub outcome: Outcome,
    pub rss_idle_bytes: u64,
    pub rss_peak: RssPeak,
    pub rss_high_water_bytes: Option<u64>,
    pub stopped_on_sigterm: bool,
    pub footprint: Option<Footprint>,
    pub load_average: Option<f64>,
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

impl EngineResult {
    pub fn new(
        engine: &str,
        http: HttpPhase,
        (store, store_load): (&Outcome, Option<f64>),
        bound: BoundPhase,
    ) -> Self {
        let http_rate = http.outcome.per_second();
        let store_rate = store.per_second();
        let bound_rate = bound.outcome.per_second();
        Self {
            engine: engine.to_owned(),
            http: HttpFigures {
                submissions_per_second: http_rate,
                successes: http.outcome.successes,
                errors: http.outcome.error_count(),
                errors_by_kind: http.outcome.errors.clone(),
                elapsed_seconds: http.outcome.elapsed.as_secs_f64(),
                latency_ms: Latency::of(&http.outcome),
                load_average: http.load_average,
            },
            store_only: StoreFigures {
                submissions_per_second: store_rate,
                successes: store.successes,
                errors: store.error_count(),
                errors_by_kind: store.errors.clone(),
                elapsed_seconds: store.elapsed.as_secs_f64(),
                latency_ms: Latency::of(store),
                load_average: store_load,
            },
            engine_bound: BoundFigures {
                submissions_per_second: bound_rate,
                submissions: bound.outcome.submissions,
                submissions_per_transaction: bound.outcome.batch,
                elapsed_seconds: bound.outcome.elapsed.as_secs_f64(),
                load_average: bound.load_average,
            },
            ratio_http_to_store: ratio(http_rate, store_rate),
            ratio_store_to_bound: ratio(store_rate, bound_rate),
            footprint: http.footprint,
            server_rss: RssFigures {
                idle_mib: http.rss_idle_bytes as f64 / MIB,
                peak_mib: http.rss_peak.peak_bytes as f64 / MIB,
                samples: http.rss_peak.samples,
                high_water_mib: http.rss_high_water_bytes.map(|bytes| bytes as f64 / MIB),
            },
            server_stopped_on_sigterm: http.stopped_on_sigterm,
        }
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

impl Report {
    pub fn table(&self) -> String {
        let header = [
            "engine",
            "HTTP sub/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "errors",
            "HTTP/store",
            "RSS idle MiB",
            "RSS peak MiB",
            "store sub/s",
            "bound sub/s",
            "store/bound",
            "bytes/sub",
            "load avg",
        ];
        let rows: Vec<[String; 14]> = self
            .results
            .iter()
            .map(|result| {
                [
                    result.engine.clone(),
                    format!("{:.0}", result.http.submissions_per_second),
                    format!("{:.2}", result.http.latency_ms.p50),
                    format!("{:.2}", result.http.latency_ms.p99),
                    format!("{:.2}", result.http.latency_ms.p99_9),
                    result.http.errors.to_string(),
                    format!("{:.2}", result.ratio_http_to_store),
                    format!("{:.1}", result.server_rss.idle_mib),
                    format!("{:.1}", result.server_rss.peak_mib),
                    format!("{:.0}", result.store_only.submissions_per_second),
                    format!("{:.0}", result.engine_bound.submissions_per_second),
                    format!("{:.2}", result.ratio_store_to_bound),
                    result
                        .footprint
                        .as_ref()
                        .map_or("-".to_owned(), |f| format!("{:.0}", f.bytes_per_submission)),
                    [
                        result.http.load_average,
                        result.store_only.load_average,
                        result.engine_bound.load_average,
                    ]
                    .iter()
                    .map(|load| load.map_or("-".to_owned(), |load| format!("{load:.1}")))
                    .collect::<Vec<_>>()
                    .join("/"),
                ]
            })
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|column| {
                rows.iter()
                    .map(|row| row[column].len())
                    .chain([header[column].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        let mut line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(column, (cell, width))| {
                    if column == 0 {
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
        for row in &rows {
            line(row.iter().map(String::as_str).collect());
        }
        for (engine, reason) in &self.failures {
            let _ = writeln!(text, "{engine}: not measured: {reason}");
        }
        let _ = writeln!(
            text,
            "\n{} clients, {} s per load, {} CPUs shared by client and server; latency of 201s only.",
            self.clients, self.duration_seconds, self.cpus
        );
        let _ = writeln!(
            text,
            "bound: the same rows by the tightest code, {} submissions per transaction; \
             bytes/sub: the HTTP run's database after the load (indexes included, WAL \
             checkpointed); load avg: 1-minute load as the HTTP/store/bound phases began.",
            self.clients
        );
        for result in &self.results {
            if let Some(footprint) = &result.footprint {
                let _ = writeln!(
                    text,
                    "{}: {} submissions in {} bytes{}",
                    result.engine,
                    footprint.submissions,
                    footprint.bytes,
                    footprint
                        .wal_bytes_at_end
                        .map_or(String::new(), |wal| format!(
                            "; WAL {wal} bytes at the end of the load"
                        )),
                );
            }
        }
        let _ = writeln!(text, "command: {}", self.command);
        text
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
