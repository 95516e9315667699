//! Renders the test suite's decision letter, reports the time per rendering, and writes the
//! PDF to the path given (for looking at it): `cargo run --release --example render_sample -- out.pdf`.

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let doc = common::decision_letter();
    let first = Instant::now();
    let pdf = vigilo_report_pdf::to_pdf(&doc)?;
    let first = first.elapsed();
    let runs = 5;
    let start = Instant::now();
    for _ in 0..runs {
        vigilo_report_pdf::to_pdf(&doc)?;
    }
    let warm = start.elapsed() / runs;
    println!(
        "first rendering (fonts and library loaded): {first:?}; then {warm:?} per rendering; {} bytes",
        pdf.len()
    );
    if let Some(path) = std::env::args().nth(1) {
        std::fs::write(&path, &pdf)?;
        println!("wrote {path}");
    }
    Ok(())
}
