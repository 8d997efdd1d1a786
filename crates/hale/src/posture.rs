//! The checks made at start: what `hale doctor` and `GET /api/v1/security-status` report, and
//! what production mode refuses to start with. Each failed check says what to change.

use std::net::IpAddr;

use hale_server::Check;

use crate::config::{RateLimitStore, Settings};

/// The file the demo writes its accounts' credentials to: demo users are present while it is.
pub const DEMO_CREDENTIALS: &str = "demo-credentials.txt";

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The host of a URL such as `postgres://user:pw@host:5432/db?…` (never printed with the rest).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next();
    }
    host_port.split(':').next()
}

/// Every check that can be made from the configuration and the files it names.
pub fn startup_checks(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    let loopback = settings.listen.ip().is_loopback();
    checks.push(if loopback {
        Check::pass(
            "listen",
            format!("listening on loopback ({})", settings.listen),
        )
    } else {
        Check::fail(
            "listen",
            format!("listening on {} without TLS", settings.listen),
            "serve TLS with the organisation's certificate (tls_cert and tls_key), or listen on \
             127.0.0.1 behind a proxy that terminates TLS",
        )
    });
    checks.push(
        if settings.chain_key_file.exists()
            && !hale_listen::key_file_is_private(&settings.chain_key_file)
        {
            Check::fail(
                "chain_key",
                format!(
                    "the chain key {} can be read by other users",
                    settings.chain_key_file.display()
                ),
                format!("chmod 600 {}", settings.chain_key_file.display()),
            )
        } else {
            Check::pass("chain_key", "the chain key is readable by its owner only")
        },
    );
    if let Some(tls) = &settings.tls {
        checks.push(if hale_listen::key_file_is_private(&tls.private_key) {
            Check::pass(
                "tls_key",
                "the TLS private key is readable by its owner only",
            )
        } else {
            Check::fail(
                "tls_key",
                format!(
                    "the TLS private key {} can be read by other users",
                    tls.private_key.display()
                ),
                format!("chmod 600 {}", tls.private_key.display()),
            )
        });
    }
    let demo = settings.data_dir.join(DEMO_CREDENTIALS);
    checks.push(if demo.exists() {
        Check::fail(
            "demo_users",
            "the demo tenant's users are present (this data directory was seeded by `hale demo`)",
            "use a data directory and database that `hale demo` never ran on",
        )
    } else {
        Check::pass("demo_users", "no demo users")
    });
    checks.push(Check::pass(
        "mfa",
        "a second factor is required for platform-admin, tenant-admin and reviewer: without \
         one their sessions hold no role (this cannot be turned off)",
    ));
    let plain_issuers: Vec<&str> = settings
        .oidc
        .issuers
        .iter()
        .map(|entry| entry.verify.issuer.as_str())
        .chain(
            settings
                .oidc
                .providers
                .iter()
                .map(|entry| entry.client.issuer.as_str()),
        )
        .filter(|issuer| !issuer.starts_with("https://"))
        .collect();
    checks.push(if plain_issuers.is_empty() {
        Check::pass("oidc_https", "every OpenID issuer is reached over HTTPS")
    } else {
        Check::fail(
            "oidc_https",
            format!(
                "OpenID issuers over plain HTTP: {}",
                plain_issuers.join(", ")
            ),
            "use each provider's https:// issuer URL",
        )
    });
    let database = settings.database_url.expose();
    if database.starts_with("postgres") {
        let remote = url_host(database).is_some_and(|host| !is_loopback_host(host));
        let encrypted = [
            "sslmode=require",
            "sslmode=verify-ca",
            "sslmode=verify-full",
        ]
        .iter()
        .any(|mode| database.contains(mode));
        checks.push(if remote && !encrypted {
            Check::fail(
                "database_tls",
                "PostgreSQL on another host without TLS",
                "add sslmode=verify-full (or require) to database_url",
            )
        } else {
            Check::pass("database_tls", "the database is local or reached over TLS")
        });
    }
    if let RateLimitStore::Redis(url) = &settings.rate_limit_store {
        let remote = url_host(url).is_some_and(|host| !is_loopback_host(host));
        checks.push(if remote && url.starts_with("redis://") {
            Check::fail(
                "rate_limit_store_tls",
                "the rate-limit Redis is on another host without TLS",
                "use a rediss:// URL",
            )
        } else {
            Check::pass(
                "rate_limit_store_tls",
                "the rate-limit Redis is local or over TLS",
            )
        });
    }
    checks
}

/// Production mode: refuses to start while any start check fails, naming each with its fix.
pub fn refuse_misconfiguration(checks: &[Check]) -> anyhow::Result<()> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|check| !check.passed)
        .map(|check| {
            format!(
                "  {}: {} — fix: {}",
                check.id,
                check.detail,
                check.fix.as_deref().unwrap_or("")
            )
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("production mode refuses to start:\n{}", failed.join("\n"))
    }
}

/// Prints checks as `hale doctor` does: one line each, failures with their fix.
pub fn print(checks: &[Check]) {
    for check in checks {
        if check.passed {
            println!("ok      {:<24} {}", check.id, check.detail);
        } else {
            println!(
                "FAILED  {:<24} {}\n        fix: {}",
                check.id,
                check.detail,
                check.fix.as_deref().unwrap_or("")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hosts_are_read_from_urls_without_their_credentials() {
        assert_eq!(
            url_host("postgres://u:p@db.internal:5432/hale"),
            Some("db.internal")
        );
        assert_eq!(
            url_host("postgres://127.0.0.1/hale?sslmode=disable"),
            Some("127.0.0.1")
        );
        assert_eq!(url_host("redis://:secret@[::1]:6379"), Some("::1"));
        assert_eq!(url_host("no url"), None);
        assert!(is_loopback_host("::1") && is_loopback_host("localhost"));
        assert!(!is_loopback_host("db.internal"));
    }
}
