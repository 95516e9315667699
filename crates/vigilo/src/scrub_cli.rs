//! `vigilo scrub`: the intake de-identification on standard input, for operators who
//! want to check a text (or a file of narratives) before sharing it.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use std::io::{Read, Write};

/// Larger inputs are refused: scrub files of narratives in pieces.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Args, Debug, Clone)]
pub struct ScrubArgs {
    /// Print one JSON document with the scrubbed text and each finding's kind and byte
    /// offsets in the input, instead of the scrubbed text alone
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct FindingOut {
    kind: &'static str,
    start: usize,
    end: usize,
}

#[derive(Serialize)]
struct Output {
    text: String,
    findings: Vec<FindingOut>,
}

pub fn run(args: &ScrubArgs) -> Result<()> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut input)
        .context("reading standard input")?;
    if input.len() as u64 > MAX_INPUT_BYTES {
        bail!("the input is larger than 64 MB: scrub it in pieces");
    }
    let text = String::from_utf8(input).map_err(|e| {
        anyhow::anyhow!(
            "the input is not UTF-8 text (invalid byte at offset {}): convert it first, for example with iconv",
            e.utf8_error().valid_up_to()
        )
    })?;
    let scrubbed = vigilo_core::scrub::scrub(&text);
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = Output {
            findings: scrubbed
                .findings
                .iter()
                .map(|f| FindingOut {
                    kind: f.kind.code(),
                    start: f.start,
                    end: f.end,
                })
                .collect(),
            text: scrubbed.text,
        };
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        out.write_all(scrubbed.text.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
