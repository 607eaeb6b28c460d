//! What a proxy grant reaches today: the grant's own scope, bounded by the clinic's age rules
//! ([`AgeRules`]) unless the patient chose it themselves in their present age band, and never
//! the confidential categories the clinic keeps from proxies unless the patient shared them with
//! this proxy.

use super::age_rules::{AgeRules, ParentReach, age_on};
use super::{ProxyGrantFact, ProxyScope};
use crate::record::Categories;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// How a proxy is related to the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relationship {
    /// A parent or legal guardian.
    Parent,
    /// A caregiver (an adult child, a spouse, a paid carer).
    Caregiver,
    /// Anyone else the patient chose.
    Other,
}

impl Relationship {
    /// Every relationship, as forms offer them.
    pub const ALL: [Relationship; 3] = [
        Relationship::Parent,
        Relationship::Caregiver,
        Relationship::Other,
    ];

    /// The stable text stored with the grant.
    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Parent => "parent",
            Relationship::Caregiver => "caregiver",
            Relationship::Other => "other",
        }
    }

    /// Reads stored or typed text; anything else is "other".
    pub fn from_stored(text: &str) -> Relationship {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .unwrap_or(Relationship::Other)
    }

    /// Words for a form's choice.
    pub fn words(self) -> &'static str {
        match self {
            Relationship::Parent => "Parent or guardian",
            Relationship::Caregiver => "Caregiver",
            Relationship::Other => "Someone else I trust",
        }
    }
}

/// The clinic's rules for proxies, as the clinic keeps them: the age rules in force and the
/// confidential categories kept from proxies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRules {
    /// The age rules in force.
    pub ages: AgeRules,
    /// The categories never shown to a proxy unless the patient shares them.
    pub confidential: Categories,
    /// The clinic's time zone: a birthday starts at midnight there.
    pub zone: TimeZone,
}

/// The jurisdiction whose rules are in force until the clinic chooses another.
pub const DEFAULT_JURISDICTION: &str = "US common practice (confidential care from 12)";

impl Default for ProxyRules {
    fn default() -> Self {
        ProxyRules {
            ages: AgeRules::common_us(DEFAULT_JURISDICTION, 12),
            confidential: Categories::ALL,
            zone: TimeZone::UTC,
        }
    }
}

impl ProxyRules {
    /// The date `at` falls on in the clinic's calendar.
    pub fn date_of(&self, at: Timestamp) -> Date {
        at.to_zoned_datetime(self.zone.clone()).date()
    }

    /// What `grant` reaches at `now` for a patient born on `birth`: its scope, narrowed (or
    /// ended) by the age band the patient is in, unless the patient chose the grant in that band
    /// (`None`: nothing).
    pub fn reach(&self, grant: &ProxyGrantFact, birth: Date, now: Timestamp) -> Option<ProxyScope> {
        let today = self.date_of(now);
        let band = self.ages.band_on(birth, today)?;
        // A choice counts only in the band it was made in: a teen's full grant to a parent
        // does not outlive their 18th birthday.
        let chosen_now = grant.patient_chose_at.is_some_and(|at| {
            age_on(birth, self.date_of(at)).is_some_and(|age| age >= i64::from(band.from_age))
        });
        match self.ages.parent_reach(birth, today, chosen_now) {
            ParentReach::Full => Some(grant.scope),
            ParentReach::Limited => Some(ProxyScope::NonClinical),
            ParentReach::Ended => None,
        }
    }

    /// Whether a patient born on `birth` may hold their own account on `today` and make their
    /// own choices about proxies: from the first band in which they may widen a parent's grant.
    pub fn patient_decides(&self, birth: Date, today: Date) -> bool {
        self.ages
            .band_on(birth, today)
            .is_some_and(|band| band.patient_may_widen)
    }

    /// Whether a parent's grant made by the clinic still reaches anything for a patient born on
    /// `birth` on `today` (a parent may be given access: the patient is not an adult).
    pub fn parents_may_be_granted(&self, birth: Date, today: Date) -> bool {
        self.ages
            .band_on(birth, today)
            .is_some_and(|band| band.parent_reach != ParentReach::Ended)
    }

    /// The categories a proxy holding `grant` is not shown.
    pub fn hidden_from(&self, grant: &ProxyGrantFact) -> Categories {
        self.confidential.minus(grant.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Sensitivity;
    use jiff::civil::date;

    fn at(d: Date) -> Timestamp {
        d.to_zoned_datetime(TimeZone::UTC)
            .expect("a day")
            .timestamp()
    }

    fn grant(chose: Option<Date>) -> ProxyGrantFact {
        ProxyGrantFact {
            scope: ProxyScope::Full,
            starts_at: at(date(2014, 6, 15)),
            ends_at: None,
            revoked: false,
            relationship: Relationship::Parent,
            patient_chose_at: chose.map(at),
            shared: Categories::NONE,
        }
    }

    #[test]
    fn a_teens_choice_holds_in_its_band_and_ends_at_eighteen() {
        let rules = ProxyRules::default();
        let birth = date(2014, 6, 15);
        // Chosen at 15: full until the 18th birthday, then ended until renewed.
        let chosen = grant(Some(date(2029, 9, 1)));
        assert_eq!(
            rules.reach(&chosen, birth, at(date(2030, 1, 1))),
            Some(ProxyScope::Full)
        );
        assert_eq!(
            rules.reach(&chosen, birth, at(date(2032, 6, 14))),
            Some(ProxyScope::Full)
        );
        assert_eq!(rules.reach(&chosen, birth, at(date(2032, 6, 15))), None);
        let renewed = grant(Some(date(2032, 7, 1)));
        assert_eq!(
            rules.reach(&renewed, birth, at(date(2033, 1, 1))),
            Some(ProxyScope::Full)
        );
        // A choice made before the band began (the parent's own, at 8) widens nothing.
        let early = grant(Some(date(2022, 1, 1)));
        assert_eq!(
            rules.reach(&early, birth, at(date(2027, 1, 1))),
            Some(ProxyScope::NonClinical)
        );
    }

    #[test]
    fn the_birthday_starts_at_midnight_in_the_clinics_zone() {
        let rules = ProxyRules {
            zone: TimeZone::get("America/New_York").expect("bundled zone"),
            ..ProxyRules::default()
        };
        let birth = date(2014, 6, 15);
        // 02:00 UTC on the 15th is still the evening of the 14th in New York.
        let evening = "2026-06-15T02:00:00Z".parse().expect("a time");
        let morning = "2026-06-15T05:00:00Z".parse().expect("a time");
        assert_eq!(
            rules.reach(&grant(None), birth, evening),
            Some(ProxyScope::Full)
        );
        assert_eq!(
            rules.reach(&grant(None), birth, morning),
            Some(ProxyScope::NonClinical)
        );
    }

    #[test]
    fn shared_categories_are_shown_to_that_proxy_only() {
        let rules = ProxyRules::default();
        let mut shared = grant(None);
        shared.shared = Categories::NONE.with(Sensitivity::MentalHealth);
        assert!(
            !rules
                .hidden_from(&shared)
                .contains(Sensitivity::MentalHealth)
        );
        assert!(rules.hidden_from(&shared).contains(Sensitivity::Hiv));
        assert_eq!(rules.hidden_from(&grant(None)), Categories::ALL);
    }
}
