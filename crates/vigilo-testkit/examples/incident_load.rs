//! Load client for incident intake (bench/early_warning.sh): CONCURRENCY connections each
//! post single reports to `POST /api/v1/incidents` with a token for DURATION seconds, every
//! report a separate request and a separate durable transaction, and it prints reports per
//! second and latency percentiles as one JSON line. Any answer other than 201 ends the run
//! with exit code 1.
//!
//!   incident_load BASE_URL TOKEN PRODUCT_ID|- [--concurrency 8] [--seconds 20]

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("incident_load: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: incident_load BASE_URL TOKEN PRODUCT_ID [--concurrency N] [--seconds N]";
    let base = args.get(1).ok_or(usage)?.trim_end_matches('/').to_string();
    let token = args.get(2).ok_or(usage)?.clone();
    let product = args.get(3).ok_or(usage)?.clone();
    let concurrency = arg(&args, "--concurrency", 8).max(1);
    let seconds = arg(&args, "--seconds", 20).max(1) as u64;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, base, token, product, stop) = (
            client.clone(),
            base.clone(),
            token.clone(),
            product.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let seriousness = ["malfunction", "near_miss", "other_injury"][n % 3];
                let mut body = json!({
                    "reporter_kind": "health_worker",
                    "province_code": "01",
                    "seriousness": seriousness,
                    "narrative": format!("Load report {worker}-{n}: the assistant's answer about dosing was wrong; patient Nguyễn Văn An, phone 0912 345 678, was called back."),
                    "client_key": format!("load-{worker}-{n}"),
                });
                // "-" sends reports naming the product in words (no directory lookup).
                if product == "-" {
                    body["product_text"] = json!("trợ lý ảo tư vấn thuốc");
                } else {
                    body["product_id"] = json!(product);
                }
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/incidents"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                if status.as_u16() != 201 {
                    let text = r.text().await.unwrap_or_default();
                    return Err(format!("HTTP {status}: {text}"));
                }
                latencies.push(t.elapsed());
                n += 1;
            }
            Ok::<_, String>(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all[i].as_secs_f64() * 1000.0
    };
    println!(
        "{}",
        json!({
            "reports": all.len(), "seconds": elapsed, "concurrency": concurrency,
            "reports_per_s": all.len() as f64 / elapsed,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99),
        })
    );
    Ok(())
}
