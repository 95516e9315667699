//! The store conformance suite: every behaviour runs on SQLite always and on
//! PostgreSQL when VIGILO_TEST_POSTGRES_URL names a server (CI sets it).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use time::macros::datetime;
use time::Duration;
use vigilo_core::audit::ChainBreak;
use vigilo_core::clock::ManualClock;
use vigilo_core::directory::{
    AiKind, ClinicalArea, EntrySource, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::{OrgKind, Role, Username};
use vigilo_store::testing::TestDb;
use vigilo_store::{
    AuditEntry, DirectoryQuery, Facet, NewOrganisation, NewProduct, NewUser, ReferenceRecord,
    Store, StoreError,
};

vigilo_store::conformance!(
    migrations_and_reference_data,
    schema_matches_other_backend,
    organisations,
    users_and_passwords,
    roles_and_disabling,
    sessions_expire,
    api_tokens,
    login_failures_window,
    audit_chain_detects_tampering,
    audit_appends_are_serialised,
    one_job_run_per_tick_across_processes,
    products_versions_and_immutability,
    directory_search_facets_and_cursor,
    foreign_list_import_is_idempotent_and_atomic,
    reliance_links,
    vendor_self_registration_is_atomic,
    cached_facets_follow_writes_from_any_process,
    cached_search_equals_uncached_search,
    identical_concurrent_searches_compute_once,
    cached_text_search_follows_writes_from_any_process,
);

async fn open_at(db: &TestDb, clock: Arc<ManualClock>) -> Store {
    let store = Store::connect_with_clock(&db.url, clock).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn facility(store: &Store, code: &str) -> String {
    store
        .create_organisation(
            "test",
            NewOrganisation {
                code: code.into(),
                kind: OrgKind::Facility,
                name: format!("Trạm Y tế {code}"),
                name_en: None,
                admin_unit_code: Some("00004".into()),
            },
        )
        .await
        .unwrap()
        .id
}

async fn manufacturer(store: &Store, code: &str) -> String {
    store
        .create_organisation(
            "test",
            NewOrganisation {
                code: code.into(),
                kind: OrgKind::Manufacturer,
                name: format!("Công ty {code}"),
                name_en: Some(format!("Company {code}")),
                admin_unit_code: None,
            },
        )
        .await
        .unwrap()
        .id
}

fn new_user(name: &str, role: Role, org: Option<String>) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        display_name: name.to_uppercase(),
        password: "correct horse battery".into(),
        role,
        organisation_id: org,
    }
}

async fn migrations_and_reference_data(db: &TestDb) {
    let store = db.open().await.unwrap();
    assert_eq!(store.admin_unit_counts().await.unwrap(), (34, 3321));
    // A second migrate applies nothing and loads nothing twice.
    assert_eq!(store.migrate().await.unwrap(), 0);
    assert_eq!(store.admin_unit_counts().await.unwrap(), (34, 3321));
    let hanoi = store.admin_unit("01").await.unwrap().unwrap();
    assert_eq!(hanoi.name, "Thành phố Hà Nội");
    assert_eq!(hanoi.parent_code.as_deref(), Some("VN"));
    let provinces = store.admin_unit_children("VN").await.unwrap();
    assert_eq!(provinces.len(), 34);
    let found = store.search_admin_units("ba dinh", 10).await.unwrap();
    assert!(found.iter().any(|u| u.code == "00004"), "{found:?}");
    store.ping().await.unwrap();
}

async fn schema_matches_other_backend(db: &TestDb) {
    let store = db.open().await.unwrap();
    let mine = store.schema_columns().await.unwrap();
    assert!(mine.iter().any(|(t, c)| t == "audit_log" && c == "hash"));
    // Compare with the other backend when both are available.
    let other = match store.backend() {
        vigilo_store::Backend::Sqlite => match std::env::var("VIGILO_TEST_POSTGRES_URL") {
            Ok(url) => {
                let pg = TestDb::postgres(&url).await.unwrap();
                let s = pg.open().await.unwrap();
                let cols = s.schema_columns().await.unwrap();
                s.close().await;
                pg.cleanup().await;
                Some(cols)
            }
            Err(_) => None,
        },
        vigilo_store::Backend::Postgres => {
            let lite = TestDb::sqlite().unwrap();
            let s = lite.open().await.unwrap();
            Some(s.schema_columns().await.unwrap())
        }
    };
    if let Some(other) = other {
        assert_eq!(mine, other, "migration trees out of step");
    }
}

async fn organisations(db: &TestDb) {
    let store = db.open().await.unwrap();
    let id = facility(&store, "TYT-00004").await;
    let org = store.organisation(&id).await.unwrap().unwrap();
    assert_eq!(org.admin_unit_code.as_deref(), Some("00004"));
    assert_eq!(
        store
            .organisation_by_code("TYT-00004")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    let dup = store
        .create_organisation(
            "test",
            NewOrganisation {
                code: "TYT-00004".into(),
                kind: OrgKind::Facility,
                name: "x".into(),
                name_en: None,
                admin_unit_code: Some("00004".into()),
            },
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
    let no_unit = store
        .create_organisation(
            "test",
            NewOrganisation {
                code: "F2".into(),
                kind: OrgKind::Facility,
                name: "x".into(),
                name_en: None,
                admin_unit_code: None,
            },
        )
        .await;
    assert!(matches!(
        no_unit,
        Err(StoreError::Invalid {
            field: "admin_unit_code",
            ..
        })
    ));
    let bad_unit = store
        .create_organisation(
            "test",
            NewOrganisation {
                code: "F3".into(),
                kind: OrgKind::Facility,
                name: "x".into(),
                name_en: None,
                admin_unit_code: Some("99999".into()),
            },
        )
        .await;
    assert!(matches!(bad_unit, Err(StoreError::Invalid { .. })));
    manufacturer(&store, "VN-AI-1").await;
    assert_eq!(
        store
            .list_organisations(Some(OrgKind::Manufacturer))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.list_organisations(None).await.unwrap().len(), 2);
}

async fn users_and_passwords(db: &TestDb) {
    let store = db.open().await.unwrap();
    let user = store
        .create_user("test", new_user("Reviewer1", Role::Reviewer, None))
        .await
        .unwrap();
    assert_eq!(user.username, "reviewer1");
    assert!(user.password_hash.starts_with("$argon2id$"));
    let ok = store
        .authenticate("REVIEWER1", "correct horse battery")
        .await
        .unwrap();
    assert_eq!(ok.map(|u| u.id), Some(user.id.clone()));
    assert!(store
        .authenticate("reviewer1", "wrong password!")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .authenticate("nobody", "correct horse battery")
        .await
        .unwrap()
        .is_none());
    let dup = store
        .create_user("test", new_user("reviewer1", Role::Reviewer, None))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })));
    let mut weak = new_user("weak", Role::Reviewer, None);
    weak.password = "short".into();
    assert!(matches!(
        store.create_user("test", weak).await,
        Err(StoreError::Invalid {
            field: "password",
            ..
        })
    ));
    // Vendors need a manufacturer, reporters a facility.
    assert!(matches!(
        store
            .create_user("test", new_user("vendor1", Role::Vendor, None))
            .await,
        Err(StoreError::Invalid {
            field: "organisation",
            ..
        })
    ));
    let fac = facility(&store, "F1").await;
    assert!(matches!(
        store
            .create_user("test", new_user("vendor1", Role::Vendor, Some(fac.clone())))
            .await,
        Err(StoreError::Invalid {
            field: "organisation",
            ..
        })
    ));
    store
        .create_user("test", new_user("reporter1", Role::Reporter, Some(fac)))
        .await
        .unwrap();
    assert_eq!(store.list_users().await.unwrap().len(), 2);
}

async fn roles_and_disabling(db: &TestDb) {
    let store = db.open().await.unwrap();
    store
        .create_user("test", new_user("alice", Role::Reviewer, None))
        .await
        .unwrap();
    let (token, _) = store
        .create_session(
            &store.user_by_username("alice").await.unwrap().unwrap().id,
            Duration::hours(8),
        )
        .await
        .unwrap();
    let changed = store
        .set_role("admin", "alice", Role::Admin, None)
        .await
        .unwrap();
    assert_eq!(changed.role(), Role::Admin);
    assert!(
        store.session_user(&token).await.unwrap().is_none(),
        "role change ends sessions"
    );
    let mfr = manufacturer(&store, "M1").await;
    let v = store
        .set_role("admin", "alice", Role::Vendor, Some(mfr.clone()))
        .await
        .unwrap();
    assert_eq!(v.organisation_id, Some(mfr));
    let disabled = store.set_disabled("admin", "alice", true).await.unwrap();
    assert!(disabled.is_disabled());
    assert!(store
        .authenticate("alice", "correct horse battery")
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store.set_role("admin", "ghost", Role::Admin, None).await,
        Err(StoreError::NotFound { .. })
    ));
    let audit = store.list_audit(None, 100).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "user.set_role"
        && a.before_json.as_deref().unwrap_or("").contains("reviewer")));
    assert!(audit.iter().any(|a| a.action == "user.disable"));
}

async fn sessions_expire(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-23 09:00 UTC)));
    let store = open_at(db, clock.clone()).await;
    let user = store
        .create_user("test", new_user("bob", Role::Reviewer, None))
        .await
        .unwrap();
    let (token, session) = store
        .create_session(&user.id, Duration::hours(1))
        .await
        .unwrap();
    let (found, u) = store.session_user(&token).await.unwrap().unwrap();
    assert_eq!(found.csrf_token, session.csrf_token);
    assert_eq!(u.id, user.id);
    assert!(store.session_user("not-a-token").await.unwrap().is_none());
    clock.advance(Duration::minutes(61));
    assert!(store.session_user(&token).await.unwrap().is_none());
    assert!(store.purge_expired().await.unwrap() >= 1);
    let (t2, _) = store
        .create_session(&user.id, Duration::hours(1))
        .await
        .unwrap();
    store.delete_session(&t2).await.unwrap();
    assert!(store.session_user(&t2).await.unwrap().is_none());
}

async fn api_tokens(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-23 09:00 UTC)));
    let store = open_at(db, clock.clone()).await;
    let fac = facility(&store, "F1").await;
    store
        .create_user("test", new_user("station", Role::Reporter, Some(fac)))
        .await
        .unwrap();
    let (secret, token) = store
        .create_token(
            "admin",
            "station",
            "HIS integration",
            Some(Duration::days(30)),
        )
        .await
        .unwrap();
    assert!(secret.starts_with("vgl_"));
    assert!(secret.starts_with(&token.prefix));
    assert_eq!(
        store.token_user(&secret).await.unwrap().unwrap().username,
        "station"
    );
    assert!(store.token_user("vgl_wrong").await.unwrap().is_none());
    assert!(store.token_user("").await.unwrap().is_none());
    // "Last used" is kept to the minute: not rewritten on every request.
    let last_used = |tokens: Vec<vigilo_store::ApiToken>| tokens[0].last_used_at.clone();
    let first = last_used(store.list_tokens(None).await.unwrap());
    assert_eq!(first.as_deref(), Some("2026-11-23T09:00:00.000000Z"));
    clock.advance(Duration::seconds(30));
    store.token_user(&secret).await.unwrap().unwrap();
    assert_eq!(last_used(store.list_tokens(None).await.unwrap()), first);
    clock.advance(Duration::seconds(31));
    store.token_user(&secret).await.unwrap().unwrap();
    assert_eq!(
        last_used(store.list_tokens(None).await.unwrap()).as_deref(),
        Some("2026-11-23T09:01:01.000000Z")
    );
    // Expiry.
    clock.advance(Duration::days(31));
    assert!(store.token_user(&secret).await.unwrap().is_none());
    // Revocation by prefix.
    let (s2, t2) = store
        .create_token("admin", "station", "second", None)
        .await
        .unwrap();
    assert!(store.token_user(&s2).await.unwrap().is_some());
    let revoked = store.revoke_token("admin", &t2.prefix).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(store.token_user(&s2).await.unwrap().is_none());
    assert!(matches!(
        store.revoke_token("admin", "vgl_nothing").await,
        Err(StoreError::NotFound { .. })
    ));
    // Disabled users' tokens stop working.
    let (s3, _) = store
        .create_token("admin", "station", "third", None)
        .await
        .unwrap();
    store.set_disabled("admin", "station", true).await.unwrap();
    assert!(store.token_user(&s3).await.unwrap().is_none());
    assert_eq!(store.list_tokens(None).await.unwrap().len(), 3);
}

async fn login_failures_window(db: &TestDb) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-23 09:00 UTC)));
    let store = open_at(db, clock.clone()).await;
    for _ in 0..3 {
        store.record_login_failure("user:x").await.unwrap();
    }
    store.record_login_failure("user:y").await.unwrap();
    assert_eq!(
        store
            .login_failures_since("user:x", Duration::minutes(15))
            .await
            .unwrap(),
        3
    );
    clock.advance(Duration::minutes(16));
    assert_eq!(
        store
            .login_failures_since("user:x", Duration::minutes(15))
            .await
            .unwrap(),
        0
    );
    store.record_login_failure("user:x").await.unwrap();
    store.clear_login_failures("user:x").await.unwrap();
    assert_eq!(
        store
            .login_failures_since("user:x", Duration::hours(1))
            .await
            .unwrap(),
        0
    );
}

/// Opens a raw connection behind the application's back.
async fn raw_exec(db: &TestDb, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

async fn audit_chain_detects_tampering(db: &TestDb) {
    let store = db.open().await.unwrap();
    for i in 0..5 {
        store
            .record_audit(
                AuditEntry::new("tester", "test.event", "thing", &i.to_string())
                    .after(serde_json::json!({"n": i})),
            )
            .await
            .unwrap();
    }
    let ok = store.verify_audit().await.unwrap();
    assert_eq!(ok.verified, 5);
    assert_eq!(ok.first_break, None);

    raw_exec(db, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3").await;
    let broken = store.verify_audit().await.unwrap();
    assert_eq!(broken.first_break, Some(ChainBreak::Content { seq: 3 }));
    assert_eq!(broken.verified, 2);
    raw_exec(db, "UPDATE audit_log SET actor = 'tester' WHERE seq = 3").await;
    assert_eq!(store.verify_audit().await.unwrap().first_break, None);

    // Cutting off the tail is caught by the head row.
    raw_exec(db, "DELETE FROM audit_log WHERE seq = 5").await;
    let cut = store.verify_audit().await.unwrap();
    assert!(cut.first_break.is_some(), "{cut:?}");
}

async fn audit_appends_are_serialised(db: &TestDb) {
    let store = db.open().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.record_audit(AuditEntry::new("t", "concurrent", "x", &i.to_string()))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let out = store.verify_audit().await.unwrap();
    assert_eq!(out.first_break, None);
    assert_eq!(out.verified, 40);
}

async fn one_job_run_per_tick_across_processes(db: &TestDb) {
    // Two "processes": two independent pools on one database, one shared clock.
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-23 09:00 UTC)));
    let a = open_at(db, clock.clone()).await;
    let b = open_at(db, clock.clone()).await;
    a.ensure_job("tick", Duration::minutes(1)).await.unwrap();
    b.ensure_job("tick", Duration::minutes(1)).await.unwrap();
    let ticks = 12;
    for _ in 0..ticks {
        let mut racers = Vec::new();
        for (store, owner) in [(a.clone(), "a"), (b.clone(), "b")] {
            for k in 0..3 {
                let s = store.clone();
                let who = format!("{owner}{k}");
                racers.push(tokio::spawn(async move {
                    s.claim_job("tick", &who, Duration::seconds(30)).await
                }));
            }
        }
        let mut won = Vec::new();
        for r in racers {
            if let Some(claim) = r.await.unwrap().unwrap() {
                won.push(claim);
            }
        }
        assert_eq!(won.len(), 1, "exactly one claim per tick: {won:?}");
        a.finish_job(&won[0], true, "done").await.unwrap();
        // Not due again until the next minute.
        assert!(b
            .claim_job("tick", "late", Duration::seconds(30))
            .await
            .unwrap()
            .is_none());
        clock.advance(Duration::minutes(1));
    }
    let runs = a.job_runs("tick").await.unwrap();
    assert_eq!(runs.len(), ticks);
    assert!(runs.iter().all(|r| r.status == "ok"));
    // A long outage folds missed ticks into one run.
    clock.advance(Duration::minutes(10));
    assert!(a
        .claim_job("tick", "a", Duration::seconds(30))
        .await
        .unwrap()
        .is_some());
    assert!(a
        .claim_job("tick", "a", Duration::seconds(30))
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        a.claim_job("missing", "a", Duration::seconds(1)).await,
        Err(StoreError::NotFound { .. })
    ));
}

fn card(area: ClinicalArea, use_vi: &str) -> ModelCard {
    ModelCard {
        intended_use: use_vi.into(),
        intended_use_en: "Screening support".into(),
        intended_users: "Bác sĩ".into(),
        target_population: "Người lớn".into(),
        clinical_area: area,
        input_modality: InputModality::Imaging,
        ai_kind: AiKind::Locked,
        training_data: "10.000 ca".into(),
        claimed_performance: vec![],
        subgroups_reported: vec![],
        known_limitations: "Chưa thử ở trẻ em".into(),
        change_control_plan: "Thẩm định lại mỗi năm".into(),
        languages: vec!["vi".into()],
    }
}

async fn published_product(
    store: &Store,
    maker: &str,
    name: &str,
    area: ClinicalArea,
    use_vi: &str,
) -> String {
    let p = store
        .create_product(
            "test",
            NewProduct {
                manufacturer_id: maker.into(),
                name: name.into(),
                name_en: None,
                clinical_area: area,
                input_modality: InputModality::Imaging,
                ai_kind: AiKind::Locked,
                country: "VN".into(),
            },
        )
        .await
        .unwrap();
    let v = store
        .create_version(
            "test",
            &p.id,
            &VersionLabel::parse("1.0").unwrap(),
            &card(area, use_vi),
        )
        .await
        .unwrap();
    store
        .change_version_status("test", &v.id, VersionCommand::Publish)
        .await
        .unwrap();
    p.id
}

async fn products_versions_and_immutability(db: &TestDb) {
    let store = db.open().await.unwrap();
    let maker = manufacturer(&store, "M1").await;
    let p = store
        .create_product(
            "vendor",
            NewProduct {
                manufacturer_id: maker.clone(),
                name: "LaoScan".into(),
                name_en: Some("LaoScan".into()),
                clinical_area: ClinicalArea::TuberculosisScreening,
                input_modality: InputModality::Imaging,
                ai_kind: AiKind::Locked,
                country: "vn".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!((p.country.as_str(), p.domestic), ("VN", 1));
    // Not public until a version is published.
    assert!(store.directory_entry(&p.id).await.unwrap().is_none());
    let v1 = store
        .create_version(
            "vendor",
            &p.id,
            &VersionLabel::parse("1.0").unwrap(),
            &card(ClinicalArea::TuberculosisScreening, "Sàng lọc lao"),
        )
        .await
        .unwrap();
    let mut edited = card(
        ClinicalArea::TuberculosisScreening,
        "Sàng lọc lao phổi trên X-quang",
    );
    store
        .update_version_card("vendor", &v1.id, &edited)
        .await
        .unwrap();
    store
        .change_version_status("reviewer", &v1.id, VersionCommand::Publish)
        .await
        .unwrap();
    let entry = store.directory_entry(&p.id).await.unwrap().unwrap();
    assert!(entry.summary.contains("X-quang"));
    // A published version cannot be edited or published again.
    edited.known_limitations = "changed".into();
    assert!(matches!(
        store.update_version_card("vendor", &v1.id, &edited).await,
        Err(StoreError::Invalid {
            field: "version",
            ..
        })
    ));
    assert!(store
        .change_version_status("x", &v1.id, VersionCommand::Publish)
        .await
        .is_err());
    // Same label twice: conflict. Bad card: every problem named.
    assert!(matches!(
        store
            .create_version(
                "vendor",
                &p.id,
                &VersionLabel::parse("1.0").unwrap(),
                &edited
            )
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let mut bad = edited.clone();
    bad.intended_use = String::new();
    let err = store
        .create_version("vendor", &p.id, &VersionLabel::parse("2.0").unwrap(), &bad)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("intended_use (required)"), "{err}");
    // Withdrawing the only published version takes the product out of the directory.
    store
        .change_version_status("admin", &v1.id, VersionCommand::Withdraw)
        .await
        .unwrap();
    assert!(store.directory_entry(&p.id).await.unwrap().is_none());
    let kinds: Vec<String> = store
        .directory_changes(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, vec!["version_published", "removed"]);
    // Bad product input.
    let err = store
        .create_product(
            "v",
            NewProduct {
                manufacturer_id: maker.clone(),
                name: " ".into(),
                name_en: None,
                clinical_area: ClinicalArea::Other,
                input_modality: InputModality::Text,
                ai_kind: AiKind::Generative,
                country: "VN".into(),
            },
        )
        .await;
    assert!(matches!(
        err,
        Err(StoreError::Invalid { field: "name", .. })
    ));
    let err = store
        .create_product(
            "v",
            NewProduct {
                manufacturer_id: maker,
                name: "X".into(),
                name_en: None,
                clinical_area: ClinicalArea::Other,
                input_modality: InputModality::Text,
                ai_kind: AiKind::Generative,
                country: "Vietnam".into(),
            },
        )
        .await;
    assert!(matches!(
        err,
        Err(StoreError::Invalid {
            field: "country",
            ..
        })
    ));
    let audit: Vec<String> = store
        .list_audit(None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    for action in [
        "product.create",
        "version.create",
        "version.edit",
        "version.publish",
        "version.withdraw",
    ] {
        assert!(audit.contains(&action.to_string()), "{action} not audited");
    }
}

async fn directory_search_facets_and_cursor(db: &TestDb) {
    let store = db.open().await.unwrap();
    let maker = manufacturer(&store, "M1").await;
    published_product(
        &store,
        &maker,
        "LaoScan",
        ClinicalArea::TuberculosisScreening,
        "Sàng lọc lao trên X-quang ngực",
    )
    .await;
    published_product(
        &store,
        &maker,
        "Tim Mạch AI",
        ClinicalArea::CardiovascularRisk,
        "Ước tính nguy cơ tim mạch",
    )
    .await;
    published_product(
        &store,
        &maker,
        "Thận Cấp",
        ClinicalArea::AcuteKidneyInjury,
        "Cảnh báo tổn thương thận cấp",
    )
    .await;
    for i in 0..7 {
        published_product(
            &store,
            &maker,
            &format!("Đọc phim {i}"),
            ClinicalArea::Radiology,
            "Hỗ trợ đọc phim",
        )
        .await;
    }
    let search = |text: &str| DirectoryQuery {
        text: text.into(),
        limit: 20,
        ..Default::default()
    };
    // Case and diacritics do not matter; đ matches d.
    for q in [
        "lao",
        "LAO",
        "sàng lọc lao",
        "sang loc lao",
        "doc phim",
        "ĐỌC",
    ] {
        let page = store.search_directory(&search(q)).await.unwrap();
        assert!(page.total >= 1, "{q} found nothing");
    }
    let page = store
        .search_directory(&search("sang loc lao"))
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].name, "LaoScan");
    // Manufacturer and English labels are searchable; short terms work too.
    assert_eq!(
        store
            .search_directory(&search("cong ty m1"))
            .await
            .unwrap()
            .total,
        10
    );
    assert_eq!(
        store
            .search_directory(&search("kidney"))
            .await
            .unwrap()
            .total,
        1
    );
    assert!(store.search_directory(&search("ai")).await.unwrap().total >= 1);
    // Any input is safe.
    for q in [
        "%",
        "_",
        "'; DROP TABLE products; --",
        "\"",
        &"z".repeat(100_000),
        "🦠 lao",
    ] {
        store.search_directory(&search(q)).await.unwrap();
    }
    // Facets: complete counts, each ignoring its own filter.
    let all = store.search_directory(&search("")).await.unwrap();
    assert_eq!(all.total, 10);
    let areas = &all
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::ClinicalArea)
        .unwrap()
        .1;
    assert_eq!(areas[0].value, "radiology");
    assert_eq!(areas[0].count, 7);
    let filtered = store
        .search_directory(&DirectoryQuery {
            filters: vec![(Facet::ClinicalArea, vec!["radiology".into()])],
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.total, 7);
    let areas = &filtered
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::ClinicalArea)
        .unwrap()
        .1;
    assert_eq!(
        areas.iter().map(|c| c.count).sum::<i64>(),
        10,
        "own facet ignores its own filter"
    );
    let sources = &filtered
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::Source)
        .unwrap()
        .1;
    assert_eq!(sources[0].count, 7);
    // Keyset pagination visits every match once, in name order.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search_directory(&DirectoryQuery {
                filters: vec![(Facet::ClinicalArea, vec!["radiology".into()])],
                limit: 3,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|e| e.name.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert!(matches!(
        store
            .search_directory(&DirectoryQuery {
                cursor: Some("nonsense".into()),
                limit: 5,
                ..Default::default()
            })
            .await,
        Err(StoreError::Invalid {
            field: "cursor",
            ..
        })
    ));
}

fn fda(reference: &str, device: &str, date: &str) -> ReferenceRecord {
    ReferenceRecord {
        reference: reference.into(),
        device: device.into(),
        company: "Acme Imaging, Inc.".into(),
        panel: "Radiology".into(),
        product_code: "QIH".into(),
        decision_date: date.into(),
    }
}

async fn foreign_list_import_is_idempotent_and_atomic(db: &TestDb) {
    let store = db.open().await.unwrap();
    let first = vec![
        fda("K1", "Lung Nodule AI", "2024-01-02"),
        fda("K2", "Stroke AI", "2024-02-03"),
        fda("K3", "Old AI", "2020-01-01"),
    ];
    let r = store
        .import_references("cli", EntrySource::FdaAiList, "2024-05", &first)
        .await
        .unwrap();
    assert_eq!((r.added.len(), r.changed.len(), r.unchanged), (3, 0, 0));
    let again = store
        .import_references("cli", EntrySource::FdaAiList, "2024-05", &first)
        .await
        .unwrap();
    assert_eq!(
        (again.added.len(), again.changed.len(), again.unchanged),
        (0, 0, 3)
    );
    let second = vec![
        fda("K1", "Lung Nodule AI v2", "2024-01-02"),
        fda("K2", "Stroke AI", "2024-02-03"),
        fda("K4", "New AI", "2025-01-01"),
    ];
    let r = store
        .import_references("cli", EntrySource::FdaAiList, "2025-09", &second)
        .await
        .unwrap();
    assert_eq!(r.added, vec!["K4"]);
    assert_eq!(r.changed, vec!["K1"]);
    assert_eq!(r.unchanged, 1);
    assert_eq!(r.missing, vec!["K3"]);
    let k1 = store
        .foreign_reference_by_number(EntrySource::FdaAiList, "K1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k1.device, "Lung Nodule AI v2");
    // Foreign entries are searchable and marked by source.
    let page = store
        .search_directory(&DirectoryQuery {
            text: "nodule".into(),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].source, "fda_ai_list");
    // A list with a duplicate key changes nothing.
    let dup = vec![fda("K9", "A", "2025-01-01"), fda("K9", "B", "2025-01-01")];
    assert!(matches!(
        store
            .import_references("cli", EntrySource::FdaAiList, "bad", &dup)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(store
        .foreign_reference_by_number(EntrySource::FdaAiList, "K9")
        .await
        .unwrap()
        .is_none());
}

async fn reliance_links(db: &TestDb) {
    let store = db.open().await.unwrap();
    let maker = manufacturer(&store, "M1").await;
    let pid = published_product(
        &store,
        &maker,
        "LaoScan",
        ClinicalArea::TuberculosisScreening,
        "Sàng lọc lao",
    )
    .await;
    store
        .import_references(
            "cli",
            EntrySource::FdaAiList,
            "2025-09",
            &[fda("K7", "qXR", "2023-01-01")],
        )
        .await
        .unwrap();
    let r = store
        .foreign_reference_by_number(EntrySource::FdaAiList, "K7")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        store.link_reliance("rev", &pid, &r.id, "short").await,
        Err(StoreError::Invalid {
            field: "rationale",
            ..
        })
    ));
    store
        .link_reliance("rev", &pid, &r.id, "Same algorithm cleared by FDA as K7")
        .await
        .unwrap();
    assert!(matches!(
        store
            .link_reliance("rev", &pid, &r.id, "Same algorithm cleared by FDA as K7")
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let links = store.reliance_of(&pid).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].1.reference, "K7");
    store
        .set_classification(
            "rev",
            &pid,
            &serde_json::json!({"vn_device_class": "C"}),
            "C",
            "confirmed",
        )
        .await
        .unwrap();
    let e = store.directory_entry(&pid).await.unwrap().unwrap();
    assert_eq!(e.risk_class, "C");
    assert!(matches!(
        store
            .set_classification("rev", &pid, &serde_json::json!({}), "c", "confirmed")
            .await,
        Err(StoreError::Invalid {
            field: "risk_class",
            ..
        })
    ));
    assert_eq!(store.verify_audit().await.unwrap().first_break, None);
}

async fn vendor_self_registration_is_atomic(db: &TestDb) {
    let store = db.open().await.unwrap();
    let org = |code: &str| NewOrganisation {
        code: code.into(),
        kind: OrgKind::Manufacturer,
        name: "Công ty AI Sông Hồng".into(),
        name_en: None,
        admin_unit_code: None,
    };
    let (o, u) = store
        .register_vendor(
            org("0101234567"),
            Username::parse("songhong").unwrap(),
            "Trần Thị B",
            "long enough pw".into(),
        )
        .await
        .unwrap();
    assert!(u.is_disabled() && u.organisation_id.as_deref() == Some(o.id.as_str()));
    assert!(
        store
            .authenticate("songhong", "long enough pw")
            .await
            .unwrap()
            .is_none(),
        "waits for activation"
    );
    // Same company code: nothing stored, not even the account.
    let dup = store
        .register_vendor(
            org("0101234567"),
            Username::parse("another").unwrap(),
            "",
            "long enough pw".into(),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
    assert!(store.user_by_username("another").await.unwrap().is_none());
    let dup_user = store
        .register_vendor(
            org("0109999999"),
            Username::parse("songhong").unwrap(),
            "",
            "long enough pw".into(),
        )
        .await;
    assert!(matches!(dup_user, Err(StoreError::Conflict { .. })));
    assert!(store
        .organisation_by_code("0109999999")
        .await
        .unwrap()
        .is_none());
    let weak = store
        .register_vendor(
            org("0108888888"),
            Username::parse("weakpw").unwrap(),
            "",
            "short".into(),
        )
        .await;
    assert!(matches!(
        weak,
        Err(StoreError::Invalid {
            field: "password",
            ..
        })
    ));
    store
        .set_disabled("admin", "songhong", false)
        .await
        .unwrap();
    assert!(store
        .authenticate("songhong", "long enough pw")
        .await
        .unwrap()
        .is_some());
    let actions: Vec<String> = store
        .list_audit(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.actor)
        .collect();
    assert!(actions.contains(&"signup:songhong".to_string()));
}

async fn cached_facets_follow_writes_from_any_process(db: &TestDb) {
    let a = db.open().await.unwrap();
    let b = db.open().await.unwrap();
    let maker = manufacturer(&a, "M1").await;
    published_product(&a, &maker, "Một", ClinicalArea::Radiology, "Đọc phim").await;
    let all = DirectoryQuery {
        limit: 10,
        ..Default::default()
    };
    let radiology = DirectoryQuery {
        filters: vec![(Facet::ClinicalArea, vec!["radiology".into()])],
        limit: 10,
        ..Default::default()
    };
    assert_eq!(a.search_directory(&all).await.unwrap().total, 1);
    assert_eq!(a.search_directory(&radiology).await.unwrap().total, 1);
    // Another process (its own pool and cache) publishes a product.
    published_product(&b, &maker, "Hai", ClinicalArea::Radiology, "Đọc phim CT").await;
    let page = a.search_directory(&all).await.unwrap();
    assert_eq!(
        page.total, 2,
        "the cache must not hide another process's write"
    );
    assert_eq!(page.items.len(), 2);
    let areas = &page
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::ClinicalArea)
        .unwrap()
        .1;
    assert_eq!(areas[0].count, 2);
    assert_eq!(a.search_directory(&radiology).await.unwrap().total, 2);
    // Classification changes the risk facet.
    let id = a.search_directory(&all).await.unwrap().items[0].id.clone();
    b.set_classification("rev", &id, &serde_json::json!({}), "B", "confirmed")
        .await
        .unwrap();
    let risk = a.search_directory(&all).await.unwrap();
    let classes = &risk
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::RiskClass)
        .unwrap()
        .1;
    assert!(
        classes.iter().any(|c| c.value == "B" && c.count == 1),
        "{classes:?}"
    );
}

/// A directory with every facet varied: areas, risk classes, a foreign list.
async fn varied_directory(store: &Store) {
    let maker = manufacturer(store, "M1").await;
    let other = manufacturer(store, "M2").await;
    let areas = [
        ClinicalArea::TuberculosisScreening,
        ClinicalArea::Radiology,
        ClinicalArea::CardiovascularRisk,
        ClinicalArea::AcuteKidneyInjury,
    ];
    for i in 0..12 {
        let area = areas[i % areas.len()];
        let maker = if i % 3 == 0 { &other } else { &maker };
        let id = published_product(
            store,
            maker,
            &format!("Sàng lọc phim {i}"),
            area,
            &format!("Đọc phim X-quang ngực, sàng lọc lao, mẫu {i}"),
        )
        .await;
        if i % 3 == 1 {
            let class = ["B", "C"][i % 2];
            store
                .set_classification("rev", &id, &serde_json::json!({}), class, "confirmed")
                .await
                .unwrap();
        }
    }
    store
        .import_references(
            "cli",
            EntrySource::FdaAiList,
            "2025-09",
            &[
                fda("K1", "Lung Phim AI", "2024-01-02"),
                fda("K2", "Lao Chest AI", "2024-02-03"),
                fda("K3", "Stroke AI", "2024-03-04"),
            ],
        )
        .await
        .unwrap();
}

fn directory_query(text: &str, filters: &[(Facet, &[&str])], limit: i64) -> DirectoryQuery {
    DirectoryQuery {
        text: text.into(),
        filters: filters
            .iter()
            .map(|(f, vs)| (*f, vs.iter().map(|v| v.to_string()).collect()))
            .collect(),
        cursor: None,
        limit,
    }
}

async fn cached_search_equals_uncached_search(db: &TestDb) {
    let store = db.open().await.unwrap();
    varied_directory(&store).await;
    let long = "x".repeat(100_000);
    let many: Vec<String> = (0..500).map(|i| format!("area{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let queries = [
        directory_query("", &[], 5),
        directory_query("phim", &[], 5),
        directory_query("sàng lọc lao", &[], 4),
        directory_query("lao sang", &[(Facet::Source, &["local"])], 3),
        directory_query(
            "phim",
            &[
                (
                    Facet::ClinicalArea,
                    &["radiology", "tuberculosis_screening"],
                ),
                (Facet::RiskClass, &["B", "unclassified"]),
            ],
            2,
        ),
        directory_query("ai", &[(Facet::Domestic, &["0"])], 2),
        directory_query("x ray mau 1", &[], 10),
        directory_query(
            "",
            &[(Facet::Country, &["VN"]), (Facet::Modality, &["imaging"])],
            4,
        ),
        directory_query("phim", &[(Facet::ClinicalArea, &["no_such_area"])], 5),
        directory_query(&long, &[(Facet::ClinicalArea, &many)], 5),
        directory_query("🦠 '%_\\\"", &[(Facet::Country, &[long.as_str()])], 5),
    ];
    for q in &queries {
        // Walk every page: cold, then warm from the cache, then without it.
        for round in 0..2 {
            let mut cached = q.clone();
            let mut reference = q.clone();
            let mut pages = 0;
            loop {
                let a = store.search_directory(&cached).await.unwrap();
                let b = store.search_directory_uncached(&reference).await.unwrap();
                assert_eq!(
                    serde_json::to_value(&a).unwrap(),
                    serde_json::to_value(&b).unwrap(),
                    "round {round}, page {pages} of {:?}",
                    q.text.chars().take(20).collect::<String>()
                );
                assert!(a
                    .facets
                    .iter()
                    .all(|(_, counts)| counts.iter().all(|c| c.count > 0)));
                pages += 1;
                match (a.next_cursor, b.next_cursor) {
                    (Some(x), Some(y)) => {
                        cached.cursor = Some(x);
                        reference.cursor = Some(y);
                    }
                    _ => break,
                }
            }
            assert!(pages < 20);
        }
    }
    // The counts are those of the matches: a text search with filters, checked by hand.
    let page = store
        .search_directory(&directory_query(
            "phim",
            &[(Facet::Source, &["local"])],
            100,
        ))
        .await
        .unwrap();
    assert_eq!(page.total, 12);
    let sources = &page
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::Source)
        .unwrap()
        .1;
    let by_source: Vec<(&str, i64)> = sources
        .iter()
        .map(|c| (c.value.as_str(), c.count))
        .collect();
    assert_eq!(
        by_source,
        vec![("local", 12), ("fda_ai_list", 1)],
        "own filter ignored"
    );
    let areas = &page
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::ClinicalArea)
        .unwrap()
        .1;
    assert_eq!(
        areas.iter().map(|c| c.count).sum::<i64>(),
        12,
        "other filters applied"
    );
    // Word order and repeats do not change the answer.
    let a = store
        .search_directory(&directory_query("lao sang loc lao", &[], 5))
        .await
        .unwrap();
    let b = store
        .search_directory(&directory_query("sàng lọc lao", &[], 5))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        serde_json::to_value(&b).unwrap()
    );
}

async fn identical_concurrent_searches_compute_once(db: &TestDb) {
    let store = db.open().await.unwrap();
    varied_directory(&store).await;
    let q = directory_query("sàng lọc phim", &[(Facet::Source, &["local"])], 5);
    let before = store.directory_facet_computations();
    let start = Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (store, q, start) = (store.clone(), q.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store.search_directory(&q).await.unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(serde_json::to_value(t.await.unwrap()).unwrap());
    }
    assert!(answers.iter().all(|a| *a == answers[0]));
    assert_eq!(answers[0]["total"], 12);
    assert_eq!(
        store.directory_facet_computations(),
        before + 1,
        "32 identical searches at once count facets once"
    );
    // Later pages reuse the counts of the first.
    let first = store.search_directory(&q).await.unwrap();
    let second = store
        .search_directory(&DirectoryQuery {
            cursor: first.next_cursor.clone(),
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(second.items.len(), 5);
    assert_ne!(second.items[0].id, first.items[0].id);
    assert_eq!(second.total, 12);
    assert_eq!(store.directory_facet_computations(), before + 1);
    // Another search is another key.
    store
        .search_directory(&directory_query("phim", &[], 5))
        .await
        .unwrap();
    assert_eq!(store.directory_facet_computations(), before + 2);
}

async fn cached_text_search_follows_writes_from_any_process(db: &TestDb) {
    let a = db.open().await.unwrap();
    let b = db.open().await.unwrap();
    varied_directory(&a).await;
    let q = directory_query("phim", &[(Facet::ClinicalArea, &["radiology"])], 50);
    // Three local products and FDA's radiology entry.
    let page = a.search_directory(&q).await.unwrap();
    assert_eq!(page.total, 4);
    let computed = a.directory_facet_computations();
    assert_eq!(a.search_directory(&q).await.unwrap().total, 4);
    assert_eq!(
        a.directory_facet_computations(),
        computed,
        "served from the cache"
    );
    // Another process (its own pool and cache) publishes a matching product.
    let maker = manufacturer(&b, "M9").await;
    let id = published_product(&b, &maker, "Phim Mới", ClinicalArea::Radiology, "Đọc phim").await;
    let page = a.search_directory(&q).await.unwrap();
    assert_eq!(
        page.total, 5,
        "the cache must not hide another process's write"
    );
    assert!(page.items.iter().any(|e| e.id == id));
    assert_eq!(a.directory_facet_computations(), computed + 1);
    let risks = &page
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::RiskClass)
        .unwrap()
        .1;
    let before_unclassified = risks
        .iter()
        .find(|c| c.value == "unclassified")
        .unwrap()
        .count;
    // A classification moves the product between risk facet values.
    b.set_classification("rev", &id, &serde_json::json!({}), "D", "confirmed")
        .await
        .unwrap();
    let page = a.search_directory(&q).await.unwrap();
    let risks = &page
        .facets
        .iter()
        .find(|(f, _)| *f == Facet::RiskClass)
        .unwrap()
        .1;
    assert!(
        risks.iter().any(|c| c.value == "D" && c.count == 1),
        "{risks:?}"
    );
    assert_eq!(
        risks
            .iter()
            .find(|c| c.value == "unclassified")
            .unwrap()
            .count,
        before_unclassified - 1
    );
    assert_eq!(
        serde_json::to_value(&page).unwrap(),
        serde_json::to_value(a.search_directory_uncached(&q).await.unwrap()).unwrap()
    );
}
