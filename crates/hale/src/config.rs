//! Configuration: a versioned TOML file, then `HALE_*` environment variables, then flags, each
//! overriding the one before. Unknown keys in the file are an error that names the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use hale_listen::{ConnectionLimits, TlsFiles};
use serde::Deserialize;

/// The configuration file, `version = 1`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub version: Option<u32>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub chain_key_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub max_body_bytes: Option<usize>,
    /// Largest body of requests other than uploads.
    pub max_json_bytes: Option<usize>,
    /// Most requests in flight; more are shed with 503.
    pub max_in_flight: Option<usize>,
    /// Days an idempotency key replays its first request; older claims are swept away.
    pub idempotency_key_retention_days: Option<u32>,
    /// Proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<Vec<ipnet::IpNet>>,
    pub log_format: Option<LogFormat>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub max_connections: Option<usize>,
    pub max_connections_per_client: Option<usize>,
    pub header_read_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    #[serde(default)]
    pub oidc: OidcConfig,
    /// Refuse to start while any security check fails.
    pub production: Option<bool>,
    /// `memory` (one process), or a `redis://` URL shared by replicas.
    pub rate_limit_store: Option<String>,
    /// Rate-limit rules, in the order they are tried; when given, they replace the shipped
    /// ones entirely.
    pub rate_limits: Option<Vec<hale_server::RateRuleConfig>>,
    /// Client certificates (mutual TLS) that act as integration accounts.
    #[serde(default)]
    pub tls_clients: Vec<TlsClientEntry>,
}

/// `[[tls_clients]]`: what identifies a client certificate the client CA signed, and the
/// integration account of a tenant it acts as.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientEntry {
    pub tenant: String,
    /// The integration account's username.
    pub account: String,
    /// SHA-256 of the certificate's DER bytes, 64 hex digits (colons allowed).
    pub fingerprint: Option<String>,
    /// A URI subject alternative name (a SPIFFE id, for one).
    pub uri: Option<String>,
    /// A DNS subject alternative name.
    pub dns: Option<String>,
    pub common_name: Option<String>,
    /// SMART scopes the certificate is limited to; every scope of the account when absent.
    pub scopes: Option<String>,
}

/// A `[[tls_clients]]` entry checked: exactly one way to match, scopes that parse.
#[derive(Clone, Debug)]
pub struct TlsClientBinding {
    pub tenant: String,
    pub account: String,
    pub matches: hale_server::CertificateMatch,
    pub scopes: hale_domain::scope::Scopes,
}

impl TlsClientEntry {
    fn binding(self) -> anyhow::Result<TlsClientBinding> {
        use hale_server::CertificateMatch;
        let what = format!("tls_clients `{}`", self.account);
        let matches: Vec<anyhow::Result<CertificateMatch>> = [
            self.fingerprint.map(|text| {
                CertificateMatch::fingerprint(&text).map_err(|error| anyhow::anyhow!(error))
            }),
            self.uri.map(|uri| Ok(CertificateMatch::Uri(uri))),
            self.dns.map(|name| Ok(CertificateMatch::Dns(name))),
            self.common_name
                .map(|name| Ok(CertificateMatch::CommonName(name))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut matches = matches.into_iter();
        let matched = match (matches.next(), matches.next()) {
            (Some(matched), None) => matched.with_context(|| what.clone())?,
            _ => bail!(
                "{what}: give exactly one of fingerprint, uri, dns or common_name to say which \
                 certificate it is"
            ),
        };
        let scopes = match self.scopes.as_deref() {
            None => hale_domain::scope::Scopes::unrestricted(),
            Some(text) => hale_domain::scope::Scopes::parse(text)
                .map_err(|error| anyhow::anyhow!("{what}: scopes: {error}"))?,
        };
        Ok(TlsClientBinding {
            tenant: self.tenant,
            account: self.account,
            matches: matched,
            scopes,
        })
    }
}

impl FileConfig {
    fn connections(&self) -> ConnectionOverrides {
        ConnectionOverrides {
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            tls_client_ca: self.tls_client_ca.clone(),
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
            header_read_timeout_seconds: self.header_read_timeout_seconds,
            idle_timeout_seconds: self.idle_timeout_seconds,
        }
    }
}

/// TLS files and connection limits from the environment and flags (the file's keys have the
/// same names).
#[derive(Clone, Debug, Default)]
pub struct ConnectionOverrides {
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub max_connections: Option<usize>,
    pub max_connections_per_client: Option<usize>,
    pub header_read_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
}

impl ConnectionOverrides {
    /// Each key from `self`, else from `file`.
    fn or(self, file: ConnectionOverrides) -> ConnectionOverrides {
        ConnectionOverrides {
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            tls_client_ca: self.tls_client_ca.or(file.tls_client_ca),
            max_connections: self.max_connections.or(file.max_connections),
            max_connections_per_client: self
                .max_connections_per_client
                .or(file.max_connections_per_client),
            header_read_timeout_seconds: self
                .header_read_timeout_seconds
                .or(file.header_read_timeout_seconds),
            idle_timeout_seconds: self.idle_timeout_seconds.or(file.idle_timeout_seconds),
        }
    }
}

/// The customer's OpenID providers.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Issuers whose JWT access tokens authenticate API calls.
    #[serde(default)]
    pub issuers: Vec<IssuerEntry>,
    /// Providers people sign in with on the web.
    #[serde(default)]
    pub providers: Vec<ProviderEntry>,
}

/// A trusted issuer: how its tokens are verified, and how their claims map.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct IssuerEntry {
    pub verify: hale_oidc::IssuerConfig,
    pub mapping: hale_core::ClaimMappingConfig,
}

/// A sign-in provider: the client Hale is registered as, and how the ID token's claims map.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct ProviderEntry {
    pub client: hale_oidc::ProviderConfig,
    pub mapping: hale_core::ClaimMappingConfig,
}

/// Splits an entry into its `mapping` table and the rest, each read strictly (serde's
/// `flatten` would let an unknown key through).
fn split_entry<T: serde::de::DeserializeOwned>(
    mut table: toml::Table,
) -> Result<(T, hale_core::ClaimMappingConfig), String> {
    let mapping = table
        .remove("mapping")
        .ok_or_else(|| String::from("missing field `mapping`"))?;
    let mapping = mapping
        .try_into()
        .map_err(|error: toml::de::Error| format!("mapping: {}", error.message()))?;
    let rest = toml::Value::Table(table)
        .try_into()
        .map_err(|error: toml::de::Error| error.message().to_owned())?;
    Ok((rest, mapping))
}

impl TryFrom<toml::Table> for IssuerEntry {
    type Error = String;

    fn try_from(table: toml::Table) -> Result<Self, Self::Error> {
        let (verify, mapping) = split_entry(table)?;
        Ok(Self { verify, mapping })
    }
}

impl TryFrom<toml::Table> for ProviderEntry {
    type Error = String;

    fn try_from(table: toml::Table) -> Result<Self, Self::Error> {
        let (client, mapping) = split_entry(table)?;
        Ok(Self { client, mapping })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A value that may hold credentials (a database URL with a password): never printed.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How long an idempotency key replays by default: the patient app keeps an entry offline until
/// it is sent, and a retry whose first attempt landed must still find its claim.
pub const DEFAULT_IDEMPOTENCY_KEY_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(30 * 86_400);

/// The configuration in force after every source is applied.
#[derive(Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    /// The chain key (created on first start), kept outside the database; its checkpoint file
    /// lives beside it.
    pub chain_key_file: PathBuf,
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_json_bytes: usize,
    pub max_in_flight: usize,
    /// How long an idempotency key replays its first request.
    pub idempotency_key_retention: std::time::Duration,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub log_format: LogFormat,
    /// Serve TLS with these files; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// As configured; `hale serve` lowers `max_connections` to what the descriptor limit
    /// leaves room for.
    pub connections: ConnectionLimits,
    pub oidc: OidcConfig,
    pub rate_limit_store: RateLimitStore,
    /// The platform's rules (the configured ones, or the shipped ones when none is), then the
    /// tenants' own.
    pub rate_limits: Vec<ConfiguredRule>,
    pub tls_clients: Vec<TlsClientBinding>,
    pub production: bool,
}

/// A rate-limit rule, and the tenant (slug or id, resolved at start) it tightens the
/// platform's rules for.
#[derive(Clone, Debug)]
pub struct ConfiguredRule {
    pub tenant: Option<String>,
    pub rule: hale_server::RateRule,
}

/// The configured rules: a platform rule in the file replaces the shipped ones; tenant rules
/// add to whichever the platform has.
fn rate_rules(
    configured: Option<Vec<hale_server::RateRuleConfig>>,
) -> anyhow::Result<Vec<ConfiguredRule>> {
    let mut platform = Vec::new();
    let mut tenants = Vec::new();
    for entry in configured.unwrap_or_default() {
        let tenant = entry.tenant.clone();
        let rule = entry.rule().map_err(|error| anyhow::anyhow!("{error}"))?;
        match tenant {
            Some(tenant) => tenants.push(ConfiguredRule {
                tenant: Some(tenant),
                rule,
            }),
            None => platform.push(ConfiguredRule { tenant: None, rule }),
        }
    }
    if platform.is_empty() {
        platform = hale_server::default_rules()
            .into_iter()
            .map(|rule| ConfiguredRule { tenant: None, rule })
            .collect();
    }
    platform.extend(tenants);
    Ok(platform)
}

/// Where rate-limit counts live.
#[derive(Clone)]
pub enum RateLimitStore {
    Memory,
    /// Never printed: the URL may hold a password.
    Redis(String),
}

impl fmt::Debug for RateLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateLimitStore::Memory => f.write_str("Memory"),
            RateLimitStore::Redis(_) => f.write_str("Redis([redacted])"),
        }
    }
}

fn rate_limit_store(text: Option<String>) -> anyhow::Result<RateLimitStore> {
    match text.as_deref() {
        None | Some("memory") => Ok(RateLimitStore::Memory),
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Ok(RateLimitStore::Redis(url.to_owned()))
        }
        Some(_) => bail!("rate_limit_store must be `memory` or a redis:// URL"),
    }
}

/// What came from the environment and flags (clap merges those two, flags first).
#[derive(Debug, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub chain_key_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub max_body_bytes: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub rate_limit_store: Option<String>,
    pub production: bool,
    pub connections: ConnectionOverrides,
}

pub fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading configuration file {}", path.display()))?;
    parse_file(&text).with_context(|| format!("in configuration file {}", path.display()))
}

pub fn parse_file(text: &str) -> anyhow::Result<FileConfig> {
    let config: FileConfig =
        toml::from_str(text).map_err(|error| anyhow::anyhow!("{}", error.message()))?;
    match config.version {
        Some(1) => Ok(config),
        Some(other) => {
            bail!("configuration version {other} is not supported (this build reads version 1)")
        }
        None => bail!("the configuration file must say `version = 1`"),
    }
}

pub fn resolve(file: FileConfig, overrides: Overrides) -> anyhow::Result<Settings> {
    let connections = overrides.connections.or(file.connections());
    let data_dir = overrides
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("hale-data"));
    let database_url = match overrides.database_url.or(file.database_url) {
        Some(url) => url,
        None => format!("sqlite://{}?mode=rwc", data_dir.join("hale.db").display()),
    };
    let chain_key_file = overrides
        .chain_key_file
        .or(file.chain_key_file)
        .unwrap_or_else(|| data_dir.join("keys").join("chain.key"));
    let max_body_bytes = overrides
        .max_body_bytes
        .or(file.max_body_bytes)
        .unwrap_or(1024 * 1024);
    if max_body_bytes < 1024 {
        bail!("max_body_bytes must be at least 1024");
    }
    let tls = tls_files(&connections)?;
    let limits = connection_limits(&connections)?;
    if !file.tls_clients.is_empty() && tls.as_ref().is_none_or(|tls| tls.client_ca.is_none()) {
        bail!(
            "tls_clients needs mutual TLS: give the CA that signs client certificates \
             (--tls-client-ca, HALE_TLS_CLIENT_CA or `tls_client_ca`)"
        );
    }
    let tls_clients = file
        .tls_clients
        .into_iter()
        .map(TlsClientEntry::binding)
        .collect::<anyhow::Result<_>>()?;
    Ok(Settings {
        data_dir,
        database_url: DatabaseUrl(database_url),
        chain_key_file,
        listen: overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        max_body_bytes,
        max_json_bytes: match file.max_json_bytes {
            Some(bytes) if bytes < 1024 => bail!("max_json_bytes must be at least 1024"),
            Some(bytes) => bytes.min(max_body_bytes),
            None => hale_server::Limits::default()
                .max_json_bytes
                .min(max_body_bytes),
        },
        max_in_flight: match file.max_in_flight {
            Some(0) => bail!("max_in_flight must be at least 1"),
            Some(count) => count,
            None => hale_server::Limits::default().max_in_flight,
        },
        idempotency_key_retention: match file.idempotency_key_retention_days {
            Some(0) => bail!("idempotency_key_retention_days must be at least 1"),
            Some(days) => std::time::Duration::from_secs(u64::from(days) * 86_400),
            None => DEFAULT_IDEMPOTENCY_KEY_RETENTION,
        },
        trusted_proxies: file.trusted_proxies.unwrap_or_default(),
        log_format: overrides.log_format.or(file.log_format).unwrap_or_default(),
        tls,
        connections: limits,
        oidc: file.oidc,
        rate_limit_store: rate_limit_store(overrides.rate_limit_store.or(file.rate_limit_store))?,
        production: overrides.production || file.production.unwrap_or(false),
        tls_clients,
        rate_limits: rate_rules(file.rate_limits)?,
    })
}

/// The certificate and its key come together; a client CA needs both.
fn tls_files(connections: &ConnectionOverrides) -> anyhow::Result<Option<TlsFiles>> {
    match (&connections.tls_cert, &connections.tls_key) {
        (Some(certificate_chain), Some(private_key)) => Ok(Some(TlsFiles {
            certificate_chain: certificate_chain.clone(),
            private_key: private_key.clone(),
            client_ca: connections.tls_client_ca.clone(),
        })),
        (Some(_), None) => bail!(
            "tls_cert is set but tls_key is missing: give the certificate's private key \
             (--tls-key, HALE_TLS_KEY or `tls_key`)"
        ),
        (None, Some(_)) => bail!(
            "tls_key is set but tls_cert is missing: give the certificate chain \
             (--tls-cert, HALE_TLS_CERT or `tls_cert`)"
        ),
        (None, None) if connections.tls_client_ca.is_some() => bail!(
            "tls_client_ca is set but tls_cert and tls_key are missing: client certificates \
             need TLS"
        ),
        (None, None) => Ok(None),
    }
}

fn connection_limits(connections: &ConnectionOverrides) -> anyhow::Result<ConnectionLimits> {
    let defaults = ConnectionLimits::default();
    let at_least_one = |name: &str, value: Option<u64>, default: u64| -> anyhow::Result<u64> {
        match value {
            Some(0) => bail!("{name} must be at least 1"),
            Some(value) => Ok(value),
            None => Ok(default),
        }
    };
    let to_u64 = |value: usize| u64::try_from(value).unwrap_or(u64::MAX);
    let count = |name: &str, value: Option<usize>, default: usize| {
        at_least_one(name, value.map(to_u64), to_u64(default))
            .map(|value| usize::try_from(value).unwrap_or(usize::MAX))
    };
    let limits = ConnectionLimits {
        max_connections: count(
            "max_connections",
            connections.max_connections,
            defaults.max_connections,
        )?,
        max_per_client: count(
            "max_connections_per_client",
            connections.max_connections_per_client,
            defaults.max_per_client,
        )?,
        header_read_timeout: Duration::from_secs(at_least_one(
            "header_read_timeout_seconds",
            connections.header_read_timeout_seconds,
            defaults.header_read_timeout.as_secs(),
        )?),
        idle_timeout: Duration::from_secs(at_least_one(
            "idle_timeout_seconds",
            connections.idle_timeout_seconds,
            defaults.idle_timeout.as_secs(),
        )?),
        probe_reserve: defaults.probe_reserve,
    };
    if limits.max_per_client > limits.max_connections {
        bail!("max_connections_per_client must not exceed max_connections");
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let error = parse_file("version = 1\nlisten_addr = \"0.0.0.0:1\"\n").unwrap_err();
        assert!(error.to_string().contains("listen_addr"), "{error}");
    }

    #[test]
    fn providers_are_read_with_their_mappings_and_unknown_keys_named() {
        let file = parse_file(
            r#"version = 1
[[oidc.issuers]]
issuer = "https://idp.example"
audience = "hale"
mapping = { tenant = "contoso", role_map = { clinicians = ["clinician"] } }

[[oidc.providers]]
name = "keycloak"
display_name = "Keycloak"
issuer = "https://idp.example"
client_id = "hale-web"
redirect_uri = "https://hale.example/api/v1/auth/oidc/keycloak/callback"
mapping = { tenant = "contoso", subject_claim = "oid" }
"#,
        )
        .unwrap();
        assert_eq!(file.oidc.issuers[0].verify.audience, "hale");
        assert_eq!(file.oidc.issuers[0].mapping.tenant, "contoso");
        assert_eq!(file.oidc.providers[0].mapping.subject_claim, "oid");
        let typo = parse_file(
            "version = 1\n[[oidc.issuers]]\nissuer = \"i\"\naudience = \"a\"\nleway_seconds = 5\n\
             mapping = { tenant = \"t\" }\n",
        )
        .unwrap_err();
        assert!(format!("{typo:#}").contains("leway_seconds"), "{typo:#}");
        let mapping_typo = parse_file(
            "version = 1\n[[oidc.issuers]]\nissuer = \"i\"\naudience = \"a\"\n\
             mapping = { tenant = \"t\", role_mapping = {} }\n",
        )
        .unwrap_err();
        assert!(
            format!("{mapping_typo:#}").contains("role_mapping"),
            "{mapping_typo:#}"
        );
    }

    #[test]
    fn rate_limits_replace_the_shipped_ones_and_the_store_is_checked() {
        let shipped = resolve(parse_file("version = 1\n").unwrap(), Overrides::default()).unwrap();
        assert!(matches!(shipped.rate_limit_store, RateLimitStore::Memory));
        assert_eq!(shipped.rate_limits[0].rule.policy.calls(), 10);
        let file = parse_file(
            r#"version = 1
rate_limit_store = "redis://:secret@127.0.0.1:6379"
[[rate_limits]]
name = "patient"
calls = 3
period = "2s"
key = "account"
applies_to = ["patient"]
"#,
        )
        .unwrap();
        let settings = resolve(file, Overrides::default()).unwrap();
        assert_eq!(settings.rate_limits.len(), 1);
        assert_eq!(settings.rate_limits[0].rule.policy.calls(), 3);
        // Tenant rules add to the platform's, shipped or configured.
        let tenant_only = parse_file(
            r#"version = 1
[[rate_limits]]
name = "patient-clinic"
calls = 5
period = "5m"
key = "account"
applies_to = ["patient"]
tenant = "clinic"
"#,
        )
        .unwrap();
        let settings = resolve(tenant_only, Overrides::default()).unwrap();
        let shipped_count = hale_server::default_rules().len();
        assert_eq!(settings.rate_limits.len(), shipped_count + 1);
        let last = &settings.rate_limits[shipped_count];
        assert_eq!(last.tenant.as_deref(), Some("clinic"));
        assert_eq!(last.rule.policy.calls(), 5);
        assert!(
            settings.rate_limits[..shipped_count]
                .iter()
                .all(|r| r.tenant.is_none())
        );
        assert!(!format!("{settings:?}").contains("secret"));
        let typo = parse_file(
            "version = 1\n[[rate_limits]]\nname = \"p\"\ncals = 3\nperiod = \"2s\"\n\
             key = \"account\"\napplies_to = [\"patient\"]\n",
        )
        .unwrap_err();
        assert!(format!("{typo:#}").contains("cals"), "{typo:#}");
        let store = resolve(
            parse_file("version = 1\nrate_limit_store = \"memcached://x\"\n").unwrap(),
            Overrides::default(),
        );
        assert!(store.is_err());
    }

    #[test]
    fn tls_and_connection_limits_come_from_the_file_and_the_flags() {
        let file = parse_file(
            "version = 1\ntls_cert = \"/etc/hale/chain.pem\"\ntls_key = \"/etc/hale/key.pem\"\n\
             max_connections = 5000\nheader_read_timeout_seconds = 20\n",
        )
        .unwrap();
        let settings = resolve(
            file,
            Overrides {
                connections: ConnectionOverrides {
                    tls_client_ca: Some(PathBuf::from("/etc/hale/clients.pem")),
                    max_connections_per_client: Some(8),
                    ..ConnectionOverrides::default()
                },
                ..Overrides::default()
            },
        )
        .unwrap();
        let tls = settings.tls.unwrap();
        assert_eq!(tls.certificate_chain, PathBuf::from("/etc/hale/chain.pem"));
        assert_eq!(tls.private_key, PathBuf::from("/etc/hale/key.pem"));
        assert_eq!(tls.client_ca, Some(PathBuf::from("/etc/hale/clients.pem")));
        assert_eq!(settings.connections.max_connections, 5000);
        assert_eq!(settings.connections.max_per_client, 8);
        assert_eq!(
            settings.connections.header_read_timeout,
            Duration::from_secs(20)
        );
        assert_eq!(settings.connections.idle_timeout, Duration::from_secs(5));

        let plain = resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert!(plain.tls.is_none());
        assert_eq!(plain.connections, ConnectionLimits::default());
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_naming_what_is_missing() {
        let only = |connections: ConnectionOverrides| {
            let overrides = Overrides {
                connections,
                ..Overrides::default()
            };
            resolve(FileConfig::default(), overrides)
                .unwrap_err()
                .to_string()
        };
        let error = only(ConnectionOverrides {
            tls_cert: Some(PathBuf::from("chain.pem")),
            ..ConnectionOverrides::default()
        });
        assert!(
            error.starts_with("tls_cert is set but tls_key is missing"),
            "{error}"
        );
        let error = only(ConnectionOverrides {
            tls_key: Some(PathBuf::from("key.pem")),
            ..ConnectionOverrides::default()
        });
        assert!(
            error.starts_with("tls_key is set but tls_cert is missing"),
            "{error}"
        );
        let error = only(ConnectionOverrides {
            tls_client_ca: Some(PathBuf::from("ca.pem")),
            ..ConnectionOverrides::default()
        });
        assert!(error.contains("client certificates need TLS"), "{error}");
        let error = only(ConnectionOverrides {
            idle_timeout_seconds: Some(0),
            ..ConnectionOverrides::default()
        });
        assert_eq!(error, "idle_timeout_seconds must be at least 1");
        let error = only(ConnectionOverrides {
            max_connections: Some(10),
            max_connections_per_client: Some(11),
            ..ConnectionOverrides::default()
        });
        assert!(error.contains("must not exceed"), "{error}");
        let typo = parse_file("version = 1\ntls_certificate = \"x\"\n").unwrap_err();
        assert!(typo.to_string().contains("tls_certificate"), "{typo}");
    }

    #[test]
    fn edge_limits_and_trusted_proxies_come_from_the_file() {
        let file = parse_file(
            "version = 1\nmax_json_bytes = 4096\nmax_in_flight = 8\n\
             idempotency_key_retention_days = 2\n\
             trusted_proxies = [\"10.0.0.0/8\", \"192.168.1.1/32\"]\n",
        )
        .unwrap();
        let settings = resolve(file, Overrides::default()).unwrap();
        assert_eq!(settings.max_json_bytes, 4096);
        assert_eq!(settings.max_in_flight, 8);
        assert_eq!(
            settings.idempotency_key_retention,
            std::time::Duration::from_secs(2 * 86_400)
        );
        assert_eq!(settings.trusted_proxies.len(), 2);
        let shipped = resolve(parse_file("version = 1\n").unwrap(), Overrides::default()).unwrap();
        assert_eq!(shipped.max_json_bytes, 256 * 1024);
        assert!(shipped.trusted_proxies.is_empty());
        assert_eq!(
            shipped.idempotency_key_retention,
            std::time::Duration::from_secs(30 * 86_400)
        );
        for bad in [
            "max_json_bytes = 10",
            "max_in_flight = 0",
            "idempotency_key_retention_days = 0",
            "trusted_proxies = [\"not a network\"]",
        ] {
            let refused = parse_file(&format!("version = 1\n{bad}\n"))
                .and_then(|file| resolve(file, Overrides::default()));
            assert!(refused.is_err(), "{bad}");
        }
    }

    #[test]
    fn the_version_is_required() {
        assert!(parse_file("listen = \"127.0.0.1:9\"\n").is_err());
        assert!(parse_file("version = 2\n").is_err());
    }

    #[test]
    fn flags_and_environment_override_the_file() {
        let file =
            parse_file("version = 1\nlisten = \"127.0.0.1:9000\"\ndata_dir = \"/srv/hale\"\n")
                .unwrap();
        let settings = resolve(
            file,
            Overrides {
                listen: Some("127.0.0.1:7000".parse().unwrap()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(settings.listen.port(), 7000);
        assert_eq!(settings.data_dir, PathBuf::from("/srv/hale"));
        assert_eq!(
            settings.database_url.expose(),
            "sqlite:///srv/hale/hale.db?mode=rwc"
        );
        assert_eq!(format!("{:?}", settings.database_url), "[redacted]");
        assert_eq!(
            settings.chain_key_file,
            PathBuf::from("/srv/hale/keys/chain.key")
        );
    }
}
