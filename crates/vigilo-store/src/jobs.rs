//! Periodic jobs shared by every server process on one database.
//!
//! A tick is claimed by a compare-and-set on the job's `next_run_at`: of several
//! processes racing for the same tick exactly one update matches (PostgreSQL
//! re-checks the WHERE clause after the row lock; SQLite serialises writers),
//! and `job_runs` has a unique (job, tick) key as a second guard.

use crate::{format_time, parse_time, Store, StoreError};
use serde::Serialize;
use time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaim {
    pub job_name: String,
    pub scheduled_for: String,
    pub run_id: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRun {
    pub id: i64,
    pub job_name: String,
    pub scheduled_for: String,
    pub owner: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub detail: Option<String>,
}

impl Store {
    /// Registers a job (first run due now) or updates its interval.
    pub async fn ensure_job(&self, name: &str, interval: Duration) -> Result<(), StoreError> {
        let secs = interval.whole_seconds().max(1);
        sqlx::query(
            "INSERT INTO jobs (name, interval_secs, next_run_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET interval_secs = excluded.interval_secs",
        )
        .bind(name)
        .bind(secs)
        .bind(self.now_text())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Claims the job's due tick for `owner`, or returns `None` when it is not due
    /// or another process got it first. Missed ticks (the service was down) are
    /// folded into one run.
    pub async fn claim_job(
        &self,
        name: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<JobClaim>, StoreError> {
        let now = self.now();
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT interval_secs, next_run_at FROM jobs WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        let Some((interval_secs, next_run_at)) = row else {
            return Err(StoreError::NotFound {
                what: "job",
                key: name.to_string(),
            });
        };
        let Some(due) = parse_time(&next_run_at) else {
            return Err(StoreError::Invalid {
                field: "next_run_at",
                reason: format!("stored time '{next_run_at}' is not a valid time"),
            });
        };
        if due > now {
            return Ok(None);
        }
        let interval = Duration::seconds(interval_secs.max(1));
        let missed = ((now - due).whole_seconds() / interval.whole_seconds()) as i32;
        let next = due + interval * (missed + 1);
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE jobs SET next_run_at = $1, lease_owner = $2, lease_until = $3 \
             WHERE name = $4 AND next_run_at = $5",
        )
        .bind(format_time(next))
        .bind(owner)
        .bind(format_time(now + lease))
        .bind(name)
        .bind(&next_run_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(None);
        }
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO job_runs (job_name, scheduled_for, owner, started_at, status) \
             VALUES ($1, $2, $3, $4, 'running') RETURNING id",
        )
        .bind(name)
        .bind(&next_run_at)
        .bind(owner)
        .bind(format_time(now))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(JobClaim {
            job_name: name.to_string(),
            scheduled_for: next_run_at,
            run_id,
        }))
    }

    /// Records the end of a claimed run.
    pub async fn finish_job(
        &self,
        claim: &JobClaim,
        ok: bool,
        detail: &str,
    ) -> Result<(), StoreError> {
        let now = self.now_text();
        let status = if ok { "ok" } else { "failed" };
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE job_runs SET finished_at = $1, status = $2, detail = $3 WHERE id = $4")
            .bind(&now)
            .bind(status)
            .bind(detail)
            .bind(claim.run_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE jobs SET last_run_at = $1, last_status = $2, lease_owner = NULL, lease_until = NULL WHERE name = $3",
        )
        .bind(&now)
        .bind(status)
        .bind(&claim.job_name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn job_runs(&self, name: &str) -> Result<Vec<JobRun>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, job_name, scheduled_for, owner, started_at, finished_at, status, detail \
             FROM job_runs WHERE job_name = $1 ORDER BY scheduled_for, id",
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?)
    }
}
