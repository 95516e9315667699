//! Group commit for incident intake.
//!
//! Every report must be durable before its receipt goes out, so each one costs a
//! synchronous commit (an fsync on SQLite with `synchronous = FULL`). With one transaction
//! per request, concurrent requests also queue on the database's write lock (SQLite's busy
//! handler sleeps up to 100 ms between tries; PostgreSQL serialises on the audit chain's
//! head row). Here one writer task takes every report that is waiting, writes them in one
//! transaction, one savepoint each, commits once, and only then answers each request.
//! Nothing waits on purpose: a lone report is written at once, and under load the batch
//! is whatever arrived while the previous commit ran, so the fsync is shared.
//!
//! A batch is first written at once, with the receipt counter and the audit chain's head
//! read and written once per batch (three inserts per report instead of eight statements).
//! If anything in it fails, that attempt rolls back whole and the batch is written again
//! with one savepoint per report: a report whose own statements fail (a resent offline
//! draft racing its twin) rolls back to its savepoint and gets its own error; the others
//! still commit. If the writer task is
//! gone (its runtime stopped), the caller writes alone in its own transaction.

use crate::audit::AuditCursor;
use crate::incidents::{write_new_incident, write_new_incident_held, Incident};
use crate::{Backend, StoreError};
use sqlx::{Acquire, AnyPool};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// The most reports in one transaction: bounds the time a batch holds the write lock.
const MAX_BATCH: usize = 128;
/// Requests waiting for the writer; beyond this senders wait (back-pressure, not memory).
const QUEUE: usize = 1024;

pub(crate) struct PendingIncident {
    pub incident: Incident,
    pub client_key: Option<String>,
    pub user_id: Option<String>,
    reply: oneshot::Sender<Result<Incident, StoreError>>,
}

/// The sending half, created on first use inside the caller's runtime.
#[derive(Default)]
pub(crate) struct IncidentWriter {
    sender: OnceLock<mpsc::Sender<PendingIncident>>,
}

impl IncidentWriter {
    /// Queues a report and waits until its batch has committed. `Err(None)` hands the
    /// report back when no writer can take it, so the caller writes it alone.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        pool: &AnyPool,
        backend: Backend,
        incident: Incident,
        client_key: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<Result<Incident, StoreError>, Incident> {
        // The writer must run on worker threads of its own. On a current-thread runtime
        // it would run only when its caller's thread yields, and a store shared with such
        // a runtime could stall behind a thread that blocks: write alone there instead.
        let multi_thread = tokio::runtime::Handle::try_current()
            .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            .unwrap_or(false);
        if !multi_thread && self.sender.get().is_none() {
            return Err(incident);
        }
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run_writer(pool.clone(), backend, rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let pending = PendingIncident {
            incident,
            client_key: client_key.map(str::to_string),
            user_id: user_id.map(str::to_string),
            reply,
        };
        if let Err(mpsc::error::SendError(p)) = sender.send(pending).await {
            return Err(p.incident);
        }
        match answer.await {
            Ok(result) => Ok(result),
            // The writer vanished with the report: it never committed (the transaction
            // rolls back when dropped), so the caller may write it itself.
            Err(_) => Ok(Err(StoreError::Task(
                "the intake writer stopped; send the report again".into(),
            ))),
        }
    }
}

async fn run_writer(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<PendingIncident>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(&pool, backend, &mut batch).await;
        batch.clear();
    }
}

/// Writes every report of the batch in one transaction with the receipt counter and the
/// audit head held for the whole batch: three inserts per report. Any failure rolls the
/// whole batch back (`Err`), and [`write_batch`] takes the careful path.
async fn write_batch_at_once(
    pool: &AnyPool,
    backend: Backend,
    batch: &mut [PendingIncident],
) -> Result<(), StoreError> {
    let mut tx = crate::begin_write_on(pool, backend).await?;
    let mut audit = AuditCursor::lock(&mut tx).await?;
    let mut counters = Vec::new();
    for p in batch.iter_mut() {
        write_new_incident_held(
            &mut tx,
            &mut p.incident,
            p.client_key.as_deref(),
            p.user_id.as_deref(),
            &mut counters,
            &mut audit,
        )
        .await?;
    }
    for c in counters {
        c.finish(&mut tx).await?;
    }
    audit.finish(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn write_batch(pool: &AnyPool, backend: Backend, batch: &mut Vec<PendingIncident>) {
    // Nearly always every report is good: write them all at once. When one is not (a resent
    // draft racing its twin), or the database failed, nothing of that attempt is stored,
    // and the batch is written again one savepoint per report, so that the bad report gets
    // its own error and the others still commit.
    if batch.len() > 1 && write_batch_at_once(pool, backend, batch).await.is_ok() {
        for p in batch.drain(..) {
            let _ = p.reply.send(Ok(p.incident));
        }
        return;
    }
    let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(batch.len());
    let outcome = async {
        let mut tx = crate::begin_write_on(pool, backend).await?;
        for p in batch.iter_mut() {
            let mut savepoint = tx.begin().await?;
            match write_new_incident(
                &mut savepoint,
                &mut p.incident,
                p.client_key.as_deref(),
                p.user_id.as_deref(),
            )
            .await
            {
                Ok(()) => {
                    savepoint.commit().await?;
                    results.push(Ok(()));
                }
                Err(e) => {
                    savepoint.rollback().await?;
                    results.push(Err(e));
                }
            }
        }
        tx.commit().await?;
        Ok::<(), StoreError>(())
    }
    .await;
    let failed = outcome.err().map(|e| (e.is_unavailable(), e.to_string()));
    let mut results = results.into_iter();
    for p in batch.drain(..) {
        let answer = match (&failed, results.next()) {
            // The batch did not commit: nobody's report is stored. An unreachable
            // database stays "unavailable" for every caller, so each is told to retry.
            (Some((true, reason)), _) => Err(StoreError::Connect {
                url: "(intake)".into(),
                reason: reason.clone(),
            }),
            (Some((false, reason)), _) => Err(StoreError::Task(format!(
                "the report was not stored ({reason}); send it again"
            ))),
            (None, Some(Ok(()))) => Ok(p.incident),
            (None, Some(Err(e))) => Err(e),
            (None, None) => Err(StoreError::Task("the report was not written".into())),
        };
        // A caller that gave up waiting no longer needs the answer; its report stays stored.
        let _ = p.reply.send(answer);
    }
}
