//! Harness: the same subcommands as `vigilo eval | signals | drift`, from the same source file,
//! plus a bench-only `cusum` over a stations x tools x weeks file.

#[path = "../../../crates/vigilo/src/stats_cli.rs"]
mod stats_cli;

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vigilo-stats-cli")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate scores against outcomes
    Eval(stats_cli::EvalArgs),
    /// Disproportionality signals from report lists
    Signals(stats_cli::SignalsArgs),
    /// Drift between a reference and a current file
    Drift(stats_cli::DriftArgs),
    /// Bench only: MGPS prior fit alone on a cells file (columns n, e), default 5 starts
    MgpsFit {
        #[arg(long)]
        cells: std::path::PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Bench only: Poisson CUSUM per (station, tool) series, k for a doubling of the baseline
    Cusum {
        /// CSV with station, tool, week, count, baseline (rows in week order per series)
        #[arg(long)]
        input: std::path::PathBuf,
        /// Decision value
        #[arg(long, default_value_t = 5.0)]
        h: f64,
    },
}

fn cusum(input: &std::path::Path, h: f64) -> anyhow::Result<()> {
    // Series are contiguous in the file (rows in week order per station and tool).
    let mut rdr = csv::Reader::from_path(input).with_context(|| input.display().to_string())?;
    let mut rec = csv::ByteRecord::new();
    let mut key: Option<(u32, u32)> = None;
    let (mut counts, mut mu0) = (Vec::new(), Vec::new());
    while rdr.read_byte_record(&mut rec)? {
        let get = |i: usize| -> anyhow::Result<&str> {
            Ok(std::str::from_utf8(
                rec.get(i).ok_or_else(|| anyhow!("short row"))?,
            )?)
        };
        let k = (get(0)?.parse()?, get(1)?.parse()?);
        if key != Some(k) {
            key = Some(k);
            mu0.push(get(4)?.parse::<f64>()?);
        }
        counts.push(get(3)?.parse::<f64>()?);
    }
    let t0 = std::time::Instant::now();
    let len = counts.len() / mu0.len().max(1);
    let k: Vec<f64> = mu0
        .iter()
        .map(|&m| vigilo_stats::sequential::poisson_cusum_reference(m, 2.0 * m))
        .collect::<Result<_, _>>()?;
    let r = vigilo_stats::sequential::poisson_cusum_many(&counts, len, &k, h, true)?;
    let compute = t0.elapsed().as_secs_f64();
    let alarms: u64 = r.alarms.iter().map(|&a| u64::from(a)).sum();
    let with_alarm = r.alarms.iter().filter(|&&a| a > 0).count();
    let last_sum: f64 = r.final_statistic.iter().sum();
    println!(
        "{{\"series\": {}, \"alarms\": {alarms}, \"series_with_alarm\": {with_alarm}, \"final_statistic_sum\": {last_sum}, \"compute_seconds\": {compute}}}",
        mu0.len()
    );
    Ok(())
}

fn mgps_fit(path: &std::path::Path, threads: usize) -> anyhow::Result<()> {
    let mut rdr = csv::Reader::from_path(path).with_context(|| path.display().to_string())?;
    let (mut n, mut e) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let rec = rec?;
        n.push(
            rec.get(0)
                .ok_or_else(|| anyhow!("short row"))?
                .parse::<u64>()?,
        );
        e.push(
            rec.get(1)
                .ok_or_else(|| anyhow!("short row"))?
                .parse::<f64>()?,
        );
    }
    let t0 = std::time::Instant::now();
    let opts = vigilo_stats::mgps::MgpsOptions {
        threads,
        ..Default::default()
    };
    let f = vigilo_stats::mgps::fit_prior(&n, &e, &opts)?;
    let secs = t0.elapsed().as_secs_f64();
    let p = f.prior;
    println!(
        "{{\"log_likelihood\": {}, \"prior\": [{}, {}, {}, {}, {}], \"converged\": {}, \"at_bound\": {}, \"fit_seconds\": {secs}}}",
        f.log_likelihood, p.a1, p.b1, p.a2, p.b2, p.p, f.converged, f.at_bound
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Eval(a) => stats_cli::run_eval(&a),
        Command::Signals(a) => stats_cli::run_signals(&a),
        Command::Drift(a) => stats_cli::run_drift(&a),
        Command::Cusum { input, h } => cusum(&input, h),
        Command::MgpsFit { cells, threads } => mgps_fit(&cells, threads),
    }
}
