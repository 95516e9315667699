//! The command line as an operator uses it: the real binary on a temp folder.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn vigilo(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args(args)
        .current_dir(dir)
        .env_remove("VIGILO_DATABASE_URL")
        .env("VIGILO_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fail(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(&vigilo(dir.path(), &["--help"], None));
    for cmd in [
        "serve", "demo", "migrate", "user", "token", "audit", "import", "eval", "signals", "drift",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
    let v = ok(&vigilo(dir.path(), &["--version"], None));
    assert!(v.starts_with("vigilo "));
    let user_help = ok(&vigilo(dir.path(), &["user", "--help"], None));
    for cmd in ["add", "list", "set-role", "disable"] {
        assert!(user_help.contains(cmd));
    }
}

#[test]
fn accounts_tokens_and_audit_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Default database: vigilo.db in the current folder, created when missing.
    let out = ok(&vigilo(d, &["migrate"], None));
    assert!(
        out.contains("34 provinces") && out.contains("3321 local units"),
        "{out}"
    );
    assert!(d.join("vigilo.db").exists());
    ok(&vigilo(
        d,
        &[
            "user",
            "add",
            "an.nguyen",
            "--role",
            "reviewer",
            "--name",
            "Nguyễn Văn An",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    ));
    let err = fail(&vigilo(
        d,
        &[
            "user",
            "add",
            "weak",
            "--role",
            "reviewer",
            "--password-stdin",
        ],
        Some("short\n"),
    ));
    assert!(err.contains("at least 10 characters"), "{err}");
    let err = fail(&vigilo(
        d,
        &["user", "add", "nopass", "--role", "reviewer"],
        None,
    ));
    assert!(err.contains("--password-stdin"), "{err}");
    let err = fail(&vigilo(
        d,
        &[
            "user",
            "add",
            "vend1",
            "--role",
            "vendor",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    ));
    assert!(err.contains("manufacturer"), "{err}");
    let err = fail(&vigilo(
        d,
        &[
            "user",
            "add",
            "emp1",
            "--role",
            "emperor",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    ));
    assert!(err.contains("unknown role"), "{err}");
    let list = ok(&vigilo(d, &["user", "list"], None));
    assert!(list.contains("an.nguyen") && list.contains("reviewer"));
    ok(&vigilo(
        d,
        &["user", "set-role", "an.nguyen", "admin"],
        None,
    ));
    let err = fail(&vigilo(d, &["user", "set-role", "ghost", "admin"], None));
    assert!(err.contains("not found"), "{err}");

    let token = ok(&vigilo(
        d,
        &[
            "token",
            "create",
            "an.nguyen",
            "--name",
            "HIS",
            "--days",
            "30",
        ],
        None,
    ));
    let token = token.trim();
    assert!(token.starts_with("vgl_"));
    let tokens = ok(&vigilo(d, &["token", "list"], None));
    assert!(
        tokens.contains("HIS") && !tokens.contains(token),
        "secrets are never listed"
    );
    let prefix: String = token.chars().take(12).collect();
    ok(&vigilo(d, &["token", "revoke", &prefix], None));
    assert!(ok(&vigilo(d, &["token", "list"], None)).contains("revoked"));

    ok(&vigilo(d, &["user", "disable", "an.nguyen"], None));
    assert!(ok(&vigilo(d, &["user", "list"], None)).contains("disabled"));

    let verified = ok(&vigilo(d, &["audit", "verify"], None));
    assert!(verified.contains("intact"), "{verified}");

    // Someone edits a row behind the application's back.
    tamper(
        &d.join("vigilo.db"),
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
    );
    let err = fail(&vigilo(d, &["audit", "verify"], None));
    assert!(err.contains("BROKEN at row 2"), "{err}");
}

fn tamper(db: &Path, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}

#[test]
fn unreachable_database_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigilo(
        dir.path(),
        &[
            "migrate",
            "--database",
            "postgres://vigilo:s3cret@127.0.0.1:1/vigilo",
        ],
        None,
    );
    let err = fail(&out);
    assert!(
        err.contains("postgres://vigilo:***@127.0.0.1:1/vigilo"),
        "{err}"
    );
    assert!(
        !err.contains("s3cret") && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let err = fail(&vigilo(
        dir.path(),
        &["migrate", "--database", "mysql://x"],
        None,
    ));
    assert!(
        err.contains("sqlite://") && err.contains("postgres://"),
        "{err}"
    );
}

/// Starts `vigilo demo` on a free port and returns the child and its URL.
fn start_demo(dir: &Path, extra: &[&str]) -> (std::process::Child, String) {
    // A few stations per province: this test is about the demo's database, not its size.
    let mut args = vec!["demo", "--bind", "127.0.0.1:0", "--pilot-stations", "3"];
    args.extend_from_slice(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args(&args)
        .current_dir(dir)
        .env("VIGILO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    // A guard against a hang, not a speed test: a debug build on a busy CI machine needs
    // time to seed the demo.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            panic!("demo did not print its URL: {printed}");
        }
        printed.push_str(&line);
        if let Some(pos) = line.find("http://") {
            break line[pos..].trim().to_string();
        }
    };
    // Keep reading so the accounts table is printed before we check it.
    let mut rest = String::new();
    for _ in 0..9 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        rest.push_str(&line);
    }
    for role in ["admin", "reviewer", "vendor", "reporter", "peer"] {
        assert!(rest.contains(role), "accounts not printed: {rest}");
    }
    assert!(rest.contains("vigilo-demo-2026"));
    // Keep draining so the server never writes into a closed pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (child, url)
}

fn stop(mut child: std::process::Child) {
    // SIGTERM, as Ctrl-C would; the server must exit cleanly.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "demo exited with {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("demo did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn demo_starts_fresh_and_never_touches_other_databases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, url) = start_demo(d, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let home = rt.block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() });
    assert!(home.contains("Vigilo"));
    stop(child);
    assert!(d.join("vigilo-demo.db").exists());
    // The demo's injected problem: the commune assistant's dosing advice in Đà Nẵng is
    // found by the signal run (as a cluster there, and as a rise in reports per use).
    let run = ok(&vigilo(
        d,
        &[
            "signals",
            "--stored",
            "--database",
            "sqlite://vigilo-demo.db",
            "--format",
            "json",
        ],
        None,
    ));
    let run: serde_json::Value = serde_json::from_str(&run).unwrap();
    let signals = run["signals"].as_array().unwrap();
    assert!(
        signals
            .iter()
            .any(|s| s["method"] == "cluster" && s["region"] == "48"),
        "{run}"
    );
    assert!(
        signals
            .iter()
            .any(|s| s["method"] == "rate"
                && s["product_label"].as_str().unwrap().contains("Trợ lý")),
        "{run}"
    );
    // A second demo in the same folder starts afresh.
    let (child, _) = start_demo(d, &[]);
    stop(child);
    let users = ok(&vigilo(
        d,
        &["user", "list", "--database", "sqlite://vigilo-demo.db"],
        None,
    ));
    assert_eq!(
        users.lines().filter(|l| l.starts_with("admin ")).count(),
        1,
        "{users}"
    );

    // A real database is refused and left as it was.
    ok(&vigilo(
        d,
        &["migrate", "--database", "sqlite://prod.db"],
        None,
    ));
    ok(&vigilo(
        d,
        &[
            "user",
            "add",
            "keeper",
            "--role",
            "admin",
            "--database",
            "sqlite://prod.db",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args([
            "demo",
            "--bind",
            "127.0.0.1:0",
            "--database",
            "sqlite://prod.db",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    let err = fail(&out);
    assert!(err.contains("not a Vigilo demo database"), "{err}");
    let users = ok(&vigilo(
        d,
        &["user", "list", "--database", "sqlite://prod.db"],
        None,
    ));
    assert!(users.contains("keeper") && !users.contains("reviewer"));
    let verified = ok(&vigilo(
        d,
        &["audit", "verify", "--database", "sqlite://prod.db"],
        None,
    ));
    assert!(verified.contains("intact"));
}

#[test]
fn config_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("vigilo.toml"),
        "database = \"sqlite://from-config.db\"\n",
    )
    .unwrap();
    ok(&vigilo(d, &["migrate"], None));
    assert!(d.join("from-config.db").exists());
    // A flag wins over the file.
    ok(&vigilo(
        d,
        &["migrate", "--database", "sqlite://from-flag.db"],
        None,
    ));
    assert!(d.join("from-flag.db").exists());
    // The environment wins over the file.
    let out = Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args(["migrate"])
        .current_dir(d)
        .env("VIGILO_DATABASE_URL", "sqlite://from-env.db")
        .output()
        .unwrap();
    ok(&out);
    assert!(d.join("from-env.db").exists());
    // Unknown keys and bad files are named.
    std::fs::write(d.join("bad.toml"), "databse = \"x\"\n").unwrap();
    let err = fail(&vigilo(d, &["migrate", "--config", "bad.toml"], None));
    assert!(err.contains("bad.toml") && err.contains("databse"), "{err}");
    let err = fail(&vigilo(d, &["migrate", "--config", "missing.toml"], None));
    assert!(err.contains("missing.toml"), "{err}");
}
