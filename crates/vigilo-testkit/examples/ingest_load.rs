//! Load client for monitoring intake (bench/monitoring.sh): sends one report per deployment
//! and period through `POST /api/v1/monitoring/reports` in JSON batches from several
//! connections at once, and prints rows per second and batch latencies as one JSON line.
//!
//!   ingest_load BASE_URL TOKEN [--concurrency 4] [--batch 1000] [--periods 30]
//!
//! Deployments come from `GET /api/v1/deployments` (a staff token sees them all); each gets
//! its own reporting periods from go-live, at most `--periods` of them, so the run sends
//! about deployments x periods rows. Every row is valid: the figure is the rate of accepted,
//! durably committed rows.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigilo_core::period::{Period, PeriodKind};

struct Job {
    deployment: String,
    period: Period,
    /// Whether the product declares an output score histogram (virtual assistants do not).
    scored: bool,
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(job: &Job, n: usize) -> Value {
    // Small but complete: counts, verified outcomes, a score histogram and the two mixes.
    let uses = 5 + (n % 20) as i64;
    let positives = uses / 5;
    let mut scores = vec![0i64; 10];
    scores[0] = uses - positives;
    scores[9] = positives;
    let mut r = json!({
        "deployment": job.deployment,
        "period": job.period.to_string(),
        "uses": uses,
        "positives": positives,
        "tp": positives / 2, "fp": positives - positives / 2, "fn": 0, "tn": 1,
        "overrides": 0, "escalations": positives / 2, "downtime_minutes": 0,
        "mix": { "sex": [uses / 2, uses - uses / 2, 0], "age_band": [0, 0, 0, uses, 0, 0, 0, 0] },
    });
    if job.scored {
        r["score_histogram"] = json!(scores);
    }
    r
}

/// A text field of a JSON object from the server, or a message naming what is missing.
fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v[key]
        .as_str()
        .ok_or_else(|| format!("the server's answer has no text field '{key}': {v}"))
}

/// GETs a JSON document, turning transport, status and parse failures into messages.
async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    let resp = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("GET {url}: the answer is not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url} answered {status}: {body}"));
    }
    Ok(body)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest_load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(token)) = (args.get(1), args.get(2)) else {
        return Err(
            "usage: ingest_load BASE_URL TOKEN [--concurrency N] [--batch N] [--periods N]".into(),
        );
    };
    let (base, token) = (base.trim_end_matches('/').to_string(), token.clone());
    let concurrency = arg(&args, "--concurrency", 4);
    let batch = arg(&args, "--batch", 1000);
    let max_periods = arg(&args, "--periods", 30);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;

    let mut jobs = Vec::new();
    let mut after: Option<String> = None;
    let mut scored_by_product: std::collections::HashMap<String, bool> = Default::default();
    loop {
        let mut url = format!("{base}/api/v1/deployments?limit=1000&status=active");
        if let Some(a) = &after {
            url += &format!("&after={a}");
        }
        let page = get_json(&client, &url, &token).await?;
        let items = page["items"]
            .as_array()
            .ok_or_else(|| format!("{url}: the answer has no items list"))?;
        for d in items {
            let id = text(d, "id")?.to_string();
            let product = text(d, "product_id")?.to_string();
            if !scored_by_product.contains_key(&product) {
                let one =
                    get_json(&client, &format!("{base}/api/v1/deployments/{id}"), &token).await?;
                let edges = one["declaration"]["score_edges"]
                    .as_array()
                    .map_or(0, |e| e.len());
                scored_by_product.insert(product.clone(), edges > 0);
            }
            let scored = scored_by_product[&product];
            let frequency = text(d, "frequency")?;
            let kind = PeriodKind::parse(frequency)
                .ok_or_else(|| format!("deployment {id}: unknown frequency '{frequency}'"))?;
            let go_live = Period::parse(text(d, "go_live")?)
                .map_err(|e| format!("deployment {id}: go_live: {e}"))?
                .start();
            let mut p = Period::containing(kind, go_live);
            for _ in 0..max_periods {
                jobs.push(Job {
                    deployment: id.clone(),
                    period: p,
                    scored,
                });
                p = p.next();
            }
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    // Period-major order, as stations report: every deployment's first period, then the next.
    jobs.sort_by(|a, b| {
        a.period
            .cmp(&b.period)
            .then(a.deployment.cmp(&b.deployment))
    });
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (jobs, next, client, base, token) = (
            jobs.clone(),
            next.clone(),
            client.clone(),
            base.clone(),
            token.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let url = format!("{base}/api/v1/monitoring/reports");
            let mut accepted = 0u64;
            loop {
                let from = next.fetch_add(batch, Ordering::Relaxed);
                if from >= jobs.len() {
                    break;
                }
                let rows: Vec<Value> = jobs[from..(from + batch).min(jobs.len())]
                    .iter()
                    .enumerate()
                    .map(|(i, j)| report(j, from + i))
                    .collect();
                let body = json!({ "reports": rows }).to_string();
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                let status = resp.status();
                let receipt: Value = resp
                    .json()
                    .await
                    .map_err(|e| format!("POST {url}: the answer is not JSON: {e}"))?;
                latencies.push(t.elapsed().as_secs_f64());
                if !status.is_success() {
                    return Err(format!("batch refused: {status} {receipt}"));
                }
                accepted += receipt["accepted"].as_u64().unwrap_or(0)
                    + receipt["revised"].as_u64().unwrap_or(0);
            }
            Ok::<_, String>((accepted, latencies))
        }));
    }
    let mut accepted = 0;
    let mut latencies = Vec::new();
    for w in workers {
        let (a, l) = w
            .await
            .map_err(|e| format!("a sender task failed: {e}"))??;
        accepted += a;
        latencies.extend(l);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{}",
        json!({
            "rows": jobs.len(), "accepted": accepted, "seconds": secs,
            "rows_per_second": accepted as f64 / secs,
            "batch": batch, "concurrency": concurrency,
            "batch_latency_p50_s": q(0.5), "batch_latency_p99_s": q(0.99),
        })
    );
    Ok(())
}
