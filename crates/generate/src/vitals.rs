//! Vital signs taken at an encounter: which ones for which kind of visit, and values that follow
//! the patient's age, growth curve, build and blood pressure.

use super::Resource;
use super::calendar::Day;
use super::codes::vital;
use super::person::{Person, interpolate};
use super::resources::{self as fhir, Context};
use super::rng::Rng;
use uuid::Uuid;

/// Which vital signs an encounter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vitals {
    /// Check-up: height, weight, BMI, heart and respiratory rate, blood pressure.
    CheckUp,
    /// Follow-up: weight, heart rate, blood pressure.
    FollowUp,
    /// Sick visit, emergency or admission: temperature, heart and respiratory rate, oxygen
    /// saturation, blood pressure (and weight for children, for dosing).
    Acute {
        /// Febrile.
        fever: bool,
        /// Low oxygen saturation, fast breathing.
        short_of_breath: bool,
    },
}

/// One measurement.
#[derive(Clone, Copy, Debug)]
pub enum Reading {
    /// A single value with its LOINC code and UCUM unit.
    Single {
        /// What.
        code: &'static super::codes::Code,
        /// Value.
        value: f64,
        /// UCUM unit.
        unit: &'static str,
        /// For the note: "heart rate".
        label: &'static str,
    },
    /// Systolic over diastolic, mm[Hg].
    BloodPressure(f64, f64),
}

impl Reading {
    /// The Observation.
    pub fn resource(&self, id: Uuid, cx: &Context) -> Resource {
        match *self {
            Reading::Single {
                code, value, unit, ..
            } => fhir::vital_sign(id, cx, code, value, unit),
            Reading::BloodPressure(systolic, diastolic) => fhir::blood_pressure(
                id,
                cx,
                (&vital::BLOOD_PRESSURE, &vital::SYSTOLIC, &vital::DIASTOLIC),
                (systolic, diastolic),
            ),
        }
    }

    /// For the note: "blood pressure 128/82 mm[Hg]".
    pub fn describe(&self) -> String {
        match *self {
            Reading::Single {
                value, unit, label, ..
            } => format!("{label} {value} {}", written_unit(unit)),
            Reading::BloodPressure(systolic, diastolic) => {
                format!("blood pressure {systolic}/{diastolic} mmHg")
            }
        }
    }
}

/// A unit as a clinician types it in a note (the resources carry the UCUM code).
fn written_unit(unit: &str) -> &str {
    match unit {
        "Cel" => "C",
        "mm[Hg]" => "mmHg",
        other => other,
    }
}

/// The readings of one encounter.
#[derive(Debug)]
pub struct Readings {
    /// In the order taken.
    pub readings: Vec<Reading>,
    /// The BMI measured, if it was.
    pub bmi: Option<f64>,
}

/// Typical heart rate (/min) by age (years).
const HEART_RATE: &[(f64, f64)] = &[
    (0.0, 135.0),
    (1.0, 120.0),
    (2.0, 110.0),
    (4.0, 100.0),
    (6.0, 95.0),
    (10.0, 85.0),
    (14.0, 78.0),
    (18.0, 72.0),
];

/// Typical respiratory rate (/min) by age (years).
const RESPIRATORY_RATE: &[(f64, f64)] = &[
    (0.0, 40.0),
    (1.0, 30.0),
    (2.0, 26.0),
    (4.0, 24.0),
    (6.0, 22.0),
    (10.0, 20.0),
    (14.0, 18.0),
    (18.0, 16.0),
];

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn single(
    code: &'static super::codes::Code,
    value: f64,
    unit: &'static str,
    label: &'static str,
) -> Reading {
    Reading::Single {
        code,
        value,
        unit,
        label,
    }
}

/// Takes the vital signs of `set` on `day`. `raised_blood_pressure` is `Some(treated)` for a
/// patient whose blood pressure is up.
pub fn measure(
    rng: &mut Rng,
    person: &Person,
    day: Day,
    set: Vitals,
    raised_blood_pressure: Option<bool>,
) -> Readings {
    let years = person.months_on(day) as f64 / 12.0;
    let mut readings = Vec::with_capacity(7);
    let mut bmi = None;
    let height = round(person.height_on(day) + rng.normal(0.0, 0.4), 1);
    let metres = height / 100.0;
    let weight = round(
        person.bmi_on(day) * metres * metres * (1.0 + rng.normal(0.0, 0.015)),
        1,
    );
    match set {
        Vitals::CheckUp => {
            readings.push(single(&vital::HEIGHT, height, "cm", "height"));
            readings.push(single(&vital::WEIGHT, weight, "kg", "weight"));
            if years >= 2.0 {
                let value = round(weight / (metres * metres), 1);
                bmi = Some(value);
                readings.push(single(&vital::BMI, value, "kg/m2", "BMI"));
            }
        }
        Vitals::FollowUp => readings.push(single(&vital::WEIGHT, weight, "kg", "weight")),
        Vitals::Acute { fever, .. } => {
            let temperature = if fever {
                rng.normal(38.5, 0.35)
            } else {
                rng.normal(36.9, 0.2)
            };
            readings.push(single(
                &vital::TEMPERATURE,
                round(temperature, 1),
                "Cel",
                "temperature",
            ));
            if years < 12.0 {
                readings.push(single(&vital::WEIGHT, weight, "kg", "weight"));
            }
        }
    }
    let (fever, short_of_breath) = match set {
        Vitals::Acute {
            fever,
            short_of_breath,
        } => (fever, short_of_breath),
        _ => (false, false),
    };
    let heart_rate =
        interpolate(HEART_RATE, years) + rng.normal(0.0, 6.0) + if fever { 15.0 } else { 0.0 };
    readings.push(single(
        &vital::HEART_RATE,
        round(heart_rate, 0),
        "/min",
        "heart rate",
    ));
    if set != Vitals::FollowUp {
        let breathing = interpolate(RESPIRATORY_RATE, years)
            + rng.normal(0.0, 1.5)
            + if short_of_breath { 8.0 } else { 0.0 };
        readings.push(single(
            &vital::RESPIRATORY_RATE,
            round(breathing, 0),
            "/min",
            "respiratory rate",
        ));
    }
    if matches!(set, Vitals::Acute { .. }) {
        let saturation = if short_of_breath {
            rng.normal(91.0, 1.5)
        } else {
            rng.normal(97.8, 0.8)
        };
        readings.push(single(
            &vital::OXYGEN_SATURATION,
            round(saturation.min(100.0), 0),
            "%",
            "oxygen saturation",
        ));
    }
    if years >= 3.0 {
        let (systolic, diastolic) = blood_pressure(rng, years, raised_blood_pressure);
        readings.push(Reading::BloodPressure(systolic, diastolic));
    }
    Readings { readings, bmi }
}

fn blood_pressure(rng: &mut Rng, years: f64, raised: Option<bool>) -> (f64, f64) {
    let (mut systolic, mut diastolic) = if years < 18.0 {
        (90.0 + 1.4 * years, 54.0 + 1.0 * years)
    } else {
        let adult = years - 18.0;
        (112.0 + 0.4 * adult, 72.0 + 0.15 * adult.min(40.0))
    };
    match raised {
        Some(false) => {
            systolic += 24.0;
            diastolic += 11.0;
        }
        Some(true) => {
            systolic += 8.0;
            diastolic += 4.0;
        }
        None => {}
    }
    let systolic = round(rng.normal(systolic, 8.0), 0);
    let diastolic = round(rng.normal(diastolic, 6.0).min(systolic - 25.0), 0);
    (systolic, diastolic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone(age_years: i64) -> Person {
        let mut rng = Rng::stream(8, 8);
        let mut ids = Rng::stream(9, 9);
        let mut person = Person::draw(&mut rng, &mut ids, 8, 8);
        person.birth = super::super::calendar::TODAY.plus_months(-12 * age_years);
        person
    }

    #[test]
    fn a_check_up_takes_the_full_set_and_its_bmi_matches_height_and_weight() {
        let person = someone(40);
        let day = super::super::calendar::TODAY.plus_days(-3);
        let r = measure(&mut Rng::stream(1, 1), &person, day, Vitals::CheckUp, None);
        assert_eq!(r.readings.len(), 6);
        let value = |label: &str| {
            r.readings.iter().find_map(|reading| match reading {
                Reading::Single {
                    label: l, value, ..
                } if *l == label => Some(*value),
                _ => None,
            })
        };
        let (height, weight, bmi) = (
            value("height").expect("height"),
            value("weight").expect("weight"),
            value("BMI").expect("BMI"),
        );
        assert_eq!(r.bmi, Some(bmi));
        assert!((bmi - weight / (height / 100.0).powi(2)).abs() < 0.06);
    }

    #[test]
    fn untreated_hypertension_reads_higher_than_treated_and_diastolic_stays_below_systolic() {
        let mut rng = Rng::stream(2, 2);
        let mean = |rng: &mut Rng, raised| {
            (0..500)
                .map(|_| blood_pressure(rng, 55.0, raised).0)
                .sum::<f64>()
                / 500.0
        };
        let (untreated, treated, normal) = (
            mean(&mut rng, Some(false)),
            mean(&mut rng, Some(true)),
            mean(&mut rng, None),
        );
        assert!(untreated > treated + 10.0 && treated > normal + 4.0);
        for _ in 0..1000 {
            let (s, d) = blood_pressure(&mut rng, 70.0, Some(false));
            assert!(d < s);
        }
    }

    #[test]
    fn toddlers_have_no_blood_pressure_and_infants_no_bmi() {
        let infant = someone(1);
        let day = super::super::calendar::TODAY.plus_days(-3);
        let r = measure(&mut Rng::stream(1, 2), &infant, day, Vitals::CheckUp, None);
        assert!(r.bmi.is_none());
        assert!(
            !r.readings
                .iter()
                .any(|x| matches!(x, Reading::BloodPressure(..)))
        );
    }
}
