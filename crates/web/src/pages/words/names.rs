//! Names as people read them: coded names without terminology tags, short names for common lab
//! tests (a table shipped as data), drug names without registry prefixes, places in normal case.

use std::collections::HashMap;
use std::sync::LazyLock;

/// SNOMED CT's semantic tags, which senders leave on display names: "(disorder)" tells a
/// terminologist what kind of concept it is and tells a patient nothing.
const SEMANTIC_TAGS: &[&str] = &[
    "disorder",
    "finding",
    "substance",
    "procedure",
    "situation",
    "qualifier value",
    "observable entity",
    "regime/therapy",
    "morphologic abnormality",
    "body structure",
    "event",
    "person",
    "product",
    "medicinal product",
    "clinical drug",
    "physical object",
    "record artifact",
    "environment",
    "organism",
];

/// Text with the SNOMED CT semantic tags that coded names carried into it taken out ("is
/// presenting with hyperlipidemia (disorder)." → "is presenting with hyperlipidemia."), as in
/// notes written from coded data. Other brackets stay.
pub fn without_semantic_tags(text: &str) -> String {
    let mut out = text.to_string();
    for tag in SEMANTIC_TAGS {
        let marked = format!(" ({tag})");
        if out.contains(&marked) {
            out = out.replace(&marked, "");
        }
    }
    out
}

/// A coded name as a person reads it: without a trailing SNOMED semantic tag
/// ("Anemia (disorder)" → "Anemia"). The rest of the name is shown as sent.
pub fn plain_name(name: &str) -> String {
    let trimmed = name.trim_end();
    if let Some(open) = trimmed.rfind(" (")
        && let Some(tag) = trimmed[open + 2..].strip_suffix(')')
        && SEMANTIC_TAGS.contains(&tag)
        && open > 0
    {
        return trimmed[..open].trim_end().to_string();
    }
    trimmed.to_string()
}

/// LOINC's system URI.
const LOINC: &str = "http://loinc.org";

/// The short names of common lab tests and vital signs, keyed by LOINC code
/// (`crates/web/data/lab-names.tsv`).
static LAB_NAMES: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| parse_name_table(include_str!("../../../data/lab-names.tsv")));

/// Names people use for vaccines, keyed by CVX code (`crates/web/data/vaccine-names.tsv`).
static VACCINE_NAMES: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| parse_name_table(include_str!("../../../data/vaccine-names.tsv")));

/// CVX's system URI.
const CVX: &str = "http://hl7.org/fhir/sid/cvx";

/// The name people use for a vaccine ("Flu vaccine" for every yearly flu product).
pub fn vaccine_name(code_system: &str, code: &str) -> Option<&'static str> {
    (code_system == CVX)
        .then(|| VACCINE_NAMES.get(code).copied())
        .flatten()
}

/// Reads a table of `code<TAB>name` lines; `#` starts a comment line.
fn parse_name_table(text: &'static str) -> HashMap<&'static str, &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('\t'))
        .map(|(code, name)| (code.trim(), name.trim()))
        .collect()
}

/// The short name people know a test by ("White blood cells" for LOINC 6690-2), if the
/// table has one.
pub fn short_test_name(code_system: &str, code: &str) -> Option<&'static str> {
    (code_system == LOINC)
        .then(|| LAB_NAMES.get(code).copied())
        .flatten()
}

/// The LOINC codes of the tests whose short name contains `text` (case-insensitive), so a
/// search finds a test by the name the portal shows as well as the name the record sent.
pub fn tests_named(text: &str) -> Vec<&'static str> {
    let text = text.trim().to_lowercase();
    if text.is_empty() {
        return Vec::new();
    }
    let mut codes: Vec<&'static str> = LAB_NAMES
        .iter()
        .filter(|(_, name)| name.to_lowercase().contains(&text))
        .map(|(code, _)| *code)
        .collect();
    codes.sort_unstable();
    codes
}

/// Whether a label is only a code and its system ("8302-2 (http://loinc.org)"): what a concept
/// without words falls back to, never something to show a person.
fn is_code_only(label: &str) -> bool {
    label.ends_with(')')
        && (label.contains("(http://") || label.contains("(https://") || label.contains("(urn:"))
}

/// The name of an item as a person reads it, or `None` when the record sent no words for it.
pub fn name_words(label: &str) -> Option<String> {
    let label = label.trim();
    if label.is_empty() || is_code_only(label) {
        return None;
    }
    Some(plain_name(label))
}

/// A drug's name without the registry prefix some senders put first
/// ("NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector" → "0.3 ML Epinephrine 1 MG/ML
/// Auto-Injector").
pub fn medication_name(name: &str) -> String {
    let name = plain_name(name);
    let mut words = name.split_whitespace();
    let first = words.next().unwrap_or_default();
    let is_registry = ["NDA", "ANDA", "BLA"].iter().any(|prefix| {
        first
            .strip_prefix(prefix)
            .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
    });
    if is_registry {
        let rest = words.collect::<Vec<_>>().join(" ");
        if !rest.is_empty() {
            return rest;
        }
    }
    name
}

/// Short words kept in capitals when a name sent in capitals is put in normal case.
const KEPT_CAPITALS: &[&str] = &[
    "LLC", "PC", "PLLC", "MD", "DO", "NP", "PA", "RN", "USA", "US", "UMASS", "MA", "II", "III",
    "IV", "VA", "YMCA", "ER",
];

/// Small words written in lower case inside a name.
const SMALL_WORDS: &[&str] = &["of", "and", "the", "for", "at", "in", "on"];

/// The name of a place or organisation as people write it: normal case when it was sent in
/// capitals ("CAPE COD HOSPITAL INC" → "Cape Cod Hospital Inc"); `None` for an internal code
/// ("PCP87052"), which tells a patient nothing. Names in mixed case are shown as sent: the
/// display never rewrites a person's name.
pub fn place_name(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() || is_internal_code(name) {
        return None;
    }
    if name.chars().any(char::is_lowercase) {
        return Some(name.to_string());
    }
    let words: Vec<String> = name
        .split_whitespace()
        .enumerate()
        .map(|(i, word)| {
            let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
            if KEPT_CAPITALS.contains(&bare) {
                return word.to_string();
            }
            let lower = word.to_lowercase();
            if i > 0 && SMALL_WORDS.contains(&lower.as_str()) {
                return lower;
            }
            capitalise_parts(&lower)
        })
        .collect();
    Some(words.join(" "))
}

/// "o'brien-smith" → "O'Brien-Smith": a capital after the start, a hyphen or an apostrophe.
fn capitalise_parts(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut start = true;
    for c in word.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
            start = false;
        } else {
            out.push(c);
            if c == '-' || c == '\'' || c == '/' || c == '(' {
                start = true;
            }
        }
    }
    out
}

/// One word of capitals and digits, such as a sender's provider code ("PCP87052").
fn is_internal_code(name: &str) -> bool {
    !name.contains(char::is_whitespace)
        && name.chars().any(|c| c.is_ascii_digit())
        && name.chars().any(|c| c.is_alphabetic())
        && !name.chars().any(char::is_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_tags_are_stripped_and_other_brackets_kept() {
        assert_eq!(plain_name("Anemia (disorder)"), "Anemia");
        assert_eq!(plain_name("Stress (finding) "), "Stress");
        assert_eq!(
            plain_name("Full-time employment (qualifier value)"),
            "Full-time employment"
        );
        assert_eq!(plain_name("Hepatitis (B)"), "Hepatitis (B)");
        assert_eq!(plain_name("(disorder)"), "(disorder)");
        assert_eq!(plain_name("Asthma"), "Asthma");
    }

    #[test]
    fn common_tests_have_short_names_and_others_keep_theirs() {
        assert_eq!(short_test_name(LOINC, "6690-2"), Some("White blood cells"));
        assert_eq!(short_test_name(LOINC, "85354-9"), Some("Blood pressure"));
        assert_eq!(short_test_name("http://snomed.info/sct", "6690-2"), None);
        assert_eq!(short_test_name(LOINC, "0000-0"), None);
    }

    #[test]
    fn searches_find_tests_by_their_short_name() {
        assert!(tests_named("white blood").contains(&"6690-2"));
        assert!(tests_named("HEMOGLOBIN").contains(&"718-7"));
        assert!(tests_named("  ").is_empty());
        assert!(tests_named("no such test").is_empty());
    }

    #[test]
    fn the_name_table_is_well_formed() {
        let text = include_str!("../../../data/lab-names.tsv");
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (code, name) = line.split_once('\t').expect("a tab between code and name");
            let (number, check) = code
                .split_once('-')
                .expect("a LOINC code has a check digit");
            assert!(number.chars().all(|c| c.is_ascii_digit()), "{line}");
            assert!(
                check.len() == 1 && check.chars().all(|c| c.is_ascii_digit()),
                "{line}"
            );
            assert!(!name.trim().is_empty(), "{line}");
        }
    }

    #[test]
    fn vaccines_are_named_as_people_say_them() {
        assert_eq!(vaccine_name(CVX, "140"), Some("Flu vaccine"));
        assert_eq!(vaccine_name(CVX, "150"), Some("Flu vaccine"));
        assert_eq!(vaccine_name(CVX, "08"), Some("Hepatitis B vaccine"));
        assert_eq!(vaccine_name(LOINC, "140"), None);
        let text = include_str!("../../../data/vaccine-names.tsv");
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (code, name) = line.split_once('\t').expect("a tab between code and name");
            assert!(code.chars().all(|c| c.is_ascii_digit()), "{line}");
            assert!(!name.trim().is_empty(), "{line}");
        }
    }

    #[test]
    fn notes_lose_the_tags_coded_names_brought_in() {
        assert_eq!(
            without_semantic_tags("Seen for hyperlipidemia (disorder) and stress (finding)."),
            "Seen for hyperlipidemia and stress."
        );
        assert_eq!(
            without_semantic_tags("Hepatitis (B) screen"),
            "Hepatitis (B) screen"
        );
    }

    #[test]
    fn code_only_labels_are_not_names() {
        assert_eq!(name_words("8302-2 (http://loinc.org)"), None);
        assert_eq!(name_words("  "), None);
        assert_eq!(name_words("Latex (substance)"), Some("Latex".into()));
    }

    #[test]
    fn drug_names_lose_registry_prefixes() {
        assert_eq!(
            medication_name("NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector"),
            "0.3 ML Epinephrine 1 MG/ML Auto-Injector"
        );
        assert_eq!(
            medication_name("Simvastatin 10 MG Oral Tablet"),
            "Simvastatin 10 MG Oral Tablet"
        );
        assert_eq!(medication_name("NDAlike name"), "NDAlike name");
    }

    #[test]
    fn places_in_capitals_are_put_in_normal_case_and_codes_hidden() {
        assert_eq!(
            place_name("CAPE COD HOSPITAL INC").as_deref(),
            Some("Cape Cod Hospital Inc")
        );
        assert_eq!(
            place_name("DR JOHN C CORRIGAN MENTAL HEALTH CENTER").as_deref(),
            Some("Dr John C Corrigan Mental Health Center")
        );
        assert_eq!(
            place_name("UMASS MEMORIAL MEDICAL CENTER OF WORCESTER, LLC").as_deref(),
            Some("UMASS Memorial Medical Center of Worcester, LLC")
        );
        assert_eq!(place_name("PCP87052"), None);
        // Mixed case is a name as its owner writes it, digits and all.
        assert_eq!(
            place_name("Dr. Gonzalo160 Ureña88").as_deref(),
            Some("Dr. Gonzalo160 Ureña88")
        );
    }
}
