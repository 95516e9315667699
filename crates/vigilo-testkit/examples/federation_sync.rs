//! GRN federation sync at scale (issue 8, "Benchmarks"; bench/federation_sync.sh): node A
//! (VN), a real server on loopback over its own fresh database, publishes ITEMS signed
//! items through the store (`Store::publish`, one transaction each, as the warnings desk
//! does); then, RUNS times, a fresh node B (SG) pins A and runs the real sync
//! (`vigilo_server::federation::sync_peers`: signed feed requests, strict parsing, page
//! checks, every item verified against the pinned key, pages applied with their cursor in
//! one transaction) until all ITEMS are stored, and the run is timed. Before that it times
//! core's item verification (`verify_item`: parse, canonicalise, Ed25519 `verify_strict`)
//! and bare Ed25519 verification on one thread, and the same on all cores. Prints one JSON
//! line.
//!
//!   federation_sync [--backend sqlite|postgres] [--items 100000] [--runs 3]
//!                   [--kind warning|entry] [--audience members|public] [--page-limit 200]
//!                   [--verify-items 20000]
//!
//! PostgreSQL needs `VIGILO_TEST_POSTGRES_URL` (an admin URL: each node gets a new
//! database). Node A's database is published once and kept for all runs; each run's node B
//! starts empty, so every run pulls all ITEMS.

use serde_json::{json, Value};
use std::time::Instant;
use time::macros::date;
use time::OffsetDateTime;
use vigilo_core::directory::{AiKind, InputModality};
use vigilo_core::federation::{
    compose_early_warning, sign_item, verify_item, Audience, ItemDraft, ItemType, NodeKeys,
    ReportStage, SeriousnessCounts, TrustedPeers, VerifyPolicy, WarningInput, WarningProduct,
};
use vigilo_core::incident::Seriousness;
use vigilo_core::suppression::SuppressionRule;
use vigilo_server::federation::{sync_client, sync_peers, FederationConfig};
use vigilo_store::NewPublication;
use vigilo_testkit::{Backend, TestServer};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn arg_str<'a>(args: &'a [String], name: &str, default: &'a str) -> &'a str {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

/// The payload of item `i`: an early warning as the warnings desk composes it (each with its
/// own reference and counts), or a directory entry as a node would share its directory.
fn payload(kind: &str, i: usize) -> Result<Value, String> {
    if kind == "entry" {
        let mut e = vigilo_core::federation::SharedDirectoryEntry::new(
            &format!("Sản phẩm AI {i}"),
            &format!("Công ty {}", i % 997),
        );
        e.versions = vec!["1.0".into(), "1.1".into()];
        e.clinical_area = "tuberculosis_screening".into();
        e.input_modality = "imaging".into();
        e.licence_status = "active".into();
        e.intended_use = "Sàng lọc lao trên phim X-quang ngực tại trạm y tế xã.".into();
        return Ok(e.to_payload());
    }
    let n = i % 40;
    let w = compose_early_warning(
        &WarningInput {
            reference: format!("VN-EW-2026-{i:06}"),
            stage: ReportStage::Initial,
            product: WarningProduct {
                name: format!("TrợLý Sức Khỏe {}", i % 500),
                manufacturer: "Công ty ABC".into(),
                versions: vec!["2.1.0".into(), "2.1.1".into()],
                input_modality: InputModality::Text,
                ai_kind: Some(AiKind::Generative),
            },
            imdrf_codes: vec!["A0908".into(), "F10".into()],
            ai_codes: vec!["AI02".into()],
            counts: SeriousnessCounts::tally(
                std::iter::repeat_n(Seriousness::Malfunction, 5 + n)
                    .chain(std::iter::repeat_n(Seriousness::SeriousInjury, 3))
                    .chain(std::iter::repeat_n(Seriousness::OtherInjury, 2)),
            ),
            period_from: date!(2026 - 11 - 01),
            period_to: date!(2026 - 11 - 30),
            summary: "The assistant advised doses above the maximum daily dose in versions 2.1.x; reports from 4 provinces.".into(),
            recommendation: "Check deployments of 2.1.0 and 2.1.1; the manufacturer's fix is 2.1.2.".into(),
            actions_taken: vec![],
            countries_concerned: vec!["SG".parse().map_err(|e| format!("{e}"))?, "VN".parse().map_err(|e| format!("{e}"))?],
        },
        SuppressionRule::default(),
    )
    .map_err(|e| e.to_string())?;
    Ok(w.to_payload())
}

/// Verification rates: `verify_item` (what the sync does per item) and bare Ed25519 over
/// the same signed bytes, items per second on one thread and on `threads` threads.
fn verification_rates(kind: &str, count: usize, threads: usize) -> Result<Value, String> {
    let keys = NodeKeys::from_seed(&[7; 32]);
    let vn = "VN".parse().map_err(|e| format!("{e}"))?;
    let sg = "SG".parse().map_err(|e| format!("{e}"))?;
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_800);
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        let signed = sign_item(
            &keys,
            ItemDraft {
                item_type: if kind == "entry" {
                    ItemType::DirectoryEntry
                } else {
                    ItemType::EarlyWarning
                },
                id: format!("VN-EW-2026-{i:06}")
                    .parse()
                    .map_err(|e| format!("{e}"))?,
                version: 1,
                issued_at: now,
                country: vn,
                audience: Audience::Members,
                payload: payload(kind, i)?,
            },
        )
        .map_err(|e| e.to_string())?;
        items.push(signed);
    }
    let mut pinned = TrustedPeers::new();
    pinned.pin(keys.public_key(), vn);
    let policy = VerifyPolicy {
        now,
        max_future_skew: time::Duration::minutes(5),
        max_item_bytes: vigilo_store::MAX_PUBLISHED_ITEM_BYTES,
        reader: sg,
    };
    // The bytes Ed25519 covers: the canonical item without its signature.
    let signed_bytes: Vec<Vec<u8>> = items
        .iter()
        .map(|s| {
            let mut v: Value = serde_json::from_slice(&s.wire).unwrap_or(Value::Null);
            if let Value::Object(o) = &mut v {
                o.remove("signature");
            }
            vigilo_core::federation::jcs::canonical_bytes(&v).unwrap_or_default()
        })
        .collect();
    let key = keys.public_key();
    let time_items = |slice: &[vigilo_core::federation::SignedItem]| -> usize {
        slice
            .iter()
            .filter(|s| verify_item(&s.wire, &pinned, &policy).is_ok())
            .count()
    };
    let time_bare = |range: std::ops::Range<usize>| -> usize {
        range
            .filter(|&i| key.verify(&signed_bytes[i], &items[i].signature))
            .count()
    };
    let mut out = serde_json::Map::new();
    let mut one_item = Vec::new();
    let mut one_bare = Vec::new();
    let mut all_item = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        if time_items(&items) != count {
            return Err("an item did not verify".into());
        }
        one_item.push(count as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        if time_bare(0..count) != count {
            return Err("a signature did not verify".into());
        }
        one_bare.push(count as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let chunk = count.div_ceil(threads);
        let ok: usize = std::thread::scope(|s| {
            let handles: Vec<_> = items
                .chunks(chunk)
                .map(|c| s.spawn(|| time_items(c)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        if ok != count {
            return Err("an item did not verify".into());
        }
        all_item.push(count as f64 / t.elapsed().as_secs_f64());
    }
    let mean_wire = items.iter().map(|s| s.wire.len()).sum::<usize>() / count.max(1);
    out.insert("verify_items".into(), json!(count));
    out.insert("item_bytes_mean".into(), json!(mean_wire));
    out.insert("verify_item_per_s_1_thread".into(), json!(one_item));
    out.insert(
        "verify_item_per_s_1_thread_median".into(),
        json!(median(one_item.clone())),
    );
    out.insert("ed25519_verify_per_s_1_thread".into(), json!(one_bare));
    out.insert(
        "ed25519_verify_per_s_1_thread_median".into(),
        json!(median(one_bare.clone())),
    );
    out.insert("threads".into(), json!(threads));
    out.insert("verify_item_per_s_all_threads".into(), json!(all_item));
    out.insert(
        "verify_item_per_s_all_threads_median".into(),
        json!(median(all_item.clone())),
    );
    Ok(Value::Object(out))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("federation_sync: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let backend = match arg_str(&args, "--backend", "sqlite") {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => return Err(format!("--backend sqlite|postgres, not {other}")),
    };
    let n = arg(&args, "--items", 100_000).max(1);
    let runs = arg(&args, "--runs", 3).max(1);
    let kind = arg_str(&args, "--kind", "warning");
    let audience = match arg_str(&args, "--audience", "members") {
        "members" => Audience::Members,
        "public" => Audience::Public,
        other => return Err(format!("--audience members|public, not {other}")),
    };
    let page_limit = arg(&args, "--page-limit", 0);
    let verify_count = arg(&args, "--verify-items", 20_000).max(1);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let item_type = if kind == "entry" {
        ItemType::DirectoryEntry
    } else {
        ItemType::EarlyWarning
    };

    let load_before = load_average();
    eprintln!("== verification rate ({verify_count} items, 3 rounds)");
    let rates = verification_rates(kind, verify_count, threads)?;
    eprintln!("{rates}");

    let a = TestServer::start_node(backend, 7, "VN", "Cục HTTBYT (bench)")
        .await
        .ok_or("PostgreSQL asked for: set VIGILO_TEST_POSTGRES_URL")?;
    let a_keys = a.node.as_ref().ok_or("node A has no keys")?.keys.clone();
    eprintln!("== node A ({}): publishing {n} items", a.base);
    let t = Instant::now();
    // A few publishers side by side: each publication is its own transaction, as in
    // production; on PostgreSQL their commits overlap.
    let publishers = 4;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..publishers {
        let (store, keys, audience) = (a.store.clone(), a_keys.clone(), audience.clone());
        let kind = kind.to_string();
        tasks.spawn(async move {
            for i in (w..n).step_by(publishers) {
                let id = format!("VN-EW-2026-{i:06}")
                    .parse()
                    .map_err(|e| format!("{e}"))?;
                store
                    .publish(
                        "bench",
                        &keys,
                        NewPublication {
                            item_type,
                            id,
                            audience: audience.clone(),
                            payload: payload(&kind, i)?,
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let publish_s = t.elapsed().as_secs_f64();
    eprintln!("   {publish_s:.1} s ({:.0} items/s)", n as f64 / publish_s);

    let mut run_s = Vec::new();
    let mut pulls = Vec::new();
    let mut config_note = Value::Null;
    for run in 0..runs {
        let b = TestServer::start_node(backend, 9, "SG", "HSA (bench)")
            .await
            .ok_or("node B did not start")?;
        if run == 0 {
            // B's key is the same every run (seed 9): A pins it once, to serve it members'
            // items.
            a.pin(&b).await;
        }
        b.pin(&a).await;
        let mut config: FederationConfig = b.federation_config();
        if page_limit > 0 {
            config.page_limit = u32::try_from(page_limit).map_err(|e| e.to_string())?;
        }
        config_note = json!({"page_limit": config.page_limit,
            "max_pages_per_run": config.max_pages_per_run});
        let client = sync_client(&config).map_err(|e| e.to_string())?;
        eprintln!("== run {}: node B ({}) syncs from A", run + 1, b.base);
        let load = load_average();
        let t = Instant::now();
        let mut inserted = 0u64;
        let mut calls = 0u32;
        while inserted < n as u64 {
            let s = sync_peers(&b.store, &config, &client)
                .await
                .map_err(|e| e.to_string())?;
            calls += 1;
            if s.failed > 0 || s.refused > 0 {
                return Err(format!("sync run {calls}: {s}"));
            }
            if s.inserted == 0 {
                return Err(format!("sync stalled at {inserted} of {n}"));
            }
            inserted += s.inserted;
        }
        let seconds = t.elapsed().as_secs_f64();
        // Outside the timing: every item is stored, once, with the wire bytes A signed.
        let stored = b
            .store
            .received_items(&[item_type], false, 100_000)
            .await
            .map_err(|e| e.to_string())?;
        if stored.len() != n.min(100_000) {
            return Err(format!("{} stored, {n} expected", stored.len()));
        }
        eprintln!(
            "   {seconds:.2} s, {:.0} items/s, {calls} sync_peers calls, load before {load}",
            n as f64 / seconds
        );
        run_s.push(seconds);
        pulls.push(json!({"seconds": seconds, "sync_peers_calls": calls, "load_before": load}));
        b.stop().await;
    }
    a.stop().await;
    let med = median(run_s.clone());
    println!(
        "{}",
        json!({
            "bench": "federation_sync",
            "backend": match backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" },
            "load_before": load_before,
            "items": n,
            "kind": kind,
            "audience": match audience { Audience::Public => "public", _ => "members" },
            "config": config_note,
            "publish_s": publish_s,
            "publish_items_per_s": n as f64 / publish_s,
            "runs": pulls,
            "sync_s": run_s,
            "sync_s_median": med,
            "sync_items_per_s_median": n as f64 / med,
            "verification": rates,
            "load_after": load_average(),
        })
    );
    Ok(())
}
