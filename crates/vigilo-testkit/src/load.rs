//! A mixed workload against a running server (issue 10, "Load"): public search and
//! product pages, incident intake, monitoring batches and reviewer pages, from many
//! concurrent clients, with latency per route, every failure counted, and the server's
//! memory sampled over time. Used by the CI test in `crates/vigilo/tests/reliability.rs`
//! (short) and by `examples/mixed_load.rs` with `bench/load.sh` (long, recorded in
//! docs/reliability.md).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigilo_core::period::{Period, PeriodKind};

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub base: String,
    /// A reviewer's or admin's API token: intake, monitoring and reviewer pages.
    pub token: String,
    pub clients: usize,
    pub duration: Duration,
    /// The server's process id, to sample its resident memory.
    pub server_pid: Option<u32>,
    pub memory_every: Duration,
}

/// Latencies and outcomes of one route.
#[derive(Debug, Default, Clone)]
pub struct RouteFigures {
    pub ok: usize,
    /// 503 or 429 with Retry-After: the server shedding load, counted apart from errors.
    pub shed: usize,
    pub errors: usize,
    latencies_ms: Vec<f64>,
}

impl RouteFigures {
    pub fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i.min(v.len() - 1)]
    }
}

#[derive(Debug, Default)]
pub struct LoadReport {
    pub seconds: f64,
    pub clients: usize,
    pub routes: BTreeMap<&'static str, RouteFigures>,
    /// (seconds since start, resident set in MiB)
    pub memory_mib: Vec<(f64, f64)>,
    /// The first few failures, for the message.
    pub failures: Vec<String>,
}

impl LoadReport {
    pub fn requests(&self) -> usize {
        self.routes.values().map(|r| r.ok + r.shed + r.errors).sum()
    }
    pub fn errors(&self) -> usize {
        self.routes.values().map(|r| r.errors).sum()
    }
    pub fn shed(&self) -> usize {
        self.routes.values().map(|r| r.shed).sum()
    }

    pub fn to_json(&self) -> Value {
        let routes: serde_json::Map<String, Value> = self
            .routes
            .iter()
            .map(|(name, r)| {
                (
                    name.to_string(),
                    json!({
                        "ok": r.ok, "shed": r.shed, "errors": r.errors,
                        "p50_ms": r.percentile(0.5), "p99_ms": r.percentile(0.99),
                        "max_ms": r.percentile(1.0),
                    }),
                )
            })
            .collect();
        json!({
            "seconds": self.seconds, "clients": self.clients, "requests": self.requests(),
            "requests_per_s": self.requests() as f64 / self.seconds.max(1e-9),
            "errors": self.errors(), "shed": self.shed(), "routes": routes,
            "memory_mib": self.memory_mib, "failures": self.failures,
        })
    }
}

/// What the workload needs from the server before it starts.
struct Fixtures {
    product_ids: Vec<String>,
    /// (deployment, period) rows not yet reported
    monitoring_rows: Vec<(String, String)>,
}

const SERIOUSNESS: [&str; 3] = ["malfunction", "near_miss", "other_injury"];

const SEARCH_TERMS: [&str; 10] = [
    "lao",
    "sàng lọc lao",
    "tim mạch",
    "x-quang ngực",
    "dinh dưỡng",
    "thận",
    "trợ lý ảo",
    "tuberculosis",
    "radiology",
    "sang loc",
];

/// The mix, out of 20 requests: public pages 11, intake 3, monitoring 2, reviewer pages 4.
const MIX: [&str; 20] = [
    "GET /directory?q=",
    "GET /directory/{id}",
    "GET /directory?q=",
    "POST /api/v1/incidents",
    "GET /",
    "GET /directory?q=",
    "GET /incidents",
    "GET /directory/{id}",
    "POST /api/v1/monitoring/reports",
    "GET /api/v1/directory?q=",
    "GET /directory?q=",
    "GET /signals",
    "POST /api/v1/incidents",
    "GET /directory/{id}",
    "GET /api/v1/public/incident-counts",
    "GET /deployments",
    "GET /directory?q=",
    "POST /api/v1/incidents",
    "GET /incidents/overdue",
    "POST /api/v1/monitoring/reports",
];

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    let r = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = r.status();
    let v: Value = r
        .json()
        .await
        .map_err(|e| format!("GET {url}: not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}: {v}"));
    }
    Ok(v)
}

async fn fixtures(client: &reqwest::Client, cfg: &LoadConfig) -> Result<Fixtures, String> {
    let base = &cfg.base;
    let dir = get_json(
        client,
        &format!("{base}/api/v1/directory?limit=100"),
        &cfg.token,
    )
    .await?;
    let product_ids: Vec<String> = dir["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if product_ids.is_empty() {
        return Err("the directory is empty: load the demo data first".into());
    }
    let mut monitoring_rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/deployments?limit=1000&status=active");
        if let Some(a) = &after {
            url += &format!("&after={a}");
        }
        let page = get_json(client, &url, &cfg.token).await?;
        for d in page["items"].as_array().into_iter().flatten() {
            let (Some(id), Some(freq), Some(go_live)) = (
                d["id"].as_str(),
                d["frequency"].as_str().and_then(PeriodKind::parse),
                d["go_live"]
                    .as_str()
                    .and_then(|g| Period::parse(g).ok())
                    .map(|p| p.start()),
            ) else {
                continue;
            };
            let mut p = Period::containing(freq, go_live);
            for _ in 0..60 {
                monitoring_rows.push((id.to_string(), p.to_string()));
                p = p.next();
            }
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    if monitoring_rows.is_empty() {
        return Err("no active deployments: seed the demo pilot first".into());
    }
    // Period-major, as stations report.
    monitoring_rows.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    Ok(Fixtures {
        product_ids,
        monitoring_rows,
    })
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Runs the workload for `cfg.duration` and reports per route.
pub async fn run(cfg: LoadConfig) -> Result<LoadReport, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(cfg.clients)
        .build()
        .map_err(|e| e.to_string())?;
    let fx = Arc::new(fixtures(&client, &cfg).await?);
    let next_row = Arc::new(AtomicUsize::new(0));
    let report = Arc::new(Mutex::new(LoadReport {
        clients: cfg.clients,
        ..LoadReport::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..cfg.clients {
        let (client, fx, next_row, report, stop, cfg) = (
            client.clone(),
            fx.clone(),
            next_row.clone(),
            report.clone(),
            stop.clone(),
            cfg.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = c * 7;
            while !stop.load(Ordering::Relaxed) {
                let route = MIX[n % MIX.len()];
                let base = &cfg.base;
                let req = match route {
                    "GET /directory?q=" => client
                        .get(format!("{base}/directory"))
                        .query(&[("q", SEARCH_TERMS[n % SEARCH_TERMS.len()])]),
                    "GET /api/v1/directory?q=" => client
                        .get(format!("{base}/api/v1/directory"))
                        .query(&[("q", SEARCH_TERMS[(n / 3) % SEARCH_TERMS.len()])]),
                    "GET /directory/{id}" => client.get(format!(
                        "{base}/directory/{}",
                        fx.product_ids[n % fx.product_ids.len()]
                    )),
                    "GET /" => client.get(format!("{base}/")),
                    "GET /api/v1/public/incident-counts" => {
                        client.get(format!("{base}/api/v1/public/incident-counts"))
                    }
                    "POST /api/v1/incidents" => client
                        .post(format!("{base}/api/v1/incidents"))
                        .bearer_auth(&cfg.token)
                        .json(&json!({
                            "reporter_kind": "health_worker", "province_code": "01",
                            "seriousness": SERIOUSNESS[n % 3],
                            "product_text": "trợ lý ảo tư vấn thuốc",
                            "narrative": format!("Load {c}-{n}: the assistant's dosing answer was wrong; patient Lê Văn Tám, phone 0903 123 456."),
                        })),
                    "POST /api/v1/monitoring/reports" => {
                        let from = next_row.fetch_add(10, Ordering::Relaxed) % fx.monitoring_rows.len();
                        let rows: Vec<Value> = fx.monitoring_rows[from..(from + 10).min(fx.monitoring_rows.len())]
                            .iter()
                            .map(|(d, p)| json!({
                                "deployment": d, "period": p, "uses": 20, "positives": 3,
                                "overrides": 0, "escalations": 1, "downtime_minutes": 0,
                            }))
                            .collect();
                        client
                            .post(format!("{base}/api/v1/monitoring/reports"))
                            .bearer_auth(&cfg.token)
                            .json(&json!({ "reports": rows }))
                    }
                    "GET /incidents" => client.get(format!("{base}/incidents")).bearer_auth(&cfg.token),
                    "GET /incidents/overdue" => client
                        .get(format!("{base}/incidents"))
                        .query(&[("overdue", "true")])
                        .bearer_auth(&cfg.token),
                    "GET /signals" => client.get(format!("{base}/signals")).bearer_auth(&cfg.token),
                    _ => client.get(format!("{base}/deployments")).bearer_auth(&cfg.token),
                };
                let t = Instant::now();
                let outcome = match req.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let shed = (status == 503 || status == 429)
                            && r.headers().contains_key("retry-after");
                        let body = r.bytes().await;
                        match (status, body) {
                            (200..=399, Ok(_)) => Ok(false),
                            (_, Ok(_)) if shed => Ok(true),
                            (_, Ok(b)) => Err(format!(
                                "{route}: HTTP {status}: {}",
                                String::from_utf8_lossy(&b[..b.len().min(300)])
                            )),
                            (_, Err(e)) => Err(format!("{route}: body: {e}")),
                        }
                    }
                    Err(e) => Err(format!("{route}: {e}")),
                };
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                {
                    let mut rep = report.lock().unwrap_or_else(|p| p.into_inner());
                    let fig = rep.routes.entry(route).or_default();
                    match outcome {
                        Ok(false) => {
                            fig.ok += 1;
                            fig.latencies_ms.push(ms);
                        }
                        Ok(true) => fig.shed += 1,
                        Err(e) => {
                            fig.errors += 1;
                            if rep.failures.len() < 10 {
                                rep.failures.push(e);
                            }
                        }
                    }
                }
                n += 1;
            }
        }));
    }
    // Sample memory while the clients run.
    let mut memory = Vec::new();
    while started.elapsed() < cfg.duration {
        if let Some(mib) = cfg.server_pid.and_then(rss_mib) {
            memory.push((started.elapsed().as_secs_f64(), mib));
        }
        let left = cfg.duration.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(cfg.memory_every)).await;
    }
    if let Some(mib) = cfg.server_pid.and_then(rss_mib) {
        memory.push((started.elapsed().as_secs_f64(), mib));
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.map_err(|e| e.to_string())?;
    }
    let mut rep = std::mem::take(&mut *report.lock().unwrap_or_else(|p| p.into_inner()));
    rep.seconds = started.elapsed().as_secs_f64();
    rep.memory_mib = memory;
    Ok(rep)
}
