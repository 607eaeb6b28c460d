//! Laboratory panels: what each test measures, its reference range and critical limits, and
//! results drawn around realistic means with the interpretation flag their value earns.

use super::codes::{Code, loinc};
use super::person::Sex;
use super::rng::Rng;

/// The interpretation code system.
pub const INTERPRETATION: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

/// How often a result with critical limits is drawn past one of them.
const CRITICAL_CHANCE: f64 = 0.004;

/// One test of a panel.
#[derive(Debug)]
pub struct Analyte {
    /// LOINC coding.
    pub code: Code,
    /// UCUM unit.
    pub unit: &'static str,
    /// Decimals reported.
    pub decimals: i32,
    /// Mean and standard deviation in men (and everyone when `female` is `None`).
    pub male: Distribution,
    /// Mean and standard deviation in women, when they differ.
    pub female: Option<Distribution>,
    /// Values at or below this are critical.
    pub critical_low: Option<f64>,
    /// Values at or above this are critical.
    pub critical_high: Option<f64>,
}

/// How a result is spread, and its reference range.
#[derive(Clone, Copy, Debug)]
pub struct Distribution {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// Lower end of the reference range.
    pub low: f64,
    /// Upper end of the reference range.
    pub high: f64,
}

const fn dist(mean: f64, sd: f64, low: f64, high: f64) -> Distribution {
    Distribution {
        mean,
        sd,
        low,
        high,
    }
}

const fn analyte(
    code: Code,
    unit: &'static str,
    decimals: i32,
    male: Distribution,
    female: Option<Distribution>,
    (critical_low, critical_high): (Option<f64>, Option<f64>),
) -> Analyte {
    Analyte {
        code,
        unit,
        decimals,
        male,
        female,
        critical_low,
        critical_high,
    }
}

/// A panel ordered as one DiagnosticReport.
#[derive(Debug)]
pub struct Panel {
    /// The report's LOINC coding.
    pub code: Code,
    /// Short name for notes.
    pub name: &'static str,
    /// Its tests.
    pub analytes: &'static [Analyte],
}

/// Basic metabolic panel.
pub static BASIC_METABOLIC: Panel = Panel {
    code: loinc("51990-0", "Basic metabolic panel - Blood"),
    name: "basic metabolic panel",
    analytes: &[
        analyte(
            loinc("2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
            "mg/dL",
            0,
            dist(88.0, 8.0, 70.0, 99.0),
            None,
            (Some(50.0), Some(400.0)),
        ),
        analyte(
            loinc("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma"),
            "mg/dL",
            0,
            dist(14.0, 3.2, 7.0, 20.0),
            None,
            (None, Some(100.0)),
        ),
        analyte(
            loinc("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
            "mg/dL",
            2,
            dist(1.0, 0.14, 0.7, 1.3),
            Some(dist(0.8, 0.12, 0.5, 1.1)),
            (None, Some(7.0)),
        ),
        analyte(
            loinc("17861-6", "Calcium [Mass/volume] in Serum or Plasma"),
            "mg/dL",
            1,
            dist(9.4, 0.3, 8.5, 10.2),
            None,
            (Some(6.0), Some(13.0)),
        ),
        analyte(
            loinc("2951-2", "Sodium [Moles/volume] in Serum or Plasma"),
            "mmol/L",
            0,
            dist(140.0, 1.8, 136.0, 145.0),
            None,
            (Some(120.0), Some(160.0)),
        ),
        analyte(
            loinc("2823-3", "Potassium [Moles/volume] in Serum or Plasma"),
            "mmol/L",
            1,
            dist(4.2, 0.3, 3.5, 5.1),
            None,
            (Some(2.8), Some(6.2)),
        ),
        analyte(
            loinc("2075-0", "Chloride [Moles/volume] in Serum or Plasma"),
            "mmol/L",
            0,
            dist(103.0, 2.0, 98.0, 107.0),
            None,
            (Some(80.0), Some(120.0)),
        ),
        analyte(
            loinc(
                "2028-9",
                "Carbon dioxide, total [Moles/volume] in Serum or Plasma",
            ),
            "mmol/L",
            0,
            dist(25.5, 1.6, 22.0, 29.0),
            None,
            (Some(10.0), Some(40.0)),
        ),
    ],
};

/// Complete blood count.
pub static CBC: Panel = Panel {
    code: loinc("58410-2", "CBC panel - Blood by Automated count"),
    name: "complete blood count",
    analytes: &[
        analyte(
            loinc(
                "6690-2",
                "Leukocytes [#/volume] in Blood by Automated count",
            ),
            "10*3/uL",
            1,
            dist(7.0, 1.4, 4.5, 11.0),
            None,
            (Some(2.0), Some(30.0)),
        ),
        analyte(
            loinc(
                "789-8",
                "Erythrocytes [#/volume] in Blood by Automated count",
            ),
            "10*6/uL",
            2,
            dist(5.1, 0.28, 4.5, 5.9),
            Some(dist(4.55, 0.25, 4.1, 5.1)),
            (None, None),
        ),
        analyte(
            loinc("718-7", "Hemoglobin [Mass/volume] in Blood"),
            "g/dL",
            1,
            dist(15.2, 0.8, 13.5, 17.5),
            Some(dist(13.6, 0.7, 12.0, 15.5)),
            (Some(7.0), Some(20.0)),
        ),
        analyte(
            loinc(
                "4544-3",
                "Hematocrit [Volume Fraction] of Blood by Automated count",
            ),
            "%",
            1,
            dist(45.0, 2.3, 41.0, 53.0),
            Some(dist(40.5, 2.1, 36.0, 46.0)),
            (Some(21.0), Some(60.0)),
        ),
        analyte(
            loinc("787-2", "MCV [Entitic volume] by Automated count"),
            "fL",
            1,
            dist(90.0, 3.5, 80.0, 100.0),
            None,
            (None, None),
        ),
        analyte(
            loinc("785-6", "MCH [Entitic mass] by Automated count"),
            "pg",
            1,
            dist(30.0, 1.2, 27.0, 33.0),
            None,
            (None, None),
        ),
        analyte(
            loinc("786-4", "MCHC [Mass/volume] by Automated count"),
            "g/dL",
            1,
            dist(33.8, 0.7, 32.0, 36.0),
            None,
            (None, None),
        ),
        analyte(
            loinc("777-3", "Platelets [#/volume] in Blood by Automated count"),
            "10*3/uL",
            0,
            dist(255.0, 48.0, 150.0, 400.0),
            None,
            (Some(50.0), Some(1000.0)),
        ),
    ],
};

/// Lipid panel.
pub static LIPIDS: Panel = Panel {
    code: loinc("57698-3", "Lipid panel with direct LDL - Serum or Plasma"),
    name: "lipid panel",
    analytes: &[
        analyte(
            loinc("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"),
            "mg/dL",
            0,
            dist(180.0, 20.0, 100.0, 199.0),
            None,
            (None, None),
        ),
        analyte(
            loinc("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma"),
            "mg/dL",
            0,
            dist(110.0, 28.0, 0.0, 149.0),
            None,
            (None, Some(1000.0)),
        ),
        analyte(
            loinc(
                "18262-6",
                "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
            ),
            "mg/dL",
            0,
            dist(102.0, 18.0, 0.0, 129.0),
            None,
            (None, None),
        ),
        analyte(
            loinc(
                "2085-9",
                "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
            ),
            "mg/dL",
            0,
            dist(50.0, 8.0, 40.0, 100.0),
            Some(dist(60.0, 9.0, 40.0, 100.0)),
            (None, None),
        ),
    ],
};

/// Hemoglobin A1c.
pub static HBA1C: Panel = Panel {
    code: loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
    name: "hemoglobin A1c",
    analytes: &[analyte(
        loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
        "%",
        1,
        dist(5.3, 0.2, 4.0, 5.6),
        None,
        (None, None),
    )],
};

/// Thyroid-stimulating hormone.
pub static TSH: Panel = Panel {
    code: loinc("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
    name: "TSH",
    analytes: &[analyte(
        loinc("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
        "m[IU]/L",
        2,
        dist(1.8, 0.55, 0.4, 4.0),
        None,
        (None, None),
    )],
};

/// Where a value falls against its reference range and critical limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flag {
    /// At or below the critical low limit.
    CriticalLow,
    /// Below the reference range.
    Low,
    /// Inside the reference range.
    Normal,
    /// Above the reference range.
    High,
    /// At or above the critical high limit.
    CriticalHigh,
}

impl Flag {
    /// The v3-ObservationInterpretation code.
    pub fn code(self) -> &'static str {
        match self {
            Flag::CriticalLow => "LL",
            Flag::Low => "L",
            Flag::Normal => "N",
            Flag::High => "H",
            Flag::CriticalHigh => "HH",
        }
    }

    /// Its display text.
    pub fn display(self) -> &'static str {
        match self {
            Flag::CriticalLow => "Critical low",
            Flag::Low => "Low",
            Flag::Normal => "Normal",
            Flag::High => "High",
            Flag::CriticalHigh => "Critical high",
        }
    }
}

/// One drawn result.
#[derive(Clone, Copy, Debug)]
pub struct LabResult {
    /// The test.
    pub analyte: &'static Analyte,
    /// The value, rounded as reported.
    pub value: f64,
    /// The reference range that applies to this patient.
    pub range: Distribution,
    /// What the value means.
    pub flag: Flag,
}

impl Analyte {
    /// The reference distribution for a patient of this sex.
    pub fn distribution(&self, sex: Sex) -> Distribution {
        match (sex, self.female) {
            (Sex::Female, Some(female)) => female,
            _ => self.male,
        }
    }

    /// The flag a reported value earns against `range`.
    pub fn flag(&self, value: f64, range: &Distribution) -> Flag {
        if self.critical_low.is_some_and(|limit| value <= limit) {
            Flag::CriticalLow
        } else if self.critical_high.is_some_and(|limit| value >= limit) {
            Flag::CriticalHigh
        } else if value < range.low {
            Flag::Low
        } else if value > range.high {
            Flag::High
        } else {
            Flag::Normal
        }
    }

    fn round(&self, value: f64) -> f64 {
        let scale = 10f64.powi(self.decimals);
        ((value * scale).round() / scale).max(1.0 / scale)
    }
}

/// Draws every result of `panel` for a patient, moving the mean of tests named in `shifts`
/// (LOINC code, mean, sd) as the patient's conditions do; now and then one lands past a
/// critical limit.
pub fn draw(
    rng: &mut Rng,
    panel: &'static Panel,
    sex: Sex,
    shifts: &[(&str, f64, f64)],
) -> Vec<LabResult> {
    panel
        .analytes
        .iter()
        .map(|analyte| {
            let range = analyte.distribution(sex);
            let (mean, sd) = shifts
                .iter()
                .rev()
                .find(|(code, _, _)| *code == analyte.code.code)
                .map_or((range.mean, range.sd), |&(_, mean, sd)| (mean, sd));
            let has_critical = analyte.critical_low.is_some() || analyte.critical_high.is_some();
            let raw = if has_critical && rng.chance(CRITICAL_CHANCE) {
                critical_value(rng, analyte)
            } else {
                rng.normal(mean, sd)
            };
            let value = analyte.round(raw);
            LabResult {
                analyte,
                value,
                range,
                flag: analyte.flag(value, &range),
            }
        })
        .collect()
}

fn critical_value(rng: &mut Rng, analyte: &Analyte) -> f64 {
    let go_low = match (analyte.critical_low, analyte.critical_high) {
        (Some(_), Some(_)) => rng.chance(0.5),
        (Some(_), None) => true,
        _ => false,
    };
    match (go_low, analyte.critical_low, analyte.critical_high) {
        (true, Some(low), _) => low * (0.75 + 0.2 * rng.unit()),
        (_, _, Some(high)) => high * (1.02 + 0.25 * rng.unit()),
        _ => analyte.male.mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_panels() -> [&'static Panel; 5] {
        [&BASIC_METABOLIC, &CBC, &LIPIDS, &HBA1C, &TSH]
    }

    #[test]
    fn every_flag_agrees_with_the_reported_value_and_range() {
        let mut rng = Rng::stream(3, 4);
        for _ in 0..2000 {
            for panel in all_panels() {
                for sex in [Sex::Female, Sex::Male] {
                    for r in draw(&mut rng, panel, sex, &[]) {
                        let expected = if r.analyte.critical_low.is_some_and(|l| r.value <= l) {
                            Flag::CriticalLow
                        } else if r.analyte.critical_high.is_some_and(|h| r.value >= h) {
                            Flag::CriticalHigh
                        } else if r.value < r.range.low {
                            Flag::Low
                        } else if r.value > r.range.high {
                            Flag::High
                        } else {
                            Flag::Normal
                        };
                        assert_eq!(r.flag, expected, "{} = {}", r.analyte.code.code, r.value);
                        assert!(r.value > 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn most_results_are_normal_but_high_low_and_critical_ones_occur() {
        let mut rng = Rng::stream(11, 0);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..3000 {
            for r in draw(&mut rng, &BASIC_METABOLIC, Sex::Male, &[]) {
                *counts.entry(r.flag).or_insert(0u32) += 1;
            }
        }
        let normal = counts[&Flag::Normal];
        assert!(f64::from(normal) / 24_000.0 > 0.8, "{counts:?}");
        for flag in [Flag::High, Flag::Low, Flag::CriticalHigh, Flag::CriticalLow] {
            assert!(
                counts.get(&flag).copied().unwrap_or(0) > 0,
                "{flag:?}: {counts:?}"
            );
        }
    }

    #[test]
    fn a_condition_shift_moves_results_out_of_range() {
        let mut rng = Rng::stream(2, 2);
        let high = (0..200)
            .flat_map(|_| draw(&mut rng, &HBA1C, Sex::Female, &[("4548-4", 7.6, 0.8)]))
            .filter(|r| r.flag == Flag::High)
            .count();
        assert!(high > 180, "{high}");
    }

    #[test]
    fn women_get_their_own_hemoglobin_range() {
        let hemoglobin = &CBC.analytes[2];
        assert_eq!(hemoglobin.distribution(Sex::Female).low, 12.0);
        assert_eq!(hemoglobin.distribution(Sex::Male).low, 13.5);
        assert_eq!(
            hemoglobin.flag(12.5, &hemoglobin.distribution(Sex::Male)),
            Flag::Low
        );
        assert_eq!(
            hemoglobin.flag(6.9, &hemoglobin.distribution(Sex::Male)),
            Flag::CriticalLow
        );
    }
}
