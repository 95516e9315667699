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

/// Series read from a CUSUM file: the baseline of each series and all counts in row order.
#[derive(Default)]
struct CusumInput {
    keys: Vec<(u32, u32)>,
    mu0: Vec<f64>,
    counts: Vec<f64>,
}

impl CusumInput {
    /// Appends a later part of the file; a series cut at the boundary continues.
    fn append(&mut self, mut next: CusumInput) {
        if let (Some(a), Some(b)) = (self.keys.last(), next.keys.first()) {
            if a == b {
                next.keys.remove(0);
                next.mu0.remove(0);
            }
        }
        self.keys.append(&mut next.keys);
        self.mu0.append(&mut next.mu0);
        self.counts.append(&mut next.counts);
    }
}

fn parse_num<T: std::str::FromStr>(field: &[u8], line: &[u8]) -> anyhow::Result<T> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| anyhow!("bad number in row {:?}", String::from_utf8_lossy(line)))
}

/// Parses unquoted rows `station,tool,week,count,baseline`. Counts of plain digits (all of
/// them in practice) skip the general float parser; the baseline is parsed once per series.
fn parse_cusum_rows(body: &[u8]) -> anyhow::Result<CusumInput> {
    let mut out = CusumInput::default();
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let mut f = line.splitn(5, |&b| b == b',');
        let mut next = || {
            f.next()
                .ok_or_else(|| anyhow!("short row {:?}", String::from_utf8_lossy(line)))
        };
        let (station, tool, _week, count, baseline) = (next()?, next()?, next()?, next()?, next()?);
        let key = (parse_num(station, line)?, parse_num(tool, line)?);
        if out.keys.last() != Some(&key) {
            out.keys.push(key);
            out.mu0.push(parse_num(baseline, line)?);
        }
        let digits = !count.is_empty() && count.len() <= 15 && count.iter().all(u8::is_ascii_digit);
        out.counts.push(if digits {
            count
                .iter()
                .fold(0.0, |v, &d| v * 10.0 + f64::from(d - b'0'))
        } else {
            parse_num(count, line)?
        });
    }
    Ok(out)
}

/// Reads the whole file and parses it in two halves split at a line end, one per core.
/// Files with quotes (where a line end may sit inside a field) go through the csv crate.
fn read_cusum(input: &std::path::Path) -> anyhow::Result<CusumInput> {
    let bytes = std::fs::read(input).with_context(|| input.display().to_string())?;
    let header_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let header = String::from_utf8_lossy(&bytes[..header_end]);
    let names: Vec<&str> = header.trim_end().split(',').map(str::trim).collect();
    if names != ["station", "tool", "week", "count", "baseline"] {
        anyhow::bail!(
            "{}: expected columns station,tool,week,count,baseline, got {header}",
            input.display()
        );
    }
    let body = bytes.get(header_end + 1..).unwrap_or_default();
    if body.contains(&b'"') {
        return read_cusum_csv(input);
    }
    let mid = body.len() / 2;
    let cut = body[mid..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(body.len(), |i| mid + i + 1);
    let (first, second) = body.split_at(cut);
    let (a, b) = std::thread::scope(|s| {
        let h = s.spawn(|| parse_cusum_rows(second));
        let a = parse_cusum_rows(first);
        (a, h.join().map_err(|_| anyhow!("parser thread failed")))
    });
    let mut a = a?;
    a.append(b??);
    Ok(a)
}

fn read_cusum_csv(input: &std::path::Path) -> anyhow::Result<CusumInput> {
    let mut rdr = csv::Reader::from_path(input).with_context(|| input.display().to_string())?;
    let mut rec = csv::ByteRecord::new();
    let mut out = CusumInput::default();
    while rdr.read_byte_record(&mut rec)? {
        let get = |i: usize| -> anyhow::Result<&str> {
            Ok(std::str::from_utf8(
                rec.get(i).ok_or_else(|| anyhow!("short row"))?,
            )?)
        };
        let k = (get(0)?.parse()?, get(1)?.parse()?);
        if out.keys.last() != Some(&k) {
            out.keys.push(k);
            out.mu0.push(get(4)?.parse::<f64>()?);
        }
        out.counts.push(get(3)?.parse::<f64>()?);
    }
    Ok(out)
}

fn cusum(input: &std::path::Path, h: f64) -> anyhow::Result<()> {
    // Series are contiguous in the file (rows in week order per station and tool).
    let CusumInput { mu0, counts, .. } = read_cusum(input)?;
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
