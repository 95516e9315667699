//! The Navigator: readiness self-assessments (drafts saved as often as needed, every saved
//! state kept; submitted ones frozen and kept as history), facility types, the training
//! catalogue and sessions (which write the facility's training status per tool that the
//! deployment check reads), the readiness map's figures and the regulator's minimum readiness
//! level for high-risk tools.
//!
//! Answers are checked and levels computed by `vigilo_core::navigator::evaluate` inside these
//! functions, so no path stores an answer the framework does not know.

use crate::audit::{append, AuditEntry};
use crate::error::{invalid, not_found};
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use vigilo_core::appraisal::iso_date;
use vigilo_core::checklist::{AnswerSet, Catalog};
use vigilo_core::monitoring::TrainingRecord;
use vigilo_core::navigator::{
    audience_code, evaluate, AssessmentStatus, Evaluated, FacilityType, NavigatorError, NewCourse,
    NewSession, ReadinessRule, RoleCount, StaffRole, SubjectKind, READINESS_FRAMEWORK,
};

impl From<NavigatorError> for StoreError {
    fn from(e: NavigatorError) -> Self {
        StoreError::Invalid {
            field: e.field(),
            reason: match e {
                NavigatorError::Invalid { reason, .. } => reason,
                other => other.to_string(),
            },
        }
    }
}

/// The settings key of the minimum readiness level for high-risk tools.
const MIN_LEVEL_KEY: &str = "navigator.min_level_high_risk";

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReadinessAssessment {
    pub id: String,
    pub org_id: String,
    pub subject_kind: String,
    pub province_code: String,
    pub facility_type: String,
    pub framework_id: String,
    pub framework_version: i64,
    pub framework_fingerprint: String,
    pub status: String,
    pub revision: i64,
    pub answers_json: String,
    pub score_json: String,
    pub overall_level: i64,
    pub overall_mean: f64,
    pub answered: i64,
    pub unanswered: i64,
    pub created_by: String,
    pub created_at: String,
    pub updated_by: String,
    pub updated_at: String,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<String>,
}

const ASSESSMENT_COLUMNS: &str = "id, org_id, subject_kind, province_code, facility_type, framework_id, framework_version, framework_fingerprint, status, revision, answers_json, score_json, overall_level, overall_mean, answered, unanswered, created_by, created_at, updated_by, updated_at, submitted_by, submitted_at";

impl ReadinessAssessment {
    pub fn status(&self) -> AssessmentStatus {
        self.status.parse().unwrap_or(AssessmentStatus::Submitted)
    }
    /// The stored answers (as saved; checked when they were).
    pub fn answers(&self) -> Result<AnswerSet, StoreError> {
        serde_json::from_str(&self.answers_json)
            .map_err(|e| StoreError::ReferenceData(format!("assessment {}: {e}", self.id)))
    }
    /// Re-evaluates the stored answers against their own framework version.
    pub fn evaluate(&self, catalog: &Catalog) -> Result<Evaluated, StoreError> {
        Ok(evaluate(catalog, &self.answers()?)?)
    }
}

/// A saved state of an assessment (each draft save, and the submission).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AssessmentRevision {
    pub revision: i64,
    pub overall_level: i64,
    pub saved_by: String,
    pub saved_at: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TrainingCourse {
    pub id: String,
    pub title: String,
    /// Role codes, comma-separated (`vigilo_core::navigator::parse_audience`).
    pub audience: String,
    /// 0 for courses created from a training record that did not say.
    pub hours: f64,
    pub provider: String,
    pub product_id: Option<String>,
    pub created_by: String,
    pub created_at: String,
}

const COURSE_COLUMNS: &str =
    "id, title, audience, hours, provider, product_id, created_by, created_at";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TrainingSession {
    pub id: String,
    pub course_id: String,
    pub course_title: String,
    pub facility_id: Option<String>,
    pub facility_name: Option<String>,
    pub province_code: String,
    pub held_on: String,
    pub total_trained: i64,
    pub recorded_by: String,
    pub created_at: String,
}

const SESSION_SELECT: &str =
    "SELECT s.id, s.course_id, c.title AS course_title, s.facility_id, o.name AS facility_name, \
     s.province_code, s.held_on, s.total_trained, s.recorded_by, s.created_at \
     FROM training_sessions s JOIN training_courses c ON c.id = s.course_id \
     LEFT JOIN organisations o ON o.id = s.facility_id";

/// A session with its counts by role.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedSession {
    pub session: TrainingSession,
    pub counts: Vec<(String, i64)>,
    /// The training record (the facility's status on the course's tool), when there is one.
    pub training_record_id: Option<String>,
}

/// A facility's training on one AI tool.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ToolTrainingStatus {
    pub product_id: String,
    pub product_name: String,
    pub sessions: i64,
    pub staff_trained: i64,
    pub first_trained_on: String,
    pub last_trained_on: String,
}

#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub facility_id: Option<String>,
    pub province_code: Option<String>,
    pub limit: i64,
}

/// One cell of the readiness map: a province and a facility type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadinessCell {
    pub province_code: String,
    pub province_name: String,
    pub facility_type: String,
    /// Facilities (or, for `provincial_department`, health departments) known.
    pub units: u64,
    /// Of those, with a submitted self-assessment.
    pub assessed: u64,
    /// Latest submitted overall level: how many at 0, 1, 2, …
    pub levels: Vec<u64>,
    /// At or above the regulator's minimum for high-risk tools.
    pub at_minimum: u64,
    /// Facilities with at least one training session held there.
    pub with_training: u64,
    /// People trained in sessions at those facilities.
    pub people_trained: u64,
}

/// A facility's or health department's latest state, for lists.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AssessedUnit {
    pub org_id: String,
    pub org_name: String,
    pub org_code: String,
    pub province_code: String,
    pub facility_type: String,
    pub assessment_id: String,
    pub overall_level: i64,
    pub submitted_at: String,
}

// ---------------------------------------------------------------------------------------------
// Who assesses
// ---------------------------------------------------------------------------------------------

struct Subject {
    kind: SubjectKind,
    province_code: String,
    facility_type: FacilityType,
}

fn province_of(unit: &crate::AdminUnitRow) -> String {
    match unit.level.as_str() {
        "province" => unit.code.clone(),
        _ => unit
            .parent_code
            .clone()
            .unwrap_or_else(|| unit.code.clone()),
    }
}

impl Store {
    async fn subject(&self, org_id: &str) -> Result<Subject, StoreError> {
        let org = self
            .organisation(org_id)
            .await?
            .ok_or_else(|| not_found("organisation", org_id))?;
        let neither = || {
            invalid(
                "organisation",
                format!(
                    "{} is neither a health facility nor a provincial health department",
                    org.name
                ),
            )
        };
        if !matches!(org.kind.as_str(), "facility" | "regulator") {
            return Err(neither());
        }
        let unit_code = org.admin_unit_code.clone().ok_or_else(|| {
            invalid(
                "organisation",
                format!("{} has no administrative unit", org.name),
            )
        })?;
        let unit = self
            .admin_unit(&unit_code)
            .await?
            .ok_or_else(|| not_found("administrative unit", &unit_code))?;
        match org.kind.as_str() {
            "facility" => Ok(Subject {
                kind: SubjectKind::Facility,
                province_code: province_of(&unit),
                facility_type: self.facility_type(org_id).await?,
            }),
            // A provincial health department: a regulator organisation located in a province.
            "regulator" if unit.level == "province" => Ok(Subject {
                kind: SubjectKind::Province,
                province_code: unit.code,
                facility_type: FacilityType::ProvincialDepartment,
            }),
            _ => Err(neither()),
        }
    }

    /// The facility's declared type, `unspecified` when it has not said.
    pub async fn facility_type(&self, facility_id: &str) -> Result<FacilityType, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT facility_type FROM facility_profiles WHERE facility_id = $1")
                .bind(facility_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row
            .and_then(|(t,)| t.parse().ok())
            .unwrap_or(FacilityType::Unspecified))
    }

    pub async fn set_facility_type(
        &self,
        actor: &str,
        facility_id: &str,
        facility_type: FacilityType,
    ) -> Result<(), StoreError> {
        if facility_type == FacilityType::ProvincialDepartment {
            return Err(invalid(
                "facility_type",
                "a health facility cannot be a provincial health department",
            ));
        }
        let org = self
            .organisation(facility_id)
            .await?
            .ok_or_else(|| not_found("facility", facility_id))?;
        if org.kind != "facility" {
            return Err(invalid(
                "facility",
                format!("{} is not a health facility", org.name),
            ));
        }
        let before = self.facility_type(facility_id).await?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO facility_profiles (facility_id, facility_type, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (facility_id) DO UPDATE SET facility_type = excluded.facility_type, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(facility_id)
        .bind(facility_type.code())
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "facility.set_type", "organisation", facility_id)
                .before(json!({ "facility_type": before.code() }))
                .after(json!({ "facility_type": facility_type.code() })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets many facility types in one transaction (demo and imports).
    pub async fn set_facility_types(
        &self,
        actor: &str,
        types: &[(String, FacilityType)],
    ) -> Result<(), StoreError> {
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        for (id, t) in types {
            sqlx::query(
                "INSERT INTO facility_profiles (facility_id, facility_type, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (facility_id) DO UPDATE SET facility_type = excluded.facility_type, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(id)
            .bind(t.code())
            .bind(actor)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "facility.set_types", "organisation", "batch")
                .after(json!({ "facilities": types.len() })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- assessments ----

    /// The organisation's open draft, or a new one on the latest readiness framework, started
    /// from its latest submitted answers (carried over to the new version when it changed).
    pub async fn open_assessment(
        &self,
        actor: &str,
        org_id: &str,
        catalog: &Catalog,
    ) -> Result<ReadinessAssessment, StoreError> {
        let subject = self.subject(org_id).await?;
        if let Some(draft) = self.draft_assessment(org_id).await? {
            return Ok(draft);
        }
        let framework = catalog
            .latest(READINESS_FRAMEWORK)
            .ok_or(NavigatorError::NoReadinessFramework)?;
        let start = match self.latest_submitted(org_id).await? {
            Some(prev) => {
                let old = prev.answers()?;
                match catalog.check(&old) {
                    Ok(checked) => framework.carry_over(&checked),
                    // Its framework version is no longer shipped: start empty rather than fail.
                    Err(_) => AnswerSet {
                        framework_id: framework.id().into(),
                        framework_version: framework.version(),
                        answers: vec![],
                    },
                }
            }
            None => AnswerSet {
                framework_id: framework.id().into(),
                framework_version: framework.version(),
                answers: vec![],
            },
        };
        let e = evaluate(catalog, &start)?;
        let now = self.now_text();
        let a = ReadinessAssessment {
            id: new_id(),
            org_id: org_id.into(),
            subject_kind: subject.kind.code().into(),
            province_code: subject.province_code,
            facility_type: subject.facility_type.code().into(),
            framework_id: framework.id().into(),
            framework_version: i64::from(framework.version()),
            framework_fingerprint: framework.fingerprint().into(),
            status: AssessmentStatus::Draft.code().into(),
            revision: 1,
            answers_json: to_json(&e.answers)?,
            score_json: to_json(&e.score)?,
            overall_level: i64::from(e.score.overall),
            overall_mean: e.score.overall_mean,
            answered: e.answered as i64,
            unanswered: e.score.unanswered as i64,
            created_by: actor.into(),
            created_at: now.clone(),
            updated_by: actor.into(),
            updated_at: now.clone(),
            submitted_by: None,
            submitted_at: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(sqlf!(
            "INSERT INTO readiness_assessments ({ASSESSMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, NULL, NULL)"
        ))
        .bind(&a.id)
        .bind(&a.org_id)
        .bind(&a.subject_kind)
        .bind(&a.province_code)
        .bind(&a.facility_type)
        .bind(&a.framework_id)
        .bind(a.framework_version)
        .bind(&a.framework_fingerprint)
        .bind(&a.status)
        .bind(a.revision)
        .bind(&a.answers_json)
        .bind(&a.score_json)
        .bind(a.overall_level)
        .bind(a.overall_mean)
        .bind(a.answered)
        .bind(a.unanswered)
        .bind(&a.created_by)
        .bind(&a.created_at)
        .bind(&a.updated_by)
        .bind(&a.updated_at)
        .execute(&mut *tx)
        .await?;
        insert_revision(&mut tx, &a).await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "assessment.open", "assessment", &a.id).after(json!({
                "org_id": a.org_id, "framework": format!("{}@{}", a.framework_id, a.framework_version),
                "answered": a.answered,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Saves a draft's answers. `revision` is the revision the form was opened at: a save
    /// over a newer one (another tab, another person) is refused with a conflict rather than
    /// silently overwriting it. Every saved state is kept.
    pub async fn save_assessment(
        &self,
        actor: &str,
        id: &str,
        revision: i64,
        answers: &AnswerSet,
        catalog: &Catalog,
    ) -> Result<ReadinessAssessment, StoreError> {
        let before = self
            .assessment(id)
            .await?
            .ok_or_else(|| not_found("assessment", id))?;
        if before.status() != AssessmentStatus::Draft {
            return Err(invalid(
                "status",
                "this self-assessment was submitted; start a new one to change answers",
            ));
        }
        if answers.framework_id != before.framework_id
            || i64::from(answers.framework_version) != before.framework_version
        {
            return Err(invalid(
                "framework_version",
                format!(
                    "this draft answers {} version {}",
                    before.framework_id, before.framework_version
                ),
            ));
        }
        let e = evaluate(catalog, answers)?;
        self.write_assessment(actor, &before, revision, &e, None)
            .await
    }

    /// Submits a draft: every question must be answered. The assessment is then frozen and
    /// counts for the readiness map and the deployment gate.
    pub async fn submit_assessment(
        &self,
        actor: &str,
        id: &str,
        revision: i64,
        catalog: &Catalog,
    ) -> Result<ReadinessAssessment, StoreError> {
        let before = self
            .assessment(id)
            .await?
            .ok_or_else(|| not_found("assessment", id))?;
        if before.status() != AssessmentStatus::Draft {
            return Err(invalid(
                "status",
                "this self-assessment is already submitted",
            ));
        }
        let e = before.evaluate(catalog)?;
        if e.score.unanswered > 0 {
            return Err(invalid(
                "answers",
                format!(
                    "answer every question before submitting: {} still open (the draft is saved)",
                    e.score.unanswered
                ),
            ));
        }
        self.write_assessment(
            actor,
            &before,
            revision,
            &e,
            Some(AssessmentStatus::Submitted),
        )
        .await
    }

    async fn write_assessment(
        &self,
        actor: &str,
        before: &ReadinessAssessment,
        revision: i64,
        e: &Evaluated,
        status: Option<AssessmentStatus>,
    ) -> Result<ReadinessAssessment, StoreError> {
        let now = self.now_text();
        let submitted = status == Some(AssessmentStatus::Submitted);
        let mut a = before.clone();
        a.revision = before.revision + 1;
        a.answers_json = to_json(&e.answers)?;
        a.score_json = to_json(&e.score)?;
        a.overall_level = i64::from(e.score.overall);
        a.overall_mean = e.score.overall_mean;
        a.answered = e.answered as i64;
        a.unanswered = e.score.unanswered as i64;
        a.updated_by = actor.into();
        a.updated_at = now.clone();
        if submitted {
            a.status = AssessmentStatus::Submitted.code().into();
            a.submitted_by = Some(actor.into());
            a.submitted_at = Some(now.clone());
        }
        let mut tx = self.begin_write().await?;
        // Compare-and-set on the revision and the draft state.
        let changed = sqlx::query(
            "UPDATE readiness_assessments SET status = $1, revision = $2, answers_json = $3, score_json = $4, overall_level = $5, \
             overall_mean = $6, answered = $7, unanswered = $8, updated_by = $9, updated_at = $10, \
             submitted_by = $11, submitted_at = $12 WHERE id = $13 AND revision = $14 AND status = 'draft'",
        )
        .bind(&a.status)
        .bind(a.revision)
        .bind(&a.answers_json)
        .bind(&a.score_json)
        .bind(a.overall_level)
        .bind(a.overall_mean)
        .bind(a.answered)
        .bind(a.unanswered)
        .bind(&a.updated_by)
        .bind(&a.updated_at)
        .bind(a.submitted_by.as_deref())
        .bind(a.submitted_at.as_deref())
        .bind(&a.id)
        .bind(revision)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict {
                what: "newer save of this self-assessment",
                key: format!(
                    "revision {} (your form was opened at revision {revision}); reload to see it",
                    before.revision
                ),
            });
        }
        insert_revision(&mut tx, &a).await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(
                actor,
                if submitted {
                    "assessment.submit"
                } else {
                    "assessment.save"
                },
                "assessment",
                &a.id,
            )
            .before(json!({ "revision": before.revision, "overall_level": before.overall_level, "answered": before.answered }))
            .after(json!({ "revision": a.revision, "overall_level": a.overall_level, "answered": a.answered, "status": a.status })),
        )
        .await?;
        tx.commit().await?;
        Ok(a)
    }

    pub async fn assessment(&self, id: &str) -> Result<Option<ReadinessAssessment>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {ASSESSMENT_COLUMNS} FROM readiness_assessments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn draft_assessment(
        &self,
        org_id: &str,
    ) -> Result<Option<ReadinessAssessment>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {ASSESSMENT_COLUMNS} FROM readiness_assessments WHERE org_id = $1 AND status = 'draft' ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(org_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn latest_submitted(
        &self,
        org_id: &str,
    ) -> Result<Option<ReadinessAssessment>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {ASSESSMENT_COLUMNS} FROM readiness_assessments WHERE org_id = $1 AND status = 'submitted' ORDER BY submitted_at DESC, id DESC LIMIT 1"
        ))
        .bind(org_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Every assessment of an organisation, newest first: the history.
    pub async fn assessments_of(
        &self,
        org_id: &str,
    ) -> Result<Vec<ReadinessAssessment>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {ASSESSMENT_COLUMNS} FROM readiness_assessments WHERE org_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(org_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every saved state of one assessment, oldest first.
    pub async fn assessment_revisions(
        &self,
        id: &str,
    ) -> Result<Vec<AssessmentRevision>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT revision, overall_level, saved_by, saved_at FROM readiness_assessment_revisions WHERE assessment_id = $1 ORDER BY revision",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The answers of one saved state (a draft is never lost: any revision can be read back).
    pub async fn assessment_revision_answers(
        &self,
        id: &str,
        revision: i64,
    ) -> Result<Option<AnswerSet>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT answers_json FROM readiness_assessment_revisions WHERE assessment_id = $1 AND revision = $2",
        )
        .bind(id)
        .bind(revision)
        .fetch_optional(self.pool())
        .await?;
        row.map(|(j,)| {
            serde_json::from_str(&j)
                .map_err(|e| StoreError::ReferenceData(format!("assessment {id}: {e}")))
        })
        .transpose()
    }

    /// Each organisation's latest submitted assessment.
    pub async fn assessed_units(&self) -> Result<Vec<AssessedUnit>, StoreError> {
        let rows: Vec<AssessedUnit> = sqlx::query_as(
            "SELECT a.org_id, o.name AS org_name, o.code AS org_code, a.province_code, a.facility_type, a.id AS assessment_id, \
             a.overall_level, a.submitted_at FROM readiness_assessments a JOIN organisations o ON o.id = a.org_id \
             WHERE a.status = 'submitted' ORDER BY a.org_id, a.submitted_at DESC, a.id DESC",
        )
        .fetch_all(self.pool())
        .await?;
        let mut seen = HashSet::new();
        Ok(rows
            .into_iter()
            .filter(|r| seen.insert(r.org_id.clone()))
            .collect())
    }

    // ---- the readiness gate ----

    pub async fn readiness_rule(&self) -> Result<ReadinessRule, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM regulator_settings WHERE key = $1")
                .bind(MIN_LEVEL_KEY)
                .fetch_optional(self.pool())
                .await?;
        Ok(ReadinessRule {
            min_level_high_risk: row.and_then(|(v,)| v.parse().ok()).unwrap_or(0),
        })
    }

    pub async fn set_readiness_rule(
        &self,
        actor: &str,
        rule: ReadinessRule,
    ) -> Result<(), StoreError> {
        let before = self.readiness_rule().await?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO regulator_settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(MIN_LEVEL_KEY)
        .bind(rule.min_level_high_risk.to_string())
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "setting.set", "setting", MIN_LEVEL_KEY)
                .before(json!(before))
                .after(json!(rule)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- training catalogue and sessions ----

    pub async fn create_course(
        &self,
        actor: &str,
        course: &NewCourse,
    ) -> Result<TrainingCourse, StoreError> {
        let c = course.validate()?;
        if let Some(p) = &c.product_id {
            self.product(p)
                .await?
                .ok_or_else(|| not_found("product", p))?;
        }
        let row = TrainingCourse {
            id: new_id(),
            title: c.title,
            audience: audience_code(&c.audience),
            hours: c.hours,
            provider: c.provider,
            product_id: c.product_id,
            created_by: actor.into(),
            created_at: self.now_text(),
        };
        let mut tx = self.begin_write().await?;
        insert_course(&mut tx, &row).await?;
        append(
            &mut tx,
            &row.created_at,
            &AuditEntry::new(actor, "course.create", "course", &row.id).after(json!(&row)),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn course(&self, id: &str) -> Result<Option<TrainingCourse>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {COURSE_COLUMNS} FROM training_courses WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The catalogue, by title.
    pub async fn courses(&self) -> Result<Vec<TrainingCourse>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {COURSE_COLUMNS} FROM training_courses ORDER BY title, id"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a session with its counts by role. A session of a course on a tool held at a
    /// facility also records the facility's training on that tool (`training_records`), which
    /// the deployment check reads; all in one transaction with one audit entry.
    pub async fn record_session(
        &self,
        actor: &str,
        session: &NewSession,
    ) -> Result<RecordedSession, StoreError> {
        let total = session.validate(self.now().date())?;
        let course = self
            .course(&session.course_id)
            .await?
            .ok_or_else(|| not_found("course", &session.course_id))?;
        let (facility_id, province_code) = match session
            .facility_id
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            Some(f) => {
                let org = self
                    .organisation(f)
                    .await?
                    .ok_or_else(|| not_found("facility", f))?;
                if org.kind != "facility" {
                    return Err(invalid(
                        "facility_id",
                        format!("{} is not a health facility", org.name),
                    ));
                }
                let unit_code = org.admin_unit_code.clone().unwrap_or_default();
                let unit = self
                    .admin_unit(&unit_code)
                    .await?
                    .ok_or_else(|| not_found("administrative unit", &unit_code))?;
                (Some(org.id), province_of(&unit))
            }
            None => {
                let p = session.province_code.as_deref().unwrap_or("").trim();
                let unit = self
                    .admin_unit(p)
                    .await?
                    .filter(|u| u.level == "province")
                    .ok_or_else(|| invalid("province_code", format!("'{p}' is not a province")))?;
                (None, unit.code)
            }
        };
        let now = self.now_text();
        let held_on = iso_date::format(session.held_on);
        let mut tx = self.begin_write().await?;
        let out = insert_session(
            &mut tx,
            &course,
            facility_id.as_deref(),
            &province_code,
            &held_on,
            total,
            &session.trained,
            actor,
            &now,
        )
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "training_session.record", "training_session", &out.session.id)
                .after(json!({ "course_id": course.id, "facility_id": facility_id, "province_code": province_code,
                    "held_on": held_on, "trained": session.trained, "training_record_id": out.training_record_id })),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn training_sessions(
        &self,
        f: &SessionFilter,
    ) -> Result<Vec<TrainingSession>, StoreError> {
        let limit = if f.limit <= 0 { 200 } else { f.limit.min(1000) };
        Ok(sqlx::query_as(sqlf!(
            "{SESSION_SELECT} WHERE ($1 IS NULL OR s.facility_id = $1) AND ($2 IS NULL OR s.province_code = $2) \
             ORDER BY s.held_on DESC, s.id DESC LIMIT $3"
        ))
        .bind(f.facility_id.as_deref())
        .bind(f.province_code.as_deref())
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn session_counts(&self, session_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT role, trained FROM training_session_counts WHERE session_id = $1 ORDER BY role",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A facility's training status per AI tool (from sessions of courses on the tool).
    pub async fn facility_training_status(
        &self,
        facility_id: &str,
    ) -> Result<Vec<ToolTrainingStatus>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT t.product_id, p.name AS product_name, COUNT(*) AS sessions, CAST(SUM(t.staff_trained) AS BIGINT) AS staff_trained, \
             MIN(t.trained_on) AS first_trained_on, MAX(t.trained_on) AS last_trained_on \
             FROM training_records t JOIN products p ON p.id = t.product_id WHERE t.facility_id = $1 \
             GROUP BY t.product_id, p.name ORDER BY p.name",
        )
        .bind(facility_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The legacy shape of a training record (facility, tool, course name, number trained)
    /// recorded as a Navigator session: the course is found by title and tool, or created
    /// with what the record says (audience not broken down, hours not stated).
    pub(crate) async fn record_training_as_session(
        &self,
        actor: &str,
        records: &[(String, String, TrainingRecord)],
    ) -> Result<Vec<crate::Training>, StoreError> {
        let today = self.now().date();
        for (_, _, r) in records {
            r.validate(today).map_err(|e| invalid("training", e))?;
        }
        let now = self.now_text();
        let mut facilities: HashMap<String, String> = HashMap::new();
        for (f, _, _) in records {
            if facilities.contains_key(f) {
                continue;
            }
            let org = self
                .organisation(f)
                .await?
                .ok_or_else(|| not_found("facility", f))?;
            if org.kind != "facility" {
                return Err(invalid(
                    "facility",
                    format!("{} is not a health facility", org.name),
                ));
            }
            let unit_code = org.admin_unit_code.clone().unwrap_or_default();
            let unit = self
                .admin_unit(&unit_code)
                .await?
                .ok_or_else(|| not_found("administrative unit", &unit_code))?;
            facilities.insert(f.clone(), province_of(&unit));
        }
        let mut products = HashSet::new();
        for (_, p, _) in records {
            if products.insert(p.clone()) {
                self.product(p)
                    .await?
                    .ok_or_else(|| not_found("product", p))?;
            }
        }
        let mut courses: BTreeMap<(String, String), TrainingCourse> = BTreeMap::new();
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(records.len());
        for (facility, product, r) in records {
            let title = r.course.trim().to_string();
            let key = (title.clone(), product.clone());
            if !courses.contains_key(&key) {
                let existing: Option<TrainingCourse> = sqlx::query_as(sqlf!(
                    "SELECT {COURSE_COLUMNS} FROM training_courses WHERE title = $1 AND product_id = $2 ORDER BY created_at, id LIMIT 1"
                ))
                .bind(&title)
                .bind(product)
                .fetch_optional(&mut *tx)
                .await?;
                let course = match existing {
                    Some(c) => c,
                    None => {
                        let c = TrainingCourse {
                            id: new_id(),
                            title: title.clone(),
                            audience: StaffRole::Unspecified.code().into(),
                            hours: 0.0,
                            provider: String::new(),
                            product_id: Some(product.clone()),
                            created_by: actor.into(),
                            created_at: now.clone(),
                        };
                        insert_course(&mut tx, &c).await?;
                        c
                    }
                };
                courses.insert(key.clone(), course);
            }
            let Some(course) = courses.get(&key) else {
                continue;
            };
            let province = facilities.get(facility).cloned().unwrap_or_default();
            let s = insert_session(
                &mut tx,
                course,
                Some(facility),
                &province,
                &iso_date::format(r.trained_on),
                r.staff_trained,
                &[RoleCount {
                    role: StaffRole::Unspecified,
                    count: r.staff_trained,
                }],
                actor,
                &now,
            )
            .await?;
            out.push(crate::Training {
                id: s.training_record_id.unwrap_or_default(),
                facility_id: facility.clone(),
                product_id: product.clone(),
                trained_on: iso_date::format(r.trained_on),
                course: course.title.clone(),
                staff_trained: i64::from(r.staff_trained),
                recorded_by: actor.into(),
                created_at: now.clone(),
            });
        }
        let entry = if let [t] = out.as_slice() {
            AuditEntry::new(actor, "training.record", "training", &t.id).after(json!(t))
        } else {
            AuditEntry::new(actor, "training.record_many", "training", "batch")
                .after(json!({ "records": out.len() }))
        };
        append(&mut tx, &now, &entry).await?;
        tx.commit().await?;
        Ok(out)
    }

    // ---- the readiness map ----

    /// Readiness by province and facility type: units known, assessed, their latest levels,
    /// how many reach the regulator's minimum, and training coverage. Provincial health
    /// departments are their own row type (`provincial_department`).
    pub async fn readiness_map(&self, top: u8) -> Result<Vec<ReadinessCell>, StoreError> {
        let rule = self.readiness_rule().await?;
        let units: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT o.id, o.kind, CASE WHEN u.level = 'province' THEN u.code ELSE COALESCE(u.parent_code, u.code) END AS province, \
             COALESCE(fp.facility_type, CASE WHEN o.kind = 'regulator' THEN 'provincial_department' ELSE 'unspecified' END) AS facility_type \
             FROM organisations o JOIN admin_units u ON u.code = o.admin_unit_code \
             LEFT JOIN facility_profiles fp ON fp.facility_id = o.id \
             WHERE o.kind = 'facility' OR (o.kind = 'regulator' AND u.level = 'province')",
        )
        .fetch_all(self.pool())
        .await?;
        let trained: Vec<(String, i64)> = sqlx::query_as(
            "SELECT facility_id, CAST(SUM(total_trained) AS BIGINT) FROM training_sessions WHERE facility_id IS NOT NULL GROUP BY facility_id",
        )
        .fetch_all(self.pool())
        .await?;
        let trained: HashMap<String, i64> = trained.into_iter().collect();
        let latest: HashMap<String, i64> = self
            .assessed_units()
            .await?
            .into_iter()
            .map(|u| (u.org_id, u.overall_level))
            .collect();
        let names: HashMap<String, String> = self
            .admin_unit_children("VN")
            .await?
            .into_iter()
            .map(|u| (u.code, u.name))
            .collect();
        let mut cells: BTreeMap<(String, String), ReadinessCell> = BTreeMap::new();
        for (id, _kind, province, facility_type) in units {
            let cell = cells
                .entry((province.clone(), facility_type.clone()))
                .or_insert_with(|| ReadinessCell {
                    province_name: names.get(&province).cloned().unwrap_or(province.clone()),
                    province_code: province.clone(),
                    facility_type: facility_type.clone(),
                    levels: vec![0; usize::from(top) + 1],
                    ..Default::default()
                });
            cell.units += 1;
            if let Some(level) = latest.get(&id) {
                cell.assessed += 1;
                let l = usize::try_from(*level).unwrap_or(0).min(usize::from(top));
                if let Some(slot) = cell.levels.get_mut(l) {
                    *slot += 1;
                }
                if *level >= i64::from(rule.min_level_high_risk) {
                    cell.at_minimum += 1;
                }
            }
            if let Some(n) = trained.get(&id) {
                cell.with_training += 1;
                cell.people_trained += u64::try_from(*n).unwrap_or(0);
            }
        }
        Ok(cells.into_values().collect())
    }

    /// Gate for a deployment: is this a high-risk tool, and is the facility ready enough?
    /// Called by the deployment check (`monitoring.rs`).
    pub(crate) async fn readiness_gate(
        &self,
        facility_id: &str,
        product: &crate::Product,
    ) -> Result<(), StoreError> {
        let rule = self.readiness_rule().await?;
        if rule.min_level_high_risk == 0 {
            return Ok(());
        }
        let tier = product
            .classification_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .and_then(|v| v.get("vn_ai_tier")?.as_str().map(str::to_string))
            .and_then(|t| t.parse().ok());
        let class = product
            .risk_class
            .as_deref()
            .and_then(|c| c.to_ascii_lowercase().parse().ok());
        let high = vigilo_core::navigator::is_high_risk(tier, class);
        let level = self
            .latest_submitted(facility_id)
            .await?
            .map(|a| u8::try_from(a.overall_level).unwrap_or(0));
        vigilo_core::navigator::check_gate(rule, high, level)
            .map_err(|r| invalid("readiness", r.to_string()))
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::ReferenceData(e.to_string()))
}

async fn insert_revision(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    a: &ReadinessAssessment,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO readiness_assessment_revisions (assessment_id, revision, answers_json, overall_level, saved_by, saved_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.id)
    .bind(a.revision)
    .bind(&a.answers_json)
    .bind(a.overall_level)
    .bind(&a.updated_by)
    .bind(&a.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_course(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    c: &TrainingCourse,
) -> Result<(), StoreError> {
    sqlx::query(sqlf!(
        "INSERT INTO training_courses ({COURSE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&c.id)
    .bind(&c.title)
    .bind(&c.audience)
    .bind(c.hours)
    .bind(&c.provider)
    .bind(c.product_id.as_deref())
    .bind(&c.created_by)
    .bind(&c.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_session(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    course: &TrainingCourse,
    facility_id: Option<&str>,
    province_code: &str,
    held_on: &str,
    total: u32,
    counts: &[RoleCount],
    actor: &str,
    now: &str,
) -> Result<RecordedSession, StoreError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO training_sessions (id, course_id, facility_id, province_code, held_on, total_trained, recorded_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&course.id)
    .bind(facility_id)
    .bind(province_code)
    .bind(held_on)
    .bind(i64::from(total))
    .bind(actor)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for c in counts {
        sqlx::query(
            "INSERT INTO training_session_counts (session_id, role, trained) VALUES ($1, $2, $3)",
        )
        .bind(&id)
        .bind(c.role.code())
        .bind(i64::from(c.count))
        .execute(&mut **tx)
        .await?;
    }
    // The facility's status on the course's tool: what the deployment check reads.
    let training_record_id = match (facility_id, &course.product_id) {
        (Some(f), Some(p)) => {
            let rid = new_id();
            sqlx::query(
                "INSERT INTO training_records (id, facility_id, product_id, trained_on, course, staff_trained, recorded_by, created_at, session_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&rid)
            .bind(f)
            .bind(p)
            .bind(held_on)
            .bind(&course.title)
            .bind(i64::from(total))
            .bind(actor)
            .bind(now)
            .bind(&id)
            .execute(&mut **tx)
            .await?;
            Some(rid)
        }
        _ => None,
    };
    Ok(RecordedSession {
        session: TrainingSession {
            id,
            course_id: course.id.clone(),
            course_title: course.title.clone(),
            facility_id: facility_id.map(str::to_string),
            facility_name: None,
            province_code: province_code.into(),
            held_on: held_on.into(),
            total_trained: i64::from(total),
            recorded_by: actor.into(),
            created_at: now.into(),
        },
        counts: counts
            .iter()
            .map(|c| (c.role.code().to_string(), i64::from(c.count)))
            .collect(),
        training_record_id,
    })
}
