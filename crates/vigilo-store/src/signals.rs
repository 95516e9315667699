//! Early warning signals: the facts the detection job reads (coded reports, monthly report
//! counts and monitoring uses), the signals it records, and the reviewer's workflow.

use crate::audit::{append, AuditEntry};
use crate::error::invalid;
use crate::{new_id, Store, StoreError};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use vigilo_core::signal::{
    signal_key, signal_transition, SignalCommand, SignalMethod, SignalState,
};

/// One (report, code) pair for disproportionality, with where and when.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignalInput {
    pub incident_id: String,
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub version_id: Option<String>,
    pub version: Option<String>,
    /// The FDA submission number of a device on the FDA list (imported reports).
    pub fda_reference: Option<String>,
    pub fda_device: Option<String>,
    pub code: String,
    /// The event date, else the day of receipt.
    pub day: String,
    pub province_code: Option<String>,
}

/// Coded, non-duplicate reports of one unit the detection job counts in (the reports of
/// [`Store::signal_inputs`]): a directory product's version, a directory product without a
/// known version, or a device of a foreign list.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalGroup {
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub version_id: Option<String>,
    pub version: Option<String>,
    pub foreign_reference_id: Option<String>,
    /// The FDA submission number of a device on the FDA list (imported reports).
    pub fda_reference: Option<String>,
    pub fda_device: Option<String>,
    /// Reports in the unit (each with at least one code).
    pub reports: u64,
    /// Rank of the unit's latest report among all reports (by id): of two units counted
    /// under one key, the later one names it, as the row-by-row computation ends with it.
    pub last_rank: u64,
    /// Reports per code, by code.
    pub codes: Vec<(String, u64)>,
}

/// A unit and code whose reports are wanted (see [`SignalSnapshot::cell_reports`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    pub product_id: Option<String>,
    pub version_id: Option<String>,
    pub foreign_reference_id: Option<String>,
    pub code: String,
}

/// One report of a wanted cell, with its day (event date, else receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellReport {
    /// Index of the cell in the list asked for.
    pub cell: usize,
    pub incident_id: String,
    pub day: String,
}

/// The reports `signal_inputs` reads (`i` is the incident).
const SIGNAL_REPORTS: &str =
    "i.duplicate_of IS NULL AND (i.product_id IS NOT NULL OR i.foreign_reference_id IS NOT NULL)";

/// Coded reports read per statement (keyset pages by id).
const SNAPSHOT_PAGE: i64 = 250_000;

/// One coded report as packed by [`Store::signal_snapshot`].
struct PackedReport<'a> {
    product_id: Option<&'a str>,
    version_id: Option<&'a str>,
    foreign_reference_id: Option<&'a str>,
    /// The three ids together, as the unit's key while counting.
    unit: &'a str,
    id: &'a str,
    day: &'a str,
    codes: std::str::Split<'a, char>,
}

const FIELD_SEP: char = '\u{1f}';
const RECORD_SEP: char = '\u{1e}';

fn non_empty(t: &str) -> Option<&str> {
    (!t.is_empty()).then_some(t)
}

/// The reports of one packed page.
fn packed_reports(page: &str) -> impl Iterator<Item = Result<PackedReport<'_>, StoreError>> {
    page.split_terminator(RECORD_SEP).map(|rec| {
        let bad = || decode_error(format!("signal snapshot: cannot read report {rec:.80?}"));
        let mut at = 0;
        let mut ends = rec.match_indices(FIELD_SEP).map(|(i, _)| i);
        let mut fields = [(0usize, 0usize); 6];
        for f in &mut fields {
            let end = ends.next().ok_or_else(bad)?;
            *f = (at, end);
            at = end + 1;
        }
        let get = |k: usize| &rec[fields[k].0..fields[k].1];
        let n: usize = get(5).parse().map_err(|_| bad())?;
        let codes_text = &rec[at..];
        if codes_text.split(FIELD_SEP).count() != n {
            return Err(bad());
        }
        Ok(PackedReport {
            product_id: non_empty(get(0)),
            version_id: non_empty(get(1)),
            foreign_reference_id: non_empty(get(2)),
            unit: &rec[..fields[2].1],
            id: get(3),
            day: get(4),
            codes: codes_text.split(FIELD_SEP),
        })
    })
}

/// Reports about a directory product by month (event date, else receipt).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MonthCount {
    pub product_id: String,
    pub month: String,
    pub n: i64,
}

/// Reports about a product in a province since a date, with their ids.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlaceReport {
    pub incident_id: String,
    pub product_id: String,
    pub product_name: String,
    pub province_code: String,
    pub day: String,
}

/// What the detection job found: one candidate signal with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub method: SignalMethod,
    pub product_key: String,
    pub product_label: String,
    pub product_id: Option<String>,
    pub version_id: Option<String>,
    pub code: String,
    pub region: String,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub observed: i64,
    pub expected: f64,
    pub score_label: String,
    pub score: f64,
    pub evidence: serde_json::Value,
    pub incident_ids: Vec<String>,
}

/// What recording a run changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DetectionOutcome {
    pub new: u64,
    /// Found again with other figures or other reports.
    pub updated: u64,
    /// Found again exactly as recorded (only the time of the last detection moves).
    pub unchanged: u64,
    /// Signals found before and not in this run (kept, marked no longer detected).
    pub no_longer_detected: u64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Signal {
    pub id: String,
    pub signal_key: String,
    pub method: String,
    pub product_key: String,
    pub product_label: String,
    pub product_id: Option<String>,
    pub version_id: Option<String>,
    pub code: String,
    pub region: String,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub observed: i64,
    pub expected: f64,
    pub score_label: String,
    pub score: f64,
    pub evidence_json: String,
    pub state: String,
    pub still_detected: i64,
    pub first_detected_at: String,
    pub last_detected_at: String,
    pub updated_at: String,
}

const SIGNAL_COLUMNS: &str = "id, signal_key, method, product_key, product_label, product_id, version_id, code, region, window_start, window_end, observed, expected, score_label, score, evidence_json, state, still_detected, first_detected_at, last_detected_at, updated_at";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SignalEvent {
    pub at: String,
    pub actor_id: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub state: Option<SignalState>,
    pub method: Option<SignalMethod>,
    pub product_id: Option<String>,
    pub limit: u32,
}

impl Store {
    /// Every coded, non-duplicate report about a known product or FDA-listed device, one
    /// row per code.
    pub async fn signal_inputs(&self) -> Result<Vec<SignalInput>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT i.id AS incident_id, i.product_id, p.name AS product_name, i.version_id, v.version, \
                    f.reference AS fda_reference, f.device AS fda_device, c.code, \
                    COALESCE(i.occurred_on, i.received_on) AS day, i.province_code \
             FROM incident_codes c JOIN incidents i ON i.id = c.incident_id \
             LEFT JOIN products p ON p.id = i.product_id \
             LEFT JOIN product_versions v ON v.id = i.version_id \
             LEFT JOIN foreign_references f ON f.id = i.foreign_reference_id \
             WHERE i.duplicate_of IS NULL AND (i.product_id IS NOT NULL OR i.foreign_reference_id IS NOT NULL) \
             ORDER BY i.id, c.code",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Every coded, non-duplicate report of [`signal_inputs`](Self::signal_inputs) read in
    /// one snapshot and packed by the database into a few long text values (one per page of
    /// reports by id: the unit, id, day and codes of each), instead of one row per report and
    /// code: the `Any` driver's cost is per row and per value, not per byte. The counts and
    /// the reports behind the cells that signal are then taken from it without another read.
    pub async fn signal_snapshot(&self) -> Result<SignalSnapshot, StoreError> {
        let mut tx = self.begin_read().await?;
        let mut pages = Vec::new();
        let mut after = String::new();
        loop {
            let row: (Option<String>, Option<String>) =
                sqlx::query_as(snapshot_sql(self.backend()))
                    .bind(&after)
                    .fetch_one(&mut *tx)
                    .await?;
            match row {
                (Some(last), packed) => {
                    if let Some(p) = packed {
                        pages.push(p);
                    }
                    after = last;
                }
                (None, _) => break,
            }
        }
        let products: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM products")
            .fetch_all(&mut *tx)
            .await?;
        let versions: Vec<(String, String)> =
            sqlx::query_as("SELECT id, version FROM product_versions")
                .fetch_all(&mut *tx)
                .await?;
        let references: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, reference, device FROM foreign_references")
                .fetch_all(&mut *tx)
                .await?;
        tx.rollback().await?;
        let names = UnitNames {
            products: products.into_iter().collect(),
            versions: versions.into_iter().collect(),
            references: references
                .into_iter()
                .map(|(id, r, d)| (id, (r, d)))
                .collect(),
        };
        Ok(SignalSnapshot { pages, names })
    }

    /// Reports per directory product and month.
    pub async fn incident_months(&self) -> Result<Vec<MonthCount>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT product_id, SUBSTR(COALESCE(occurred_on, received_on), 1, 7) AS month, CAST(COUNT(*) AS BIGINT) AS n \
             FROM incidents WHERE duplicate_of IS NULL AND product_id IS NOT NULL \
             GROUP BY product_id, SUBSTR(COALESCE(occurred_on, received_on), 1, 7) ORDER BY 1, 2",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Monitoring uses per product and month (live periods only, not baseline).
    pub async fn usage_months(&self) -> Result<Vec<MonthCount>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT product_id, SUBSTR(period_anchor, 1, 7) AS month, CAST(SUM(uses) AS BIGINT) AS n \
             FROM monitoring_reports WHERE baseline = 0 \
             GROUP BY product_id, SUBSTR(period_anchor, 1, 7) ORDER BY 1, 2",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Monitoring uses per product and province for periods starting on or after `since`.
    pub async fn usage_by_province(&self, since: &str) -> Result<Vec<MonthCount>, StoreError> {
        // `month` carries the province code here: the same two-column shape.
        Ok(sqlx::query_as(
            "SELECT product_id, province_code AS month, CAST(SUM(uses) AS BIGINT) AS n \
             FROM monitoring_reports WHERE baseline = 0 AND period_start >= $1 \
             GROUP BY product_id, province_code ORDER BY 1, 2",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?)
    }

    /// Non-duplicate reports about directory products placed in a province, since a date.
    pub async fn placed_reports(&self, since: &str) -> Result<Vec<PlaceReport>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT i.id AS incident_id, i.product_id, p.name AS product_name, i.province_code, \
                    COALESCE(i.occurred_on, i.received_on) AS day \
             FROM incidents i JOIN products p ON p.id = i.product_id \
             WHERE i.duplicate_of IS NULL AND i.province_code IS NOT NULL \
               AND COALESCE(i.occurred_on, i.received_on) >= $1 \
             ORDER BY i.product_id, i.province_code, i.id",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a detection run in one transaction: new signals are created, known ones
    /// updated (their reviewer's state is kept), and signals this run did not find are
    /// marked no longer detected. A known signal whose figures, evidence and reports are
    /// what the run found again is left as it is, except for its last detection time; one
    /// whose reports changed gets the reports added and loses the ones gone (its other
    /// report rows stay).
    pub async fn record_detections(
        &self,
        actor: &str,
        detections: &[Detection],
    ) -> Result<DetectionOutcome, StoreError> {
        let now = self.now_text();
        let backend = self.backend();
        let mut outcome = DetectionOutcome::default();
        let mut tx = self.begin_write().await?;
        let known: Vec<Recorded> = sqlx::query_as(
            "SELECT id, signal_key, product_label, window_start, window_end, observed, expected, score_label, score, \
                    evidence_json, still_detected, reports_digest FROM signals",
        )
        .fetch_all(&mut *tx)
        .await?;
        let known: HashMap<&str, &Recorded> =
            known.iter().map(|k| (k.signal_key.as_str(), k)).collect();
        let mut found: HashSet<String> = HashSet::new();
        for d in detections {
            let key = signal_key(d.method, &d.product_key, &d.code, &d.region);
            if !found.insert(key.clone()) {
                continue;
            }
            let evidence = d.evidence.to_string();
            let mut ids: Vec<&str> = d.incident_ids.iter().map(String::as_str).collect();
            ids.sort_unstable();
            ids.dedup();
            let digest = reports_digest(&ids);
            match known.get(key.as_str()) {
                Some(k) => {
                    let same_reports = k.reports_digest == digest;
                    if same_reports && k.same_figures(d, &evidence) {
                        outcome.unchanged += 1;
                        continue;
                    }
                    sqlx::query(
                        "UPDATE signals SET product_label = $1, window_start = $2, window_end = $3, observed = $4, expected = $5, \
                         score_label = $6, score = $7, evidence_json = $8, still_detected = 1, last_detected_at = $9, updated_at = $9, \
                         reports_digest = $10 WHERE id = $11",
                    )
                    .bind(&d.product_label)
                    .bind(d.window_start.as_deref())
                    .bind(d.window_end.as_deref())
                    .bind(d.observed)
                    .bind(d.expected)
                    .bind(&d.score_label)
                    .bind(d.score)
                    .bind(&evidence)
                    .bind(&now)
                    .bind(&digest)
                    .bind(&k.id)
                    .execute(&mut *tx)
                    .await?;
                    if !same_reports {
                        let before: Vec<(String,)> = sqlx::query_as(
                            "SELECT incident_id FROM signal_incidents WHERE signal_id = $1",
                        )
                        .bind(&k.id)
                        .fetch_all(&mut *tx)
                        .await?;
                        let before: HashSet<&str> = before.iter().map(|(i,)| i.as_str()).collect();
                        let wanted: HashSet<&str> = ids.iter().copied().collect();
                        let mut gone: Vec<&str> = before.difference(&wanted).copied().collect();
                        gone.sort_unstable();
                        let added: Vec<&str> = ids
                            .iter()
                            .copied()
                            .filter(|i| !before.contains(i))
                            .collect();
                        for chunk in gone.chunks(LINK_CHUNK) {
                            let sql = sqlf!(
                                "DELETE FROM signal_incidents WHERE signal_id = {} AND incident_id IN ({})",
                                crate::monitoring::placeholders(backend, 0, 1),
                                crate::monitoring::placeholders(backend, 1, chunk.len())
                            );
                            let mut q = sqlx::query(sql).bind(&k.id);
                            for i in chunk {
                                q = q.bind(*i);
                            }
                            q.execute(&mut *tx).await?;
                        }
                        insert_links(&mut tx, backend, &k.id, &added).await?;
                    }
                    outcome.updated += 1;
                }
                None => {
                    let id = new_id();
                    sqlx::query(sqlf!(
                        "INSERT INTO signals ({SIGNAL_COLUMNS}, reports_digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'new', 1, $17, $17, $17, $18)"
                    ))
                    .bind(&id)
                    .bind(&key)
                    .bind(d.method.code())
                    .bind(&d.product_key)
                    .bind(&d.product_label)
                    .bind(d.product_id.as_deref())
                    .bind(d.version_id.as_deref())
                    .bind(&d.code)
                    .bind(&d.region)
                    .bind(d.window_start.as_deref())
                    .bind(d.window_end.as_deref())
                    .bind(d.observed)
                    .bind(d.expected)
                    .bind(&d.score_label)
                    .bind(d.score)
                    .bind(&evidence)
                    .bind(&now)
                    .bind(&digest)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO signal_events (signal_id, at, actor_id, action, from_state, to_state, reason) VALUES ($1, $2, $3, 'detect', '', 'new', $4)",
                    )
                    .bind(&id)
                    .bind(&now)
                    .bind(actor)
                    .bind(format!("{} {:.2}", d.score_label, d.score))
                    .execute(&mut *tx)
                    .await?;
                    insert_links(&mut tx, backend, &id, &ids).await?;
                    outcome.new += 1;
                }
            }
        }
        for (key, k) in &known {
            if k.still_detected == 1 && !found.contains(*key) {
                let changed = sqlx::query(
                    "UPDATE signals SET still_detected = 0, updated_at = $1 WHERE id = $2 AND still_detected = 1",
                )
                .bind(&now)
                .bind(&k.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                outcome.no_longer_detected += changed;
            }
        }
        if outcome.unchanged > 0 {
            // Found again as they were: only the time of the latest detection moves. Every
            // signal still marked detected at this point was found by this run.
            sqlx::query(
                "UPDATE signals SET last_detected_at = $1 WHERE still_detected = 1 AND last_detected_at <> $1",
            )
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "signal.detect", "signals", "run").after(json!(&outcome)),
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Signals, strongest evidence first within each state (new first).
    pub async fn signals(&self, f: &SignalFilter) -> Result<Vec<Signal>, StoreError> {
        let limit = i64::from(f.limit.clamp(1, 1000));
        Ok(sqlx::query_as(sqlf!(
            "SELECT {SIGNAL_COLUMNS} FROM signals WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR method = $2) \
             AND ($3 IS NULL OR product_id = $3) \
             ORDER BY CASE state WHEN 'new' THEN 0 WHEN 'under_review' THEN 1 WHEN 'confirmed' THEN 2 ELSE 3 END, \
                      still_detected DESC, last_detected_at DESC, observed DESC, id LIMIT {limit}"
        ))
        .bind(f.state.map(|s| s.code()))
        .bind(f.method.map(|m| m.code()))
        .bind(f.product_id.as_deref())
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn signal(&self, id: &str) -> Result<Option<Signal>, StoreError> {
        Ok(
            sqlx::query_as(sqlf!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The ids of the reports behind a signal.
    pub async fn signal_incident_ids(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT incident_id FROM signal_incidents WHERE signal_id = $1 ORDER BY incident_id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(i,)| i).collect())
    }

    pub async fn signal_events(&self, id: &str) -> Result<Vec<SignalEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, actor_id, action, from_state, to_state, reason FROM signal_events WHERE signal_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The reviewer's step on a signal, with a reason, in the history and the audit chain.
    pub async fn signal_transition(
        &self,
        actor: &str,
        id: &str,
        command: SignalCommand,
        reason: &str,
    ) -> Result<Signal, StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", "give a reason for this step"));
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let row: Option<(String,)> = sqlx::query_as("SELECT state FROM signals WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let (state,) = row.ok_or_else(|| StoreError::NotFound {
            what: "signal",
            key: id.into(),
        })?;
        let from: SignalState = state
            .parse()
            .map_err(|e: vigilo_core::directory::UnknownCode| invalid("state", e.to_string()))?;
        let to = signal_transition(from, command).map_err(|e| StoreError::Conflict {
            what: "signal state",
            key: e.to_string(),
        })?;
        let changed = sqlx::query(
            "UPDATE signals SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4",
        )
        .bind(to.code())
        .bind(&now)
        .bind(id)
        .bind(from.code())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(StoreError::Conflict {
                what: "signal state",
                key: "changed by someone else; reload".into(),
            });
        }
        sqlx::query(
            "INSERT INTO signal_events (signal_id, at, actor_id, action, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&now)
        .bind(actor)
        .bind(command.code())
        .bind(from.code())
        .bind(to.code())
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, &format!("signal.{}", command.code()), "signal", id)
                .before(json!({"state": from.code()}))
                .after(json!({"state": to.code(), "reason": reason})),
        )
        .await?;
        tx.commit().await?;
        self.signal(id).await?.ok_or_else(|| StoreError::NotFound {
            what: "signal",
            key: id.into(),
        })
    }
}

/// Report links written per statement (two values each).
const LINK_CHUNK: usize = 400;

/// A recorded signal as `record_detections` compares it with a new detection.
#[derive(sqlx::FromRow)]
struct Recorded {
    id: String,
    signal_key: String,
    product_label: String,
    window_start: Option<String>,
    window_end: Option<String>,
    observed: i64,
    expected: f64,
    score_label: String,
    score: f64,
    evidence_json: String,
    still_detected: i64,
    reports_digest: String,
}

impl Recorded {
    /// Whether the detection says what the row says, and the row is marked detected.
    /// Floats compare exactly: the same data give the same bits, and any other change
    /// rewrites the row.
    fn same_figures(&self, d: &Detection, evidence: &str) -> bool {
        self.still_detected == 1
            && self.product_label == d.product_label
            && self.window_start == d.window_start
            && self.window_end == d.window_end
            && self.observed == d.observed
            && self.expected.to_bits() == d.expected.to_bits()
            && self.score_label == d.score_label
            && self.score.to_bits() == d.score.to_bits()
            && self.evidence_json == evidence
    }
}

/// SHA-256 (hex) of the sorted, distinct report ids, one per line: stored with the signal
/// so that a run knows whether its reports changed without reading them.
fn reports_digest(sorted_ids: &[&str]) -> String {
    let mut h = Sha256::new();
    for id in sorted_ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

async fn insert_links(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: crate::Backend,
    signal_id: &str,
    incident_ids: &[&str],
) -> Result<(), StoreError> {
    for chunk in incident_ids.chunks(LINK_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", crate::monitoring::placeholders(backend, 2 * i, 2)))
            .collect();
        let sql = sqlf!(
            "INSERT INTO signal_incidents (signal_id, incident_id) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(sql);
        for i in chunk {
            q = q.bind(signal_id).bind(*i);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The statement reading one page of packed reports after a given id. The incidents drive
/// the join in id order (CROSS JOIN keeps SQLite from starting with the codes), which is
/// also the order of the primary key of `incident_codes`, and `GROUP BY i.id` follows it
/// without sorting. Each report packs as its fields and codes separated by `\x1f`, ended by
/// `\x1e`; its number of codes is in the record so that a stray separator is caught.
fn snapshot_sql(backend: crate::Backend) -> sqlx::AssertSqlSafe<String> {
    let (outer, inner, us, rs) = match backend {
        crate::Backend::Sqlite => (
            "group_concat(t.rec, '')",
            "group_concat(c.code, char(31))",
            "char(31)",
            "char(30)",
        ),
        crate::Backend::Postgres => (
            "string_agg(t.rec, '' ORDER BY t.id)",
            "string_agg(c.code, chr(31) ORDER BY c.code)",
            "chr(31)",
            "chr(30)",
        ),
    };
    sqlf!(
        "SELECT MAX(t.id) AS last_id, {outer} AS packed FROM ( \
           SELECT i.id, COALESCE(i.product_id, '') || {us} || COALESCE(i.version_id, '') || {us} || \
                  COALESCE(i.foreign_reference_id, '') || {us} || i.id || {us} || \
                  COALESCE(i.occurred_on, i.received_on) || {us} || CAST(COUNT(*) AS TEXT) || {us} || \
                  {inner} || {rs} AS rec \
           FROM incidents i CROSS JOIN incident_codes c \
           WHERE c.incident_id = i.id AND i.id > $1 AND {SIGNAL_REPORTS} \
           GROUP BY i.id ORDER BY i.id LIMIT {SNAPSHOT_PAGE}) t"
    )
}

/// Names of products, versions and foreign devices by id.
struct UnitNames {
    products: HashMap<String, String>,
    versions: HashMap<String, String>,
    references: HashMap<String, (String, String)>,
}

/// The coded reports of one detection run, packed (see [`Store::signal_snapshot`]).
pub struct SignalSnapshot {
    pages: Vec<String>,
    names: UnitNames,
}

impl SignalSnapshot {
    fn reports(&self) -> impl Iterator<Item = Result<PackedReport<'_>, StoreError>> {
        self.pages.iter().flat_map(|p| packed_reports(p))
    }

    /// The reports counted per unit and per unit and code, units in a fixed order.
    pub fn groups(&self) -> Result<Vec<SignalGroup>, StoreError> {
        struct Acc<'a> {
            ids: [Option<&'a str>; 3],
            reports: u64,
            last_rank: u64,
            codes: FxHashMap<&'a str, u64>,
        }
        let mut index: FxHashMap<&str, usize> = FxHashMap::default();
        let mut units: Vec<Acc<'_>> = Vec::new();
        for (rank, r) in self.reports().enumerate() {
            let r = r?;
            let k = match index.get(r.unit) {
                Some(&k) => k,
                None => {
                    index.insert(r.unit, units.len());
                    units.push(Acc {
                        ids: [r.product_id, r.version_id, r.foreign_reference_id],
                        reports: 0,
                        last_rank: 0,
                        codes: FxHashMap::default(),
                    });
                    units.len() - 1
                }
            };
            let u = &mut units[k];
            u.reports += 1;
            u.last_rank = rank as u64;
            for code in r.codes {
                *u.codes.entry(code).or_insert(0) += 1;
            }
        }
        let mut out: Vec<SignalGroup> = units
            .into_iter()
            .map(|u| {
                let [p, v, f] = u.ids;
                let reference = f.and_then(|f| self.names.references.get(f));
                let mut codes: Vec<(String, u64)> = u
                    .codes
                    .into_iter()
                    .map(|(c, n)| (c.to_string(), n))
                    .collect();
                codes.sort_unstable();
                SignalGroup {
                    product_id: p.map(str::to_string),
                    product_name: p.and_then(|p| self.names.products.get(p)).cloned(),
                    version_id: v.map(str::to_string),
                    version: v.and_then(|v| self.names.versions.get(v)).cloned(),
                    foreign_reference_id: f.map(str::to_string),
                    fda_reference: reference.map(|r| r.0.clone()),
                    fda_device: reference.map(|r| r.1.clone()),
                    reports: u.reports,
                    last_rank: u.last_rank,
                    codes,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.product_id, &a.version_id, &a.foreign_reference_id).cmp(&(
                &b.product_id,
                &b.version_id,
                &b.foreign_reference_id,
            ))
        });
        Ok(out)
    }

    /// The reports behind the given cells (unit and code), with their days; each names the
    /// index of its cell in `cells`.
    pub fn cell_reports(&self, cells: &[CellKey]) -> Result<Vec<CellReport>, StoreError> {
        let mut wanted: HashMap<[Option<&str>; 3], HashMap<&str, usize>> = HashMap::new();
        for (k, c) in cells.iter().enumerate() {
            wanted
                .entry([
                    c.product_id.as_deref(),
                    c.version_id.as_deref(),
                    c.foreign_reference_id.as_deref(),
                ])
                .or_default()
                .insert(c.code.as_str(), k);
        }
        let mut out = Vec::new();
        let mut last: Option<(&str, Option<&HashMap<&str, usize>>)> = None;
        for r in self.reports() {
            let r = r?;
            let codes = match last {
                Some((u, codes)) if u == r.unit => codes,
                _ => {
                    let codes = wanted.get(&[r.product_id, r.version_id, r.foreign_reference_id]);
                    last = Some((r.unit, codes));
                    codes
                }
            };
            let Some(codes) = codes else {
                continue;
            };
            for code in r.codes {
                if let Some(&cell) = codes.get(code) {
                    out.push(CellReport {
                        cell,
                        incident_id: r.id.to_string(),
                        day: r.day.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }
}

fn decode_error(reason: String) -> StoreError {
    StoreError::Db(sqlx::Error::Decode(reason.into()))
}
