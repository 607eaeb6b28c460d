//! `portal generate`, black box: the real binary writes one transaction Bundle per patient,
//! byte-identical for the same seed and different for another, with flagged lab results, and
//! `portal import` takes every file without rejecting one.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PATIENTS: usize = 5;
/// Entries a Bundle may hold: the generator aims at 150–400, the youngest patients have fewer.
const ENTRIES: std::ops::RangeInclusive<usize> = 100..=420;
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

fn portal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(args)
        // The import below must use the temporary SQLite database, whatever the environment says.
        .env_remove("PORTAL_DATABASE")
        .env_remove("PORTAL_DATA_DIR")
        .env_remove("PORTAL_SECRET_KEY")
        .output()
        .expect("the portal binary runs")
}

/// Runs `portal generate` into `out`; returns the files written, in name order, with their bytes.
fn generate(out: &Path, seed: u64) -> Vec<(String, Vec<u8>)> {
    let output = portal(&[
        "generate",
        "--patients",
        &PATIENTS.to_string(),
        "--out",
        out.to_str().expect("a UTF-8 temporary path"),
        "--seed",
        &seed.to_string(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "generate failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("Wrote {PATIENTS} file(s)")),
        "{stdout}"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("the output folder exists")
        .map(|e| e.expect("a folder entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a UTF-8 file name")
                .to_string();
            (name, std::fs::read(&path).expect("a readable file"))
        })
        .collect()
}

#[test]
fn the_same_seed_gives_byte_identical_files_and_another_seed_different_ones() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let first = generate(&dir.path().join("first"), 42);
    let again = generate(&dir.path().join("again"), 42);
    let other = generate(&dir.path().join("other"), 43);
    assert_eq!(first.len(), PATIENTS);
    assert_eq!(first, again);
    assert_eq!(other.len(), PATIENTS);
    for ((name, bytes), (other_name, other_bytes)) in first.iter().zip(&other) {
        assert_eq!(name, other_name);
        assert_ne!(bytes, other_bytes, "{name} is the same under seed 43");
    }
}

#[test]
fn every_file_is_a_transaction_bundle_with_flagged_lab_results() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let files = generate(dir.path(), 7);
    let mut high_or_low = 0;
    let mut lab_results = 0;
    for (number, (name, bytes)) in files.iter().enumerate() {
        let bundle: Value = serde_json::from_slice(bytes).expect("each file is JSON");
        assert_eq!(bundle["resourceType"], "Bundle", "{name}");
        assert_eq!(bundle["type"], "transaction", "{name}");
        let entries = bundle["entry"].as_array().expect("entries");
        assert!(
            ENTRIES.contains(&entries.len()),
            "{name}: {}",
            entries.len()
        );
        let patient = &entries[0]["resource"];
        assert_eq!(patient["resourceType"], "Patient");
        assert_eq!(
            patient["identifier"][0]["value"],
            format!("GEN-7-{}", number + 1)
        );
        for entry in entries {
            assert!(
                entry["fullUrl"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("urn:uuid:"))
            );
            assert!(entry["request"]["method"].is_string());
            let resource = &entry["resource"];
            if resource["category"][0]["coding"][0]["code"] != "laboratory" {
                continue;
            }
            lab_results += 1;
            let value = resource["valueQuantity"]["value"]
                .as_f64()
                .expect("a value");
            let range = &resource["referenceRange"][0];
            let low = range["low"]["value"].as_f64().expect("a low end");
            let high = range["high"]["value"].as_f64().expect("a high end");
            let flag = &resource["interpretation"][0]["coding"][0];
            assert_eq!(flag["system"], INTERPRETATION);
            let code = flag["code"].as_str().expect("an interpretation code");
            let consistent = match code {
                "N" => (low..=high).contains(&value),
                "H" | "HH" => value > high,
                "L" | "LL" => value < low,
                other => panic!("unexpected interpretation {other}"),
            };
            assert!(
                consistent,
                "{name}: {value} flagged {code} against {low}-{high}"
            );
            if code == "H" || code == "L" {
                high_or_low += 1;
            }
        }
    }
    assert!(lab_results > 100, "only {lab_results} lab results");
    assert!(
        high_or_low > 0,
        "no H or L flag in {lab_results} lab results"
    );
}

#[test]
fn generated_bundles_import_with_nothing_rejected() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("bundles");
    generate(&out, 11);
    let data_dir = dir.path().join("data");
    let output = portal(&[
        "--data-dir",
        data_dir.to_str().expect("a UTF-8 temporary path"),
        "import",
        out.to_str().expect("a UTF-8 temporary path"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "import failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("0 file(s) rejected"), "{stdout}");
    assert!(stdout.contains(&format!("{PATIENTS} file(s)")), "{stdout}");
}
