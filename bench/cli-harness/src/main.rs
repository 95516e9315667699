//! Harness: the same subcommands as `vigilo eval | signals | drift`, from the same source file.

#[path = "../../../crates/vigilo/src/stats_cli.rs"]
mod stats_cli;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Eval(a) => stats_cli::run_eval(&a),
        Command::Signals(a) => stats_cli::run_signals(&a),
        Command::Drift(a) => stats_cli::run_drift(&a),
    }
}
