//! The crate against real data: every fixture Bundle parses, every entry maps, the counts match
//! what an independent walk of the raw JSON finds, and every reference is of a kind the importer
//! can resolve.
//!
//! By default this reads the copies in the repository's `fixtures/synthea/`. With `PORTAL_FHIR_FIXTURES` set (CI sets
//! it to `shared/fixtures/synthea`) it reads that folder instead, and fails if the folder is
//! missing or holds no Bundle; it then also resolves every conditional and logical reference
//! against the identifiers of all the files, as the importer will.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use portal_fhir::model::ObservationValue;
use portal_fhir::{
    Bundle, BundleKind, ImportError, InputKind, MAPPED_TYPES, Mapped, Reference,
    collect_references, detect, map_resource, parse_bundle, parse_ndjson_line,
};
use serde_json::Value;

type Counts = BTreeMap<String, usize>;

/// The folder to read, and whether it is the full shared set.
fn fixture_dir() -> (PathBuf, bool) {
    match std::env::var_os("PORTAL_FHIR_FIXTURES") {
        Some(dir) => (PathBuf::from(dir), true),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea"),
            false,
        ),
    }
}

/// The `*.json` files directly in `dir`, sorted; panics when there are none.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let listing = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("fixture folder {} cannot be read: {error}", dir.display()));
    let mut files: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "fixture folder {} holds no *.json Bundle",
        dir.display()
    );
    files
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What the importer does with a file before touching the database.
fn import_check(bytes: &[u8]) -> Result<(Bundle, Vec<Mapped>), ImportError> {
    let bundle = parse_bundle(bytes)?;
    bundle.check_references()?;
    let mapped = bundle
        .entries
        .iter()
        .map(|entry| map_resource(&entry.resource, Some(entry.index)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((bundle, mapped))
}

fn raw_entries(raw: &Value) -> &[Value] {
    raw["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn bump(counts: &mut Counts, key: &str) {
    *counts.entry(key.to_owned()).or_default() += 1;
}

/// Counts made by walking the raw JSON, without the crate.
fn raw_counts(raw: &Value) -> (Counts, Counts) {
    let mut types = Counts::new();
    let mut details = Counts::new();
    for entry in raw_entries(raw) {
        let resource = &entry["resource"];
        let resource_type = resource["resourceType"].as_str().unwrap_or_default();
        bump(&mut types, resource_type);
        if !MAPPED_TYPES.contains(&resource_type) {
            bump(&mut details, "unmapped");
        }
        let Some(fields) = resource.as_object() else {
            continue;
        };
        if resource_type == "Observation" {
            for key in fields
                .keys()
                .filter(|key| key.starts_with("value") || *key == "dataAbsentReason")
            {
                bump(&mut details, &format!("Observation.{key}"));
            }
            let components = fields
                .get("component")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            *details.entry("Observation.component".into()).or_default() += components;
        }
        if resource_type == "DocumentReference" {
            for content in fields["content"].as_array().into_iter().flatten() {
                let text = content["attachment"]["contentType"]
                    .as_str()
                    .is_some_and(|kind| kind.starts_with("text/"));
                bump(&mut details, if text { "note text" } else { "note binary" });
            }
        }
        if resource_type == "DiagnosticReport" {
            let forms = fields
                .get("presentedForm")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            *details.entry("report text".into()).or_default() += forms;
        }
    }
    (types, details)
}

/// The same counts, made from what the crate mapped.
fn mapped_counts(mapped: &[Mapped]) -> (Counts, Counts) {
    let mut types = Counts::new();
    let mut details = Counts::new();
    for resource in mapped {
        bump(&mut types, resource.resource_type());
        match resource {
            Mapped::Unmapped { .. } => bump(&mut details, "unmapped"),
            Mapped::Observation(observation) => {
                let key = match &observation.value {
                    Some(ObservationValue::Quantity(_)) => Some("Observation.valueQuantity"),
                    Some(ObservationValue::Concept(_)) => Some("Observation.valueCodeableConcept"),
                    Some(ObservationValue::String(_)) => Some("Observation.valueString"),
                    Some(ObservationValue::Absent(_)) => Some("Observation.dataAbsentReason"),
                    Some(other) => panic!("no such value in the fixtures: {other:?}"),
                    None => None,
                };
                if let Some(key) = key {
                    bump(&mut details, key);
                }
                *details.entry("Observation.component".into()).or_default() +=
                    observation.components.len();
            }
            Mapped::DocumentReference(document) => {
                for content in &document.contents {
                    let has_text = content
                        .text
                        .as_ref()
                        .is_some_and(|text| !text.trim().is_empty());
                    assert!(
                        has_text != content.has_binary,
                        "text or binary, not both: {content:?}"
                    );
                    bump(
                        &mut details,
                        if has_text { "note text" } else { "note binary" },
                    );
                }
            }
            Mapped::DiagnosticReport(report) => {
                let texts = report
                    .presented_forms
                    .iter()
                    .filter(|form| form.text.is_some())
                    .count();
                *details.entry("report text".into()).or_default() += texts;
            }
            _ => {}
        }
    }
    (types, details)
}

#[test]
fn every_fixture_bundle_parses_and_maps_with_the_counts_of_the_raw_json() {
    let (dir, _) = fixture_dir();
    let mut total_entries = 0;
    for path in json_files(&dir) {
        let bytes = read(&path);
        let file = name(&path);
        assert_eq!(
            detect(&bytes[..bytes.len().min(64 * 1024)]),
            InputKind::Json,
            "{file}"
        );
        let (bundle, mapped) =
            import_check(&bytes).unwrap_or_else(|error| panic!("{file}: {error}"));
        let raw: Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("{file}: {error}"));

        let kind = match raw["type"].as_str() {
            Some("transaction") => BundleKind::Transaction,
            Some("batch") => BundleKind::Batch,
            other => panic!("{file}: unexpected Bundle.type {other:?}"),
        };
        assert_eq!(bundle.kind, kind, "{file}");
        assert_eq!(mapped.len(), raw_entries(&raw).len(), "{file}");
        assert_eq!(mapped_counts(&mapped), raw_counts(&raw), "{file}");

        for (entry, (raw_entry, resource)) in bundle
            .entries
            .iter()
            .zip(raw_entries(&raw).iter().zip(&mapped))
        {
            let kept: Value = serde_json::from_str(&portal_fhir::json::to_string(&entry.resource))
                .expect("the kept JSON reads back");
            assert_eq!(
                kept, raw_entry["resource"],
                "{file}: the original JSON is kept whole"
            );
            assert_eq!(
                entry.full_url.as_deref(),
                raw_entry["fullUrl"].as_str(),
                "{file}"
            );
            if resource.is_mapped() {
                assert_eq!(
                    resource.id(),
                    raw_entry["resource"]["id"].as_str(),
                    "{file}"
                );
            }
        }
        total_entries += mapped.len();
    }
    assert!(total_entries > 0);
}

/// Identifiers of every resource in the folder, as (type, system, value), their systems, and
/// every Type/id.
struct Targets {
    identifiers: HashSet<(String, Option<String>, String)>,
    systems: HashSet<Option<String>>,
    ids: HashSet<(String, String)>,
}

fn targets(files: &[PathBuf]) -> Targets {
    let mut targets = Targets {
        identifiers: HashSet::new(),
        systems: HashSet::new(),
        ids: HashSet::new(),
    };
    for path in files {
        let raw: Value = serde_json::from_slice(&read(path)).unwrap_or_default();
        for entry in raw_entries(&raw) {
            let resource = &entry["resource"];
            let resource_type = resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if let Some(id) = resource["id"].as_str() {
                targets.ids.insert((resource_type.clone(), id.to_owned()));
            }
            for identifier in resource["identifier"].as_array().into_iter().flatten() {
                let system = identifier["system"].as_str().map(str::to_owned);
                let value = identifier["value"].as_str().unwrap_or_default().to_owned();
                targets.systems.insert(system.clone());
                targets
                    .identifiers
                    .insert((resource_type.clone(), system, value));
            }
        }
    }
    targets
}

#[test]
fn every_reference_is_of_a_kind_the_importer_can_resolve() {
    let (dir, full) = fixture_dir();
    let files = json_files(&dir);
    let targets = full.then(|| targets(&files));
    let mut kinds = Counts::new();
    for path in &files {
        let file = name(path);
        let bundle = parse_bundle(&read(path)).unwrap_or_else(|error| panic!("{file}: {error}"));
        let full_urls: HashSet<&str> = bundle
            .entries
            .iter()
            .filter_map(|entry| entry.full_url.as_deref())
            .collect();
        for entry in &bundle.entries {
            for (element, reference) in collect_references(&entry.resource) {
                let place = format!("{file} entry {} {element}: {reference}", entry.index);
                match &reference {
                    Reference::Internal(url) => {
                        bump(&mut kinds, "internal");
                        assert!(
                            full_urls.contains(url.as_str()),
                            "{place}: no entry has that fullUrl"
                        );
                    }
                    Reference::Conditional {
                        resource_type,
                        system,
                        value,
                    } => {
                        bump(&mut kinds, "conditional");
                        assert!(system.is_some() && !value.is_empty(), "{place}");
                        if let Some(targets) = &targets {
                            let key = (resource_type.clone(), system.clone(), value.clone());
                            assert!(
                                targets.identifiers.contains(&key),
                                "{place}: nothing has that identifier"
                            );
                        }
                    }
                    Reference::Logical { system, value, .. } => {
                        bump(&mut kinds, "logical");
                        // A logical reference may name something outside any server (Media.basedOn
                        // names an imaging order of another clinic): it must resolve only when its
                        // identifier system is one the import itself uses.
                        if let Some(targets) = targets
                            .as_ref()
                            .filter(|targets| targets.systems.contains(system))
                        {
                            let found =
                                targets.identifiers.iter().any(|(_, known_system, known)| {
                                    known_system == system && known == value
                                });
                            assert!(found, "{place}: nothing has that identifier");
                        }
                    }
                    Reference::Relative { resource_type, id } => {
                        bump(&mut kinds, "relative");
                        if let Some(targets) = &targets {
                            assert!(
                                targets.ids.contains(&(resource_type.clone(), id.clone())),
                                "{place}"
                            );
                        }
                    }
                    Reference::Contained(id) => {
                        bump(&mut kinds, "contained");
                        use portal_fhir::json::{JsonContainerTrait, JsonValueTrait};
                        let contained = entry
                            .resource
                            .get("contained")
                            .and_then(|c| c.as_array())
                            .map(|c| c.as_slice())
                            .unwrap_or_default();
                        let ids: Vec<&str> = contained
                            .iter()
                            .filter_map(|inner| inner.get("id").and_then(|id| id.as_str()))
                            .collect();
                        assert!(
                            ids.contains(&id.as_str()),
                            "{place}: no such contained resource"
                        );
                    }
                    Reference::External(_) | Reference::Unsupported { .. } => {
                        panic!("{place}: the importer cannot resolve this")
                    }
                }
            }
        }
    }
    // The shapes the fixtures are known to use all turned up.
    for kind in ["internal", "conditional"] {
        assert!(
            kinds.get(kind).is_some_and(|count| *count > 0),
            "no {kind} reference in {kinds:?}"
        );
    }
    if full {
        assert!(
            kinds.get("logical").is_some_and(|count| *count > 0),
            "{kinds:?}"
        );
    }
}

#[test]
fn a_fixture_written_as_ndjson_reads_back_line_by_line() {
    let (dir, _) = fixture_dir();
    let path = json_files(&dir).into_iter().next().unwrap_or_default();
    let bundle =
        parse_bundle(&read(&path)).unwrap_or_else(|error| panic!("{}: {error}", name(&path)));
    let ndjson: String = bundle
        .entries
        .iter()
        .map(|entry| format!("{}\n", entry.resource))
        .collect();
    assert_eq!(detect(ndjson.as_bytes()), InputKind::Ndjson);
    let mut types = Counts::new();
    for (index, line) in ndjson.lines().enumerate() {
        let resource = parse_ndjson_line(line, index + 1).unwrap_or_else(|error| panic!("{error}"));
        let mapped = map_resource(&resource, None)
            .unwrap_or_else(|error| panic!("{}", error.on_line(index + 1)));
        bump(&mut types, mapped.resource_type());
    }
    let mut expected = Counts::new();
    for entry in &bundle.entries {
        bump(&mut expected, entry.resource_type());
    }
    assert_eq!(types, expected);
}

#[test]
fn hand_made_bad_bundles_are_refused_naming_entry_type_and_path() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid");
    let expected = [
        (
            "dangling-reference.json",
            "entry 1 (Condition): Condition.encounter: \"urn:uuid:9d3a7c52-1e8b-4f06-a4c9-5b2e8d7f3a64\" \
             matches no entry's fullUrl in this Bundle",
        ),
        (
            "observation-bad-date.json",
            "entry 12 (Observation): Observation.effectiveDateTime: \"2020-13-45\" is not a FHIR dateTime",
        ),
        (
            "status-not-a-string.json",
            "entry 0 (Observation): Observation.status: expected a string",
        ),
    ];
    let files: Vec<String> = json_files(&dir).iter().map(|path| name(path)).collect();
    assert_eq!(
        files,
        expected.map(|(file, _)| file.to_owned()),
        "every bad file has its expectation"
    );
    for (file, message) in expected {
        match import_check(&read(&dir.join(file))) {
            Ok(_) => panic!("{file} was accepted"),
            Err(error) => assert_eq!(error.to_string(), message, "{file}"),
        }
    }
}

#[test]
fn lucien_bosco_keeps_his_put_death_and_notes() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea/lucien-bosco.json");
    let (bundle, mapped) = import_check(&read(&path)).unwrap_or_else(|error| panic!("{error}"));
    let request = bundle.entries[0]
        .request
        .as_ref()
        .expect("a transaction entry has a request");
    assert_eq!(request.url, "Patient/85");
    assert_eq!(request.put_id(), Some("85"));
    let Mapped::Patient(patient) = &mapped[0] else {
        panic!("entry 0 is the Patient");
    };
    assert_eq!(patient.names[0].display(), "Mr. Lucien408 Bosco882 PharmD");
    assert_eq!(patient.birth_date.as_deref(), Some("1940-03-29"));
    assert_eq!(
        patient.deceased,
        Some(portal_fhir::model::Deceased::At(
            "1977-07-14T04:17:45-04:00".into()
        ))
    );
    assert_eq!(
        patient.mrn.as_deref(),
        Some("d831ec91-c7a3-4a61-9312-7ff0c4a32134")
    );
    let Mapped::DocumentReference(note) = &mapped[16] else {
        panic!("entry 16 is a DocumentReference");
    };
    let text = note.contents[0].text.as_deref().unwrap_or_default();
    assert!(
        text.starts_with("\n1940-09-06\n\n# Chief Complaint\nNo complaints."),
        "{text:?}"
    );
    let pdfs = mapped
        .iter()
        .filter_map(|resource| match resource {
            Mapped::DocumentReference(document) => Some(document),
            _ => None,
        })
        .flat_map(|document| &document.contents)
        .filter(|content| content.content_type.as_deref() == Some("application/pdf"))
        .collect::<Vec<_>>();
    assert_eq!(pdfs.len(), 1);
    assert!(pdfs[0].has_binary && pdfs[0].text.is_none());
}

/// Served as the read API will serve them, every fixture resource keeps no reference from its
/// Bundle: each `urn:uuid` of the same file points at `Type/id`, and one to nothing the file holds
/// is left without its reference text.
#[test]
fn served_resources_carry_no_bundle_reference() {
    use portal_fhir::json::{JsonContainerTrait, JsonValueTrait};
    use portal_fhir::serve::{Served, rewrite};
    let (dir, _) = fixture_dir();
    for path in json_files(&dir) {
        let bytes = read(&path);
        let bundle = portal_fhir::json::parse(&bytes).expect("a Bundle");
        let entries: Vec<&portal_fhir::json::Value> = bundle
            .get("entry")
            .and_then(|e| e.as_array())
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let mut by_full_url = std::collections::HashMap::new();
        for entry in &entries {
            let (Some(url), Some(kind), Some(id)) = (
                entry.get("fullUrl").and_then(|u| u.as_str()),
                entry
                    .pointer(["resource", "resourceType"])
                    .and_then(|t| t.as_str()),
                entry.pointer(["resource", "id"]).and_then(|i| i.as_str()),
            ) else {
                continue;
            };
            by_full_url.insert(url.to_string(), (kind.to_string(), id.to_string()));
        }
        for entry in entries {
            let Some(resource) = entry.get("resource") else {
                continue;
            };
            let mut resource = resource.clone();
            let id = resource
                .get("id")
                .and_then(|i| i.as_str())
                .map(str::to_string);
            rewrite(
                &mut resource,
                &Served {
                    id: "0190a000-0000-7000-8000-000000000001",
                    version: 1,
                    last_updated: "2026-12-05T12:00:00Z",
                    source_id: id.as_deref(),
                },
                |r| match r {
                    Reference::Internal(url) => by_full_url.get(url).cloned(),
                    _ => None,
                },
            );
            let text = resource.to_string();
            assert!(
                !text.contains("\"reference\":\"urn:"),
                "{}: a Bundle reference is left in {}",
                name(&path),
                &text[..text.len().min(200)]
            );
        }
    }
}
