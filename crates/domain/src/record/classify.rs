//! Which items are test results, which are notes, and which problems and medicines are current.

use super::ItemKind;

/// Observation categories that are test results (the others, such as vital signs, social history
/// and surveys, are shown elsewhere). An observation with no category counts as a result.
pub const RESULT_CATEGORIES: &[&str] = &["laboratory", "imaging", "procedure", "clinical-test", ""];

/// The category given at import to a DiagnosticReport that is a clinical note, not a result.
pub const NOTE_CATEGORY: &str = "note";

/// DiagnosticReport categories that are clinical notes, not results: [`NOTE_CATEGORY`] and the
/// LOINC note types senders use as a report's category.
pub const NOTE_REPORT_CATEGORIES: &[&str] = &[
    NOTE_CATEGORY,
    "34117-2",
    "11506-3",
    "18842-5",
    "11488-4",
    "28570-0",
    "34746-8",
    "57133-1",
];

/// The observation category of vital signs.
pub const VITAL_SIGNS: &str = "vital-signs";

/// Whether an item is a test result (not a vital sign, survey or note).
pub fn is_result(kind: ItemKind, category: &str) -> bool {
    match kind {
        ItemKind::DiagnosticReport => !NOTE_REPORT_CATEGORIES.contains(&category),
        ItemKind::Observation => RESULT_CATEGORIES.contains(&category),
        _ => false,
    }
}

/// Whether an item is a clinical note sent as a report.
pub fn is_note_report(kind: ItemKind, category: &str) -> bool {
    kind == ItemKind::DiagnosticReport && NOTE_REPORT_CATEGORIES.contains(&category)
}

/// Whether an incoming report is a note rather than results: it lists no results and carries
/// text (as Synthea's history-and-physical, progress and discharge notes do).
pub fn report_is_note(lists_results: bool, has_text: bool) -> bool {
    !lists_results && has_text
}

/// Whether a prescription is current (FHIR MedicationRequest status).
pub fn is_active_medication(status: &str) -> bool {
    matches!(status, "active" | "on-hold" | "draft")
}

/// Whether a problem is current (FHIR Condition clinical status).
pub fn is_active_condition(status: &str) -> bool {
    matches!(status, "active" | "recurrence" | "relapse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_and_uncategorised_observations_are_results_vitals_are_not() {
        assert!(is_result(ItemKind::Observation, "laboratory"));
        assert!(is_result(ItemKind::Observation, ""));
        assert!(!is_result(ItemKind::Observation, VITAL_SIGNS));
        assert!(!is_result(ItemKind::Observation, "survey"));
        assert!(!is_result(ItemKind::Condition, "laboratory"));
    }

    #[test]
    fn reports_are_results_unless_they_are_notes() {
        assert!(is_result(ItemKind::DiagnosticReport, "LAB"));
        assert!(!is_result(ItemKind::DiagnosticReport, NOTE_CATEGORY));
        assert!(!is_result(ItemKind::DiagnosticReport, "34117-2"));
        assert!(is_note_report(ItemKind::DiagnosticReport, "11506-3"));
        assert!(!is_note_report(ItemKind::Observation, NOTE_CATEGORY));
    }

    #[test]
    fn a_report_with_text_and_no_results_is_a_note() {
        assert!(report_is_note(false, true));
        assert!(!report_is_note(true, true));
        assert!(!report_is_note(false, false));
    }

    #[test]
    fn current_medicines_and_problems() {
        assert!(is_active_medication("on-hold"));
        assert!(!is_active_medication("stopped"));
        assert!(is_active_condition("relapse"));
        assert!(!is_active_condition("resolved"));
        assert!(!is_active_condition(""));
    }
}
