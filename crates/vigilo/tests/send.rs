//! `vigilo send` as a station runs it: the real binary against a real HTTP server (axum)
//! on loopback, scripted to be busy, to refuse, or to be absent.
#![allow(clippy::unwrap_used)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response};
use axum::routing::post;
use axum::Router;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const TOKEN: &str = "vgl_s3cret-token-7f3a9c";

/// One request as the server saw it, and the status it answered.
#[derive(Clone, Debug)]
struct Seen {
    status: u16,
    key: String,
    auth: String,
    content_type: String,
    body: Vec<u8>,
}

/// The answer for request number n (0-based): status, Retry-After, body.
type Script = Arc<dyn Fn(usize) -> (u16, Option<&'static str>, String) + Send + Sync>;

#[derive(Clone)]
struct St {
    script: Script,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn reports(State(st): State<St>, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let n = st.seen.lock().unwrap().len();
    let (status, retry_after, answer) = (st.script)(n);
    st.seen.lock().unwrap().push(Seen {
        status,
        key: h("idempotency-key"),
        auth: h("authorization"),
        content_type: h("content-type"),
        body: body.to_vec(),
    });
    let mut r = Response::builder().status(status).header(
        "content-type",
        if status >= 400 {
            "application/problem+json"
        } else {
            "application/json"
        },
    );
    if let Some(ra) = retry_after {
        r = r.header("retry-after", ra);
    }
    r.body(Body::from(answer)).unwrap()
}

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(
        script: impl Fn(usize) -> (u16, Option<&'static str>, String) + Send + Sync + 'static,
    ) -> Server {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let st = St {
            script: Arc::new(script),
            seen: seen.clone(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        // Its own thread and runtime: the test itself stays synchronous and the server
        // lives until the test process ends.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route("/api/v1/monitoring/reports", post(reports))
                    .with_state(st);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Server {
            url: format!("http://{addr}"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn sender(dir: &Path, server: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigilo"));
    c.arg("send")
        .arg(dir.join("outbox"))
        .args(args)
        .current_dir(dir)
        .env_remove("VIGILO_TOKEN_FILE")
        .env_remove("VIGILO_CONFIG")
        .env("VIGILO_SERVER", server)
        .env("VIGILO_TOKEN", TOKEN)
        .env("VIGILO_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn outbox(dir: &Path) -> std::path::PathBuf {
    let o = dir.join("outbox");
    std::fs::create_dir_all(&o).unwrap();
    o
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn write_aged(path: &Path, bytes: &[u8], age_secs: u64) {
    std::fs::write(path, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    // A fixed instant, not the clock: only the order of ages matters.
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    f.set_modified(base - Duration::from_secs(age_secs))
        .unwrap();
}

fn kill(mut child: Child) -> Output {
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[test]
fn busy_server_then_acknowledged_oldest_first() {
    let server = Server::start(|n| match n {
        0 => (503, Some("1"), r#"{"title":"Service Unavailable"}"#.into()),
        1 => (503, None, r#"{"title":"Service Unavailable"}"#.into()),
        2 => (
            201,
            None,
            r#"{"accepted":2,"rejected":[{"row":3,"reason":"unknown deployment"}]}"#.into(),
        ),
        _ => (200, None, r#"{"accepted":1,"rejected":[]}"#.into()),
    });
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(dir.path());
    let csv = b"deployment,period,metric,value\nD1,2026-10,sensitivity,0.91\n".to_vec();
    let json = br#"{"deployment":"D2","period":"2026-11","metrics":{"auroc":0.88}}"#.to_vec();
    // Named so that name order and age order disagree: age must win.
    write_aged(&out.join("b-october.csv"), &csv, 3600);
    write_aged(&out.join("a-november.json"), &json, 60);

    let child = sender(
        dir.path(),
        &server.url,
        &["--interval", "1", "--max-backoff", "1"],
    )
    .spawn()
    .unwrap();
    let start = Instant::now();
    while names(&out.join("sent")).len() < 4 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = kill(child);
    let all = text(&output);

    assert_eq!(
        names(&out.join("sent")),
        [
            "a-november.json",
            "a-november.json.receipt.json",
            "b-october.csv",
            "b-october.csv.receipt.json"
        ],
        "{all}"
    );
    assert!(names(&out).is_empty(), "queue not empty: {:?}", names(&out));
    assert_eq!(std::fs::read(out.join("sent/b-october.csv")).unwrap(), csv);
    assert_eq!(
        std::fs::read_to_string(out.join("sent/b-october.csv.receipt.json")).unwrap(),
        r#"{"accepted":2,"rejected":[{"row":3,"reason":"unknown deployment"}]}"#
    );

    let seen = server.seen();
    let statuses: Vec<u16> = seen.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [503, 503, 201, 200], "{all}");
    // The oldest file first, retried until acknowledged, and each acknowledged once.
    assert!(seen[..3].iter().all(|s| s.body == csv));
    assert_eq!(seen[3].body, json);
    assert!(seen[..3].iter().all(|s| s.key == sha256(&csv)));
    assert_eq!(seen[3].key, sha256(&json));
    assert_eq!(seen[0].content_type, "text/csv");
    assert_eq!(seen[3].content_type, "application/json");
    assert!(seen.iter().all(|s| s.auth == format!("Bearer {TOKEN}")));

    assert!(
        all.contains("b-october.csv") && all.contains("503"),
        "{all}"
    );
    assert!(
        all.contains("refused 1 row(s)"),
        "no warning about rejected rows: {all}"
    );
    assert!(!all.contains(TOKEN), "token leaked: {all}");
}

#[test]
fn once_mode_reports_tempfail_until_the_server_recovers() {
    let server = Server::start(|n| {
        if n < 2 {
            (503, None, String::new())
        } else {
            (200, None, r#"{"accepted":1}"#.into())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(dir.path());
    std::fs::write(out.join("r.json"), b"{}").unwrap();
    for expected in [Some(75), Some(75), Some(0)] {
        let o = sender(dir.path(), &server.url, &["--once"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), expected, "{}", text(&o));
    }
    assert_eq!(names(&out.join("sent")), ["r.json", "r.json.receipt.json"]);
    // Already acknowledged: another run sends nothing.
    let o = sender(dir.path(), &server.url, &["--once"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn refused_report_goes_to_failed_with_the_reason() {
    let problem = r#"{"type":"about:blank","title":"Invalid batch","status":422,"detail":"row 2: period 2026-13 is not a month"}"#;
    let server = Server::start(move |_| (422, None, problem.into()));
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(dir.path());
    std::fs::write(out.join("bad.csv"), b"deployment,period\nD1,2026-13\n").unwrap();
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();

    let o = sender(dir.path(), &server.url, &["--once", "--token-file"])
        .arg(&token_file)
        .env_remove("VIGILO_TOKEN")
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert_eq!(
        names(&out.join("failed")),
        ["bad.csv", "bad.csv.problem.json"]
    );
    assert_eq!(
        std::fs::read_to_string(out.join("failed/bad.csv.problem.json")).unwrap(),
        problem
    );
    assert!(all.contains("period 2026-13 is not a month"), "{all}");
    assert!(all.contains("bad.csv"), "{all}");
    assert!(names(&out).is_empty());
    assert!(names(&out.join("sent")).is_empty());
    // Sent once, with the token from the file.
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].auth, format!("Bearer {TOKEN}"));
    assert!(!all.contains(TOKEN), "token leaked: {all}");
}

#[test]
fn server_down_keeps_the_file_and_exits_75() {
    // A port that was just free: nothing listens there now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(dir.path());
    let bytes = br#"{"deployment":"D1","period":"2026-11"}"#;
    std::fs::write(out.join("r.json"), bytes).unwrap();
    let started = Instant::now();
    let o = sender(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        &["--once", "--timeout", "5"],
    )
    .output()
    .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(75), "{all}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(names(&out), ["r.json"]);
    assert_eq!(std::fs::read(out.join("r.json")).unwrap(), bytes);
    assert!(names(&out.join("sent")).is_empty());
    assert!(names(&out.join("failed")).is_empty());
    assert!(all.contains("cannot connect"), "{all}");
    assert!(!all.contains(TOKEN), "token leaked: {all}");
}

#[test]
fn files_being_written_are_left_alone_and_the_token_never_shows() {
    let server = Server::start(|_| (200, None, r#"{"accepted":1}"#.into()));
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(dir.path());
    for name in [
        "half.json.part",
        "half.csv.tmp",
        ".hidden.json",
        "notes.txt",
    ] {
        std::fs::write(out.join(name), b"{}").unwrap();
    }
    std::fs::write(out.join("ready.json"), br#"{"ok":true}"#).unwrap();
    // Most verbose logging: nothing the HTTP stack logs may carry the token either.
    let o = sender(dir.path(), &server.url, &["--once"])
        .env("VIGILO_LOG", "trace")
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{all}");
    assert_eq!(seen[0].body, br#"{"ok":true}"#);
    assert_eq!(seen[0].auth, format!("Bearer {TOKEN}"));
    assert_eq!(
        names(&out),
        [
            ".hidden.json",
            "half.csv.tmp",
            "half.json.part",
            "notes.txt"
        ]
    );
    assert!(!all.contains(TOKEN), "token leaked: {all}");
}

#[test]
fn rejected_token_keeps_reports_and_exits_78() {
    let server = Server::start(|_| (401, None, r#"{"title":"Unauthorized"}"#.into()));
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(dir.path());
    std::fs::write(out.join("a.json"), b"{}").unwrap();
    std::fs::write(out.join("b.json"), b"[]").unwrap();
    let o = sender(dir.path(), &server.url, &["--once"])
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(78), "{all}");
    assert_eq!(names(&out), ["a.json", "b.json"]);
    assert!(names(&out.join("failed")).is_empty());
    // The first refusal stops the pass.
    assert_eq!(server.seen().len(), 1);
    assert!(all.contains("token"), "{all}");
}

#[test]
fn wrong_address_keeps_reports() {
    // The server is up but the path is wrong: axum answers a bare 404.
    let server = Server::start(|_| (200, None, String::new()));
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(dir.path());
    std::fs::write(out.join("a.json"), b"{}").unwrap();
    let o = sender(dir.path(), &format!("{}/vigilo", server.url), &["--once"])
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(78), "{all}");
    assert_eq!(names(&out), ["a.json"]);
    assert!(names(&out.join("failed")).is_empty());
    assert!(all.contains("check --server"), "{all}");
}

#[test]
fn missing_token_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    outbox(dir.path());
    let o = sender(dir.path(), "http://127.0.0.1:9", &["--once"])
        .env_remove("VIGILO_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("VIGILO_TOKEN"), "{}", text(&o));
}
