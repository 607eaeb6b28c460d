//! `portal generate`: realistic synthetic FHIR R4 transaction Bundles, one file per patient, for
//! load and scale tests. The output depends only on the seed and the patient number (never on
//! the clock or the machine): the same seed gives byte-identical files, and patient `n` is the
//! same whether 10 or 10,000 are generated. Patients are generated and written one at a time,
//! so memory stays flat however many are asked for.

mod calendar;
mod codes;
mod conditions;
mod directory;
mod labs;
mod medicines;
mod notes;
mod person;
mod plan;
mod prevention;
mod record;
mod resources;
mod rng;
mod vitals;

use serde_json::Value;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// What `portal generate` wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files written (one per patient).
    pub files: u32,
    /// Resources written, in all files.
    pub resources: u64,
    /// Bytes written, in all files.
    pub bytes: u64,
    /// Resources in the smallest Bundle.
    pub fewest_resources: u64,
    /// Resources in the largest Bundle.
    pub most_resources: u64,
}

/// What can stop `portal generate`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output folder could not be created.
    #[error("cannot create the folder {}: {source}", path.display())]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The person a generated record must be for (the demo's own patients): the record's clinical
/// story is drawn as for any patient number, around this name, sex and date of birth.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The Patient resource's id.
    pub id: Uuid,
    /// Given name.
    pub given: &'static str,
    /// Family name.
    pub family: &'static str,
    /// Female (else male).
    pub female: bool,
    /// Date of birth: year, month, day.
    pub birth: (i32, u32, u32),
    /// Medical record number.
    pub mrn: String,
}

/// One patient's Bundle, in memory: patient `number` of `seed`, made to be `identity`.
pub fn bundle_for(seed: u64, number: u32, identity: &Identity) -> io::Result<Vec<u8>> {
    let directory = directory::Directory::new(seed);
    let mut bundle = BundleWriter::start(Vec::new())?;
    record::write(&mut bundle, seed, number, &directory, Some(identity))?;
    let (bytes, _) = bundle.finish()?;
    Ok(bytes)
}

/// Writes `patients` Bundles into `out` (created if missing; files of the same names are
/// replaced), named `patient-000001.json` onwards so that name order is generation order.
pub fn run(patients: u32, out: &Path, seed: u64) -> Result<Summary, Error> {
    std::fs::create_dir_all(out).map_err(|source| Error::CreateFolder {
        path: out.to_path_buf(),
        source,
    })?;
    let directory = directory::Directory::new(seed);
    let mut summary = Summary::default();
    for number in 1..=patients {
        let path = out.join(file_name(number, patients));
        let written = write_patient_file(&path, seed, number, &directory)
            .map_err(|source| Error::Write { path, source })?;
        summary.add(written);
    }
    Ok(summary)
}

/// `patient-000042.json`, with at least six digits and enough for the largest number.
fn file_name(number: u32, patients: u32) -> String {
    let width = patients.to_string().len().max(6);
    format!("patient-{number:0width$}.json")
}

fn write_patient_file(
    path: &Path,
    seed: u64,
    number: u32,
    directory: &directory::Directory,
) -> io::Result<Written> {
    let file = File::create(path)?;
    let mut bundle = BundleWriter::start(CountingWriter::new(BufWriter::new(file)))?;
    record::write(&mut bundle, seed, number, directory, None)?;
    let (out, resources) = bundle.finish()?;
    let bytes = out.bytes;
    out.inner
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    Ok(Written { resources, bytes })
}

/// One file's counts.
#[derive(Clone, Copy, Debug)]
struct Written {
    resources: u64,
    bytes: u64,
}

impl Summary {
    fn add(&mut self, written: Written) {
        if self.files == 0 || written.resources < self.fewest_resources {
            self.fewest_resources = written.resources;
        }
        self.most_resources = self.most_resources.max(written.resources);
        self.files += 1;
        self.resources += written.resources;
        self.bytes += written.bytes;
    }
}

/// A resource on its way into a Bundle: its type, id and the rest of its elements.
#[derive(Debug)]
struct Resource {
    kind: &'static str,
    id: Uuid,
    body: Value,
}

impl Resource {
    /// A resource of `kind` with `id` and the elements of the JSON object `body`.
    fn new(kind: &'static str, id: Uuid, body: Value) -> Resource {
        debug_assert!(body.is_object(), "a resource body is a JSON object");
        Resource { kind, id, body }
    }

    /// The reference other resources of the same Bundle use for it.
    fn reference(&self) -> String {
        urn(self.id)
    }
}

/// The `urn:uuid:` form of an id, used as fullUrl and in references.
fn urn(id: Uuid) -> String {
    format!("urn:uuid:{id}")
}

/// How an entry is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    /// A resource of this patient: created.
    Post,
    /// A practitioner or organization shared by many patients' Bundles: created or replaced
    /// under its own id, so importing many Bundles keeps one copy.
    Put,
}

/// Streams a transaction Bundle, one entry per line, so that a patient's Bundle never has to
/// be held in memory as a whole.
struct BundleWriter<W: Write> {
    out: W,
    entries: u64,
}

impl<W: Write> BundleWriter<W> {
    fn start(mut out: W) -> io::Result<Self> {
        out.write_all(br#"{"resourceType":"Bundle","type":"transaction","entry":["#)?;
        Ok(BundleWriter { out, entries: 0 })
    }

    /// Writes one entry; `resourceType` and `id` come first, as people expect to read them.
    fn write(&mut self, resource: &Resource, method: Method) -> io::Result<()> {
        let separator = if self.entries == 0 { "\n" } else { ",\n" };
        write!(
            self.out,
            r#"{separator}{{"fullUrl":"{}","resource":{{"resourceType":"{}","id":"{}""#,
            resource.reference(),
            resource.kind,
            resource.id
        )?;
        if let Value::Object(elements) = &resource.body {
            for (name, value) in elements {
                self.out.write_all(b",")?;
                serde_json::to_writer(&mut self.out, name)?;
                self.out.write_all(b":")?;
                serde_json::to_writer(&mut self.out, value)?;
            }
        }
        match method {
            Method::Post => write!(
                self.out,
                r#"}},"request":{{"method":"POST","url":"{}"}}}}"#,
                resource.kind
            )?,
            Method::Put => write!(
                self.out,
                r#"}},"request":{{"method":"PUT","url":"{}/{}"}}}}"#,
                resource.kind, resource.id
            )?,
        }
        self.entries += 1;
        Ok(())
    }

    /// Closes the Bundle; returns the writer and the number of entries.
    fn finish(mut self) -> io::Result<(W, u64)> {
        self.out.write_all(b"\n]}\n")?;
        Ok((self.out, self.entries))
    }
}

/// Counts the bytes that pass through it.
struct CountingWriter<W> {
    inner: W,
    bytes: u64,
}

impl<W> CountingWriter<W> {
    fn new(inner: W) -> Self {
        CountingWriter { inner, bytes: 0 }
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::{HashMap, HashSet};

    fn bundle(seed: u64, number: u32, directory: &directory::Directory) -> Value {
        let mut out = BundleWriter::start(Vec::new()).expect("writing to memory");
        record::write(&mut out, seed, number, directory, None).expect("writing to memory");
        let (bytes, _) = out.finish().expect("writing to memory");
        serde_json::from_slice(&bytes).expect("a JSON Bundle")
    }

    /// Every string value under `key` anywhere in `value`.
    fn strings<'v>(value: &'v Value, key: &str, found: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == key
                        && let Some(s) = v.as_str()
                    {
                        found.push(s);
                    }
                    strings(v, key, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| strings(v, key, found)),
            _ => {}
        }
    }

    #[test]
    fn every_bundle_is_self_contained_and_consistent() {
        let directory = directory::Directory::new(9);
        for number in 1..=40 {
            let bundle = bundle(9, number, &directory);
            let entries = bundle["entry"].as_array().expect("entries");
            let mut full_urls = HashSet::new();
            let mut types = HashMap::new();
            for entry in entries {
                let url = entry["fullUrl"].as_str().expect("fullUrl");
                let id = entry["resource"]["id"].as_str().expect("id");
                assert_eq!(url, format!("urn:uuid:{id}"));
                assert!(full_urls.insert(url), "repeated {url}");
                types.insert(
                    url,
                    entry["resource"]["resourceType"].as_str().expect("type"),
                );
            }
            let mut references = Vec::new();
            strings(&bundle, "reference", &mut references);
            for reference in references {
                assert!(full_urls.contains(reference), "dangling {reference}");
            }
            // Each lab result belongs to exactly one report.
            let mut reported = HashMap::new();
            for entry in entries {
                for result in entry["resource"]["result"].as_array().into_iter().flatten() {
                    let url = result["reference"].as_str().expect("reference");
                    assert_eq!(types[url], "Observation");
                    *reported.entry(url).or_insert(0) += 1;
                }
            }
            for entry in entries {
                let r = &entry["resource"];
                if r["category"][0]["coding"][0]["code"] == "laboratory" {
                    let url = entry["fullUrl"].as_str().expect("fullUrl");
                    assert_eq!(reported.get(url), Some(&1), "{url}");
                }
            }
            // Nothing happens after today.
            let mut dates = Vec::new();
            for key in [
                "birthDate",
                "start",
                "end",
                "effectiveDateTime",
                "issued",
                "authoredOn",
                "occurrenceDateTime",
                "onsetDateTime",
                "abatementDateTime",
                "recordedDate",
                "date",
            ] {
                strings(&bundle, key, &mut dates);
            }
            assert!(dates.len() > 100);
            for date in dates {
                assert!(&date[..10] <= "2026-11-01", "{date}");
            }
            // An ongoing prescription is not written twice, and abatement follows onset.
            let mut active = HashSet::new();
            for entry in entries {
                let r = &entry["resource"];
                if r["resourceType"] == "MedicationRequest" && r["status"] == "active" {
                    let key = (
                        r["medicationCodeableConcept"]["coding"][0]["code"].to_string(),
                        r["reasonReference"][0]["reference"].to_string(),
                    );
                    assert!(
                        active.insert(key),
                        "two active prescriptions in patient {number}"
                    );
                }
                if let Some(abatement) = r["abatementDateTime"].as_str() {
                    let onset = r["onsetDateTime"].as_str().expect("onset");
                    assert!(onset[..10] <= abatement[..10]);
                }
            }
        }
    }

    #[test]
    fn a_patient_is_the_same_whoever_else_is_generated() {
        let directory = directory::Directory::new(3);
        assert_eq!(bundle(3, 7, &directory), bundle(3, 7, &directory));
        assert_ne!(bundle(3, 7, &directory), bundle(3, 8, &directory));
    }

    #[test]
    fn file_names_sort_in_generation_order() {
        assert_eq!(file_name(7, 20), "patient-000007.json");
        assert_eq!(file_name(42, 1_234_567), "patient-0000042.json");
        assert!(file_name(9, 10) < file_name(10, 10));
    }

    #[test]
    fn the_bundle_writer_writes_a_transaction_with_type_and_id_first() {
        let id = Uuid::from_u128(1);
        let mut bundle = BundleWriter::start(Vec::new()).expect("writing to memory");
        let patient = Resource::new("Patient", id, json!({"gender": "female"}));
        bundle
            .write(&patient, Method::Post)
            .expect("writing to memory");
        bundle
            .write(&patient, Method::Put)
            .expect("writing to memory");
        let (bytes, entries) = bundle.finish().expect("writing to memory");
        assert_eq!(entries, 2);
        let text = String::from_utf8(bytes).expect("JSON is UTF-8");
        assert!(text.contains(&format!(
            r#"{{"resourceType":"Patient","id":"{id}","gender":"female"}}"#
        )));
        let bundle: Value = serde_json::from_str(&text).expect("a JSON document");
        assert_eq!(bundle["type"], "transaction");
        assert_eq!(bundle["entry"][0]["fullUrl"], format!("urn:uuid:{id}"));
        assert_eq!(bundle["entry"][0]["request"]["url"], "Patient");
        assert_eq!(bundle["entry"][1]["request"]["method"], "PUT");
        assert_eq!(
            bundle["entry"][1]["request"]["url"],
            format!("Patient/{id}")
        );
    }

    #[test]
    fn a_bundle_file_is_not_mistaken_for_ndjson_by_the_importer() {
        let mut bundle = BundleWriter::start(Vec::new()).expect("writing to memory");
        let patient = Resource::new("Patient", Uuid::from_u128(2), json!({}));
        bundle
            .write(&patient, Method::Post)
            .expect("writing to memory");
        bundle
            .write(&patient, Method::Post)
            .expect("writing to memory");
        let (bytes, _) = bundle.finish().expect("writing to memory");
        assert_eq!(portal_fhir::detect(&bytes), portal_fhir::InputKind::Json);
    }

    #[test]
    fn run_writes_one_file_per_patient_and_counts_what_it_wrote() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let summary = run(3, dir.path(), 5).expect("generating");
        assert_eq!(summary.files, 3);
        let mut bytes = 0;
        let mut resources = 0;
        for n in 1..=3 {
            let text = std::fs::read(dir.path().join(file_name(n, 3))).expect("written");
            bytes += text.len() as u64;
            let bundle: Value = serde_json::from_slice(&text).expect("JSON");
            resources += bundle["entry"].as_array().expect("entries").len() as u64;
        }
        assert_eq!(summary.bytes, bytes);
        assert_eq!(summary.resources, resources);
        assert!(summary.fewest_resources <= summary.most_resources);
    }
}
