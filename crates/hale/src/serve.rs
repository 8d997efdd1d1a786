//! `hale serve` and `hale demo`: open the store, issue the first admin token, serve HTTP (or
//! HTTPS with the customer's certificates) until SIGTERM or Ctrl-C, then drain in-flight
//! requests.

use std::sync::Arc;

use anyhow::Context;
use hale_core::{ClaimMapping, ClaimMappingConfig, Core};
use hale_limit::{Limiter, MemoryConfig, MemoryStore, RedisConfig, RedisStore};
use hale_listen::{ConnectionLimits, DEFAULT_RELOAD_POLL, Server, Tls, TlsFiles};
use hale_server::{
    AppState, Limits, Oidc, Posture, RateLimits, RateRule, TlsClient, TlsClients, router,
};
use tracing_subscriber::EnvFilter;

use crate::commands::{open_store, operator};
use crate::config::{LogFormat, OidcConfig, RateLimitStore, Settings, TlsClientBinding};
use crate::posture;

pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("HALE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

pub async fn serve(settings: &Settings, demo: bool) -> anyhow::Result<()> {
    if demo && settings.production {
        anyhow::bail!("production mode refuses to start: `hale demo` creates demo users");
    }
    // Certificates first: a start that cannot serve TLS stops before it touches the database.
    let tls = settings.tls.as_ref().map(load_tls).transpose()?;
    let store = open_store(settings).await?;
    // After opening the store, which creates the chain key the checks look at.
    let checks = posture::startup_checks(settings);
    if settings.production {
        posture::refuse_misconfiguration(&checks)?;
    }
    let core = Core::with_system(store.clone());
    if let Some(invite) = core
        .bootstrap_admin()
        .await
        .map_err(crate::commands::describe)?
    {
        // Printed once, to stdout, never logged: only its hash is stored. It sets the first
        // platform administrator's password; a second factor is enrolled at first sign-in.
        println!(
            "First start: set the platform administrator's password with this one-time code \
             (shown once, valid 7 days):\n  {}\n  POST /api/v1/auth/invites/accept \
             {{\"code\": \"…\", \"password\": \"…\"}}, then sign in as \"admin\" at \
             /api/v1/auth/sign-in and enrol TOTP at /api/v1/auth/mfa/offer",
            invite.expose()
        );
    }
    if demo {
        crate::demo::seed_and_print(&core, &settings.data_dir).await?;
    }
    let limits = Limits {
        max_body_bytes: settings.max_body_bytes,
        max_json_bytes: settings.max_json_bytes,
        max_in_flight: settings.max_in_flight,
        trusted_proxies: settings.trusted_proxies.clone(),
        ..Limits::default()
    };
    let oidc = providers(&core, &settings.oidc).await?;
    expire_idempotency_claims(store.clone(), settings.idempotency_key_retention);
    let rate = rate_limits(&core, settings).await?;
    let clients = tls_clients(&core, &settings.tls_clients).await?;
    let app = router(
        AppState {
            core,
            oidc,
            rate,
            clients,
            posture: Posture {
                startup: std::sync::Arc::new(checks),
                tls: tls.clone(),
            },
        },
        &limits,
    );
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    // When clients together take every connection slot, a few more are held for the probes.
    let mut server = Server::new(listener, connection_limits(settings.connections))
        .with_probe_paths(&["/health", "/ready"]);
    let (app, scheme) = match &tls {
        Some(tls) => {
            // Listening for SIGHUP starts here, before the address is announced.
            server = server.with_tls(tls.reloader(DEFAULT_RELOAD_POLL));
            (app.layer(hale_listen::strict_transport_security()), "https")
        }
        None => (app, "http"),
    };
    tracing::info!(%address, database = ?settings.database_url, tls = tls.is_some(), "hale is serving");
    println!("Hale is serving on {scheme}://{address}");
    server.serve(app, shutdown_signal()).await;
    // Every request has been answered: the writer commits what is queued, its threads are
    // joined and the chain heads are checkpointed before the process ends.
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Reads the certificate, key and client CA, naming the file that is missing or unusable. A key
/// that group or others may read is served, with a warning.
fn load_tls(files: &TlsFiles) -> anyhow::Result<Arc<Tls>> {
    if !hale_listen::key_file_is_private(&files.private_key) {
        tracing::warn!(
            file = %files.private_key.display(),
            "the TLS private key file is readable by group or others; make it readable by its \
             owner only (chmod 600)"
        );
    }
    let tls = Tls::load(files.clone()).map_err(|error| anyhow::anyhow!("TLS: {error}"))?;
    Ok(Arc::new(tls))
}

/// The configured limits, with the connection cap lowered to what the descriptor limit (raised
/// to its hard maximum first) leaves room for.
fn connection_limits(configured: ConnectionLimits) -> ConnectionLimits {
    let Some(file_limit) = hale_listen::raise_file_limit() else {
        return configured;
    };
    let limits = configured.within_file_limit(file_limit);
    if limits.max_connections < configured.max_connections {
        tracing::warn!(
            file_limit,
            max_connections = limits.max_connections,
            "the descriptor limit (RLIMIT_NOFILE) leaves room for fewer connections than \
             configured; raise it (LimitNOFILE= in systemd) to serve more"
        );
    }
    limits
}

/// The configured OpenID issuers and sign-in providers, each bound to its tenant. A tenant
/// that does not exist, a role that is not Hale's or an issuer that is not a URL stops the
/// start, naming the entry.
async fn providers(core: &Core, config: &OidcConfig) -> anyhow::Result<Oidc> {
    let mapping = async |what: &str, entry: &ClaimMappingConfig| -> anyhow::Result<ClaimMapping> {
        let tenant = core
            .resolve_tenant(&operator(), &entry.tenant)
            .await
            .map_err(|_| anyhow::anyhow!("{what}: the tenant `{}` does not exist", entry.tenant))?;
        ClaimMapping::new(entry, tenant).map_err(|error| anyhow::anyhow!("{what}: {error}"))
    };
    let mut issuers = Vec::with_capacity(config.issuers.len());
    for entry in &config.issuers {
        let what = format!("oidc.issuers `{}`", entry.verify.issuer);
        issuers.push((entry.verify.clone(), mapping(&what, &entry.mapping).await?));
    }
    let mut providers = Vec::with_capacity(config.providers.len());
    for entry in &config.providers {
        let what = format!("oidc.providers `{}`", entry.client.name);
        providers.push((entry.client.clone(), mapping(&what, &entry.mapping).await?));
    }
    Oidc::new(issuers, providers).map_err(|error| anyhow::anyhow!("oidc: {error}"))
}

/// The client certificates bound to integration accounts. A tenant that does not exist, or an
/// account that is missing or not an integration, stops the start, naming the entry; an
/// account disabled later is refused on its next request.
async fn tls_clients(core: &Core, bindings: &[TlsClientBinding]) -> anyhow::Result<TlsClients> {
    let mut clients = Vec::with_capacity(bindings.len());
    for binding in bindings {
        let what = format!("tls_clients `{}`", binding.account);
        let tenant = core
            .resolve_tenant(&operator(), &binding.tenant)
            .await
            .map_err(|_| {
                anyhow::anyhow!("{what}: the tenant `{}` does not exist", binding.tenant)
            })?;
        core.authenticate_certificate(tenant, &binding.account, binding.scopes.clone())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "{what}: no enabled integration account `{}` in tenant `{}`; create it with \
                     `hale user invite --integration --role integration`",
                    binding.account,
                    binding.tenant
                )
            })?;
        clients.push(TlsClient {
            matches: binding.matches.clone(),
            tenant,
            account: binding.account.clone(),
            scopes: binding.scopes.clone(),
        });
    }
    Ok(TlsClients::new(clients))
}

/// `hale doctor`: the checks made at start, and the live ones the server would report.
pub async fn doctor(settings: &Settings) -> anyhow::Result<std::process::ExitCode> {
    let store = open_store(settings).await?;
    let core = Core::with_system(store.clone());
    let mut checks = posture::startup_checks(settings);
    let coverage = core
        .mfa_coverage(&operator())
        .await
        .map_err(crate::commands::describe)?;
    checks.extend(hale_server::mfa_checks(&coverage));
    let rules = RateLimits::new(
        Limiter::Memory(MemoryStore::new(MemoryConfig::default())),
        resolved_rules(&core, settings).await?,
    );
    checks.extend(hale_server::rate_limit_checks(&rules));
    checks.extend(hale_server::oidc_checks(
        &providers(&core, &settings.oidc).await?,
    ));
    if let Some(files) = &settings.tls {
        let tls = load_tls(files)?;
        let now = core.now().as_micros().div_euclid(1_000_000);
        checks.push(hale_server::certificate_check(tls.validity().as_ref(), now));
    }
    store.close().await;
    posture::print(&checks);
    Ok(if checks.iter().all(|check| check.passed) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// Claims a step between sweeps looks at: one short write each, so the writer waits little.
const CLAIMS_PER_STEP: u32 = 2_000;

/// Sweeps expired idempotency claims away for as long as the process serves: a step every
/// 100 ms while a pass walks the claims, and a new pass an hour after the last one ended.
/// Several replicas may sweep at once; each step deletes only what has expired.
fn expire_idempotency_claims(store: hale_store::Store, retention: std::time::Duration) {
    tokio::spawn(async move {
        let mut cursor = hale_store::ClaimCursor::default();
        loop {
            let now = hale_domain::Clock::now(&hale_core::SystemClock);
            let cutoff = hale_domain::Timestamp::from_micros(
                now.as_micros()
                    .saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX)),
            );
            let pause = match store
                .expire_idempotency_claims(&cursor, cutoff, CLAIMS_PER_STEP)
                .await
            {
                Ok(sweep) => {
                    if sweep.expired > 0 {
                        tracing::info!(expired = sweep.expired, "idempotency claims expired");
                    }
                    match sweep.next {
                        Some(next) => {
                            cursor = next;
                            std::time::Duration::from_millis(100)
                        }
                        None => {
                            cursor = hale_store::ClaimCursor::default();
                            std::time::Duration::from_secs(3_600)
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "sweeping idempotency claims failed; retrying");
                    std::time::Duration::from_secs(60)
                }
            };
            tokio::time::sleep(pause).await;
        }
    });
}

/// The rate limiter over its store: this process's memory (idle keys swept every minute), or
/// the Redis replicas share, reached before serving so a wrong URL stops the start.
async fn rate_limits(core: &Core, settings: &Settings) -> anyhow::Result<RateLimits> {
    let limiter = match &settings.rate_limit_store {
        RateLimitStore::Memory => {
            let store = MemoryStore::new(MemoryConfig::default());
            let swept = store.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    every.tick().await;
                    swept.sweep();
                }
            });
            Limiter::Memory(store)
        }
        RateLimitStore::Redis(url) => Limiter::Redis(
            RedisStore::connect(&RedisConfig::new(url.clone()))
                .await
                .map_err(|error| anyhow::anyhow!("rate_limit_store: {error}"))?,
        ),
    };
    Ok(RateLimits::new(
        limiter,
        resolved_rules(core, settings).await?,
    ))
}

/// The rules with each tenant rule bound to its tenant; one naming a tenant that does not exist
/// stops the start.
async fn resolved_rules(core: &Core, settings: &Settings) -> anyhow::Result<Vec<RateRule>> {
    let mut rules = Vec::with_capacity(settings.rate_limits.len());
    for configured in &settings.rate_limits {
        let mut rule = configured.rule.clone();
        if let Some(reference) = &configured.tenant {
            let tenant = core
                .resolve_tenant(&operator(), reference)
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "rate limit `{}`: the tenant `{reference}` does not exist",
                        rule.policy.name()
                    )
                })?;
            rule.tenant = Some(tenant);
        }
        rules.push(rule);
    }
    Ok(rules)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
