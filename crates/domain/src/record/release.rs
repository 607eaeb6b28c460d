//! When results reach the patient: the clinic's holds by category, and what a held report means
//! for the results it lists.

use super::ItemKind;
use jiff::{SignedDuration, Timestamp};

/// The clinic's rule for one result category: hold its results for some days, or until a
/// clinician releases them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The category code (e.g. "laboratory", "PAT").
    pub category: String,
    /// Days to hold; `None`: until a clinician releases.
    pub days: Option<i64>,
}

/// The longest hold a clinic may set, in days.
pub const MAX_HOLD_DAYS: i64 = 365;

/// When an item imported at `now` reaches the patient: now for anything that is not a result
/// or report, or whose category no hold names; `None` while a clinician must release it.
pub fn release_time(
    kind: ItemKind,
    category: &str,
    holds: &[Hold],
    now: Timestamp,
) -> Option<Timestamp> {
    if !ItemKind::RESULTS.contains(&kind) {
        return Some(now);
    }
    let family = category_family(category);
    match holds
        .iter()
        .find(|hold| category_family(&hold.category) == family)
    {
        None => Some(now),
        Some(Hold { days: None, .. }) => None,
        Some(Hold {
            days: Some(days), ..
        }) => Some(
            now.checked_add(SignedDuration::from_hours(days.saturating_mul(24)))
                .unwrap_or(Timestamp::MAX),
        ),
    }
}

/// The family of a result category, so that one rule covers what senders code two ways: FHIR
/// Observations say `laboratory` where DiagnosticReports say `LAB` (HL7 v2 table 0074), or a
/// lab section such as `HM` (hematology). Unknown codes are their own family, in lower case.
pub fn category_family(category: &str) -> String {
    let code = category.trim();
    let family = match code.to_ascii_uppercase().as_str() {
        "LABORATORY" | "LAB" | "CH" | "HM" | "MB" | "MCB" | "SR" | "IMM" | "BLB" | "VR" | "TX"
        | "URN" | "CG" | "HEM" => "laboratory",
        "IMAGING" | "RAD" | "CT" | "NMR" | "NMS" | "RUS" | "VUS" | "CUS" | "OUS" | "XRC" | "RX" => {
            "imaging"
        }
        "PATHOLOGY" | "PAT" | "SP" | "CP" => "pathology",
        _ => return code.to_ascii_lowercase(),
    };
    family.to_string()
}

/// Whether an item released at `released_at` (`None`: held) is visible to the patient at `now`.
pub fn is_released(released_at: Option<Timestamp>, now: Timestamp) -> bool {
    released_at.is_some_and(|at| at <= now)
}

/// A report is released no sooner than any result it lists (its conclusion is written from
/// them); `None` for either means held.
pub fn report_release(
    report: Option<Timestamp>,
    results: impl IntoIterator<Item = Option<Timestamp>>,
) -> Option<Timestamp> {
    results
        .into_iter()
        .try_fold(report?, |latest, result| Some(latest.max(result?)))
}

/// Whether a result is out before the rest of its panel: it is an observation whose report is
/// still held.
pub fn is_pending_panel(kind: ItemKind, report_held: bool) -> bool {
    kind == ItemKind::Observation && report_held
}

/// Checks a category code and a number of days an admin enters for a hold; the message names
/// the field.
pub fn check_hold(category: &str, days: Option<i64>) -> Result<Hold, String> {
    let category = category.trim();
    if category.is_empty()
        || category.len() > 64
        || !category
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(
            "Category: enter a category code such as laboratory or PAT (letters, digits, - _ .)."
                .into(),
        );
    }
    if days.is_some_and(|d| !(1..=MAX_HOLD_DAYS).contains(&d)) {
        return Err(
            "Days: enter a whole number from 1 to 365, or leave it empty to hold until a clinician releases."
                .into(),
        );
    }
    Ok(Hold {
        category: category.to_string(),
        days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_and_results_of_one_kind_share_a_family() {
        assert_eq!(category_family("LAB"), "laboratory");
        assert_eq!(category_family("laboratory"), "laboratory");
        assert_eq!(category_family("HM"), "laboratory");
        assert_eq!(category_family("PAT"), "pathology");
        assert_eq!(category_family("RAD"), "imaging");
        assert_eq!(category_family("Genetics"), "genetics");
        // A hold on the results' code holds the report sent with the v2 code, and the other way.
        let lab = [Hold {
            category: "laboratory".into(),
            days: None,
        }];
        assert_eq!(
            release_time(ItemKind::DiagnosticReport, "LAB", &lab, now()),
            None
        );
        let v2 = [Hold {
            category: "LAB".into(),
            days: None,
        }];
        assert_eq!(
            release_time(ItemKind::Observation, "laboratory", &v2, now()),
            None
        );
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("valid")
    }

    fn holds() -> Vec<Hold> {
        vec![
            Hold {
                category: "PAT".into(),
                days: None,
            },
            Hold {
                category: "laboratory".into(),
                days: Some(3),
            },
        ]
    }

    #[test]
    fn unheld_categories_and_other_kinds_are_released_at_once() {
        let now = now();
        assert_eq!(
            release_time(ItemKind::Observation, "imaging", &holds(), now),
            Some(now)
        );
        assert_eq!(
            release_time(ItemKind::Condition, "PAT", &holds(), now),
            Some(now)
        );
    }

    #[test]
    fn held_categories_wait_for_days_or_a_clinician() {
        let now = now();
        assert_eq!(
            release_time(ItemKind::DiagnosticReport, "PAT", &holds(), now),
            None
        );
        assert_eq!(
            release_time(ItemKind::Observation, "laboratory", &holds(), now),
            Some(now + SignedDuration::from_hours(72))
        );
    }

    #[test]
    fn released_means_a_time_that_has_come() {
        let now = now();
        assert!(is_released(Some(now), now));
        assert!(!is_released(Some(now + SignedDuration::from_secs(1)), now));
        assert!(!is_released(None, now));
    }

    #[test]
    fn a_report_waits_for_its_latest_result() {
        let now = now();
        let later = now + SignedDuration::from_hours(1);
        assert_eq!(report_release(Some(now), [Some(later)]), Some(later));
        assert_eq!(report_release(Some(later), [Some(now)]), Some(later));
        assert_eq!(report_release(Some(now), [Some(now), None]), None);
        assert_eq!(report_release(None, []), None);
    }

    #[test]
    fn only_results_can_be_ahead_of_their_panel() {
        assert!(is_pending_panel(ItemKind::Observation, true));
        assert!(!is_pending_panel(ItemKind::Observation, false));
        assert!(!is_pending_panel(ItemKind::DiagnosticReport, true));
    }

    #[test]
    fn hold_input_is_checked_field_by_field() {
        assert_eq!(
            check_hold(" PAT ", Some(2)),
            Ok(Hold {
                category: "PAT".into(),
                days: Some(2)
            })
        );
        assert!(check_hold("", None).is_err_and(|e| e.starts_with("Category")));
        assert!(check_hold("a b", None).is_err_and(|e| e.starts_with("Category")));
        assert!(check_hold("lab", Some(0)).is_err_and(|e| e.starts_with("Days")));
        assert!(check_hold("lab", Some(366)).is_err_and(|e| e.starts_with("Days")));
    }
}
