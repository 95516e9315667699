//! Issue 10's proofs against the real binary: SIGKILL during intake loses no acknowledged
//! report (SQLite and PostgreSQL, with a PostgreSQL restart under load), and online
//! backups restore to a consistent database. Figures go to docs/reliability.md.
//!
//! `VIGILO_CRASH_KILLS` sets the number of kills per run (default 30); `VIGILO_CRASH_SEED`
//! replays a run (the seed is printed). `VIGILO_TEST_POSTGRES_RESTART` is a shell
//! command that restarts the test PostgreSQL server (set by .ci/run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_store::testing::TestDb;

const PG_ENV: &str = "VIGILO_TEST_POSTGRES_URL";
const PG_RESTART_ENV: &str = "VIGILO_TEST_POSTGRES_RESTART";

/// These tests each run servers at full load: one at a time, so that on CI's two cores
/// one test's load does not starve another's server into timeouts.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn vigilo(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args(args)
        .current_dir(dir)
        .env_remove("VIGILO_DATABASE_URL")
        .env("VIGILO_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vigilo {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `vigilo serve` process; its output is appended to `server.log` in `dir`.
fn spawn_server(dir: &Path, url: &str, port: u16) -> Child {
    spawn_server_logging(dir, url, port, "warn")
}

fn spawn_server_logging(dir: &Path, url: &str, port: u16, level: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args([
            "serve",
            "--database",
            url,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(dir)
        .env_remove("VIGILO_DATABASE_URL")
        .env("VIGILO_LOG", level)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, base: &str, server: &mut Child) {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Some(status) = server.try_wait().unwrap() {
            panic!("the server exited while starting: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the server did not get ready in 90 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn seed() -> u64 {
    std::env::var("VIGILO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random())
}

fn kills() -> usize {
    std::env::var("VIGILO_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

/// One unit of intake that a client keeps resending until the server acknowledges it.
#[derive(Clone, Debug)]
enum Job {
    Incident { key: String },
    Monitoring { rows: Vec<(String, String, i64)> },
}

fn incident_body(key: &str) -> Value {
    json!({
        "reporter_kind": "health_worker",
        "province_code": "01",
        "seriousness": "malfunction",
        "product_text": "trợ lý ảo tư vấn thuốc",
        "narrative": format!("Crash test {key}: the assistant suggested a wrong dose; patient Trần Thị Bích, phone 0912 345 678, was called back."),
        "client_key": key,
    })
}

fn monitoring_body(rows: &[(String, String, i64)]) -> Value {
    let reports: Vec<Value> = rows
        .iter()
        .map(|(deployment, period, uses)| {
            json!({
                "deployment": deployment, "period": period, "uses": uses, "positives": 1,
                "overrides": 0, "escalations": 0, "downtime_minutes": 0,
            })
        })
        .collect();
    json!({ "reports": reports })
}

/// What the clients saw, for the checks at the end.
#[derive(Default)]
struct Ledger {
    /// client key -> receipt the server answered
    incidents: HashMap<String, String>,
    /// (deployment, period) -> uses sent, for acknowledged batches
    monitoring: HashMap<(String, String), i64>,
    batch_receipts: Vec<String>,
    /// Answers the clients retried: transport errors, 503 (with Retry-After), 429.
    retried: usize,
    unavailable_503: usize,
    /// Anything else: a bug, reported at the end.
    unexpected: Vec<String>,
}

struct Load {
    queue: Mutex<VecDeque<Job>>,
    ledger: Mutex<Ledger>,
    /// Stop taking new jobs; finish the ones taken.
    draining: AtomicBool,
    next_incident: AtomicUsize,
}

async fn client_loop(
    load: Arc<Load>,
    client: reqwest::Client,
    base: String,
    token: String,
    monitoring: bool,
) {
    loop {
        let job = if monitoring {
            if load.draining.load(Ordering::SeqCst) {
                return;
            }
            match load.queue.lock().unwrap().pop_front() {
                Some(j) => j,
                None => return,
            }
        } else {
            if load.draining.load(Ordering::SeqCst) {
                return;
            }
            let n = load.next_incident.fetch_add(1, Ordering::SeqCst);
            Job::Incident {
                key: format!("crash-{n:06}"),
            }
        };
        // Resend until acknowledged, as a station would.
        loop {
            let (url, body) = match &job {
                Job::Incident { key } => (format!("{base}/api/v1/incidents"), incident_body(key)),
                Job::Monitoring { rows } => (
                    format!("{base}/api/v1/monitoring/reports"),
                    monitoring_body(rows),
                ),
            };
            let answer = client
                .post(&url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            let resp = match answer {
                Ok(r) => r,
                Err(_) => {
                    load.ledger.lock().unwrap().retried += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp.headers().contains_key("retry-after");
            let text = match resp.text().await {
                Ok(t) => t,
                Err(_) => {
                    // Killed while answering: no acknowledgement.
                    load.ledger.lock().unwrap().retried += 1;
                    continue;
                }
            };
            if status == 503 || status == 429 {
                {
                    let mut l = load.ledger.lock().unwrap();
                    l.retried += 1;
                    if status == 503 {
                        l.unavailable_503 += 1;
                        if !retry_after {
                            l.unexpected
                                .push(format!("503 without Retry-After: {text}"));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let mut l = load.ledger.lock().unwrap();
            match &job {
                Job::Incident { key } if status == 201 || status == 200 => {
                    let receipt = v["receipt"].as_str().unwrap_or_default().to_string();
                    if receipt.is_empty() {
                        l.unexpected
                            .push(format!("incident {key}: no receipt in {text}"));
                    }
                    l.incidents.insert(key.clone(), receipt);
                }
                Job::Monitoring { rows } if status == 200 => {
                    let fine = v["rows"].as_array().is_some_and(|rs| {
                        rs.len() == rows.len()
                            && rs
                                .iter()
                                .all(|r| r["status"] == "accepted" || r["status"] == "unchanged")
                    });
                    if !fine {
                        l.unexpected
                            .push(format!("monitoring batch not taken whole: {text}"));
                    }
                    for (d, p, uses) in rows {
                        l.monitoring.insert((d.clone(), p.clone()), *uses);
                    }
                    l.batch_receipts
                        .push(v["receipt"].as_str().unwrap_or_default().to_string());
                }
                _ => l.unexpected.push(format!("HTTP {status}: {text}")),
            }
            break;
        }
    }
}

/// The world a crash run needs: the demo's pilot deployments (daily reporting, no
/// reports yet) and an admin token.
struct World {
    dir: tempfile::TempDir,
    db: TestDb,
    token: String,
}

async fn world(postgres: bool) -> Option<World> {
    let db = if postgres {
        let Ok(admin) = std::env::var(PG_ENV) else {
            eprintln!("skipped: set {PG_ENV} to run on PostgreSQL");
            return None;
        };
        TestDb::postgres(&admin).await.unwrap()
    } else {
        TestDb::sqlite().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    vigilo(
        dir.path(),
        &[
            "demo",
            "--database",
            &db.url,
            "--seed-only",
            "--pilot-stations",
            "1",
            "--pilot-without-reports",
            "--pilot-frequency",
            "day",
        ],
    );
    let token = vigilo(
        dir.path(),
        &[
            "token",
            "create",
            "admin",
            "--name",
            "crash",
            "--database",
            &db.url,
        ],
    )
    .trim()
    .to_string();
    Some(World { dir, db, token })
}

/// Every active deployment's first `days` daily periods, in batches of `batch` rows.
async fn monitoring_jobs(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    days: usize,
    batch: usize,
) -> VecDeque<Job> {
    let page: Value = client
        .get(format!(
            "{base}/api/v1/deployments?limit=1000&status=active"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut rows = Vec::new();
    for d in page["items"].as_array().unwrap() {
        let kind = PeriodKind::parse(d["frequency"].as_str().unwrap()).unwrap();
        let go_live = Period::parse(d["go_live"].as_str().unwrap())
            .unwrap()
            .start();
        let mut p = Period::containing(kind, go_live);
        for day in 0..days {
            rows.push((
                d["id"].as_str().unwrap().to_string(),
                p.to_string(),
                10 + day as i64,
            ));
            p = p.next();
        }
    }
    assert!(
        rows.len() > 1000,
        "the demo pilot has too few deployments: {}",
        rows.len()
    );
    rows.chunks(batch)
        .map(|c| Job::Monitoring { rows: c.to_vec() })
        .collect()
}

async fn crash_run(postgres: bool) {
    let Some(w) = world(postgres).await else {
        return;
    };
    let seed = seed();
    let kills = kills();
    eprintln!("crash run: seed {seed}, {kills} kills (replay with VIGILO_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut server = spawn_server(w.dir.path(), &w.db.url, port);
    wait_ready(&client, &base, &mut server).await;
    let load = Arc::new(Load {
        queue: Mutex::new(monitoring_jobs(&client, &base, &w.token, 40, 8).await),
        ledger: Mutex::default(),
        draining: AtomicBool::new(false),
        next_incident: AtomicUsize::new(0),
    });
    let mut clients = Vec::new();
    for i in 0..8 {
        clients.push(tokio::spawn(client_loop(
            load.clone(),
            client.clone(),
            base.clone(),
            w.token.clone(),
            i >= 6,
        )));
    }
    let restart = std::env::var(PG_RESTART_ENV).ok().filter(|_| postgres);
    let mut pg_restarted = false;
    let mut acked_before_kill = Vec::new();
    for k in 0..kills {
        // Run under load for a random while, then SIGKILL.
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..700))).await;
        if k == kills / 2 {
            if let Some(cmd) = &restart {
                // The database goes away under load; the server must answer 503 with
                // Retry-After meanwhile and recover without a restart of its own.
                let before = load.ledger.lock().unwrap().incidents.len();
                let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
                assert!(
                    out.status.success(),
                    "{cmd}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let started = Instant::now();
                while load.ledger.lock().unwrap().incidents.len() < before + 50 {
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "the server did not recover from the PostgreSQL restart in 60 s"
                    );
                    assert!(
                        server.try_wait().unwrap().is_none(),
                        "the server died with the database"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                pg_restarted = true;
            }
        }
        server.kill().unwrap();
        server.wait().unwrap();
        acked_before_kill.push(load.ledger.lock().unwrap().incidents.len());
        server = spawn_server(w.dir.path(), &w.db.url, port);
        wait_ready(&client, &base, &mut server).await;
    }
    // Let the clients finish what they took, then kill once more: the checks below
    // read a database that was last closed by SIGKILL.
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.draining.store(true, Ordering::SeqCst);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(120), c)
            .await
            .expect("clients finish their resends")
            .unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let ledger = std::mem::take(&mut *load.ledger.lock().unwrap());
    if !ledger.unexpected.is_empty() {
        let log = std::fs::read_to_string(w.dir.path().join("server.log")).unwrap_or_default();
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("ERROR"))
            .take(10)
            .collect();
        panic!(
            "unexpected answers: {:#?}\nserver errors:\n{}",
            &ledger.unexpected[..ledger.unexpected.len().min(10)],
            errors.join("\n")
        );
    }
    if restart.is_some() {
        assert!(pg_restarted);
        assert!(
            ledger.unavailable_503 > 0,
            "no 503 seen while PostgreSQL restarted"
        );
    }
    // The load must really have run across the kills.
    let grew = acked_before_kill.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        grew >= kills / 2,
        "intake stalled between kills: {acked_before_kill:?}"
    );
    let checked = check_database(&w, &ledger).await;
    eprintln!(
        "crash run ({}): {kills} kills survived; {} incident reports and {} monitoring rows acknowledged, each stored exactly once; {} answers retried ({} were 503); {checked} audit entries verified",
        if postgres { "PostgreSQL" } else { "SQLite" },
        ledger.incidents.len(),
        ledger.monitoring.len(),
        ledger.retried,
        ledger.unavailable_503,
    );
    w.db.cleanup().await;
}

/// Every acknowledged record is stored exactly once and whole; the database and its
/// audit chain check out. Returns the number of audit entries verified.
async fn check_database(w: &World, ledger: &Ledger) -> u64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&w.db.url).await.unwrap();
    if let Some(file) = vigilo_store::sqlite_file(&w.db.url) {
        let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(integrity, ["ok"], "{}", file.display());
        let orphans = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(
            orphans.is_empty(),
            "{} rows with a missing parent",
            orphans.len()
        );
    }
    // Incidents: one row per client key, the acknowledged receipt, scrubbed, each with
    // its receipt event and audit entry (a report is never half-written).
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT id, client_key, receipt, narrative FROM incidents WHERE client_key LIKE 'crash-%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut by_key: HashMap<&str, Vec<&(String, String, String, String)>> = HashMap::new();
    for r in &rows {
        by_key.entry(r.1.as_str()).or_default().push(r);
    }
    for (key, receipt) in &ledger.incidents {
        let stored = by_key
            .get(key.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert_eq!(
            stored.len(),
            1,
            "acknowledged report {key} stored {} times",
            stored.len()
        );
        assert_eq!(&stored[0].2, receipt, "report {key}: receipt changed");
        assert!(
            !stored[0].3.contains("345 678"),
            "report {key} stored unscrubbed"
        );
    }
    let receipts: HashSet<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(
        receipts.len(),
        rows.len(),
        "a receipt number was given twice"
    );
    let events: Vec<(String, i64)> = sqlx::query_as(
        "SELECT i.id, CAST(COUNT(e.seq) AS BIGINT) FROM incidents i LEFT JOIN incident_events e ON e.incident_id = i.id \
         WHERE i.client_key LIKE 'crash-%' GROUP BY i.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (id, n) in &events {
        assert!(*n >= 1, "report {id} has no event");
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(DISTINCT a.object_id) AS BIGINT) FROM audit_log a JOIN incidents i ON i.id = a.object_id \
         WHERE a.action = 'incident.receive' AND i.client_key LIKE 'crash-%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        audited as usize,
        rows.len(),
        "reports without their audit entry"
    );
    // Monitoring: each acknowledged (deployment, period) once, as sent, never revised.
    let stored: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT deployment_id, period, CAST(uses AS BIGINT), CAST(revision AS BIGINT) FROM monitoring_reports",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut seen: HashMap<(String, String), (i64, i64, usize)> = HashMap::new();
    for (d, p, uses, rev) in stored {
        let e = seen.entry((d, p)).or_insert((uses, rev, 0));
        e.2 += 1;
    }
    for (key, uses) in &ledger.monitoring {
        let Some((stored_uses, rev, n)) = seen.get(key) else {
            panic!("acknowledged monitoring row {key:?} is missing");
        };
        assert_eq!(
            (*stored_uses, *rev, *n),
            (*uses, 1, 1),
            "monitoring row {key:?}"
        );
    }
    for receipt in &ledger.batch_receipts {
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM monitoring_batches WHERE receipt = $1",
        )
        .bind(receipt)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(n, 1, "batch receipt {receipt}");
    }
    pool.close().await;
    let out = vigilo(w.dir.path(), &["audit", "verify", "--database", &w.db.url]);
    assert!(out.contains("audit chain intact"), "{out}");
    out.split_whitespace()
        .find_map(|t| t.parse::<u64>().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_intake_loses_no_acknowledged_report_sqlite() {
    let _serial = SERIAL.lock().await;
    crash_run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_intake_loses_no_acknowledged_report_postgres() {
    let _serial = SERIAL.lock().await;
    crash_run(true).await;
}

/// A backup taken while reports keep arriving restores to a whole database that holds
/// everything acknowledged before the backup began; restore never clobbers by accident.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_while_serving_then_restore() {
    let _serial = SERIAL.lock().await;
    let w = world(false).await.unwrap();
    let d = w.dir.path();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = spawn_server(d, &w.db.url, port);
    wait_ready(&client, &base, &mut server).await;
    let load = Arc::new(Load {
        queue: Mutex::default(),
        ledger: Mutex::default(),
        draining: AtomicBool::new(false),
        next_incident: AtomicUsize::new(0),
    });
    let clients: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(client_loop(
                load.clone(),
                client.clone(),
                base.clone(),
                w.token.clone(),
                false,
            ))
        })
        .collect();
    while load.ledger.lock().unwrap().incidents.len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: HashMap<String, String> = load.ledger.lock().unwrap().incidents.clone();
    let backup = d.join("backup.db");
    let out = vigilo(
        d,
        &["backup", backup.to_str().unwrap(), "--database", &w.db.url],
    );
    assert!(out.contains("audit chain of"), "{out}");
    let during = load.ledger.lock().unwrap().incidents.len();
    assert!(during > before.len(), "intake stopped during the backup");
    load.draining.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();
    // Never overwritten.
    let again = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args(["backup", backup.to_str().unwrap(), "--database", &w.db.url])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));

    let restored = d.join("restored.db");
    let restored_url = format!("sqlite://{}", restored.display());
    let out = vigilo(
        d,
        &[
            "restore",
            backup.to_str().unwrap(),
            "--database",
            &restored_url,
        ],
    );
    assert!(out.contains("restored"), "{out}");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&restored_url).await.unwrap();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT client_key, receipt FROM incidents WHERE client_key LIKE 'crash-%'")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let restored_rows: HashMap<String, String> = rows.into_iter().collect();
    for (key, receipt) in &before {
        assert_eq!(
            restored_rows.get(key),
            Some(receipt),
            "{key} acknowledged before the backup"
        );
    }
    // A consistent snapshot: what it holds beyond that is a prefix of later intake,
    // each with the receipt the client got.
    let all = load.ledger.lock().unwrap().incidents.clone();
    for (key, receipt) in &restored_rows {
        assert_eq!(
            all.get(key),
            Some(receipt),
            "{key} in the backup but never acknowledged"
        );
    }
    assert!(vigilo(d, &["audit", "verify", "--database", &restored_url]).contains("intact"));
    // The restored database serves.
    let mut server = spawn_server(d, &restored_url, port);
    wait_ready(&client, &base, &mut server).await;
    server.kill().unwrap();
    server.wait().unwrap();

    // Restoring over a database needs --replace, and keeps the old one.
    let refused = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args([
            "restore",
            backup.to_str().unwrap(),
            "--database",
            &restored_url,
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--replace"));
    let out = vigilo(
        d,
        &[
            "restore",
            backup.to_str().unwrap(),
            "--database",
            &restored_url,
            "--replace",
        ],
    );
    assert!(out.contains("kept as"), "{out}");
    let kept: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("restored.db.replaced-"))
        .collect();
    assert!(!kept.is_empty());
    // A damaged backup is refused and the database is left alone.
    let damaged = d.join("damaged.db");
    let mut bytes = std::fs::read(&backup).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8192] {
        *b = 0x5a;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let before_restore = std::fs::read(&restored).unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args([
            "restore",
            damaged.to_str().unwrap(),
            "--database",
            &restored_url,
            "--replace",
        ])
        .current_dir(d)
        .env("VIGILO_LOG", "off")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not touched"));
    assert_eq!(std::fs::read(&restored).unwrap(), before_restore);
    // PostgreSQL is pointed at its own tools.
    let pg = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args([
            "backup",
            "x.dump",
            "--database",
            "postgres://u@127.0.0.1:1/db",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

/// The server's own log, at its most talkative level, holds none of the secrets and
/// personal data that went through it: passwords, tokens, session ids, and the names,
/// phone, ID and insurance numbers and e-mail of a patient in a report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_secrets_or_personal_data() {
    let _serial = SERIAL.lock().await;
    let w = world(false).await.unwrap();
    let d = w.dir.path();
    let password = "Planted-Passw0rd-7dd1";
    let wrong = "Planted-Wrong-9c44";
    let add = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args([
            "user",
            "add",
            "logwatch",
            "--role",
            "reviewer",
            "--password-stdin",
            "--database",
            &w.db.url,
        ])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{password}\n").as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(add.success());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn_server_logging(d, &w.db.url, port, "debug");
    let plain = reqwest::Client::new();
    wait_ready(&plain, &base, &mut server).await;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let login = |pw: &'static str| {
        let (browser, base) = (browser.clone(), base.clone());
        async move {
            let html = browser
                .get(format!("{base}/login"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            browser
                .post(format!("{base}/login"))
                .form(&[
                    ("csrf", csrf_of(&html).as_str()),
                    ("username", "logwatch"),
                    ("password", pw),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(login("Planted-Wrong-9c44").await.status(), 401);
    let r = login("Planted-Passw0rd-7dd1").await;
    assert!(r.status().is_success() || r.status().is_redirection());
    let me = browser
        .get(format!("{base}/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let token = vigilo(
        d,
        &[
            "token",
            "create",
            "logwatch",
            "--name",
            "logs",
            "--database",
            &w.db.url,
        ],
    )
    .trim()
    .to_string();
    let narrative = "Bệnh nhân Nguyễn Thị Plantedname, sinh ngày 12/03/1961, SĐT 0987 654 321, CCCD 001203004005, BHYT DN4010123456789, email planted.person@example.vn, địa chỉ 45 Ngõ Plantedlane: the assistant missed the sepsis alert.";
    for path in ["/api/v1/incidents/preview", "/api/v1/incidents"] {
        let body = if path.ends_with("preview") {
            json!({ "text": narrative })
        } else {
            json!({
                "reporter_kind": "health_worker", "province_code": "01", "seriousness": "serious_injury",
                "product_text": "cảnh báo nhiễm khuẩn huyết", "narrative": narrative,
            })
        };
        let r = plain
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().await.unwrap()
        );
    }
    // A token that does not exist, and a bad request carrying identifiers.
    let r = plain
        .get(format!("{base}/api/v1/me"))
        .bearer_auth("vgl_plantedbogus0000000000000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = plain
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&json!({ "narrative": narrative, "seriousness": "Plantedbad 0987 654 321" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(d.join("server.log")).unwrap();
    // The requests themselves were logged (so their absence below means something).
    assert!(
        log.contains("/api/v1/incidents") && log.contains("/login"),
        "requests missing from the debug log:\n{log}"
    );
    let secret = token.trim_start_matches("vgl_");
    for planted in [
        password,
        wrong,
        secret,
        "plantedbogus",
        "Plantedname",
        "0987 654 321",
        "0987654321",
        "001203004005",
        "DN4010123456789",
        "planted.person",
        "Plantedlane",
        "12/03/1961",
    ] {
        assert!(!log.contains(planted), "the server log holds '{planted}'");
    }
    // Nor the session id the browser got.
    use reqwest::cookie::CookieStore;
    let cookies = jar.cookies(&base.parse().unwrap()).unwrap();
    let session = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("vigilo_session="))
        .expect("a session cookie")
        .to_string();
    assert!(session.len() >= 16);
    assert!(!log.contains(&session), "the session id is in the log");
}

fn load_seconds() -> u64 {
    std::env::var("VIGILO_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15)
}

/// 200 clients on the mixed workload (public search and product pages, incident intake,
/// monitoring batches, reviewer pages): no errors, nothing shed at the default limit.
/// `VIGILO_LOAD_SECONDS` makes it the 5-minute run; figures per route are printed.
async fn mixed_load(postgres: bool) {
    let Some(w) = world(postgres).await else {
        return;
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = spawn_server(w.dir.path(), &w.db.url, port);
    wait_ready(&client, &base, &mut server).await;
    let report = vigilo_testkit::load::run(vigilo_testkit::load::LoadConfig {
        base: base.clone(),
        token: w.token.clone(),
        clients: 200,
        duration: Duration::from_secs(load_seconds()),
        server_pid: Some(server.id()),
        memory_every: Duration::from_secs(5),
    })
    .await
    .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    eprintln!(
        "mixed load ({}): {}",
        if postgres { "PostgreSQL" } else { "SQLite" },
        report.to_json()
    );
    assert_eq!(report.errors(), 0, "failures: {:#?}", report.failures);
    assert_eq!(report.shed(), 0, "requests shed below the in-flight limit");
    // Every kind of request ran.
    assert_eq!(report.routes.len(), 11, "{:?}", report.routes.keys());
    assert!(report.routes.values().all(|r| r.ok > 0));
    assert!(!report.memory_mib.is_empty());
    w.db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_mixed_load_sqlite() {
    let _serial = SERIAL.lock().await;
    mixed_load(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_mixed_load_postgres() {
    let _serial = SERIAL.lock().await;
    mixed_load(true).await;
}

/// Past its in-flight limit the server answers 503 with Retry-After at once instead of
/// queueing; nothing else fails and health checks still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_shed_with_503_not_queued() {
    let _serial = SERIAL.lock().await;
    let w = world(false).await.unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let log = std::fs::File::create(w.dir.path().join("server.log")).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args([
            "serve",
            "--database",
            &w.db.url,
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--max-in-flight",
            "4",
        ])
        .current_dir(w.dir.path())
        .env("VIGILO_LOG", "warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_ready(&client, &base, &mut server).await;
    let run = tokio::spawn(vigilo_testkit::load::run(
        vigilo_testkit::load::LoadConfig {
            base: base.clone(),
            token: w.token.clone(),
            clients: 100,
            duration: Duration::from_secs(5),
            server_pid: None,
            memory_every: Duration::from_secs(5),
        },
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let health = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let report = run.await.unwrap().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(report.errors(), 0, "failures: {:#?}", report.failures);
    assert!(
        report.shed() > 0,
        "nothing was shed with 100 clients and 4 slots"
    );
    assert!(report.routes.values().map(|r| r.ok).sum::<usize>() > 0);
}
