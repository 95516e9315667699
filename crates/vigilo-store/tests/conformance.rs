//! The store conformance suite: every behaviour runs on SQLite always and on
//! PostgreSQL when VIGILO_TEST_POSTGRES_URL names a server (CI sets it).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use time::macros::datetime;
use time::Duration;
use vigilo_core::audit::ChainBreak;
use vigilo_core::clock::ManualClock;
use vigilo_core::{OrgKind, Role, Username};
use vigilo_store::testing::TestDb;
use vigilo_store::{AuditEntry, NewOrganisation, NewUser, Store, StoreError};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = vigilo_store::testing::TestDb::sqlite().unwrap();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Ok(url) = std::env::var("VIGILO_TEST_POSTGRES_URL") else {
                        eprintln!("skipped: set VIGILO_TEST_POSTGRES_URL to run on PostgreSQL");
                        return;
                    };
                    let db = vigilo_store::testing::TestDb::postgres(&url).await.unwrap();
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

conformance!(
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
