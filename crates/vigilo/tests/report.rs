//! `vigilo report` as an operator runs it: the real binary on a fresh SQLite database in a
//! temporary folder.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn vigilo(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args(args)
        .current_dir(dir)
        .env_remove("VIGILO_DATABASE_URL")
        .env_remove("VIGILO_CONFIG")
        .env("VIGILO_LOG", "warn")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn report_as_csv_to_stdout_and_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = "sqlite://reports.db";
    let out = vigilo(
        d,
        &[
            "report",
            "--period",
            "2026-Q1",
            "--format",
            "csv",
            "--lang",
            "en",
            "--database",
            db,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    // UTF-8 with a byte order mark (Excel), then the KPI table's header.
    let header = csv.trim_start_matches('\u{FEFF}').lines().next().unwrap();
    assert!(
        header.starts_with("Product,Area code,Area,KPI,"),
        "{header}"
    );
    assert!(header.contains("Numerator") && header.contains("Target met"));

    // --out writes a file; the public annual report in XLSX is a zip.
    let out = vigilo(
        d,
        &[
            "report",
            "--period",
            "2026",
            "--public",
            "--format",
            "xlsx",
            "--out",
            "r.xlsx",
            "--database",
            db,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(std::fs::read(d.join("r.xlsx")).unwrap().starts_with(b"PK"));

    // HTML in Vietnamese by default.
    let out = vigilo(d, &["report", "--period", "2026-03", "--database", db]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("Báo cáo giám sát"));
}

#[test]
fn bad_arguments_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = "sqlite://reports.db";
    for (period, why) in [
        ("2026-Q5", "2026-Q1"),
        ("last quarter", "2026-Q1"),
        ("2026-W10", "quarter"),
    ] {
        let out = vigilo(d, &["report", "--period", period, "--database", db]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("not a report period") && err.contains(why),
            "{err}"
        );
    }
    let out = vigilo(
        d,
        &[
            "report",
            "--period",
            "2026-Q1",
            "--format",
            "docx",
            "--database",
            db,
        ],
    );
    assert!(stderr(&out).contains("html, pdf, csv or xlsx"));
    let out = vigilo(
        d,
        &[
            "report",
            "--period",
            "2026-Q1",
            "--product",
            "nope",
            "--database",
            db,
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no product has id 'nope'"),
        "{}",
        stderr(&out)
    );
    let out = vigilo(
        d,
        &[
            "report",
            "--period",
            "2026-Q1",
            "--province",
            "99",
            "--database",
            db,
        ],
    );
    assert!(
        stderr(&out).contains("no province has code '99'"),
        "{}",
        stderr(&out)
    );
}
