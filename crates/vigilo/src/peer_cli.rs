//! The node's GRN identity and `vigilo peer`: the key file (created at first start from the
//! operating system's random source, mode 0600, refused when others may read it), the node's
//! name, country and base URL from flags, environment or config file, and the peer commands.

use crate::{cli_actor, ConfigFile, DbArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigilo_core::federation::{NodeKeys, PeerIdentity};
use vigilo_server::federation::FederationConfig;
use vigilo_store::Store;

/// The key file's name when none is given: next to the SQLite database, or in the current
/// folder for PostgreSQL.
pub const DEFAULT_KEY_FILE: &str = "vigilo-node.key";
const DEFAULT_NODE_NAME: &str = "Vigilo demo node";
const DEFAULT_COUNTRY: &str = "VN";

/// Where this node's identity comes from.
#[derive(Args, Clone, Default)]
pub struct NodeArgs {
    /// This node's private key file (32 random bytes as hex, mode 0600; created at first
    /// start) [default: vigilo-node.key next to the SQLite database]
    #[arg(long, env = "VIGILO_NODE_KEY")]
    pub node_key: Option<PathBuf>,
    /// This node's name as peers see it, e.g. "Cục Hạ tầng và Thiết bị y tế"
    #[arg(long, env = "VIGILO_NODE_NAME")]
    pub node_name: Option<String>,
    /// This node's country (ISO 3166-1 alpha-2) [default: VN]
    #[arg(long, env = "VIGILO_NODE_COUNTRY")]
    pub node_country: Option<String>,
    /// The address peers reach this node at, e.g. https://vigilo.example.gov.vn
    /// [default: http:// and the bind address, when it is a loopback address]
    #[arg(long, env = "VIGILO_BASE_URL")]
    pub base_url: Option<String>,
}

impl NodeArgs {
    fn key_path(&self, config: &ConfigFile, database_url: &str) -> PathBuf {
        if let Some(p) = self.node_key.clone().or_else(|| config.node_key.clone()) {
            return p;
        }
        match vigilo_store::sqlite_file(database_url)
            .and_then(|f| f.parent().map(Path::to_path_buf))
        {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(DEFAULT_KEY_FILE),
            _ => PathBuf::from(DEFAULT_KEY_FILE),
        }
    }

    /// The node's keys (created at first start) and its identity. `bind` gives the default
    /// base URL on loopback; elsewhere the base URL must be configured.
    pub fn resolve(
        &self,
        config: &ConfigFile,
        database_url: &str,
        bind: Option<&str>,
    ) -> Result<(NodeKeys, Result<PeerIdentity>)> {
        let keys = load_or_create_key(&self.key_path(config, database_url))?;
        let identity = (|| -> Result<PeerIdentity> {
            let name = self
                .node_name
                .clone()
                .or_else(|| config.node_name.clone())
                .unwrap_or_else(|| DEFAULT_NODE_NAME.into());
            let country = self
                .node_country
                .clone()
                .or_else(|| config.node_country.clone())
                .unwrap_or_else(|| DEFAULT_COUNTRY.into());
            let base = match self.base_url.clone().or_else(|| config.base_url.clone()) {
                Some(b) => b,
                None => match bind {
                    Some(b) => format!("http://{b}"),
                    None => bail!("give this node's base URL with --base-url or VIGILO_BASE_URL"),
                },
            };
            Ok(keys.identity(
                name.parse()
                    .map_err(|e| anyhow::anyhow!("node name: {e}"))?,
                country
                    .parse()
                    .map_err(|e| anyhow::anyhow!("node country: {e}"))?,
                base.parse().map_err(|e| {
                    anyhow::anyhow!(
                        "base URL '{base}': {e} (set --base-url to the address peers use)"
                    )
                })?,
            ))
        })();
        Ok((keys, identity))
    }
}

/// Reads this node's key seed, or creates it (32 bytes from the operating system) when the
/// file does not exist. Refuses a key file that anyone but its owner may read or write.
pub fn load_or_create_key(path: &Path) -> Result<NodeKeys> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            check_permissions(path, &meta)?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the node key {}", path.display()))?;
            let bytes = hex_seed(text.trim()).with_context(|| {
                format!(
                    "the node key {} is not 64 hexadecimal characters",
                    path.display()
                )
            })?;
            Ok(NodeKeys::from_seed(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path),
        Err(e) => Err(e).with_context(|| format!("cannot read the node key {}", path.display())),
    }
}

fn hex_seed(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the node key {} has mode {mode:03o}: others may read it. Make it readable by the service only (chmod 600 {}) and, if it may have been copied, create a new key and tell the peers",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _meta: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

fn create_key(path: &Path) -> Result<NodeKeys> {
    use rand::TryRngCore;
    use std::io::Write;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .context("the operating system's random source failed")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the node key {}", path.display()))?;
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    file.write_all(format!("{hex}\n").as_bytes())
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write the node key {}", path.display()))?;
    let keys = NodeKeys::from_seed(&seed);
    seed.fill(0);
    tracing::info!(path = %path.display(), key_id = %keys.key_id(), "created this node's federation key");
    Ok(keys)
}

/// The server's federation settings: keys always (created at first start), the identity
/// when its base URL is known (else the node serves its public feed and does not sync).
pub fn federation_config(
    node: &NodeArgs,
    config: &ConfigFile,
    database_url: &str,
    bind: &str,
    sync_secs: Option<u64>,
) -> Result<FederationConfig> {
    let (keys, identity) = node.resolve(config, database_url, Some(bind))?;
    let identity = match identity {
        Ok(i) => Some(i),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "GRN federation is off until this node's identity is configured");
            None
        }
    };
    let defaults = FederationConfig::default();
    let sync_interval = match sync_secs.or(config.federation_sync_secs) {
        Some(0) => bail!("--federation-sync-secs must be at least 1"),
        Some(s) => time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX)),
        None => defaults.sync_interval,
    };
    Ok(FederationConfig {
        keys: Some(Arc::new(keys)),
        identity,
        sync_interval,
        ..defaults
    })
}

#[derive(Subcommand)]
pub enum PeerCommand {
    /// Print this node's identity line, to send to the other nodes' administrators
    Identity {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Pin a peer from the identity line its administrator sent (check the fingerprint first)
    Add {
        /// The line, e.g. "vigilo-peer/1 SG https://… ed25519:… Health Sciences Authority"
        line: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the pinned peers and their sync state
    List {
        /// Removed peers too
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Unpin a peer by its key id (or its first 8 or more characters)
    Remove {
        key_id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub async fn run(cmd: PeerCommand, file: &ConfigFile) -> Result<()> {
    match cmd {
        PeerCommand::Identity { node, db } => {
            let url = db.resolve(file);
            let bind = file.bind.as_deref().unwrap_or(crate::DEFAULT_BIND);
            let (keys, identity) = node.resolve(file, &url, Some(bind))?;
            let identity = identity?;
            println!("{}", identity.to_line());
            eprintln!(
                "fingerprint (key id): {} — read it to the other administrator to confirm",
                keys.key_id()
            );
            Ok(())
        }
        PeerCommand::Add { line, db } => {
            let identity = PeerIdentity::parse_line(&line)
                .map_err(|e| anyhow::anyhow!("not a valid identity line: {e}"))?;
            let store = Store::open(&db.resolve(file)).await?;
            let p = store.add_peer(&cli_actor(), &identity).await?;
            println!(
                "pinned {} ({}) {} key {}",
                p.name, p.country, p.base_url, p.key_id
            );
            Ok(())
        }
        PeerCommand::List { all, db } => {
            let store = Store::open(&db.resolve(file)).await?;
            println!(
                "{:<32} {:<7} {:<8} {:<8} {:<20} {:<36} NAME",
                "KEY ID", "COUNTRY", "STATUS", "CURSOR", "LAST PULL", "BASE URL"
            );
            for p in store.list_peers(all).await? {
                let status = if p.removed_at.is_some() {
                    "removed"
                } else if p.failures > 0 {
                    "failing"
                } else {
                    "live"
                };
                println!(
                    "{:<32} {:<7} {:<8} {:<8} {:<20} {:<36} {}",
                    p.key_id,
                    p.country,
                    status,
                    p.feed_cursor.map(|c| c.to_string()).unwrap_or("-".into()),
                    p.last_success_at
                        .as_deref()
                        .and_then(|t| t.get(..19))
                        .unwrap_or("-"),
                    p.base_url,
                    p.name
                );
                if let Some(e) = p.last_error.as_deref().filter(|_| p.failures > 0) {
                    println!("    last error ({} in a row): {e}", p.failures);
                }
            }
            Ok(())
        }
        PeerCommand::Remove { key_id, db } => {
            let store = Store::open(&db.resolve(file)).await?;
            let p = store.remove_peer(&cli_actor(), &key_id).await?;
            println!("removed {} ({}) key {}", p.name, p.country, p.key_id);
            Ok(())
        }
    }
}
