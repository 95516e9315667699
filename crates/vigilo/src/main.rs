//! The `vigilo` binary: the server and the operator's command line. The only
//! crate that reads arguments, environment variables and config files.

mod backup_cli;
mod demo;
mod demo_appraisal;
mod demo_incidents;
mod demo_monitoring;
mod demo_navigator;
mod demo_peers;
mod import;
mod peer_cli;
mod report_cli;
mod scrub_cli;
mod send;
mod stats_cli;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vigilo_core::{Role, Username};
use vigilo_server::{AppState, ServerConfig};
use vigilo_store::{NewUser, Store};

#[derive(Parser)]
#[command(name = "vigilo", version, about = "Vigilo: the regulator's platform for AI in health care", long_about = None)]
struct Cli {
    /// Configuration file (TOML); default ./vigilo.toml when present. Flags and
    /// environment variables override it.
    #[arg(long, global = true, env = "VIGILO_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

const DEFAULT_DATABASE: &str = "sqlite://vigilo.db";
const DEFAULT_BIND: &str = "127.0.0.1:8080";
const DEFAULT_CONFIG_FILE: &str = "vigilo.toml";

/// Settings a config file may hold; anything else in the file is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    database: Option<String>,
    bind: Option<String>,
    body_limit: Option<usize>,
    max_in_flight: Option<usize>,
    secure_cookies: Option<bool>,
    no_jobs: Option<bool>,
    /// GRN federation: this node's key file, name, country, base URL, sync interval.
    node_key: Option<PathBuf>,
    node_name: Option<String>,
    node_country: Option<String>,
    base_url: Option<String>,
    federation_sync_secs: Option<u64>,
}

impl ConfigFile {
    fn load(explicit: Option<&Path>) -> Result<ConfigFile> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                if !p.exists() {
                    return Ok(ConfigFile::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        basic_toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
    }
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Database URL: sqlite://path/file.db (created when missing) or postgres://user:pass@host/db
    /// [default: sqlite://vigilo.db]
    #[arg(long = "database", env = "VIGILO_DATABASE_URL")]
    url: Option<String>,
}

impl DbArgs {
    /// Flag or environment, then config file, then the default.
    fn resolve(&self, config: &ConfigFile) -> String {
        self.url
            .clone()
            .or_else(|| config.database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates the database first)
    Serve(ServeArgs),
    /// Start a fresh demo: new SQLite database, reference and demo data, server on 127.0.0.1:8080
    Demo(DemoArgs),
    /// Apply database migrations and load reference data, then exit
    Migrate(DbArgs),
    /// Manage accounts: add, list, set-role, disable
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens for machine clients: create, revoke, list
    #[command(subcommand)]
    Token(TokenCommand),
    /// Audit trail tools: verify
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Copy the SQLite database to a new file while the server runs, and check the copy
    Backup(backup_cli::BackupArgs),
    /// Put a backup in place of the SQLite database (stop the server first)
    Restore(backup_cli::RestoreArgs),
    /// Import public data: fda-ai-list, imdrf, maude, aiid
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Evaluate scores against true labels: sensitivity, AUROC, calibration, subgroup gaps
    Eval(stats_cli::EvalArgs),
    /// Disproportionality signals from report lists: PRR, ROR, IC, EBGM
    Signals(stats_cli::SignalsArgs),
    /// Drift between a reference and a current data file: PSI, KS, Jensen-Shannon, Wasserstein
    Drift(stats_cli::DriftArgs),
    /// Monitoring period report (quarter, year or month) as HTML, PDF, CSV or XLSX
    Report(report_cli::ReportArgs),
    /// De-identify text from standard input (names, phone and ID numbers, addresses, ...)
    Scrub(scrub_cli::ScrubArgs),
    /// Send monitoring reports dropped in a folder to the server; keeps them until acknowledged
    Send(send::SendArgs),
    /// GRN federation peers: identity, add, list, remove
    #[command(subcommand)]
    Peer(peer_cli::PeerCommand),
    /// Runs one submitted model for the sandbox (started by the server, reads stdin)
    #[command(hide = true)]
    SandboxWorker,
}

/// How the server starts the sandbox worker: this same executable, hidden command.
pub fn sandbox_worker() -> Option<vigilo_sandbox::WorkerCommand> {
    std::env::current_exe()
        .ok()
        .map(|program| vigilo_sandbox::WorkerCommand {
            program,
            args: vec!["sandbox-worker".into()],
        })
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "VIGILO_BIND")]
    bind: Option<String>,
    /// Largest accepted request body in bytes [default: 10 MiB]
    #[arg(long, env = "VIGILO_BODY_LIMIT")]
    body_limit: Option<usize>,
    /// Requests worked on at once; more are answered 503 with Retry-After at once [default: 512]
    #[arg(long, env = "VIGILO_MAX_IN_FLIGHT")]
    max_in_flight: Option<usize>,
    /// Always mark cookies Secure (default: when the proxy says the request came over HTTPS)
    #[arg(long, env = "VIGILO_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Do not run periodic jobs in this process
    #[arg(long, env = "VIGILO_NO_JOBS")]
    no_jobs: bool,
    #[command(flatten)]
    node: peer_cli::NodeArgs,
    /// Seconds between pulls of the GRN peers' feeds [default: 300]
    #[arg(long, env = "VIGILO_FEDERATION_SYNC_SECS")]
    federation_sync_secs: Option<u64>,
}

#[derive(Args)]
struct DemoArgs {
    /// Address to listen on
    #[arg(long, env = "VIGILO_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Demo database; an existing demo database is replaced, any other is refused
    #[arg(long = "database", default_value = "sqlite://vigilo-demo.db")]
    url: String,
    /// How often the pilot's stations report: month (the demo), week or day (about ten
    /// million rows, for benchmarks)
    #[arg(long, default_value = "month", hide = true)]
    pilot_frequency: String,
    /// Create the pilot's deployments without their reports (for load tests)
    #[arg(long, hide = true)]
    pilot_without_reports: bool,
    /// At most this many pilot stations per province (a quicker demo for tests)
    #[arg(long, hide = true)]
    pilot_stations: Option<usize>,
    /// Load the demo data and exit without serving
    #[arg(long, hide = true, conflicts_with = "peers")]
    seed_only: bool,
    /// Also start a second GRN node (Singapore) and show an early warning crossing to it
    #[arg(long)]
    peers: bool,
    /// Address of the second node [default: the next free port]
    #[arg(long, requires = "peers")]
    peer_bind: Option<String>,
    /// The second node's database [default: vigilo-demo-sg.db next to the demo's]
    #[arg(long, requires = "peers")]
    peer_database: Option<String>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (password read from stdin with --password-stdin, or prompted)
    Add {
        username: String,
        /// reporter, vendor, reviewer, admin or peer
        #[arg(long)]
        role: String,
        /// Organisation code (required for vendor and reporter)
        #[arg(long)]
        org: Option<String>,
        /// Full name shown in pages
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List accounts
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Change an account's role (ends its sessions)
    SetRole {
        username: String,
        role: String,
        /// Organisation code, when the new role needs one
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Disable an account (or enable it again with --enable)
    Disable {
        username: String,
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for an account; the secret is printed once
    Create {
        username: String,
        /// What the token is for, e.g. "HIS integration"
        #[arg(long)]
        name: String,
        /// Expire after this many days (default: never)
        #[arg(long)]
        days: Option<i64>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a token by its id or its shown prefix
    Revoke {
        id_or_prefix: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens (never their secrets)
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and name the first broken row
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Prints to stdout, ignoring a closed pipe (a banner must not kill the server).
pub(crate) fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGILO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files and CI logs stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// The acting operator, for the audit trail.
fn cli_actor() -> String {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{who}")
}

async fn open(db: &DbArgs, config: &ConfigFile) -> Result<Store> {
    Ok(Store::open(&db.resolve(config)).await?)
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are registered when this is
/// called, before the server starts, so an early signal is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => {},
                _ = wait(terminate) => {},
            }
            tracing::info!("shutting down");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}

pub(crate) async fn run_server(
    store: Store,
    bind: &str,
    config: ServerConfig,
    banner: impl FnOnce(&str),
) -> Result<()> {
    let shutdown = shutdown_signal();
    let listener = vigilo_server::bind(bind).await?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let state = AppState::new(store.clone(), config)?;
    banner(&format!("http://{addr}"));
    vigilo_server::serve(listener, state, shutdown).await?;
    store.close().await;
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the password from standard input")?;
        let line = s.lines().next().unwrap_or("").to_string();
        if line.is_empty() {
            bail!("standard input was empty: pipe the password in, e.g. `echo \"$PASS\" | vigilo user add NAME --role reviewer --password-stdin`");
        }
        return Ok(line);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for a password: use --password-stdin and pipe it in");
    }
    let p1 = rpassword::prompt_password("Password (10 characters or more): ")?;
    let p2 = rpassword::prompt_password("Repeat the password: ")?;
    if p1 != p2 {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(p1)
}

async fn org_id(store: &Store, code: Option<&str>) -> Result<Option<String>> {
    match code {
        None => Ok(None),
        Some(c) => match store.organisation_by_code(c).await? {
            Some(o) => Ok(Some(o.id)),
            None => bail!("no organisation has code '{c}'"),
        },
    }
}

async fn run(cli: Cli) -> Result<()> {
    let file = ConfigFile::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(a) => {
            let bind = a
                .bind
                .clone()
                .or_else(|| file.bind.clone())
                .unwrap_or_else(|| DEFAULT_BIND.to_string());
            let federation = peer_cli::federation_config(
                &a.node,
                &file,
                &a.db.resolve(&file),
                &bind,
                a.federation_sync_secs,
            )?;
            let store = open(&a.db, &file).await?;
            let defaults = ServerConfig::default();
            let config = ServerConfig {
                body_limit: a
                    .body_limit
                    .or(file.body_limit)
                    .unwrap_or(defaults.body_limit),
                max_in_flight: a
                    .max_in_flight
                    .or(file.max_in_flight)
                    .unwrap_or(defaults.max_in_flight),
                secure_cookies: (a.secure_cookies || file.secure_cookies == Some(true))
                    .then_some(true),
                run_jobs: !(a.no_jobs || file.no_jobs == Some(true)),
                sandbox_worker: sandbox_worker(),
                federation,
                ..defaults
            };
            let url = store.redacted_url().to_string();
            run_server(store, &bind, config, |addr| {
                tracing::info!(database = %url, "Vigilo listening on {addr}");
                say(&format!(
                    "Vigilo is running at {addr} (database {url}). Press Ctrl-C to stop.\n"
                ));
            })
            .await
        }
        Command::Demo(a) => {
            let frequency = vigilo_core::period::PeriodKind::parse(&a.pilot_frequency)
                .filter(|k| k.is_reporting_frequency())
                .ok_or_else(|| anyhow::anyhow!("--pilot-frequency must be day, week or month"))?;
            let pilot = demo_monitoring::PilotOptions {
                frequency,
                reports: !a.pilot_without_reports,
                stations_per_province: a.pilot_stations,
            };
            let peers = a.peers.then(|| demo_peers::PeerOptions {
                bind: a.peer_bind.clone(),
                database: a.peer_database.clone(),
            });
            demo::run(&a.url, &a.bind, pilot, a.seed_only, peers).await
        }
        Command::Migrate(db) => {
            let store = Store::connect(&db.resolve(&file)).await?;
            let applied = store.migrate().await?;
            let (p, u) = store.admin_unit_counts().await?;
            println!(
                "{}: {applied} migration(s) applied, schema at {} of {}; reference data: {p} provinces, {u} local units",
                store.redacted_url(),
                store.known_migrations(),
                store.known_migrations()
            );
            Ok(())
        }
        Command::User(cmd) => user_command(cmd, &file).await,
        Command::Token(cmd) => token_command(cmd, &file).await,
        Command::Import(cmd) => import::run(cmd, &file).await,
        Command::Eval(a) => stats_cli::run_eval(&a),
        Command::Signals(a) if a.stored => {
            let url = DbArgs {
                url: a.database.clone(),
            }
            .resolve(&file);
            stats_cli::run_stored_signals(&a, &url).await
        }
        Command::Signals(a) => stats_cli::run_signals(&a),
        Command::Drift(a) => stats_cli::run_drift(&a),
        Command::Send(a) => send::run(a).await,
        Command::Peer(cmd) => peer_cli::run(cmd, &file).await,
        Command::Scrub(a) => scrub_cli::run(&a),
        Command::Report(a) => report_cli::run(a, &file).await,
        Command::SandboxWorker => Ok(()),
        Command::Backup(a) => backup_cli::backup(a, &file).await,
        Command::Restore(a) => backup_cli::restore(a, &file).await,
        Command::Audit(AuditCommand::Verify { db }) => {
            let store = open(&db, &file).await?;
            let out = store.verify_audit().await?;
            match out.first_break {
                None => {
                    println!("audit chain intact: {} rows verified", out.verified);
                    Ok(())
                }
                Some(b) => bail!(
                    "audit chain BROKEN at row {}: {b} ({} rows before it verified)",
                    b.seq(),
                    out.verified
                ),
            }
        }
    }
}

async fn user_command(cmd: UserCommand, file: &ConfigFile) -> Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            role,
            org,
            name,
            password_stdin,
            db,
        } => {
            let username =
                Username::parse(&username).map_err(|e| anyhow::anyhow!("user name: {e}"))?;
            let role: Role = role.parse()?;
            let store = open(&db, file).await?;
            let organisation_id = org_id(&store, org.as_deref()).await?;
            let password = read_password(password_stdin)?;
            let user = store
                .create_user(
                    &cli_actor(),
                    NewUser {
                        username,
                        display_name: name.unwrap_or_default(),
                        password,
                        role,
                        organisation_id,
                    },
                )
                .await?;
            println!("created {} ({})", user.username, user.role);
            Ok(())
        }
        UserCommand::List { db } => {
            let store = open(&db, file).await?;
            println!("{:<24} {:<9} {:<9} NAME", "USERNAME", "ROLE", "STATUS");
            for u in store.list_users().await? {
                let status = if u.is_disabled() {
                    "disabled"
                } else {
                    "active"
                };
                println!(
                    "{:<24} {:<9} {:<9} {}",
                    u.username, u.role, status, u.display_name
                );
            }
            Ok(())
        }
        UserCommand::SetRole {
            username,
            role,
            org,
            db,
        } => {
            let role: Role = role.parse()?;
            let store = open(&db, file).await?;
            let organisation_id = org_id(&store, org.as_deref()).await?;
            let u = store
                .set_role(&cli_actor(), &username, role, organisation_id)
                .await?;
            println!("{} is now {}", u.username, u.role);
            Ok(())
        }
        UserCommand::Disable {
            username,
            enable,
            db,
        } => {
            let store = open(&db, file).await?;
            let u = store.set_disabled(&cli_actor(), &username, !enable).await?;
            println!(
                "{} is now {}",
                u.username,
                if u.is_disabled() {
                    "disabled"
                } else {
                    "enabled"
                }
            );
            Ok(())
        }
    }
}

async fn token_command(cmd: TokenCommand, file: &ConfigFile) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            username,
            name,
            days,
            db,
        } => {
            if days.is_some_and(|d| d <= 0) {
                bail!("--days must be a positive number of days");
            }
            let store = open(&db, file).await?;
            let (secret, token) = store
                .create_token(
                    &cli_actor(),
                    &username,
                    &name,
                    days.map(time::Duration::days),
                )
                .await?;
            println!("{secret}");
            eprintln!(
                "token {} ({}) for {username}; shown once, store it safely. Use it as: Authorization: Bearer <token>",
                token.id, token.prefix
            );
            Ok(())
        }
        TokenCommand::Revoke { id_or_prefix, db } => {
            let store = open(&db, file).await?;
            let t = store.revoke_token(&cli_actor(), &id_or_prefix).await?;
            println!("revoked token {} ({})", t.id, t.prefix);
            Ok(())
        }
        TokenCommand::List { db } => {
            let store = open(&db, file).await?;
            let users = store.list_users().await?;
            println!(
                "{:<38} {:<14} {:<16} {:<10} NAME",
                "ID", "PREFIX", "USER", "STATUS"
            );
            for t in store.list_tokens(None).await? {
                let user = users
                    .iter()
                    .find(|u| u.id == t.user_id)
                    .map(|u| u.username.as_str())
                    .unwrap_or("?");
                let status = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<38} {:<14} {:<16} {:<10} {}",
                    t.id, t.prefix, user, status, t.name
                );
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::SandboxWorker) {
        // The worker talks to its parent over stdin and stdout only.
        return vigilo_sandbox::worker_main();
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
