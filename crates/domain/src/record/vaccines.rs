//! Which vaccines are due, from the immunizations the record holds.

use jiff::{SignedDuration, Timestamp};

/// CVX codes of the influenza vaccines, given every year.
pub const YEARLY_FLU_VACCINES: &[&str] = &[
    "140", "141", "150", "153", "155", "158", "161", "185", "186", "197",
];

/// Whether the yearly flu vaccine is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FluVaccine {
    /// Given within the last year.
    UpToDate,
    /// Last given more than a year ago.
    Due {
        /// When it was last given.
        last_given: Timestamp,
    },
    /// The record holds no flu vaccine: the clinic should be asked.
    NoneRecorded,
}

/// The flu vaccine's state at `now`, from the (CVX code, date given) of each immunization.
pub fn flu_vaccine<'a>(
    given: impl IntoIterator<Item = (&'a str, Option<Timestamp>)>,
    now: Timestamp,
) -> FluVaccine {
    let last = given
        .into_iter()
        .filter(|(code, _)| YEARLY_FLU_VACCINES.contains(code))
        .filter_map(|(_, at)| at)
        .max();
    match last {
        Some(at) if now.duration_since(at) > SignedDuration::from_hours(365 * 24) => {
            FluVaccine::Due { last_given: at }
        }
        Some(_) => FluVaccine::UpToDate,
        None => FluVaccine::NoneRecorded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + n * 86_400).expect("valid")
    }

    #[test]
    fn a_flu_vaccine_is_due_a_year_after_the_last() {
        assert_eq!(
            flu_vaccine([("140", Some(day(0)))], day(100)),
            FluVaccine::UpToDate
        );
        assert_eq!(
            flu_vaccine([("140", Some(day(0))), ("150", Some(day(-400)))], day(366)),
            FluVaccine::Due { last_given: day(0) }
        );
    }

    #[test]
    fn other_vaccines_do_not_count() {
        assert_eq!(
            flu_vaccine([("08", Some(day(0))), ("140", None)], day(1)),
            FluVaccine::NoneRecorded
        );
    }
}
