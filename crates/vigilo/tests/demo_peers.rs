//! `vigilo demo --peers`, as someone trying it would: the real binary starts two GRN nodes
//! on free loopback ports, the early warning it publishes on the Vietnamese node is on the
//! second node's "From GRN peers" page for its reviewer, and both stop cleanly on SIGTERM.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn url_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text}"))
        + marker.len();
    let rest = text[start..].trim_start();
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ')' || c == ',')
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Kills the demo if the test fails before stopping it: a demo left running would hold the
/// test's stderr open and keep cargo waiting.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn demo_peers_shows_a_warning_crossing_to_the_second_node() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args([
            "demo",
            "--peers",
            "--bind",
            "127.0.0.1:0",
            "--pilot-stations",
            "3",
        ])
        .current_dir(d)
        .env("VIGILO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut child = Running(child);
    // A guard against a hang, not a speed test: seeding the demo takes a while.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut banner = String::new();
    while !banner.contains("Press Ctrl-C") {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            panic!("demo --peers did not print its banner: {banner}");
        }
        banner.push_str(&line);
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    let first = url_after(&banner, "Vigilo demo is running at").to_string();
    let second = url_after(&banner, "(SG), is running at").to_string();
    let from_peers = url_after(&banner, "open:").to_string();
    assert_eq!(from_peers, format!("{second}/from-peers"), "{banner}");
    assert_ne!(first, second);
    let reference = banner
        .split_whitespace()
        .find(|w| w.starts_with("VN-EW-"))
        .unwrap_or_else(|| panic!("no warning reference in {banner}"))
        .to_string();
    assert!(banner.contains("reviewer") && banner.contains("vigilo-demo-2026"));
    assert!(d.join("vigilo-demo.db").exists());
    assert!(d.join("vigilo-demo-sg.db").exists());
    assert!(d.join("vigilo-demo-sg-node.key").exists());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for base in [&first, &second] {
            let mut ready = false;
            for _ in 0..100 {
                if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
                    if r.status().is_success() {
                        ready = true;
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(ready, "{base} is not ready");
        }
        // The second node's reviewer sees the warning on "From GRN peers".
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login = client
            .get(format!("{second}/login"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = vigilo_testkit::extract_csrf(&login).unwrap();
        let resp = client
            .post(format!("{second}/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", "reviewer"),
                ("password", "vigilo-demo-2026"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "reviewer login on node 2");
        let page = client
            .get(&from_peers)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains(&reference), "{reference} not on {from_peers}");
        assert!(page.contains("Trợ lý Y tế Xã"), "the product is named");
        // Members-only: the first node's public feed does not show it to anyone unsigned.
        let feed = reqwest::get(format!("{first}/federation/v1/feed"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!feed.contains(&reference), "{feed}");
    });

    // SIGTERM, as Ctrl-C would: both nodes stop and the process exits cleanly.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "demo --peers exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            panic!("demo --peers did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
