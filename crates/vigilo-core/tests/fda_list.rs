//! The FDA AI-enabled device list as published: the files in ../shared/data
//! (public domain, but never copied into the repository). Each test says it
//! skips when the shared folder is absent.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use vigilo_core::fda_list::{parse_fda_ai_list, FdaListEntry, SubmissionKind};

fn shared(name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(_) => {
            println!("skipping: {} not present", path.display());
            None
        }
    }
}

fn numbers(entries: &[FdaListEntry]) -> BTreeSet<String> {
    entries
        .iter()
        .map(|e| e.submission_number.to_string())
        .collect()
}

#[test]
fn list_2025_09_xml_and_csv_give_identical_entries() {
    let (Some(xml), Some(csv)) = (
        shared("fda_ai_enabled_devices_2025-09.xml"),
        shared("fda_ai_enabled_devices_2025-09.csv"),
    ) else {
        return;
    };
    let from_xml = parse_fda_ai_list(&xml).unwrap();
    let from_csv = parse_fda_ai_list(&csv).unwrap();
    assert_eq!(from_xml.len(), 1357);
    assert_eq!(from_csv.len(), 1357);
    for (x, c) in from_xml.iter().zip(&from_csv) {
        assert_eq!(x, c);
    }

    // The README's figures: 1,304 K, 37 DEN, 15 P and one PMA supplement,
    // decisions from 1995-09-29 to 2025-09-29, 1,039 in radiology.
    let mut kinds = HashMap::new();
    for e in &from_xml {
        *kinds.entry(e.submission_number.kind()).or_insert(0) += 1;
    }
    assert_eq!(kinds[&SubmissionKind::PremarketNotification], 1304);
    assert_eq!(kinds[&SubmissionKind::DeNovo], 37);
    assert_eq!(kinds[&SubmissionKind::PremarketApproval], 15);
    assert_eq!(kinds[&SubmissionKind::PmaSupplement], 1);
    let dates: BTreeSet<String> = from_xml.iter().map(|e| e.decision_date_iso()).collect();
    assert_eq!(dates.first().unwrap(), "1995-09-29");
    assert_eq!(dates.last().unwrap(), "2025-09-29");
    assert_eq!(
        from_xml.iter().filter(|e| e.panel == "Radiology").count(),
        1039
    );

    let first = &from_xml[0];
    assert_eq!(first.submission_number.as_str(), "K252054");
    assert_eq!(first.device, "SpineAR SNAP (SyncAR Spine)");
    assert_eq!(first.company, "Surgical Theater, Inc.");
    assert_eq!(first.panel, "Neurology");
    assert_eq!(first.product_code, "SBF");
    assert_eq!(first.decision_date_iso(), "2025-09-29");
    // The XML has a tab and a newline before this company name; the CSV does not.
    let navicam = from_xml
        .iter()
        .find(|e| e.submission_number.as_str() == "DEN230027")
        .unwrap();
    assert_eq!(navicam.company, "Ankon Technologies co., ltd");
}

#[test]
fn list_2024_05_and_its_differences_from_2025_09() {
    let (Some(old), Some(new)) = (
        shared("fda_ai_enabled_devices_2024-05.csv"),
        shared("fda_ai_enabled_devices_2025-09.xml"),
    ) else {
        return;
    };
    let old = parse_fda_ai_list(&old).unwrap();
    let new = parse_fda_ai_list(&new).unwrap();
    assert_eq!(old.len(), 882);
    let dates: BTreeSet<String> = old.iter().map(|e| e.decision_date_iso()).collect();
    assert_eq!(dates.first().unwrap(), "1995-11-08");
    assert_eq!(dates.last().unwrap(), "2024-03-29");
    let (old_numbers, new_numbers) = (numbers(&old), numbers(&new));
    let missing: Vec<&String> = old_numbers.difference(&new_numbers).collect();
    assert_eq!(missing, ["DEN220039", "K162627", "K223407"]);
    assert_eq!(new_numbers.difference(&old_numbers).count(), 478);
}
