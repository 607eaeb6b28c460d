//! Controlled substances, recognised by code: the shipped list `data/dea-schedules.csv` maps
//! RxNorm clinical drugs to their DEA schedule (how it was built: `data/README.md`). A drug is
//! never judged by its name.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The RxNorm code system.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// A schedule of the US Controlled Substances Act (21 CFR 1308.12–1308.15) that prescription
/// drugs are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeaSchedule {
    /// Schedule II (oxycodone, hydrocodone, fentanyl, amphetamines …).
    II,
    /// Schedule III (buprenorphine, testosterone, ketamine …).
    III,
    /// Schedule IV (tramadol, benzodiazepines, zolpidem …).
    IV,
    /// Schedule V (pregabalin, low-dose codeine preparations …).
    V,
}

impl DeaSchedule {
    /// Every schedule, in order.
    pub const ALL: [DeaSchedule; 4] = [
        DeaSchedule::II,
        DeaSchedule::III,
        DeaSchedule::IV,
        DeaSchedule::V,
    ];

    /// The Roman numeral, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeaSchedule::II => "II",
            DeaSchedule::III => "III",
            DeaSchedule::IV => "IV",
            DeaSchedule::V => "V",
        }
    }

    /// Reads the numeral.
    pub fn from_stored(s: &str) -> Option<Self> {
        DeaSchedule::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

const LIST: &str = include_str!("../../data/dea-schedules.csv");

/// RxCUI → schedule, read once from the shipped list.
static SCHEDULES: LazyLock<HashMap<&'static str, DeaSchedule>> = LazyLock::new(|| read(LIST));

fn read(list: &'static str) -> HashMap<&'static str, DeaSchedule> {
    list.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.splitn(3, ',');
            let code = fields.next()?.trim();
            let schedule = DeaSchedule::from_stored(fields.next()?.trim())?;
            Some((code, schedule))
        })
        .collect()
}

/// The DEA schedule of a drug named by `system` and `code`, if the shipped list has it.
pub fn dea_schedule(system: &str, code: &str) -> Option<DeaSchedule> {
    if system != RXNORM {
        return None;
    }
    SCHEDULES.get(code.trim()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_shipped_list_reads() {
        let lines = LIST
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        assert!(lines > 1_000, "the list holds {lines} drugs");
        assert_eq!(
            SCHEDULES.len(),
            lines,
            "a line did not read, or a code is listed twice"
        );
        for line in LIST.lines().skip(1) {
            let code = line.split(',').next().unwrap_or_default();
            assert!(
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()),
                "{line:?}"
            );
        }
    }

    #[test]
    fn controlled_drugs_of_real_records_are_recognised_by_code_only() {
        // Codes as Synthea writes them.
        assert_eq!(dea_schedule(RXNORM, "835603"), Some(DeaSchedule::IV)); // tramadol 50 mg
        assert_eq!(dea_schedule(RXNORM, "1049221"), Some(DeaSchedule::II)); // oxycodone/APAP
        assert_eq!(dea_schedule(RXNORM, "856987"), Some(DeaSchedule::II)); // hydrocodone/APAP
        assert_eq!(dea_schedule(RXNORM, "861467"), Some(DeaSchedule::II)); // meperidine
        assert_eq!(dea_schedule(RXNORM, "314231"), None); // simvastatin
        // Another system's code that happens to be equal is not RxNorm.
        assert_eq!(dea_schedule("http://snomed.info/sct", "835603"), None);
    }
}
