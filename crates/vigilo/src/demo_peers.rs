//! `vigilo demo --peers`: beside the Vietnamese demo node, a second GRN node (Singapore,
//! "HSA (demo)") with its own SQLite file and key file. The two pin each other's keys; a
//! demo signal is confirmed and an early warning is composed from its facts (as the warnings
//! desk does: no narrative text), approved by another account, signed and published on the
//! Vietnamese node; the second node then runs one sync, so the warning is on its "From GRN
//! peers" page at once. Both nodes serve until Ctrl-C or SIGTERM.

use crate::demo::{prepare, DEMO_MARK, DEMO_PASSWORD};
use crate::peer_cli::{federation_config, NodeArgs};
use anyhow::{anyhow, bail, Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use vigilo_core::federation::{compose_early_warning, Audience, ItemType, NodeKeys, PeerIdentity};
use vigilo_core::signal::SignalCommand;
use vigilo_core::suppression::SuppressionRule;
use vigilo_core::{Role, Username};
use vigilo_server::federation::{sync_client, sync_peers, FederationConfig};
use vigilo_server::federation_warnings::{input_from, WarningForm};
use vigilo_server::{AppState, ServerConfig};
use vigilo_store::{NewPublication, NewUser, SignalFilter, Store, WarningDecision};

const PEER_COUNTRY: &str = "SG";
const PEER_NAME: &str = "HSA (demo)";
/// Short enough that a warning an admin publishes while trying the demo crosses soon.
const DEMO_SYNC_SECS: u64 = 30;

/// Where the second node lives and listens.
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// Its address; default: the next free port after the first node's.
    pub bind: Option<String>,
    /// Its database; default: `<demo file>-sg.db` next to the demo's SQLite file.
    pub database: Option<String>,
}

/// The second node's database: given, or a SQLite file next to the first node's.
fn peer_database(url: &str, given: Option<&str>) -> Result<String> {
    if let Some(u) = given {
        if u == url {
            bail!("--peer-database must differ from --database");
        }
        return Ok(u.to_string());
    }
    let Some(path) = vigilo_store::sqlite_file(url) else {
        bail!("with a PostgreSQL demo database, give the second node's with --peer-database");
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vigilo-demo".into());
    Ok(format!(
        "sqlite://{}",
        path.with_file_name(format!("{stem}-sg.db")).display()
    ))
}

/// The second node's key file: next to its SQLite file, or in the current folder.
fn peer_key_file(peer_url: &str) -> PathBuf {
    let name = "vigilo-demo-sg-node.key";
    match vigilo_store::sqlite_file(peer_url).and_then(|f| f.parent().map(Path::to_path_buf)) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

/// The second node's listener: `--peer-bind`, else the next free port after the first
/// node's (any free port when the first asked for port 0).
async fn bind_peer(first: SocketAddr, given: Option<&str>) -> Result<tokio::net::TcpListener> {
    if let Some(addr) = given {
        return Ok(vigilo_server::bind(addr).await?);
    }
    if first.port() == 0 {
        return Ok(vigilo_server::bind(&SocketAddr::new(first.ip(), 0).to_string()).await?);
    }
    for port in first.port().saturating_add(1)..=first.port().saturating_add(50) {
        if let Ok(l) = tokio::net::TcpListener::bind(SocketAddr::new(first.ip(), port)).await {
            return Ok(l);
        }
    }
    bail!(
        "no free port after {first} for the second node: give one with --peer-bind 127.0.0.1:PORT"
    )
}

/// The second node's accounts: an administrator and a reviewer (who reads `/from-peers`).
async fn load_peer(store: &Store) -> Result<()> {
    for (name, display, role) in [
        ("admin", "Administrator (demo)", Role::Admin),
        ("reviewer", "Reviewer (demo)", Role::Reviewer),
    ] {
        store
            .create_user(
                "demo",
                NewUser {
                    username: Username::parse(name).map_err(|e| anyhow!("{e}"))?,
                    display_name: display.into(),
                    password: DEMO_PASSWORD.into(),
                    role,
                    organisation_id: None,
                },
            )
            .await?;
    }
    store.meta_set(DEMO_MARK, "true").await?;
    Ok(())
}

/// Confirms a demo signal and publishes an early warning composed from its facts, through
/// the desk's steps: a reviewer composes, another account approves, the node signs. The
/// injected dosing problem of the commune assistant is preferred. Returns the reference.
async fn publish_warning(store: &Store, keys: &NodeKeys, me: &PeerIdentity) -> Result<String> {
    let signals = store
        .signals(&SignalFilter {
            limit: 1000,
            ..SignalFilter::default()
        })
        .await?;
    let mut chosen = None;
    for s in signals
        .iter()
        .filter(|s| s.product_id.is_some() && matches!(s.state.as_str(), "new" | "under_review"))
    {
        let Ok(Some(b)) = store.warning_basis(&s.id).await else {
            continue;
        };
        if b.first_day.is_none() {
            continue;
        }
        let preferred = b.product_name.starts_with("Trợ lý Y tế Xã");
        if chosen.is_none() || preferred {
            chosen = Some(s.id.clone());
        }
        if preferred {
            break;
        }
    }
    let signal_id = chosen.context("the demo found no signal about a product to warn about")?;
    store
        .signal_transition(
            "demo:reviewer",
            &signal_id,
            SignalCommand::Confirm,
            "Confirmed for the GRN demo.",
        )
        .await?;
    let basis = store
        .warning_basis(&signal_id)
        .await?
        .context("the confirmed signal disappeared")?;
    let form = WarningForm {
        signal_id: signal_id.clone(),
        stage: "initial".into(),
        summary: "Demo data: after an update, the tool's advice disagreed with national guidance in one province; stations reported it and the signal was confirmed.".into(),
        recommendation: "Demo data: check deployments of the versions named and report similar events to your regulator.".into(),
        countries_concerned: PEER_COUNTRY.into(),
        audience: "members".into(),
        audience_countries: String::new(),
    };
    let reference = store
        .next_warning_reference(me.country.as_str(), store.now().year())
        .await?;
    let input = input_from(&basis, &form, &reference, Some(me.country))
        .map_err(|e| anyhow!("cannot compose the demo warning: {}", e.join("; ")))?;
    let warning = compose_early_warning(&input, SuppressionRule::default())?;
    let audience = Audience::Members;
    let draft = store
        .create_warning_draft(
            "demo:reviewer",
            &signal_id,
            &reference,
            &warning.to_payload(),
            &serde_json::to_value(&audience)?,
        )
        .await?;
    store
        .decide_warning_draft(
            "demo:admin",
            &draft.id,
            WarningDecision::Published,
            "Approved for the GRN demo.",
            None,
        )
        .await?;
    let published = store
        .publish(
            "demo:admin",
            keys,
            NewPublication {
                item_type: ItemType::EarlyWarning,
                id: reference.parse().map_err(|e| anyhow!("{e}"))?,
                audience,
                payload: warning.to_payload(),
            },
        )
        .await?;
    store
        .set_warning_item(&draft.id, &published.item_id, published.version)
        .await?;
    Ok(reference)
}

fn identity_of(
    fed: &FederationConfig,
    which: &str,
) -> Result<(std::sync::Arc<NodeKeys>, PeerIdentity)> {
    match (&fed.keys, &fed.identity) {
        (Some(k), Some(i)) => Ok((k.clone(), i.clone())),
        _ => bail!("--peers runs both nodes on loopback: bind the {which} node to 127.0.0.1"),
    }
}

/// Runs the two-node demo. `store` holds the loaded demo; `accounts` are its accounts.
pub async fn run(
    store: Store,
    url: &str,
    bind: &str,
    accounts: Vec<(String, Role)>,
    opts: PeerOptions,
) -> Result<()> {
    let peer_url = peer_database(url, opts.database.as_deref())?;
    prepare(&peer_url).await?;
    let peer_store = Store::open(&peer_url).await?;
    load_peer(&peer_store).await?;

    // The signal handlers are registered before either node serves, so an early Ctrl-C
    // is not lost.
    let shutdown = crate::shutdown_signal();
    let listener = vigilo_server::bind(bind).await?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let peer_listener = bind_peer(addr, opts.bind.as_deref()).await?;
    let peer_addr = peer_listener
        .local_addr()
        .context("reading the second node's address")?;

    let file = crate::ConfigFile::default();
    // Base URLs from the addresses actually bound (port 0 resolved).
    let fed = federation_config(
        &NodeArgs::default(),
        &file,
        url,
        &addr.to_string(),
        Some(DEMO_SYNC_SECS),
    )?;
    let peer_node = NodeArgs {
        node_key: Some(peer_key_file(&peer_url)),
        node_name: Some(PEER_NAME.into()),
        node_country: Some(PEER_COUNTRY.into()),
        base_url: None,
    };
    let peer_fed = federation_config(
        &peer_node,
        &file,
        &peer_url,
        &peer_addr.to_string(),
        Some(DEMO_SYNC_SECS),
    )?;
    let (keys, me) = identity_of(&fed, "first")?;
    let (_, peer_me) = identity_of(&peer_fed, "second")?;
    // Recorded now (serving records them too) so that pinning and publishing can check them.
    store.set_node_identity("demo", &me).await?;
    peer_store.set_node_identity("demo", &peer_me).await?;
    store.add_peer("demo", &peer_me).await?;
    peer_store.add_peer("demo", &me).await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        // A dropped sender also ends the wait: both nodes stop.
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let state = AppState::new(
        store.clone(),
        ServerConfig {
            sandbox_worker: crate::sandbox_worker(),
            federation: fed,
            ..ServerConfig::default()
        },
    )?;
    let first = tokio::spawn(vigilo_server::serve(
        listener,
        state,
        stopped(stop_rx.clone()),
    ));

    // The first node serves its feed now; the second pulls it once before it serves, so
    // its own scheduled sync does not race this one for the peer's cursor.
    let reference = publish_warning(&store, &keys, &me).await?;
    let client = sync_client(&peer_fed)?;
    let summary = sync_peers(&peer_store, &peer_fed, &client).await?;
    if summary.inserted == 0 {
        bail!("the second node did not receive the demo warning: {summary}");
    }
    tracing::info!(%summary, "demo: the second node pulled the first node's feed");
    let peer_state = AppState::new(
        peer_store.clone(),
        ServerConfig {
            sandbox_worker: crate::sandbox_worker(),
            federation: peer_fed,
            ..ServerConfig::default()
        },
    )?;
    let second = tokio::spawn(vigilo_server::serve(
        peer_listener,
        peer_state,
        stopped(stop_rx),
    ));

    let db = store.redacted_url().to_string();
    let peer_db = peer_store.redacted_url().to_string();
    let mut text = format!("\n  Vigilo demo is running at http://{addr}\n");
    text += &format!("  Database: {db} (fresh demo data; replaced at the next `vigilo demo`)\n\n");
    text += &format!("  Demo accounts (password for all: {DEMO_PASSWORD}):\n");
    for (name, role) in &accounts {
        text += &format!("    {name:<10} {role}\n");
    }
    text += &format!(
        "\n  GRN peers: a second node, {PEER_NAME} ({PEER_COUNTRY}), is running at http://{peer_addr}\n"
    );
    text += &format!("  Database: {peer_db}; accounts admin and reviewer, same password.\n");
    text += "  The two nodes have pinned each other's keys (see /admin/federation on either).\n";
    text += &format!(
        "  Early warning {reference} was composed from a confirmed demo signal, approved and\n  published here (/grn/warnings), and has crossed to the second node. To see it there,\n  log in as reviewer and open:\n\n    http://{peer_addr}/from-peers\n\n"
    );
    text += &format!(
        "  The nodes pull each other's feeds every {DEMO_SYNC_SECS} s; a warning you publish here crosses too.\n"
    );
    text += "\n  Press Ctrl-C to stop.\n";
    crate::say(&text);

    let (a, b) = tokio::join!(first, second);
    store.close().await;
    peer_store.close().await;
    a.context("the first node's task failed")??;
    b.context("the second node's task failed")??;
    Ok(())
}
