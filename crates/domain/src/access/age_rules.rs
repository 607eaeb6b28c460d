//! How much of a minor's record a parent's or guardian's grant reaches at each age, as data the
//! clinic keeps (issue 29): states differ (a teen's confidential care starts at 12 in one, 13 in
//! another), so each set of rules names its jurisdiction. A transition takes effect on the
//! birthday itself, computed at each request from the birth date and today's date in the
//! clinic's calendar: there is no job to run.
//!
//! Not yet consulted by the policy: the grants that carry who granted them (a teen granting a
//! parent full access, an adult renewing one) come with the rest of issue 29.

use jiff::civil::Date;

/// What a parent's or guardian's grant reaches in one age band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParentReach {
    /// Everything the patient could do (a young child).
    Full,
    /// Appointments, messages and demographics; no clinical record.
    Limited,
    /// Nothing: the patient is an adult, and only a grant they make themselves counts.
    Ended,
}

/// One age band of one jurisdiction's rules: from `from_age` (inclusive) until `until_age`
/// (exclusive; `None`: for life).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeBand {
    /// The first age of the band, in whole years.
    pub from_age: u8,
    /// The first age after it, if any.
    pub until_age: Option<u8>,
    /// What a parent's grant reaches by default.
    pub parent_reach: ParentReach,
    /// Whether the patient may give a parent full access in this band (a teen's choice).
    pub patient_may_widen: bool,
}

/// A jurisdiction's rules: its bands, covering every age from 0 without gaps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeRules {
    /// The jurisdiction they follow ("US (common practice)", "California").
    pub jurisdiction: String,
    /// The bands, youngest first.
    pub bands: Vec<AgeBand>,
}

/// Why a set of rules cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RulesError(pub String);

impl AgeRules {
    /// Common US practice: full parental access under `teen_age`; from then to 17 limited by
    /// default, the teen able to give a parent full access; at 18 a parent's grant ends unless
    /// the now-adult patient renews it.
    pub fn common_us(jurisdiction: &str, teen_age: u8) -> AgeRules {
        AgeRules {
            jurisdiction: jurisdiction.to_string(),
            bands: vec![
                AgeBand {
                    from_age: 0,
                    until_age: Some(teen_age),
                    parent_reach: ParentReach::Full,
                    patient_may_widen: false,
                },
                AgeBand {
                    from_age: teen_age,
                    until_age: Some(18),
                    parent_reach: ParentReach::Limited,
                    patient_may_widen: true,
                },
                AgeBand {
                    from_age: 18,
                    until_age: None,
                    parent_reach: ParentReach::Ended,
                    patient_may_widen: true,
                },
            ],
        }
    }

    /// Checks the bands cover every age from 0, in order, without gaps or overlaps, and end
    /// with an open band.
    pub fn check(&self) -> Result<(), RulesError> {
        if self.jurisdiction.trim().is_empty() {
            return Err(RulesError("The rules must name their jurisdiction.".into()));
        }
        let mut next = 0u8;
        for (i, band) in self.bands.iter().enumerate() {
            if band.from_age != next {
                return Err(RulesError(format!(
                    "The band starting at {} should start at {next}.",
                    band.from_age
                )));
            }
            match band.until_age {
                Some(until) if until <= band.from_age => {
                    return Err(RulesError(format!(
                        "The band from {} must end after it starts.",
                        band.from_age
                    )));
                }
                Some(until) => next = until,
                None if i + 1 == self.bands.len() => {
                    // Adults decide for themselves: only a grant they make counts.
                    if band.parent_reach != ParentReach::Ended || !band.patient_may_widen {
                        return Err(RulesError(
                            "In the last band (adults) a parent's access must be ended and the \
                             patient must decide."
                                .into(),
                        ));
                    }
                    return Ok(());
                }
                None => {
                    return Err(RulesError("Only the last band may run for life.".into()));
                }
            }
        }
        Err(RulesError("The last band must run for life.".into()))
    }

    /// The band a patient born on `birth` is in on `today`.
    pub fn band_on(&self, birth: Date, today: Date) -> Option<&AgeBand> {
        let age = age_on(birth, today)?;
        self.bands.iter().find(|b| {
            i64::from(b.from_age) <= age && b.until_age.is_none_or(|u| age < i64::from(u))
        })
    }

    /// What a parent's grant reaches on `today` for a patient born on `birth`, unless the
    /// patient widened it (`widened_by_patient`): a teen's full grant to a parent, or an
    /// adult's own renewal, counts as full where the band allows the patient that choice.
    pub fn parent_reach(&self, birth: Date, today: Date, widened_by_patient: bool) -> ParentReach {
        match self.band_on(birth, today) {
            Some(band) if widened_by_patient && band.patient_may_widen => ParentReach::Full,
            Some(band) => band.parent_reach,
            // No birth date that makes sense (born in the future): nothing is assumed.
            None => ParentReach::Ended,
        }
    }
}

/// Whole years from `birth` to `today` (a birthday counts from its first day; someone born on
/// 29 February turns a year older on 1 March in common years). `None` before the birth.
pub fn age_on(birth: Date, today: Date) -> Option<i64> {
    if today < birth {
        return None;
    }
    let mut age = i64::from(today.year()) - i64::from(birth.year());
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    Some(age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn ages_turn_on_the_birthday_and_leap_babies_on_the_first_of_march() {
        let birth = date(2014, 6, 15);
        assert_eq!(age_on(birth, date(2026, 6, 14)), Some(11));
        assert_eq!(age_on(birth, date(2026, 6, 15)), Some(12));
        let leap = date(2008, 2, 29);
        assert_eq!(age_on(leap, date(2026, 2, 28)), Some(17));
        assert_eq!(age_on(leap, date(2026, 3, 1)), Some(18));
        assert_eq!(age_on(birth, date(2013, 1, 1)), None);
    }

    #[test]
    fn a_parents_reach_changes_on_the_birthday_under_each_jurisdiction() {
        let twelve = AgeRules::common_us("US (common practice)", 12);
        let thirteen = AgeRules::common_us("Example state (13)", 13);
        assert!(twelve.check().is_ok() && thirteen.check().is_ok());
        let birth = date(2014, 6, 15);
        // The day before the 12th birthday, and the day itself.
        let (eve, day) = (date(2026, 6, 14), date(2026, 6, 15));
        assert_eq!(twelve.parent_reach(birth, eve, false), ParentReach::Full);
        assert_eq!(twelve.parent_reach(birth, day, false), ParentReach::Limited);
        assert_eq!(thirteen.parent_reach(birth, day, false), ParentReach::Full);
        // The teen may give the parent full access back.
        assert_eq!(twelve.parent_reach(birth, day, true), ParentReach::Full);
        // At 18 the parent's grant ends unless the adult renews it.
        let adult = date(2032, 6, 15);
        assert_eq!(
            twelve.parent_reach(birth, date(2032, 6, 14), false),
            ParentReach::Limited
        );
        assert_eq!(twelve.parent_reach(birth, adult, false), ParentReach::Ended);
        assert_eq!(twelve.parent_reach(birth, adult, true), ParentReach::Full);
        // A young child's parent has full access whether or not anyone "widened" it.
        assert_eq!(
            twelve.parent_reach(birth, date(2020, 1, 1), true),
            ParentReach::Full
        );
    }

    #[test]
    fn rules_with_gaps_overlaps_or_no_end_are_refused() {
        let mut rules = AgeRules::common_us("X", 12);
        rules.bands[1].from_age = 13;
        assert!(rules.check().is_err());
        let mut rules = AgeRules::common_us("X", 12);
        rules.bands[2].until_age = Some(99);
        assert!(rules.check().is_err());
        let mut rules = AgeRules::common_us("X", 12);
        rules.bands[0].until_age = None;
        assert!(rules.check().is_err());
        let mut rules = AgeRules::common_us("X", 12);
        rules.bands[2].patient_may_widen = false;
        assert!(rules.check().is_err(), "adults decide for themselves");
        let mut rules = AgeRules::common_us("X", 12);
        rules.bands[2].parent_reach = ParentReach::Limited;
        assert!(
            rules.check().is_err(),
            "a parent's reach ends with the last band"
        );
        let mut rules = AgeRules::common_us(" ", 12);
        assert!(rules.check().is_err());
        rules.jurisdiction = "X".into();
        rules.bands[1].until_age = Some(12);
        assert!(rules.check().is_err());
    }
}
