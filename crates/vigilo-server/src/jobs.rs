//! The periodic job scheduler. Every server process runs it; the store's
//! compare-and-set claim makes sure each tick runs in one process only.

use std::time::Duration;
use tokio::sync::watch;
use vigilo_store::Store;

/// Jobs known to this build, with their intervals. Later areas add theirs here.
pub fn job_table() -> Vec<(&'static str, time::Duration)> {
    vec![
        ("purge-expired-sessions", time::Duration::hours(1)),
        ("expire-licences", time::Duration::hours(1)),
        // Reports come monthly at most; a daily pass finds a new period within a day.
        ("monitoring-alerts", time::Duration::days(1)),
        // Reports trickle in; a signal a day late is still early for a regulator.
        ("incident-signals", time::Duration::days(1)),
    ]
}

async fn run_job(store: &Store, name: &str) -> Result<String, String> {
    match name {
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

pub async fn run_scheduler(store: Store, mut stop: watch::Receiver<bool>, poll: Duration) {
    let owner = format!("{}-{}", std::process::id(), crate::ctx::random_hex(4));
    for (name, interval) in job_table() {
        if let Err(e) = store.ensure_job(name, interval).await {
            tracing::warn!(job = name, error = %e, "cannot register job");
        }
    }
    loop {
        for (name, _) in job_table() {
            match store
                .claim_job(name, &owner, time::Duration::minutes(10))
                .await
            {
                Ok(Some(claim)) => {
                    let result = run_job(&store, name).await;
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
