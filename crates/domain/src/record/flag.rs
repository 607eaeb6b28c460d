//! Abnormal flags on results: what the sender or the reference range says of a value.

/// How a result compares with normal. Stored as its [`Flag::code`] (HL7 v3
/// ObservationInterpretation codes, "" for none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Flag {
    /// No interpretation and no range to compare with.
    #[default]
    None,
    /// Within the normal range (`N`).
    Normal,
    /// Below the range (`L`).
    Low,
    /// Above the range (`H`).
    High,
    /// Critically low (`LL`).
    CriticalLow,
    /// Critically high (`HH`).
    CriticalHigh,
    /// Abnormal, with no direction (`A`: positive, detected, resistant …).
    Abnormal,
    /// Critically abnormal (`AA`).
    CriticalAbnormal,
}

impl Flag {
    /// Every flag.
    pub const ALL: [Flag; 8] = [
        Flag::None,
        Flag::Normal,
        Flag::Low,
        Flag::High,
        Flag::CriticalLow,
        Flag::CriticalHigh,
        Flag::Abnormal,
        Flag::CriticalAbnormal,
    ];

    /// The stored code ("" for none).
    pub fn code(self) -> &'static str {
        match self {
            Flag::None => "",
            Flag::Normal => "N",
            Flag::Low => "L",
            Flag::High => "H",
            Flag::CriticalLow => "LL",
            Flag::CriticalHigh => "HH",
            Flag::Abnormal => "A",
            Flag::CriticalAbnormal => "AA",
        }
    }

    /// Reads a stored code; anything unknown is no flag.
    pub fn from_code(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|flag| flag.code() == code)
            .unwrap_or_default()
    }

    /// The flag an HL7 v3 ObservationInterpretation code stands for, or `None` for codes that
    /// say nothing about normal (e.g. `B` better, `IND` indeterminate).
    pub fn from_interpretation(code: &str) -> Option<Self> {
        Some(match code {
            "HH" | "HU" | ">" => Flag::CriticalHigh,
            "LL" | "LU" | "<" => Flag::CriticalLow,
            "H" => Flag::High,
            "L" => Flag::Low,
            "AA" => Flag::CriticalAbnormal,
            "A" | "POS" | "DET" | "R" => Flag::Abnormal,
            "N" | "NEG" | "ND" | "S" => Flag::Normal,
            _ => return None,
        })
    }

    /// A number against a range with at least one bound: above the high bound is high, below the
    /// low one low, else normal. `None` when the range has no bound.
    pub fn against_range(value: f64, low: Option<f64>, high: Option<f64>) -> Option<Self> {
        if low.is_none() && high.is_none() {
            return None;
        }
        Some(match (low, high) {
            (_, Some(h)) if value > h => Flag::High,
            (Some(l), _) if value < l => Flag::Low,
            _ => Flag::Normal,
        })
    }

    /// How much the flag asks for attention, for picking the worst of several.
    pub fn severity(self) -> u8 {
        match self {
            Flag::CriticalHigh | Flag::CriticalLow | Flag::CriticalAbnormal => 3,
            Flag::High | Flag::Low | Flag::Abnormal => 2,
            Flag::Normal => 1,
            Flag::None => 0,
        }
    }

    /// Whether the value is outside normal (any flag but none and normal).
    pub fn is_abnormal(self) -> bool {
        self.severity() >= 2
    }

    /// The worst of some flags (the last of equals); no flag when there are none.
    pub fn worst(flags: impl IntoIterator<Item = Flag>) -> Flag {
        flags.into_iter().fold(Flag::None, |worst, flag| {
            if flag.severity() >= worst.severity() {
                flag
            } else {
                worst
            }
        })
    }

    /// Words for a person ("" for none): pages show them beside any colour, never colour alone.
    pub fn words(self) -> &'static str {
        match self {
            Flag::CriticalHigh => "Critically high",
            Flag::CriticalLow => "Critically low",
            Flag::CriticalAbnormal => "Critically abnormal",
            Flag::High => "High",
            Flag::Low => "Low",
            Flag::Abnormal => "Abnormal",
            Flag::Normal => "Normal",
            Flag::None => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_reads_back_from_its_code() {
        for flag in Flag::ALL {
            assert_eq!(Flag::from_code(flag.code()), flag);
        }
        assert_eq!(Flag::from_code("bogus"), Flag::None);
    }

    #[test]
    fn interpretation_codes_map_to_flags() {
        assert_eq!(Flag::from_interpretation("HU"), Some(Flag::CriticalHigh));
        assert_eq!(Flag::from_interpretation("POS"), Some(Flag::Abnormal));
        assert_eq!(Flag::from_interpretation("NEG"), Some(Flag::Normal));
        assert_eq!(Flag::from_interpretation("IND"), None);
    }

    #[test]
    fn a_value_is_compared_with_its_range() {
        assert_eq!(
            Flag::against_range(130.0, Some(70.0), Some(99.0)),
            Some(Flag::High)
        );
        assert_eq!(
            Flag::against_range(50.0, Some(70.0), Some(99.0)),
            Some(Flag::Low)
        );
        assert_eq!(
            Flag::against_range(99.0, Some(70.0), Some(99.0)),
            Some(Flag::Normal)
        );
        assert_eq!(Flag::against_range(1.0, None, Some(0.5)), Some(Flag::High));
        assert_eq!(Flag::against_range(1.0, None, None), None);
    }

    #[test]
    fn the_worst_flag_wins() {
        assert_eq!(
            Flag::worst([Flag::Normal, Flag::CriticalLow, Flag::High]),
            Flag::CriticalLow
        );
        assert_eq!(Flag::worst([]), Flag::None);
        assert_eq!(Flag::worst([Flag::High, Flag::Low]), Flag::Low);
        assert!(Flag::High.is_abnormal());
        assert!(!Flag::Normal.is_abnormal());
    }

    #[test]
    fn flags_are_words_not_only_colours() {
        for flag in Flag::ALL.into_iter().filter(|f| *f != Flag::None) {
            assert!(!flag.words().is_empty(), "{flag:?}");
        }
        assert_eq!(Flag::CriticalLow.words(), "Critically low");
    }
}
