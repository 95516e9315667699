//! Three GRN nodes as three operators would run them: `vigilo serve` in three processes on
//! loopback ports, each with its own SQLite database and key file, introduced to each other
//! with `vigilo peer identity` and `vigilo peer add`, syncing through their own scheduled
//! jobs. Vietnam (the demo data) shares its directory with everyone and an early warning
//! with the UK only; then a replayed request, an unknown signer, and a misbehaving peer's
//! forged, tampered, unknown-signer and misaddressed items are each refused, recorded on the
//! admin's page and written to the log, and none of them is stored.
//!
//! The in-process form of the same exchange, on both backends and with the bad pages a peer
//! can send, is `crates/vigilo-server/tests/federation_nodes.rs`.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vigilo_core::federation::{
    sign_item, sign_request, Audience, HttpRequest, ItemDraft, ItemType, NodeKeys,
};
use vigilo_core::Clock;
// The server processes run on the wall clock, so the items and requests made here do too.
use vigilo_store::SystemClock;

const PASSWORD: &str = "vigilo-demo-2026";
const FEED: &str = "/federation/v1/feed";
/// A guard against a hang, not a speed requirement: each node pulls every 5 s at best.
const PATIENCE: Duration = Duration::from_secs(180);

fn vigilo(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args(args)
        .current_dir(dir)
        .env_remove("VIGILO_DATABASE_URL")
        .env_remove("VIGILO_NODE_KEY")
        .env_remove("VIGILO_BASE_URL")
        .env_remove("VIGILO_NODE_NAME")
        .env_remove("VIGILO_NODE_COUNTRY")
        .env_remove("VIGILO_BIND")
        .env("VIGILO_LOG", "warn")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "vigilo {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed if the test fails before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

struct Node {
    country: &'static str,
    name: &'static str,
    dir: tempfile::TempDir,
    port: u16,
    line: String,
    server: Option<Running>,
}

impl Node {
    fn database(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("node.db").display())
    }
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }
    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let db = self.database();
        let mut all = args.to_vec();
        all.extend_from_slice(&["--database", &db]);
        vigilo(self.dir.path(), &all, stdin)
    }
    fn node_args(&self) -> Vec<String> {
        vec![
            "--node-name".into(),
            self.name.into(),
            "--node-country".into(),
            self.country.into(),
            "--base-url".into(),
            self.base(),
        ]
    }
    /// The node's key, as its operator's files hold it (to sign requests as this node).
    fn keys(&self) -> NodeKeys {
        let hex = std::fs::read_to_string(self.dir.path().join("vigilo-node.key")).unwrap();
        let hex = hex.trim();
        let mut seed = [0u8; 32];
        for (i, byte) in seed.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        NodeKeys::from_seed(&seed)
    }
    fn start(&mut self) {
        let log = File::create(self.log()).unwrap();
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--database".into(),
            self.database(),
            "--bind".into(),
            format!("127.0.0.1:{}", self.port),
            "--federation-sync-secs".into(),
            "1".into(),
        ];
        args.extend(self.node_args());
        let child = Command::new(env!("CARGO_BIN_EXE_vigilo"))
            .args(&args)
            .current_dir(self.dir.path())
            .env_remove("VIGILO_DATABASE_URL")
            .env_remove("VIGILO_NODE_KEY")
            .env_remove("VIGILO_CONFIG")
            .env("VIGILO_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.server = Some(Running(child));
    }
    /// SIGTERM, as the service manager would send: the server stops cleanly.
    fn stop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(server.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                assert!(status.success(), "{} exited with {status}", self.country);
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.country);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn peers(&self) -> String {
        stdout(&self.cli(&["peer", "list"], None))
    }
}

fn node(country: &'static str, name: &'static str) -> Node {
    Node {
        country,
        name,
        dir: tempfile::tempdir().unwrap(),
        port: free_port(),
        line: String::new(),
        server: None,
    }
}

async fn ready(n: &Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(n.url("/readyz")).await {
            if r.status().is_success() {
                return;
            }
        }
        let log = std::fs::read_to_string(n.log()).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "{} is not ready:\n{log}",
            n.country
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until the block gives `None`, naming what never happened with the block's last
/// `Some(state)`. A macro so the block may borrow the test's locals and await.
macro_rules! eventually {
    ($what:expr, $check:block) => {{
        let deadline = Instant::now() + PATIENCE;
        loop {
            let state: Option<String> = $check;
            match state {
                None => break,
                Some(state) => assert!(Instant::now() < deadline, "never: {} ({state})", $what),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }};
}

async fn login(n: &Node, username: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let csrf = csrf_of(&client, &n.url("/login")).await;
    let r = client
        .post(n.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        303,
        "{username} login at {}",
        n.country
    );
    client
}

async fn page(client: &reqwest::Client, url: &str) -> String {
    let r = client
        .get(url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.text().await.unwrap()
}

async fn csrf_of(client: &reqwest::Client, url: &str) -> String {
    vigilo_testkit::extract_csrf(&page(client, url).await)
        .unwrap_or_else(|| panic!("no form token on {url}"))
}

async fn directory_total(n: &Node, source: &str) -> u64 {
    let v: Value = reqwest::get(n.url(&format!("/api/v1/directory?source={source}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["total"].as_u64().unwrap()
}

/// `peer list`'s cursor for the peer of `country` (the feed position pulled up to).
fn cursor_for(n: &Node, country: &str) -> u64 {
    n.peers()
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.get(1) == Some(&country)).then(|| cols[3].parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// A misbehaving node: serves a fixed feed page after any cursor.
async fn fake_peer(items: Vec<Value>) -> String {
    let items = Arc::new(Mutex::new(items));
    let app = axum::Router::new().route(
        FEED,
        axum::routing::get(move |uri: axum::http::Uri| {
            let items = items.lock().unwrap().clone();
            async move {
                let after: u64 = uri
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("after="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let entries: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (i as u64 + 1, item))
                    .filter(|(p, _)| *p > after)
                    .map(|(p, item)| json!({"position": p, "item": item}))
                    .collect();
                let next = after.max(items.len() as u64);
                json!({"items": entries, "next": next}).to_string()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn signed(keys: &NodeKeys, id: &str, from: &str, audience: Audience, payload: Value) -> Value {
    let item = sign_item(
        keys,
        ItemDraft {
            item_type: ItemType::EarlyWarning,
            id: id.parse().unwrap(),
            version: 1,
            issued_at: SystemClock.now(),
            country: from.parse().unwrap(),
            audience,
            payload,
        },
    )
    .unwrap();
    serde_json::from_slice(&item.wire).unwrap()
}

#[test]
fn three_node_processes_share_what_they_may_and_refuse_the_rest() {
    let mut vn = node("VN", "Cục Hạ tầng và Thiết bị y tế");
    let mut sg = node("SG", "Health Sciences Authority");
    let mut gb = node("GB", "MHRA");

    // Vietnam runs the demo data (products, a confirmed-able signal, reviewer and admin
    // accounts); the peers start empty with their own accounts.
    let vn_db = vn.database();
    vigilo(
        vn.dir.path(),
        &[
            "demo",
            "--seed-only",
            "--pilot-stations",
            "3",
            "--database",
            &vn_db,
        ],
        None,
    );
    for n in [&sg, &gb] {
        n.cli(&["migrate"], None);
        for (user, role) in [("admin", "admin"), ("reviewer", "reviewer")] {
            n.cli(
                &["user", "add", user, "--role", role, "--password-stdin"],
                Some(&format!("{PASSWORD}\n")),
            );
        }
    }
    // Each operator prints the node's identity line and pins the other two.
    for n in [&mut vn, &mut sg, &mut gb] {
        let mut args = vec!["peer".to_string(), "identity".into()];
        args.extend(n.node_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        n.line = stdout(&n.cli(&args, None)).trim().to_string();
        assert!(
            n.line.starts_with(&format!("vigilo-peer/1 {} ", n.country)),
            "{}",
            n.line
        );
    }
    let lines: Vec<String> = [&vn, &sg, &gb].iter().map(|n| n.line.clone()).collect();
    for n in [&vn, &sg, &gb] {
        for line in lines.iter().filter(|l| **l != n.line) {
            let out = stdout(&n.cli(&["peer", "add", line], None));
            assert!(out.starts_with("pinned "), "{out}");
        }
    }
    for n in [&mut vn, &mut sg, &mut gb] {
        n.start();
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for n in [&vn, &sg, &gb] {
            ready(n).await;
        }

        // 1. The directory: VN's share job publishes its public products; both peers' sync
        //    jobs pull them into their registers as foreign entries.
        let local = directory_total(&vn, "local").await;
        assert!(local > 0, "the demo has public products");
        for n in [&sg, &gb] {
            eventually!(format!("{}'s register holds VN's products", n.country), {
                let got = directory_total(n, "grn_peer").await;
                (got != local).then(|| format!("{got} of {local}"))
            });
        }
        assert_eq!(directory_total(&vn, "grn_peer").await, 0, "VN has nothing to pull");

        // 2. An early warning for the UK only: VN's reviewer confirms a signal and composes
        //    the warning, VN's admin approves it and the node signs and publishes it.
        let reviewer = login(&vn, "reviewer").await;
        let signals: Value = reviewer
            .get(vn.url("/api/v1/signals?state=new"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let signals = signals.as_array().unwrap();
        let signal = signals
            .iter()
            .filter(|s| !s["product_id"].is_null())
            .find(|s| s["product_label"].as_str().unwrap_or("").starts_with("Trợ lý Y tế Xã"))
            .unwrap_or_else(|| panic!("no new signal about the commune assistant: {signals:?}"));
        let sid = signal["id"].as_str().unwrap();
        let csrf = csrf_of(&reviewer, &vn.url(&format!("/signals/{sid}"))).await;
        let r = reviewer
            .post(vn.url(&format!("/signals/{sid}/actions")))
            .form(&[
                ("csrf", csrf.as_str()),
                ("action", "confirm"),
                ("reason", "wrong dosing advice in one province"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "confirm: {}", r.text().await.unwrap());
        let csrf = csrf_of(&reviewer, &vn.url(&format!("/grn/warnings/new?signal={sid}"))).await;
        let r = reviewer
            .post(vn.url("/grn/warnings"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("signal_id", sid),
                ("stage", "initial"),
                (
                    "summary",
                    "After an update the assistant's dosing advice disagreed with national guidance in one province.",
                ),
                ("recommendation", "Check the assistant's dosing answers before acting on them."),
                ("countries_concerned", "VN, GB"),
                ("audience", "countries"),
                ("audience_countries", "GB"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "compose: {}", r.text().await.unwrap());
        let draft = r.headers()["location"].to_str().unwrap().to_string();
        let preview = page(&reviewer, &vn.url(&draft)).await;
        let reference = preview
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .find(|w| w.starts_with("VN-EW-"))
            .unwrap_or_else(|| panic!("no reference on the preview: {preview}"))
            .to_string();
        let admin = login(&vn, "admin").await;
        let csrf = csrf_of(&admin, &vn.url(&draft)).await;
        let r = admin
            .post(vn.url(&format!("{draft}/decide")))
            .form(&[("csrf", csrf.as_str()), ("action", "approve"), ("reason", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "approve: {}", r.text().await.unwrap());

        // The UK's reviewer sees it on "From GRN peers".
        let gb_reviewer = login(&gb, "reviewer").await;
        eventually!("the warning reaches the UK", {
            let html = page(&gb_reviewer, &gb.url("/from-peers")).await;
            (!html.contains(&reference)).then(|| "not on /from-peers".to_string())
        });
        // VN's outbound record says the UK received it, at which feed position.
        let outbound = page(&admin, &vn.url("/admin/federation/outbound.csv")).await;
        let sent: Vec<Vec<&str>> = outbound
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|c| c.get(4) == Some(&reference.as_str()))
            .collect();
        assert_eq!(sent.len(), 1, "sent once, to one node: {outbound}");
        assert_eq!(sent[0][2], "GB", "{outbound}");
        let position: u64 = sent[0][6].parse().unwrap();
        assert!(
            outbound.lines().any(|l| l.contains(",SG,directory_entry,")),
            "the directory went to Singapore too: {outbound}"
        );
        // Singapore pulls past that position and never gets it.
        eventually!("Singapore's pulls pass the warning", {
            let c = cursor_for(&sg, "VN");
            (c < position).then(|| format!("cursor {c} < {position}"))
        });
        let sg_reviewer = login(&sg, "reviewer").await;
        let html = page(&sg_reviewer, &sg.url("/from-peers")).await;
        assert!(!html.contains(&reference), "addressed to the UK only");

        // 3. Requests VN must refuse: a replayed signed request and an unknown signer.
        let authority = format!("127.0.0.1:{}", vn.port);
        let request = HttpRequest {
            method: "GET",
            authority: &authority,
            path: FEED,
            query: Some("after=0"),
            headers: &[],
            body: b"",
        };
        let now = SystemClock.now().unix_timestamp();
        let as_sg = sign_request(&sg.keys(), &request, now, "three-node-replay-0001").unwrap();
        let stranger = NodeKeys::from_seed(&[42; 32]);
        let as_stranger = sign_request(&stranger, &request, now, "three-node-stranger-01").unwrap();
        let client = reqwest::Client::new();
        for (headers, expected) in [(&as_sg, 200), (&as_sg, 401), (&as_stranger, 401)] {
            let r = client
                .get(vn.url(&format!("{FEED}?after=0")))
                .header("signature-input", &headers.signature_input)
                .header("signature", &headers.signature)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), expected);
        }
        let vn_admin_page = page(&admin, &vn.url("/admin/federation?lang=en")).await;
        assert!(vn_admin_page.contains("replayed"), "{vn_admin_page}");
        assert!(
            vn_admin_page.contains(stranger.key_id().as_str()),
            "the unknown signer's key is named: {vn_admin_page}"
        );

        // 4. A misbehaving node ("TH"), pinned at Singapore by its operator while it runs.
        let th_keys = NodeKeys::from_seed(&[11; 32]);
        let vn_keys = vn.keys();
        let mut forged = signed(&th_keys, "VN-EW-FORGED", "VN", Audience::Members, json!({"summary": "forged"}));
        forged["origin"]["key_id"] = json!(vn_keys.key_id().to_string());
        let mut tampered = signed(&vn_keys, "VN-EW-TAMPERED", "VN", Audience::Members, json!({"summary": "genuine"}));
        tampered["payload"]["summary"] = json!("Something else");
        let unknown = signed(&stranger, "XX-EW-1", "TH", Audience::Members, json!({"summary": "unknown"}));
        let elsewhere = signed(
            &th_keys,
            "TH-EW-GB",
            "TH",
            Audience::countries(["GB".parse().unwrap()]).unwrap(),
            json!({"summary": "for the UK"}),
        );
        let th_url = fake_peer(vec![forged, tampered, unknown, elsewhere]).await;
        let th_line = th_keys
            .identity("Fake node".parse().unwrap(), "TH".parse().unwrap(), th_url.parse().unwrap())
            .to_line();
        sg.cli(&["peer", "add", &th_line], None);
        eventually!("Singapore pulls the misbehaving node's page", {
            let c = cursor_for(&sg, "TH");
            (c < 4).then(|| format!("cursor {c}"))
        });
        let sg_admin = login(&sg, "admin").await;
        let sg_admin_page = page(&sg_admin, &sg.url("/admin/federation?lang=en")).await;
        for (item, reason) in [
            ("VN-EW-FORGED", "signature does not verify"),
            ("VN-EW-TAMPERED", "signature does not verify"),
            ("XX-EW-1", "not pinned"),
            ("TH-EW-GB", "does not include SG"),
        ] {
            let row = sg_admin_page
                .split("<tr")
                .find(|r| r.contains(item))
                .unwrap_or_else(|| panic!("{item} not among the refusals: {sg_admin_page}"));
            assert!(row.contains(reason), "{item}: {row}");
        }
        let from_peers = page(&sg_reviewer, &sg.url("/from-peers")).await;
        for id in ["VN-EW-FORGED", "VN-EW-TAMPERED", "XX-EW-1", "TH-EW-GB", "Something else"] {
            assert!(!from_peers.contains(id), "{id} was stored at SG");
        }
        // The peers are pinned and live at each node.
        for n in [&vn, &sg, &gb] {
            let peers = n.peers();
            for other in ["VN", "SG", "GB"].iter().filter(|c| **c != n.country) {
                let row = peers
                    .lines()
                    .find(|l| l.split_whitespace().nth(1) == Some(*other))
                    .unwrap_or_else(|| panic!("{other} not pinned at {}: {peers}", n.country));
                assert!(row.contains(" live "), "{}: {row}", n.country);
            }
        }
    });

    // Every node stops cleanly, and its log names what it refused.
    for n in [&mut vn, &mut sg, &mut gb] {
        n.stop();
    }
    let vn_log = std::fs::read_to_string(vn.log()).unwrap();
    assert!(
        vn_log.contains("federation feed request refused"),
        "{vn_log}"
    );
    let sg_log = std::fs::read_to_string(sg.log()).unwrap();
    assert_eq!(
        sg_log.matches("federation item refused").count(),
        4,
        "{sg_log}"
    );
}
