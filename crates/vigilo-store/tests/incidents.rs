//! Conformance of incident intake and triage, on SQLite always and on PostgreSQL when
//! VIGILO_TEST_POSTGRES_URL names a server (CI sets it).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use time::macros::{date, datetime};
use vigilo_core::incident::{
    Causality, IncidentCommand as C, IncidentInput, IncidentSource, IncidentState, ReporterKind,
    ReportingClock, Seriousness,
};
use vigilo_store::testing::TestDb;
use vigilo_store::{
    ImdrfTermRow, IncidentFilter, NewIncident, ReporterAccount, StoreError, Submission,
};

vigilo_store::conformance!(
    reports_are_scrubbed_attributed_and_given_a_receipt,
    a_resent_draft_is_filed_once,
    concurrent_reports_share_commits_and_each_is_stored_once,
    bad_reports_are_refused_and_nothing_is_stored,
    triage_moves_through_states_with_reasons_and_causality,
    codes_messages_duplicates_and_filters,
);

fn report(w: &World) -> IncidentInput {
    IncidentInput {
        reporter_kind: ReporterKind::HealthWorker,
        product_id: Some(w.product.clone()),
        version_id: None,
        product_text: None,
        facility_id: Some(w.hanoi.clone()),
        province_code: None,
        occurred_on: Some(date!(2026 - 02 - 01)),
        aware_on: None,
        seriousness: Seriousness::SeriousInjury,
        public_health_threat: false,
        narrative: "LaoScan không cảnh báo tổn thương hang; bệnh nhân gọi lại số 0912345678 sau hai tuần, AFB dương tính.".into(),
        patient_sex: None,
        patient_age_band: None,
    }
}

async fn submit(
    w: &World,
    input: &IncidentInput,
    key: Option<&str>,
) -> Result<Submission, StoreError> {
    w.store
        .submit_incident(
            &NewIncident {
                input,
                source: IncidentSource::Form,
                reporter: ReporterAccount::default(),
                client_key: key,
            },
            &ReportingClock::default(),
        )
        .await
}

async fn reports_are_scrubbed_attributed_and_given_a_receipt(db: &TestDb) {
    let w = world(db).await;
    deployed(&w).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let s = submit(&w, &report(&w), None).await.unwrap();
    assert!(s.created);
    let i = &s.incident;
    assert_eq!(i.receipt, "SC-2026-000001");
    assert!(!i.narrative.contains("0912345678"), "{}", i.narrative);
    assert!(i.narrative.contains("AFB dương tính"));
    assert_ne!(i.redactions_json, "{}");
    // The reporter did not know the version: the Hà Nội deployment tells it.
    assert_eq!(i.version_id.as_deref(), Some(w.version.as_str()));
    assert!(i.deployment_id.is_some());
    assert_eq!(i.province_code.as_deref(), Some("01"));
    assert_eq!(i.unit_code.as_deref(), Some("00004"));
    assert_eq!(i.state, "received");
    assert_eq!(i.deadline, "2026-02-13");
    assert_eq!(i.aware_on.as_deref(), Some("2026-02-03"));
    assert!(i.completeness > 0.0 && i.completeness <= 1.0);
    let stored = w.store.incident(&i.id).await.unwrap().unwrap();
    assert_eq!(stored.incident.narrative, i.narrative);
    assert_eq!(stored.product_name.as_deref(), Some("LaoScan"));
    assert_eq!(stored.version.as_deref(), Some("1.0"));
    let by_receipt = w
        .store
        .incident_by_receipt(" SC-2026-000001 ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_receipt.incident.id, i.id);
    // The next report gets the next number; an event before go-live finds no deployment.
    let mut early = report(&w);
    early.occurred_on = Some(date!(2026 - 01 - 01));
    let second = submit(&w, &early, None).await.unwrap().incident;
    assert_eq!(second.receipt, "SC-2026-000002");
    assert_eq!(second.deployment_id, None);
    assert_eq!(second.version_id, None);
    // A report placed only by province, about a product named in words.
    let mut vague = report(&w);
    vague.product_id = None;
    vague.product_text = Some("phần mềm đọc phim của trạm".into());
    vague.facility_id = None;
    vague.province_code = Some("46".into());
    vague.seriousness = Seriousness::NearMiss;
    let third = submit(&w, &vague, None).await.unwrap().incident;
    assert_eq!(third.province_code.as_deref(), Some("46"));
    assert_eq!(third.deadline, "2026-02-18");
    assert!(third.completeness < i.completeness);
    let events = w.store.incident_events(&i.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].to_state, "received");
}

async fn a_resent_draft_is_filed_once(db: &TestDb) {
    let w = world(db).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let key = "0193f0a2-7b7c-7d55-9c1e-2c1a0d6f1b11";
    let first = submit(&w, &report(&w), Some(key)).await.unwrap();
    let again = submit(&w, &report(&w), Some(key)).await.unwrap();
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(first.incident.receipt, again.incident.receipt);
    let all = w
        .store
        .incidents(&IncidentFilter {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let err = submit(&w, &report(&w), Some("not a key; DROP"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                field: "client_key",
                ..
            }
        ),
        "{err}"
    );
}

/// Many reports at once go through the group-commit writer: every one is stored exactly
/// once with its own receipt, resends of one draft racing each other inside a batch give
/// one report, and the audit chain still verifies.
async fn concurrent_reports_share_commits_and_each_is_stored_once(db: &TestDb) {
    let w = world(db).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let w = std::sync::Arc::new(w);
    let mut tasks = Vec::new();
    for n in 0..60 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            // Requests 0 and 1, 10 and 11, ... are one draft sent twice.
            let draft = if n % 10 == 1 { n - 1 } else { n };
            let key = format!("0193f0a2-7b7c-7d55-9c1e-{draft:012}");
            let mut input = report(&w);
            input.narrative = format!("Báo cáo số {n}: LaoScan bỏ sót tổn thương.");
            submit(&w, &input, Some(&key)).await.map(|s| (key, s))
        }));
    }
    let mut receipts = std::collections::BTreeMap::new();
    let mut created = 0;
    for t in tasks {
        let (key, s) = t.await.unwrap().unwrap();
        if s.created {
            created += 1;
        }
        let previous = receipts.insert(key, s.incident.receipt.clone());
        if let Some(p) = previous {
            assert_eq!(p, s.incident.receipt, "one draft, one receipt");
        }
    }
    let distinct_keys = receipts.len();
    assert_eq!(created, distinct_keys, "each draft created once");
    let unique: std::collections::BTreeSet<_> = receipts.values().collect();
    assert_eq!(unique.len(), distinct_keys, "receipts are unique");
    let stored = w
        .store
        .incidents(&IncidentFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), distinct_keys);
    // Receipt numbers run without gaps: a failed savepoint gives its number back.
    let mut numbers: Vec<u32> = stored
        .iter()
        .map(|i| {
            i.incident
                .receipt
                .rsplit('-')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=distinct_keys as u32).collect::<Vec<_>>());
    assert!(w.store.verify_audit().await.unwrap().first_break.is_none());
}

/// On a current-thread runtime (a CLI, a simple test) reports are written each in its own
/// transaction, without the group-commit writer, and still stored once each.
#[tokio::test(flavor = "current_thread")]
async fn reports_on_a_current_thread_runtime_are_written_alone() {
    let db = TestDb::sqlite().unwrap();
    let w = std::sync::Arc::new(world(&db).await);
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let mut tasks = Vec::new();
    for n in 0..10 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let mut input = report(&w);
            input.narrative = format!("Báo cáo số {n}: LaoScan bỏ sót tổn thương.");
            submit(&w, &input, None).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().created);
    }
    let stored = w
        .store
        .incidents(&IncidentFilter {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    assert!(w.store.verify_audit().await.unwrap().first_break.is_none());
}

async fn bad_reports_are_refused_and_nothing_is_stored(db: &TestDb) {
    let w = world(db).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let mut future = report(&w);
    future.occurred_on = Some(date!(2026 - 03 - 01));
    let err = submit(&w, &future, None).await.unwrap_err();
    assert!(err.to_string().contains("occurred_on: in_future"), "{err}");
    let mut unknown = report(&w);
    unknown.product_id = Some("no-such-product".into());
    assert!(matches!(
        submit(&w, &unknown, None).await,
        Err(StoreError::NotFound {
            what: "product",
            ..
        })
    ));
    let mut wrong_version = report(&w);
    wrong_version.version_id = Some("no-such-version".into());
    assert!(matches!(
        submit(&w, &wrong_version, None).await,
        Err(StoreError::NotFound {
            what: "version",
            ..
        })
    ));
    let mut commune = report(&w);
    commune.facility_id = None;
    commune.province_code = Some("00004".into());
    let err = submit(&w, &commune, None).await.unwrap_err();
    assert!(err.to_string().contains("not a province"), "{err}");
    let mut not_facility = report(&w);
    not_facility.facility_id = Some(w.maker.clone());
    assert!(submit(&w, &not_facility, None).await.is_err());
    let all = w
        .store
        .incidents(&IncidentFilter {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(all.is_empty());
    // A good report after the refusals still gets the first receipt number.
    assert_eq!(
        submit(&w, &report(&w), None)
            .await
            .unwrap()
            .incident
            .receipt,
        "SC-2026-000001"
    );
}

async fn triage_moves_through_states_with_reasons_and_causality(db: &TestDb) {
    let w = world(db).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let id = submit(&w, &report(&w), None).await.unwrap().incident.id;
    let s = &w.store;
    let err = s
        .incident_transition(&w.reviewer, &id, C::Triage, " ", None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "reason",
            ..
        }
    ));
    let err = s
        .incident_transition(
            &w.reviewer,
            &id,
            C::Close,
            "done",
            Some(Causality::Possible),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let t = s
        .incident_transition(
            &w.reviewer,
            &id,
            C::Triage,
            "serious, same site as last month",
            None,
        )
        .await
        .unwrap();
    assert_eq!(t.state, "triaged");
    s.incident_transition(&w.reviewer, &id, C::Investigate, "ask the vendor", None)
        .await
        .unwrap();
    let err = s
        .incident_transition(&w.reviewer, &id, C::Close, "done", None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "causality",
            ..
        }
    ));
    let closed = s
        .incident_transition(
            &w.reviewer,
            &id,
            C::Close,
            "threshold too high at this site",
            Some(Causality::Probable),
        )
        .await
        .unwrap();
    assert_eq!(closed.state, "closed");
    assert_eq!(closed.causality.as_deref(), Some("probable"));
    let reopened = s
        .incident_transition(&w.reviewer, &id, C::Reopen, "second case", None)
        .await
        .unwrap();
    assert_eq!(reopened.state, "investigating");
    assert_eq!(reopened.causality.as_deref(), Some("probable"));
    let events = s.incident_events(&id).await.unwrap();
    let steps: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        steps,
        ["receive", "triage", "investigate", "close", "reopen"]
    );
    assert_eq!(events[3].reason, "threshold too high at this site");
    assert!(matches!(
        s.incident_transition(&w.reviewer, "missing", C::Triage, "x", None)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(s.verify_audit().await.unwrap().first_break.is_none());
}

async fn codes_messages_duplicates_and_filters(db: &TestDb) {
    let w = world(db).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let s = &w.store;
    let a = submit(&w, &report(&w), None).await.unwrap().incident.id;
    w.clock.set(datetime!(2026-02-25 09:00 UTC));
    let mut other = report(&w);
    other.product_id = None;
    other.facility_id = None;
    other.product_text = Some("trợ lý ảo".into());
    other.seriousness = Seriousness::Malfunction;
    let b = submit(&w, &other, None).await.unwrap().incident.id;
    // Codes: AI codes always; IMDRF codes once the terminology is loaded.
    let err = s
        .set_incident_codes(&w.reviewer, &a, &["AI03".into(), "A0101".into()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("vigilo import imdrf"), "{err}");
    let term = |code: &str, parent: Option<&str>| ImdrfTermRow {
        code: code.into(),
        annex: "A".into(),
        term: format!("term {code}"),
        definition: String::new(),
        parent: parent.map(Into::into),
        level: if parent.is_some() { 2 } else { 1 },
    };
    assert_eq!(
        s.load_imdrf_terms(
            &w.reviewer,
            &[term("A01", None), term("A0101", Some("A01"))]
        )
        .await
        .unwrap(),
        2
    );
    let codes = s
        .set_incident_codes(
            &w.reviewer,
            &a,
            &["ai03".into(), "A0101".into(), "AI03".into()],
        )
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = codes
        .iter()
        .map(|c| (c.code.as_str(), c.system.as_str()))
        .collect();
    assert_eq!(got, [("A0101", "imdrf"), ("AI03", "ai")]);
    // A new release that drops a used code is refused; the old one stays.
    let err = s
        .load_imdrf_terms(&w.reviewer, &[term("A01", None)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("A0101"), "{err}");
    assert_eq!(s.imdrf_terms().await.unwrap().len(), 2);
    // Conversation, de-identified.
    s.add_incident_message(
        &w.reviewer,
        "regulator",
        &a,
        "Please send the log for this case.",
    )
    .await
    .unwrap();
    let m = s
        .add_incident_message(
            &w.vendor,
            "vendor",
            &a,
            "Log attached; the nurse's phone is 0987654321.",
        )
        .await
        .unwrap();
    assert!(!m.body.contains("0987654321"));
    assert!(s
        .add_incident_message(&w.vendor, "vendor", &a, "  ")
        .await
        .is_err());
    assert_eq!(s.incident_messages(&a).await.unwrap().len(), 2);
    // Duplicates point at the master.
    assert!(s.mark_duplicate(&w.reviewer, &a, Some(&a)).await.is_err());
    s.mark_duplicate(&w.reviewer, &b, Some(&a)).await.unwrap();
    assert_eq!(
        s.incident(&b)
            .await
            .unwrap()
            .unwrap()
            .incident
            .duplicate_of
            .as_deref(),
        Some(a.as_str())
    );
    assert!(s.mark_duplicate(&w.reviewer, &a, Some(&b)).await.is_err());
    // Filters: the vendor sees reports about its products only; overdue; keyset pages.
    let mine = s
        .incidents(&IncidentFilter {
            manufacturer_id: Some(w.maker.clone()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        mine.iter()
            .map(|v| v.incident.id.as_str())
            .collect::<Vec<_>>(),
        [a.as_str()]
    );
    let overdue = s
        .incidents(&IncidentFilter {
            overdue_on: Some(date!(2026 - 02 - 25)),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].incident.id, a);
    let first = s
        .incidents(&IncidentFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first[0].incident.id, b);
    let cursor = (
        first[0].incident.received_at.clone(),
        first[0].incident.id.clone(),
    );
    let next = s
        .incidents(&IncidentFilter {
            limit: 1,
            before: Some(cursor),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next[0].incident.id, a);
    let triaged = s
        .incidents(&IncidentFilter {
            state: Some(IncidentState::Triaged),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(triaged.is_empty());
    assert!(s.verify_audit().await.unwrap().first_break.is_none());
}
