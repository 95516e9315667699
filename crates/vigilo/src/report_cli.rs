//! `vigilo report`: a monitoring period report from the configured database, written to a
//! file or to standard output. The figures come from the same builder as the web's
//! `/reports/{period}`, so both agree.

use crate::{ConfigFile, DbArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use vigilo_core::Lang;
use vigilo_server::monitoring_report::{
    build_period_report, parse_report_period, render_report, ReportBuildError, ReportFormat,
    ReportParams,
};

#[derive(Args)]
pub struct ReportArgs {
    /// Period: a quarter (2026-Q1), a year (2026) or a month (2026-03)
    #[arg(long)]
    period: String,
    /// Only this product (its id)
    #[arg(long)]
    product: Option<String>,
    /// Only this province (its code, e.g. 01 for Hà Nội)
    #[arg(long)]
    province: Option<String>,
    /// The public variant: counts from 1 to 4 shown as <5, no facility names, no alert list
    #[arg(long)]
    public: bool,
    /// html, pdf, csv (the KPI table only) or xlsx (the whole report)
    #[arg(long, default_value = "html")]
    format: String,
    /// vi or en
    #[arg(long, default_value = "vi")]
    lang: String,
    /// Write here instead of standard output
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
}

pub async fn run(a: ReportArgs, file: &ConfigFile) -> Result<()> {
    // Check the arguments before touching the database, so a typo fails fast.
    let period = parse_report_period(&a.period)?;
    let format = ReportFormat::parse(&a.format)?;
    let lang = match a.lang.trim() {
        "vi" => Lang::Vi,
        "en" => Lang::En,
        other => bail!("'{other}' is not a report language: use vi or en"),
    };
    let params = ReportParams {
        period,
        product_id: a.product.filter(|s| !s.trim().is_empty()),
        province_code: a.province.filter(|s| !s.trim().is_empty()),
        public: a.public,
        lang,
    };
    let store = crate::open(&a.db, file).await?;
    let report = match build_period_report(&store, &params).await {
        Ok(r) => r,
        Err(e @ ReportBuildError::UnknownProduct(_)) => {
            bail!("{e}: see the product ids in the directory or with GET /api/v1/deployments")
        }
        Err(e) => return Err(e.into()),
    };
    store.close().await;
    // PDF typesetting is CPU-bound: keep it off the async workers.
    let bytes = tokio::task::spawn_blocking(move || render_report(&report, format))
        .await
        .context("the report renderer stopped")??;
    match &a.out {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|()| out.flush())
                .context("cannot write to standard output")?;
        }
    }
    Ok(())
}
