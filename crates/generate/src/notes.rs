//! The short plain-text clinical note written at the end of each encounter, from what happened
//! in it, and the base64 that carries it in a DocumentReference.

use std::fmt::Write as _;

/// What happened in an encounter, gathered while its resources are written.
#[derive(Debug, Default)]
pub struct Note {
    /// Why the patient came.
    pub complaint: String,
    /// "blood pressure 128/82 mm[Hg]" and the like.
    pub vitals: Vec<String>,
    /// Conditions diagnosed.
    pub diagnoses: Vec<&'static str>,
    /// Allergies recorded.
    pub allergies: Vec<&'static str>,
    /// Medicines started or renewed.
    pub prescribed: Vec<&'static str>,
    /// Medicines stopped.
    pub stopped: Vec<&'static str>,
    /// Vaccines given.
    pub immunizations: Vec<&'static str>,
    /// Procedures done.
    pub procedures: Vec<&'static str>,
    /// Panels ordered.
    pub panels: Vec<&'static str>,
    /// Results outside their reference range.
    pub abnormal: Vec<String>,
}

/// Who and when, for the note's header.
#[derive(Debug)]
pub struct Header<'a> {
    /// Date of the encounter.
    pub date: String,
    /// The encounter type.
    pub title: &'a str,
    /// "Maria Lopez, 47-year-old female".
    pub patient: String,
    /// "Dr. Anna Alvarez, Boston Family Medicine".
    pub author: String,
}

/// A coded name as a clinician writes it in a note: without the SNOMED CT semantic tag that
/// the coding's display carries ("Hyperlipidemia (disorder)" → "Hyperlipidemia").
fn written(name: &str) -> &str {
    match name.rsplit_once(" (") {
        Some((words, tag))
            if tag.ends_with(')')
                && tag[..tag.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == ' ' || c == '/') =>
        {
            words
        }
        _ => name,
    }
}

/// A list of coded names as written in a note.
fn written_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| written(n))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Note {
    /// The note as plain text.
    pub fn render(&self, header: &Header) -> String {
        let mut text = String::with_capacity(512);
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{} - {}\n", header.date, written(header.title));
        let _ = writeln!(text, "Patient: {}.", header.patient);
        let _ = writeln!(text, "Clinician: {}.\n", header.author);
        let _ = writeln!(text, "Chief complaint: {}\n", self.complaint);
        if !self.vitals.is_empty() {
            let _ = writeln!(text, "Vital signs: {}.\n", self.vitals.join("; "));
        }
        if !self.allergies.is_empty() {
            let _ = writeln!(
                text,
                "Allergies recorded: {}.\n",
                written_list(&self.allergies)
            );
        }
        text.push_str("Assessment:\n");
        if self.diagnoses.is_empty() {
            text.push_str("- No new problems.\n");
        }
        for diagnosis in &self.diagnoses {
            let _ = writeln!(text, "- {}", written(diagnosis));
        }
        text.push_str("\nPlan:\n");
        let lists = [
            ("Prescribed", &self.prescribed),
            ("Stopped", &self.stopped),
            ("Immunizations given", &self.immunizations),
            ("Procedures", &self.procedures),
            ("Labs", &self.panels),
        ];
        let mut any = false;
        for (label, items) in lists {
            if !items.is_empty() {
                any = true;
                let _ = writeln!(text, "- {label}: {}.", written_list(items));
            }
        }
        if !any {
            text.push_str("- Supportive care; return if symptoms worsen.\n");
        }
        if !self.abnormal.is_empty() {
            let _ = writeln!(text, "\nResults to note: {}.", self.abnormal.join("; "));
        }
        text
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648), as FHIR `base64Binary` wants.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn a_note_names_what_was_done() {
        let note = Note {
            complaint: "Annual physical examination.".into(),
            vitals: vec!["heart rate 72 /min".into()],
            diagnoses: vec!["Essential hypertension (disorder)"],
            prescribed: vec!["lisinopril 10 MG Oral Tablet"],
            abnormal: vec!["Glucose 112 mg/dL (High)".into()],
            ..Note::default()
        };
        let text = note.render(&Header {
            date: "2024-03-05".into(),
            title: "General examination of patient (procedure)",
            patient: "Maria Lopez, 47-year-old female".into(),
            author: "Dr. Anna Alvarez, Boston Family Medicine".into(),
        });
        assert!(text.starts_with("2024-03-05 - General examination"));
        // Written as a clinician writes: no terminology tags.
        assert!(text.contains("- Essential hypertension\n"), "{text}");
        assert!(
            !text.contains("(disorder)") && !text.contains("(procedure)"),
            "{text}"
        );
        assert!(text.contains("- Prescribed: lisinopril 10 MG Oral Tablet."));
        assert!(text.contains("Results to note: Glucose 112 mg/dL (High)."));
        assert!(text.is_ascii());
    }
}
