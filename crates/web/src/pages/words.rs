//! Words every page shows the same way: times, and on what basis the viewer sees a record.

use portal_domain::access::{AccessBasis, ProxyScope};

/// The words under the patient's name that say on what basis the viewer sees the record.
pub fn basis_words(access: &portal_domain::PatientAccess) -> Option<&'static str> {
    match access.basis() {
        AccessBasis::OwnRecord => None,
        AccessBasis::Proxy(ProxyScope::Full) => Some("You are viewing this record as a proxy."),
        AccessBasis::Proxy(ProxyScope::NonClinical) => {
            Some("You are viewing this record as a proxy for appointments and messages.")
        }
        AccessBasis::CareTeam => Some("On your care team."),
        AccessBasis::BreakGlass => {
            Some("Emergency (break-glass) access: every view is flagged for review.")
        }
        AccessBasis::ClinicStaff | AccessBasis::Administration | AccessBasis::Operator => {
            Some("Front-desk view: no clinical information.")
        }
        AccessBasis::SystemClient => None,
    }
}

/// Formats an audit time for people: UTC, to the minute.
pub fn minute(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M").to_string()
}

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

/// A unit as a person reads it: UCUM codes written out ("10*3/uL" → "thousand per µL",
/// "mm[Hg]" → "mmHg", "kg/m2" → "kg/m²"), annotations such as `{score}` dropped, micro as µ.
/// Words a sender chose ("mg/dL", "cells per microlitre") stay as they are.
pub fn unit_for_people(unit: &str) -> String {
    let known = match unit.trim() {
        "10*3/uL" | "10*3/mm3" | "K/uL" => Some("thousand per µL"),
        "10*6/uL" | "10*6/mm3" | "M/uL" => Some("million per µL"),
        "10*9/L" => Some("billion per L"),
        "10*12/L" => Some("trillion per L"),
        "mm[Hg]" => Some("mmHg"),
        "Cel" => Some("°C"),
        "[degF]" => Some("°F"),
        "[lb_av]" => Some("lb"),
        "[in_i]" => Some("in"),
        "[ft_i]" => Some("ft"),
        "/min" | "{beats}/min" | "{Beats}/min" => Some("per minute"),
        "{breaths}/min" | "{Breaths}/min" => Some("breaths per minute"),
        "1" | "{score}" | "{ratio}" | "{index}" => Some(""),
        _ => None,
    };
    if let Some(words) = known {
        return words.to_string();
    }
    // Annotations in braces say what is counted; the value's name says it already.
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0_u32;
    for c in unit.trim().chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("m2", "m²")
        .replace("m3", "m³")
        .replace("[IU]", "IU");
    // UCUM writes micro as "u": ug, uL, umol, uU, uIU.
    let micro: Vec<String> = out
        .split('/')
        .map(|part| match part.strip_prefix('u') {
            Some(rest) if ["g", "L", "mol", "U", "IU", "m"].contains(&rest) => format!("µ{rest}"),
            _ => part.to_string(),
        })
        .collect();
    micro.join("/").trim().trim_end_matches('/').to_string()
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
    fn ucum_codes_are_written_for_people() {
        assert_eq!(unit_for_people("10*3/uL"), "thousand per µL");
        assert_eq!(unit_for_people("mm[Hg]"), "mmHg");
        assert_eq!(unit_for_people("kg/m2"), "kg/m²");
        assert_eq!(unit_for_people("{score}"), "");
        assert_eq!(unit_for_people("mL/min/{1.73_m2}"), "mL/min");
        assert_eq!(unit_for_people("ug/dL"), "µg/dL");
        assert_eq!(unit_for_people("umol/L"), "µmol/L");
        assert_eq!(unit_for_people("Cel"), "°C");
    }

    #[test]
    fn units_people_already_read_stay() {
        for unit in [
            "mg/dL",
            "g/dL",
            "mmol/L",
            "%",
            "fL",
            "pg",
            "kg",
            "cm",
            "cells per microlitre",
        ] {
            assert_eq!(unit_for_people(unit), unit);
        }
    }
}
