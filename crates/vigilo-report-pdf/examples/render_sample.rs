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
    for run in 0..runs {
        // A different document each time: typst memoises, and the same input again would
        // only measure its cache.
        let mut varied = doc.clone();
        varied.title = format!("{} ({run})", doc.title);
        if let Some(vigilo_report::Block::Table(table)) = varied
            .blocks
            .iter_mut()
            .find(|b| matches!(b, vigilo_report::Block::Table(_)))
        {
            table.rows.rotate_left(run as usize + 1);
        }
        vigilo_report_pdf::to_pdf(&varied)?;
    }
    let warm = start.elapsed() / runs;
    println!(
        "first rendering (fonts and library loaded): {first:?}; then {warm:?} per rendering of a changed document; {} bytes",
        pdf.len()
    );
    if let Some(path) = std::env::args().nth(1) {
        std::fs::write(&path, &pdf)?;
        println!("wrote {path}");
    }
    Ok(())
}
