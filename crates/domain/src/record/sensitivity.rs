//! Confidential categories of clinical information. An item in one of them is never shown to a
//! proxy (the access policy filters it), whatever the proxy's grant; the patient and their care
//! team see it as usual.

/// The HL7 v3 ActCode system that sensitivity security labels come from.
pub const ACT_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// A confidential category of clinical information.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sensitivity {
    /// Sexual and reproductive health, sexually transmitted infections, sexual violence.
    SexualAndReproductive,
    /// Mental and behavioural health, psychotherapy.
    MentalHealth,
    /// Alcohol and drug use (in the US, 42 CFR Part 2).
    SubstanceUse,
    /// HIV/AIDS.
    Hiv,
    /// Genetic conditions and tests.
    Genetic,
}

impl Sensitivity {
    /// Every category.
    pub const ALL: [Sensitivity; 5] = [
        Sensitivity::SexualAndReproductive,
        Sensitivity::MentalHealth,
        Sensitivity::SubstanceUse,
        Sensitivity::Hiv,
        Sensitivity::Genetic,
    ];

    /// The stable text stored with the item.
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::SexualAndReproductive => "sexual-reproductive",
            Sensitivity::MentalHealth => "mental-health",
            Sensitivity::SubstanceUse => "substance-use",
            Sensitivity::Hiv => "hiv",
            Sensitivity::Genetic => "genetic",
        }
    }

    /// Words for clinic staff.
    pub fn words(self) -> &'static str {
        match self {
            Sensitivity::SexualAndReproductive => "Sexual and reproductive health",
            Sensitivity::MentalHealth => "Mental health",
            Sensitivity::SubstanceUse => "Substance use",
            Sensitivity::Hiv => "HIV",
            Sensitivity::Genetic => "Genetic information",
        }
    }

    /// The category a security label (`meta.security`) marks, for the HL7 v3 ActCode
    /// information-sensitivity codes; `None` for other labels.
    pub fn of_security_label(system: Option<&str>, code: &str) -> Option<Self> {
        if system.is_some_and(|s| s != ACT_CODE_SYSTEM) {
            return None;
        }
        Some(match code {
            "SEX" | "STD" | "SDV" | "MST" => Sensitivity::SexualAndReproductive,
            "PSY" | "PSYTHPN" | "BH" | "MH" => Sensitivity::MentalHealth,
            "ETH" | "SUD" | "ETHUD" | "OPIOIDUD" | "ALCOHOLUD" | "DRGIS" => {
                Sensitivity::SubstanceUse
            }
            "HIV" => Sensitivity::Hiv,
            "GDIS" => Sensitivity::Genetic,
            _ => return None,
        })
    }
}

/// The confidential code lists shipped as data (`data/confidential-codes.tsv`).
const CODE_LIST: &str = include_str!("../../data/confidential-codes.tsv");

static CODES: std::sync::LazyLock<
    std::collections::HashMap<(&'static str, &'static str), Sensitivity>,
> = std::sync::LazyLock::new(|| {
    CODE_LIST
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let mut cells = line.split('\t');
            let category = cells.next()?;
            let system = cells.next()?;
            let code = cells.next()?;
            let category = Sensitivity::ALL
                .into_iter()
                .find(|s| s.as_str() == category)?;
            Some(((system, code), category))
        })
        .collect()
});

impl Sensitivity {
    /// The category the shipped code lists put `code` of `system` in, if any.
    pub fn of_code(system: &str, code: &str) -> Option<Sensitivity> {
        CODES.get(&(system, code)).copied()
    }
}

/// A set of confidential categories: those a clinic keeps from proxies, or those a patient
/// shares with one proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Categories(u8);

impl Categories {
    /// No category.
    pub const NONE: Categories = Categories(0);
    /// Every category.
    pub const ALL: Categories = Categories(0b1_1111);

    fn bit(s: Sensitivity) -> u8 {
        1 << (Sensitivity::ALL.iter().position(|c| *c == s).unwrap_or(0) as u8)
    }

    /// Whether `s` is in the set.
    pub fn contains(self, s: Sensitivity) -> bool {
        self.0 & Self::bit(s) != 0
    }

    /// The set with `s` added.
    pub fn with(self, s: Sensitivity) -> Categories {
        Categories(self.0 | Self::bit(s))
    }

    /// What is in this set and not in `other`.
    pub fn minus(self, other: Categories) -> Categories {
        Categories(self.0 & !other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the two sets share a category.
    pub fn intersects(self, other: Categories) -> bool {
        self.0 & other.0 != 0
    }

    /// An item's stored categories (comma-separated). A name this version does not know reads
    /// as every category, so an item a newer version marked is hidden wherever any is.
    pub fn of_item(text: &str) -> Categories {
        let mut set = Categories::NONE;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Sensitivity::ALL.into_iter().find(|s| s.as_str() == name) {
                Some(s) => set = set.with(s),
                None => return Categories::ALL,
            }
        }
        set
    }

    /// The categories in the set, in [`Sensitivity::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Sensitivity> {
        Sensitivity::ALL
            .into_iter()
            .filter(move |s| self.contains(*s))
    }

    /// The stored text: the categories' names, comma-separated.
    pub fn to_stored(self) -> String {
        self.iter()
            .map(Sensitivity::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads stored text; names not known are left out (what is *shared* never grows from a
    /// value a newer version wrote).
    pub fn from_stored(text: &str) -> Categories {
        text.split(',')
            .map(str::trim)
            .filter_map(|name| Sensitivity::ALL.into_iter().find(|s| s.as_str() == name))
            .fold(Categories::NONE, Categories::with)
    }
}

impl FromIterator<Sensitivity> for Categories {
    fn from_iter<I: IntoIterator<Item = Sensitivity>>(iter: I) -> Self {
        iter.into_iter().fold(Categories::NONE, Categories::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_sets_read_back_and_ignore_unknown_names() {
        let set: Categories = [Sensitivity::Hiv, Sensitivity::MentalHealth]
            .into_iter()
            .collect();
        assert_eq!(set.to_stored(), "mental-health,hiv");
        assert_eq!(Categories::from_stored(&set.to_stored()), set);
        assert_eq!(
            Categories::from_stored("hiv, later-category"),
            Categories::NONE.with(Sensitivity::Hiv)
        );
        assert_eq!(Categories::from_stored(""), Categories::NONE);
        assert_eq!(Categories::of_item("hiv,genetic").iter().count(), 2);
        assert_eq!(
            Categories::of_item("hiv,from-a-newer-version"),
            Categories::ALL
        );
        assert_eq!(Categories::of_item(""), Categories::NONE);
        assert!(set.intersects(Categories::NONE.with(Sensitivity::Hiv)));
        assert!(!set.intersects(Categories::NONE.with(Sensitivity::Genetic)));
        assert_eq!(Categories::ALL.iter().count(), Sensitivity::ALL.len());
        assert!(Categories::ALL.minus(set).contains(Sensitivity::Genetic));
        assert!(!Categories::ALL.minus(set).contains(Sensitivity::Hiv));
    }

    #[test]
    fn every_category_reads_back_and_unknown_text_stays_sensitive() {
        for s in Sensitivity::ALL {
            assert_eq!(Categories::of_item(s.as_str()), Categories::NONE.with(s));
            assert!(!s.words().is_empty());
        }
        assert_eq!(Categories::of_item(""), Categories::NONE);
        assert_eq!(Categories::of_item("future-category"), Categories::ALL);
    }

    #[test]
    fn the_shipped_code_lists_read_whole() {
        let lines = CODE_LIST
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        assert_eq!(
            CODES.len(),
            lines,
            "every line names a known category, once"
        );
        assert_eq!(
            Sensitivity::of_code("http://snomed.info/sct", "370143000"),
            Some(Sensitivity::MentalHealth)
        );
        assert_eq!(
            Sensitivity::of_code("http://loinc.org", "82667-7"),
            Some(Sensitivity::SubstanceUse)
        );
        assert_eq!(Sensitivity::of_code("http://loinc.org", "2339-0"), None);
        assert_eq!(
            Sensitivity::of_code("http://snomed.info/sct", "82667-7"),
            None
        );
    }

    #[test]
    fn security_labels_mark_categories() {
        assert_eq!(
            Sensitivity::of_security_label(Some(ACT_CODE_SYSTEM), "PSY"),
            Some(Sensitivity::MentalHealth)
        );
        assert_eq!(
            Sensitivity::of_security_label(None, "ETH"),
            Some(Sensitivity::SubstanceUse)
        );
        assert_eq!(
            Sensitivity::of_security_label(Some("http://example.org/labels"), "PSY"),
            None
        );
        // Confidentiality levels (R, V) are not categories.
        assert_eq!(
            Sensitivity::of_security_label(Some(ACT_CODE_SYSTEM), "R"),
            None
        );
    }
}
