//! The periodic job scheduler. Every server process runs it; the store's
//! compare-and-set claim makes sure each tick runs in one process only.

use crate::ServerConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use vigilo_store::Store;

/// Jobs known to this build, with their intervals. Later areas add theirs here.
pub fn job_table(config: &ServerConfig) -> Vec<(&'static str, time::Duration)> {
    vec![
        // Peers' feeds: the interval is the operator's (`--federation-sync-secs`).
        ("federation-sync", config.federation.sync_interval),
        // This node's public directory, shared with peers as it changes.
        (
            "federation-share-directory",
            config.federation.sync_interval,
        ),
        // Nonces are kept twice the allowed skew; an hourly purge keeps the table small.
        ("purge-federation-nonces", time::Duration::hours(1)),
        ("purge-expired-sessions", time::Duration::hours(1)),
        ("expire-licences", time::Duration::hours(1)),
        // Reports come monthly at most; a daily pass finds a new period within a day.
        ("monitoring-alerts", time::Duration::days(1)),
        // Reports trickle in; a signal a day late is still early for a regulator.
        ("incident-signals", time::Duration::days(1)),
    ]
}

async fn run_job(store: &Store, config: &ServerConfig, name: &str) -> Result<String, String> {
    match name {
        "federation-sync" => {
            let fed = &config.federation;
            if fed.keys.is_none() || fed.identity.is_none() {
                return Ok("federation not configured".into());
            }
            let client = crate::federation::sync_client(fed).map_err(|e| e.to_string())?;
            crate::federation::sync_peers(store, fed, &client)
                .await
                .map(|s| s.to_string())
                .map_err(|e| e.to_string())
        }
        "federation-share-directory" => {
            let fed = &config.federation;
            if fed.keys.is_none() || fed.identity.is_none() {
                return Ok("federation not configured".into());
            }
            crate::federation::share_directory(store, fed)
                .await
                .map(|s| s.to_string())
                .map_err(|e| e.to_string())
        }
        "purge-federation-nonces" => store
            .purge_nonces()
            .await
            .map(|n| format!("{n} nonces removed"))
            .map_err(|e| e.to_string()),
        "purge-expired-sessions" => store
            .purge_expired()
            .await
            .map(|n| format!("{n} rows removed"))
            .map_err(|e| e.to_string()),
        "expire-licences" => store
            .expire_due_licences("system:expire-licences")
            .await
            .map(|refs| {
                if refs.is_empty() {
                    "none due".to_string()
                } else {
                    format!("expired {}", refs.join(", "))
                }
            })
            .map_err(|e| e.to_string()),
        "monitoring-alerts" => crate::monitoring_alerts::run_alerts(
            store,
            &crate::monitoring_alerts::AlertOptions::default(),
        )
        .await
        .map(|s| s.to_string())
        .map_err(|e| e.to_string()),
        "incident-signals" => crate::incident_signals::run_signals(
            store,
            &crate::incident_signals::DetectOptions::default(),
        )
        .await
        .map(|s| s.to_string())
        .map_err(|e| e.to_string()),
        other => Err(format!("no handler for job '{other}'")),
    }
}

pub async fn run_scheduler(
    store: Store,
    config: Arc<ServerConfig>,
    mut stop: watch::Receiver<bool>,
    poll: Duration,
) {
    let owner = format!("{}-{}", std::process::id(), crate::ctx::random_hex(4));
    for (name, interval) in job_table(&config) {
        if let Err(e) = store.ensure_job(name, interval).await {
            tracing::warn!(job = name, error = %e, "cannot register job");
        }
    }
    loop {
        for (name, _) in job_table(&config) {
            match store
                .claim_job(name, &owner, time::Duration::minutes(10))
                .await
            {
                Ok(Some(claim)) => {
                    let result = run_job(&store, &config, name).await;
                    let (ok, detail) = match &result {
                        Ok(d) => (true, d.as_str()),
                        Err(d) => (false, d.as_str()),
                    };
                    if !ok {
                        tracing::warn!(job = name, detail, "job failed");
                    }
                    if let Err(e) = store.finish_job(&claim, ok, detail).await {
                        tracing::warn!(job = name, error = %e, "cannot record job run");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(job = name, error = %e, "job claim failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
    }
}
