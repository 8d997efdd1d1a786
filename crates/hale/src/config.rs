//! Configuration: a versioned TOML file, then `HALE_*` environment variables, then flags, each
//! overriding the one before. Unknown keys in the file are an error that names the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
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
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub oidc: OidcConfig,
    /// Refuse to start while any security check fails.
    pub production: Option<bool>,
    /// `memory` (one process), or a `redis://` URL shared by replicas.
    pub rate_limit_store: Option<String>,
    /// Rate-limit rules, in the order they are tried; when given, they replace the shipped
    /// ones entirely.
    pub rate_limits: Option<Vec<hale_server::RateRuleConfig>>,
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
pub struct IssuerEntry {
    #[serde(flatten)]
    pub verify: hale_oidc::IssuerConfig,
    pub mapping: hale_core::ClaimMappingConfig,
}

/// A sign-in provider: the client Hale is registered as, and how the ID token's claims map.
#[derive(Clone, Debug, Deserialize)]
pub struct ProviderEntry {
    #[serde(flatten)]
    pub client: hale_oidc::ProviderConfig,
    pub mapping: hale_core::ClaimMappingConfig,
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
    pub log_format: LogFormat,
    pub oidc: OidcConfig,
    pub rate_limit_store: RateLimitStore,
    pub rate_limits: Vec<hale_server::RateRule>,
    pub production: bool,
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
    Ok(Settings {
        data_dir,
        database_url: DatabaseUrl(database_url),
        chain_key_file,
        listen: overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        max_body_bytes,
        log_format: overrides.log_format.or(file.log_format).unwrap_or_default(),
        oidc: file.oidc,
        rate_limit_store: rate_limit_store(overrides.rate_limit_store.or(file.rate_limit_store))?,
        production: overrides.production || file.production.unwrap_or(false),
        rate_limits: match file.rate_limits {
            None => hale_server::default_rules(),
            Some(rules) => rules
                .into_iter()
                .map(hale_server::RateRuleConfig::rule)
                .collect::<Result<_, _>>()
                .map_err(|error| anyhow::anyhow!("{error}"))?,
        },
    })
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
        assert_eq!(shipped.rate_limits[0].policy.calls(), 10);
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
        assert_eq!(settings.rate_limits[0].policy.calls(), 3);
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
