//! The engines under test and a fresh, empty database on each: a file in a temporary directory
//! for SQLite, a new `hale_bench_<random>` database for PostgreSQL that is dropped afterwards.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sqlx::Connection;

/// The server's configuration. An empty list of rate limits means the shipped ones, whose staff
/// limit (1,000 calls in 5 minutes) would refuse most of the benchmark's calls; so the one rule
/// here covers patients only, and no caller of the benchmark is one: every call passes the
/// gate, none is counted. (The bench app names no rate-limit policy of its own either.)
const SERVER_CONFIG: &str = "version = 1

[[rate_limits]]
name = \"patient\"
calls = 10
period = \"5m\"
key = \"account\"
applies_to = [\"patient\"]
";

/// Where PostgreSQL is, unless `HALE_BENCH_DATABASE_URL` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    Sqlite,
    Postgres,
    Both,
}

impl EngineChoice {
    pub fn engines(self) -> Vec<Engine> {
        match self {
            EngineChoice::Sqlite => vec![Engine::Sqlite],
            EngineChoice::Postgres => vec![Engine::Postgres],
            EngineChoice::Both => vec![Engine::Sqlite, Engine::Postgres],
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            EngineChoice::Sqlite => "sqlite",
            EngineChoice::Postgres => "postgres",
            EngineChoice::Both => "both",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        })
    }
}

/// A fresh database and the directory the server keeps its data in. Call [`Self::drop_database`]
/// when done: a PostgreSQL database outlives this value otherwise.
pub struct FreshDatabase {
    pub engine: Engine,
    /// The store URL: SQLite's file inside `directory`, or the new PostgreSQL database.
    pub url: String,
    /// Holds the data directory (and SQLite's file); removed when dropped.
    directory: tempfile::TempDir,
    /// The server URL and database name to drop, for PostgreSQL.
    postgres: Option<(String, String)>,
}

impl FreshDatabase {
    pub async fn create(engine: Engine) -> Result<Self> {
        let directory = tempfile::Builder::new()
            .prefix("hale-bench-")
            .tempdir()
            .context("creating a temporary directory")?;
        std::fs::create_dir(directory.path().join("data"))
            .context("creating the data directory")?;
        std::fs::write(directory.path().join("hale.toml"), SERVER_CONFIG)
            .context("writing the server's configuration")?;
        match engine {
            Engine::Sqlite => {
                let file = directory.path().join("data").join("hale.db");
                Ok(Self {
                    engine,
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    directory,
                    postgres: None,
                })
            }
            Engine::Postgres => {
                let server = std::env::var("HALE_BENCH_DATABASE_URL")
                    .ok()
                    .filter(|url| !url.is_empty())
                    .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
                let name = format!("hale_bench_{}", uuid::Uuid::new_v4().simple());
                let mut admin = admin_connection(&server).await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                let _ = admin.close().await;
                let url = replace_database(&server, &name)?;
                Ok(Self {
                    engine,
                    url,
                    directory,
                    postgres: Some((server, name)),
                })
            }
        }
    }

    /// The server's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.directory.path().join("data")
    }

    /// SQLite's database file (meaningless for PostgreSQL).
    pub fn sqlite_file(&self) -> PathBuf {
        self.data_dir().join("hale.db")
    }

    /// The server's configuration file ([`SERVER_CONFIG`]).
    pub fn config_path(&self) -> PathBuf {
        self.directory.path().join("hale.toml")
    }

    /// Where the server's output goes.
    pub fn log_path(&self) -> PathBuf {
        self.directory.path().join("server.log")
    }

    pub fn root(&self) -> &Path {
        self.directory.path()
    }

    /// Drops the PostgreSQL database (whoever is still connected); nothing for SQLite, whose
    /// file goes with the temporary directory.
    pub async fn drop_database(&self) -> Result<()> {
        let Some((server, name)) = &self.postgres else {
            return Ok(());
        };
        let mut admin = admin_connection(server).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("dropping database {name}"))?;
        let _ = admin.close().await;
        Ok(())
    }
}

async fn admin_connection(server: &str) -> Result<sqlx::AnyConnection> {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(server)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", redact(server)))
}

/// `postgres://user@host:port/db?params` with `db` replaced by `name`, parameters kept.
fn replace_database(server: &str, name: &str) -> Result<String> {
    let (without_query, query) = match server.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (server, None),
    };
    let Some(scheme_end) = without_query.find("://") else {
        bail!("HALE_BENCH_DATABASE_URL is not a postgres:// URL");
    };
    let base = match without_query[scheme_end + 3..].find('/') {
        Some(slash) => &without_query[..scheme_end + 3 + slash],
        None => without_query,
    };
    Ok(match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    })
}

/// The URL without a password, for messages.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    match (rest.find('@'), rest.find(':')) {
        (Some(at), Some(colon)) if colon < at => {
            format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &rest[..colon],
                &rest[at..]
            )
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() -> Result<()> {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x")?,
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/test?sslmode=disable", "x")?,
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://h:5432", "x")?,
            "postgres://h:5432/x"
        );
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h:5432/db"), "postgres://u@h:5432/db");
        Ok(())
    }
}
