//! Mixed workload against a running server; prints one JSON line (see `vigilo_testkit::load`).
//!
//!   mixed_load BASE_URL TOKEN [--clients 200] [--seconds 300] [--pid SERVER_PID]

use std::time::Duration;

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(token)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: mixed_load BASE_URL TOKEN [--clients N] [--seconds N] [--pid PID]");
        return std::process::ExitCode::FAILURE;
    };
    let cfg = vigilo_testkit::load::LoadConfig {
        base: base.trim_end_matches('/').to_string(),
        token: token.clone(),
        clients: arg(&args, "--clients").unwrap_or(200),
        duration: Duration::from_secs(arg(&args, "--seconds").unwrap_or(300)),
        server_pid: arg(&args, "--pid"),
        memory_every: Duration::from_secs(10),
    };
    match vigilo_testkit::load::run(cfg).await {
        Ok(report) => {
            println!("{}", report.to_json());
            if report.errors() > 0 {
                eprintln!("mixed_load: {} errors", report.errors());
                return std::process::ExitCode::FAILURE;
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mixed_load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
