//! `vigilo demo`: a fresh database with reference and demo content, and the server.

use anyhow::{bail, Result};
use std::path::PathBuf;
use vigilo_core::{OrgKind, Role, Username};
use vigilo_server::ServerConfig;
use vigilo_store::{NewOrganisation, NewUser, Store};

pub const DEMO_PASSWORD: &str = "vigilo-demo-2026";
const DEMO_MARK: &str = "demo";

/// The SQLite file behind a `sqlite:` URL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Removes an earlier demo database; refuses anything that is not one.
async fn prepare(url: &str) -> Result<()> {
    let Some(path) = sqlite_path(url) else {
        // On PostgreSQL the demo only goes into a database without Vigilo data.
        let store = Store::connect(url).await?;
        let marked = store.meta_get(DEMO_MARK).await.ok().flatten();
        let has_tables = store.list_users().await.is_ok();
        store.close().await;
        if has_tables && marked.is_none() {
            bail!("{} already holds a Vigilo database that is not a demo; the demo will not touch it. Give an empty database.", vigilo_store::redact_url(url));
        }
        if has_tables {
            bail!("{} holds an earlier demo; drop and recreate that database to start afresh (the demo only deletes SQLite files by itself).", vigilo_store::redact_url(url));
        }
        return Ok(());
    };
    if !path.exists() {
        return Ok(());
    }
    let store = Store::connect(url).await?;
    let marked = store.meta_get(DEMO_MARK).await;
    store.close().await;
    match marked {
        Ok(Some(_)) => {
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", path.display()));
                if p.exists() {
                    std::fs::remove_file(&p)
                        .map_err(|e| anyhow::anyhow!("cannot remove the old demo file {}: {e}", p.display()))?;
                }
            }
            Ok(())
        }
        _ => bail!(
            "{} exists and is not a Vigilo demo database; the demo will not overwrite it. Move it away or run the demo in another folder (or give --database sqlite://other.db).",
            path.display()
        ),
    }
}

pub async fn load_demo(store: &Store) -> Result<Vec<(String, Role)>> {
    let actor = "demo";
    let org = |code: &str, kind, name: &str, name_en: &str, unit: Option<&str>| NewOrganisation {
        code: code.into(),
        kind,
        name: name.into(),
        name_en: Some(name_en.into()),
        admin_unit_code: unit.map(Into::into),
    };
    store
        .create_organisation(
            actor,
            org(
                "VN-MOH-NHIC",
                OrgKind::Regulator,
                "Bộ Y tế — Trung tâm Thông tin Y tế Quốc gia",
                "Ministry of Health — National Health Information Center",
                Some("01"),
            ),
        )
        .await?;
    let maker = store
        .create_organisation(
            actor,
            org(
                "DEMO-MFR-01",
                OrgKind::Manufacturer,
                "Công ty Cổ phần AI Y tế Minh An (dữ liệu mẫu)",
                "Minh An Health AI JSC (demo data)",
                None,
            ),
        )
        .await?;
    let station = store
        .create_organisation(
            actor,
            org(
                "DEMO-TYT-00004",
                OrgKind::Facility,
                "Trạm Y tế Phường Ba Đình (dữ liệu mẫu)",
                "Ba Dinh Ward Health Station (demo data)",
                Some("00004"),
            ),
        )
        .await?;
    let accounts = [
        ("admin", "Quản trị viên (mẫu)", Role::Admin, None),
        (
            "reviewer",
            "Chuyên viên thẩm định (mẫu)",
            Role::Reviewer,
            None,
        ),
        (
            "vendor",
            "Nhà cung cấp Minh An (mẫu)",
            Role::Vendor,
            Some(maker.id.clone()),
        ),
        (
            "reporter",
            "Trạm Y tế Ba Đình (mẫu)",
            Role::Reporter,
            Some(station.id.clone()),
        ),
        ("peer", "Nút GRN mẫu", Role::Peer, None),
    ];
    let mut out = Vec::new();
    for (name, display, role, org) in accounts {
        let username = Username::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
        store
            .create_user(
                actor,
                NewUser {
                    username,
                    display_name: display.into(),
                    password: DEMO_PASSWORD.into(),
                    role,
                    organisation_id: org,
                },
            )
            .await?;
        out.push((name.to_string(), role));
    }
    store.meta_set(DEMO_MARK, "true").await?;
    Ok(out)
}

pub async fn run(url: &str, bind: &str) -> Result<()> {
    prepare(url).await?;
    let store = Store::open(url).await?;
    let accounts = load_demo(&store).await?;
    let db = store.redacted_url().to_string();
    crate::run_server(store, bind, ServerConfig::default(), move |addr| {
        let mut text = format!("\n  Vigilo demo is running at {addr}\n");
        text +=
            &format!("  Database: {db} (fresh demo data; replaced at the next `vigilo demo`)\n\n");
        text += &format!("  Demo accounts (password for all: {DEMO_PASSWORD}):\n");
        for (name, role) in &accounts {
            text += &format!("    {name:<10} {role}\n");
        }
        text += "\n  Press Ctrl-C to stop.\n";
        crate::say(&text);
    })
    .await
}
