//! The `hale` binary: parses the command line, loads configuration, wires the store, core and
//! server together. No business logic lives here.

mod apps;
mod commands;
mod config;
mod demo;
mod posture;
mod serve;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, Overrides};

/// Hale: a self-hosted, secure health-data platform.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML, `version = 1`).
    #[arg(long, env = "HALE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Directory for the embedded database and other local data [default: ./hale-data].
    #[arg(long, env = "HALE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: `postgres://…` for PostgreSQL [default: SQLite in the data directory].
    #[arg(long, env = "HALE_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Chain key file, kept outside the database; created on first start
    /// [default: <data-dir>/keys/chain.key].
    #[arg(long, env = "HALE_CHAIN_KEY_FILE", global = true)]
    chain_key_file: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "HALE_LOG_FORMAT", global = true)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run the server with a demo tenant, apps, patients and credentials.
    Demo(ServeArgs),
    /// Apply database migrations.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Import, lint and export health-check apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage accounts (people and integrations).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Report the security posture: each check passed or failed, with its fix; exits 1 when
    /// any failed.
    Doctor,
    /// Check the tamper-evident event log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Maintain the read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HALE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "HALE_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Where rate-limit counts live: `memory`, or a redis:// URL replicas share [default:
    /// memory].
    #[arg(long, env = "HALE_RATE_LIMIT_STORE", hide_env_values = true)]
    rate_limit_store: Option<String>,
    /// Refuse to start while any security check fails (see `hale doctor`).
    #[arg(long, env = "HALE_PRODUCTION")]
    production: bool,
    /// Serve TLS with this certificate chain (PEM: the server's certificate, then its
    /// intermediates); reloaded on SIGHUP and when the file changes.
    #[arg(long, env = "HALE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1), readable by the owner only.
    #[arg(long, env = "HALE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Verify client certificates against these CA certificates (PEM); clients without one
    /// still connect.
    #[arg(long, env = "HALE_TLS_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
    /// Open connections at most, from all clients [default: 10000, at most three quarters of
    /// the descriptor limit].
    #[arg(long, env = "HALE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Open connections at most from one client address (IPv6: one /64) [default: 64].
    #[arg(long, env = "HALE_MAX_CONNECTIONS_PER_CLIENT")]
    max_connections_per_client: Option<usize>,
    /// Seconds a request's headers (and a TLS handshake) may take [default: 10].
    #[arg(long, env = "HALE_HEADER_READ_TIMEOUT_SECONDS")]
    header_read_timeout_seconds: Option<u64>,
    /// Seconds a kept-alive connection waits for its next request [default: 5].
    #[arg(long, env = "HALE_IDLE_TIMEOUT_SECONDS")]
    idle_timeout_seconds: Option<u64>,
}

impl ServeArgs {
    fn connections(&self) -> config::ConnectionOverrides {
        config::ConnectionOverrides {
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

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant; prints it as JSON.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List tenants as JSON.
    List,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Import an XLSForm (.xlsx, or CSV sheets), a FHIR Questionnaire or a Hale definition (.json)
    /// as a new app, or with --app as the next draft version of an existing one.
    Import {
        file: PathBuf,
        /// Tenant slug or id.
        #[arg(long)]
        tenant: String,
        /// App name [default: the form's title].
        #[arg(long)]
        name: Option<String>,
        /// Add a version to this app instead of creating one.
        #[arg(long)]
        app: Option<String>,
    },
    /// Attach a data file (.csv or .xml: the rows select_one_from_file offers and pulldata()
    /// reads) or a media file (.png, .jpg, .mp3, .mp4, …: what a label or a choice shows) to a
    /// copy of a version, stored as the app's next draft.
    Attach {
        file: PathBuf,
        /// Tenant slug or id.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        app: String,
        /// [default: the newest]
        #[arg(long)]
        version: Option<i64>,
    },
    /// Lint a file without storing it; exits 1 when anything blocks publication.
    Lint { file: PathBuf },
    /// Print an app version as Hale JSON or as a FHIR Questionnaire.
    Export {
        app: String,
        #[arg(long)]
        tenant: String,
        /// [default: the newest]
        #[arg(long)]
        version: Option<i64>,
        #[arg(long, default_value = "hale")]
        format: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue an access token; prints the token once.
    Issue {
        /// Tenant slug or id (omit for a platform administrator token).
        #[arg(long)]
        tenant: Option<String>,
        /// Role, repeatable: platform-admin, tenant-admin, analyst, reviewer, clinician,
        /// researcher, patient, integration.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The patient's subject id (patient tokens).
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[derive(clap::Args)]
struct NewUserArgs {
    /// Tenant slug or id (omit for a platform administrator).
    #[arg(long)]
    tenant: Option<String>,
    /// 1–64 of a-z 0-9 . _ @ -, unique in the tenant.
    #[arg(long)]
    username: String,
    #[arg(long)]
    display_name: Option<String>,
    /// Role, repeatable: platform-admin, tenant-admin, analyst, reviewer, clinician,
    /// researcher, patient, integration.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// The patient's subject id (patient accounts).
    #[arg(long)]
    subject: Option<String>,
    /// An integration (a system that signs in with keys only), not a person.
    #[arg(long)]
    integration: bool,
}

impl From<NewUserArgs> for users::UserArgs {
    fn from(args: NewUserArgs) -> Self {
        Self {
            tenant: args.tenant,
            username: args.username,
            display_name: args.display_name,
            roles: args.roles,
            subject: args.subject,
            integration: args.integration,
        }
    }
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account whose password is read as one line from stdin; prints its id.
    Create(NewUserArgs),
    /// Create an account (or an integration) and print a one-time invitation code that sets
    /// its password (shown once, valid 7 days).
    Invite(NewUserArgs),
    /// List a tenant's accounts as JSON lines (no secrets).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Disable an account: its sessions and keys stop working at once.
    Disable { account: String },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key for an account; prints the key once.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "")]
        label: String,
        /// SMART scopes, space-separated (`system/Observation.rs`); none leaves the
        /// account's roles unnarrowed.
        #[arg(long)]
        scopes: Option<String>,
        /// Days until the key expires [default: never].
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke one of an account's keys, at once.
    Revoke {
        #[arg(long)]
        account: String,
        key: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify every tenant's chain, its head and checkpoint, and every read model against a
    /// replay of the log; exits 1 and names each failure.
    Verify,
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Rebuild every read model from the event log.
    Rebuild,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let file = match &cli.config {
        Some(path) => config::load_file(path)?,
        None => config::FileConfig::default(),
    };
    let (listen, max_body_bytes, rate_limit_store, production, connections) = match &cli.command {
        Command::Serve(args) | Command::Demo(args) => (
            args.listen,
            args.max_body_bytes,
            args.rate_limit_store.clone(),
            args.production,
            args.connections(),
        ),
        _ => (
            None,
            None,
            None,
            false,
            config::ConnectionOverrides::default(),
        ),
    };
    let settings = config::resolve(
        file,
        Overrides {
            data_dir: cli.data_dir,
            database_url: cli.database_url,
            chain_key_file: cli.chain_key_file,
            listen,
            max_body_bytes,
            log_format: cli.log_format,
            rate_limit_store,
            production,
            connections,
        },
    )?;
    serve::init_logging(settings.log_format);
    let ok = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Serve(_) => serve::serve(&settings, false).await.map(|()| ok),
        Command::Demo(_) => serve::serve(&settings, true).await.map(|()| ok),
        Command::Migrate => commands::migrate(&settings).await.map(|()| ok),
        Command::Tenant(TenantCommand::Create { slug, name }) => {
            commands::tenant_create(&settings, &slug, &name)
                .await
                .map(|()| ok)
        }
        Command::Tenant(TenantCommand::List) => commands::tenant_list(&settings).await.map(|()| ok),
        Command::Token(TokenCommand::Issue {
            tenant,
            roles,
            subject,
            label,
        }) => commands::token_issue(
            &settings,
            tenant.as_deref(),
            &roles,
            subject.as_deref(),
            label,
        )
        .await
        .map(|()| ok),
        Command::User(UserCommand::Create(args)) => {
            users::create(&settings, args.into(), users::Password::Stdin)
                .await
                .map(|()| ok)
        }
        Command::User(UserCommand::Invite(args)) => {
            users::create(&settings, args.into(), users::Password::Invite)
                .await
                .map(|()| ok)
        }
        Command::User(UserCommand::List { tenant }) => {
            users::list(&settings, &tenant).await.map(|()| ok)
        }
        Command::User(UserCommand::Disable { account }) => {
            users::disable(&settings, &account).await.map(|()| ok)
        }
        Command::Key(KeyCommand::Create {
            account,
            label,
            scopes,
            expires_in_days,
        }) => users::key_create(
            &settings,
            users::KeyArgs {
                account,
                label,
                scopes,
                expires_in_days,
            },
        )
        .await
        .map(|()| ok),
        Command::Key(KeyCommand::Revoke { account, key }) => {
            users::key_revoke(&settings, &account, &key)
                .await
                .map(|()| ok)
        }
        Command::App(AppCommand::Import {
            file,
            tenant,
            name,
            app,
        }) => apps::import(&settings, &file, &tenant, name, app)
            .await
            .map(|()| ok),
        Command::App(AppCommand::Attach {
            file,
            tenant,
            app,
            version,
        }) => apps::attach(&settings, &file, &tenant, &app, version)
            .await
            .map(|()| ok),
        Command::App(AppCommand::Lint { file }) => apps::lint(&file),
        Command::App(AppCommand::Export {
            app,
            tenant,
            version,
            format,
        }) => apps::export(&settings, &app, &tenant, version, &format)
            .await
            .map(|()| ok),
        Command::Doctor => serve::doctor(&settings).await,
        Command::Audit(AuditCommand::Verify) => commands::audit_verify(&settings).await,
        Command::Projections(ProjectionsCommand::Rebuild) => {
            commands::rebuild(&settings).await.map(|()| ok)
        }
    }
}
