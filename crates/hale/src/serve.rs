//! `hale serve` and `hale demo`: open the store, issue the first admin token, serve HTTP until
//! SIGTERM or Ctrl-C, then drain in-flight requests.

use anyhow::Context;
use hale_core::{ClaimMapping, ClaimMappingConfig, Core};
use hale_limit::{Limiter, MemoryConfig, MemoryStore, RedisConfig, RedisStore};
use hale_server::{AppState, Limits, Oidc, Posture, RateLimits, router};
use tracing_subscriber::EnvFilter;

use crate::commands::{open_store, operator};
use crate::config::{LogFormat, OidcConfig, RateLimitStore, Settings};
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
        ..Limits::default()
    };
    let oidc = providers(&core, &settings.oidc).await?;
    let rate = rate_limits(settings).await?;
    let app = router(
        AppState {
            core,
            oidc,
            rate,
            posture: Posture {
                startup: std::sync::Arc::new(checks),
            },
        },
        &limits,
    );
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = ?settings.database_url, "hale is serving");
    println!("Hale is serving on http://{address}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")?;
    // Every request has been answered: the writer commits what is queued, its threads are
    // joined and the chain heads are checkpointed before the process ends.
    store.close().await;
    tracing::info!("stopped");
    Ok(())
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
        settings.rate_limits.clone(),
    );
    checks.extend(hale_server::rate_limit_checks(&rules));
    checks.extend(hale_server::oidc_checks(
        &providers(&core, &settings.oidc).await?,
    ));
    store.close().await;
    posture::print(&checks);
    Ok(if checks.iter().all(|check| check.passed) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// The rate limiter over its store: this process's memory (idle keys swept every minute), or
/// the Redis replicas share, reached before serving so a wrong URL stops the start.
async fn rate_limits(settings: &Settings) -> anyhow::Result<RateLimits> {
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
    Ok(RateLimits::new(limiter, settings.rate_limits.clone()))
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
