//! The conditions a generated patient can have: long-term ones with their treatment and their
//! effect on results, and short-lived ones with where they are seen and what is done.

use super::calendar::Day;
use super::codes::{Code, procedure, sct};
use super::labs::{self, Panel};
use super::medicines::{self as m, Medicine};
use Setting::{Clinic, Emergency, Hospital};

/// A long-term condition: who gets it, how it is treated and what it does to the numbers.
#[derive(Debug)]
pub struct Chronic {
    /// SNOMED coding.
    pub code: Code,
    /// Youngest age at onset, years.
    pub min_age: u32,
    /// Chance of having it by age 75 (rising linearly from `min_age`).
    pub risk: f64,
    /// First-line medicines.
    pub medicines: &'static [&'static Medicine],
    /// Replaces the first medicine in some patients, who stop the first one.
    pub alternative: Option<&'static Medicine>,
    /// Months between follow-up visits, if it needs them.
    pub follow_up_months: Option<u32>,
    /// Lab results it moves: (LOINC code, mean, standard deviation).
    pub lab_shifts: &'static [(&'static str, f64, f64)],
    /// A procedure done once after diagnosis.
    pub work_up: Option<Code>,
    /// Panels checked at its follow-ups and check-ups.
    pub monitoring: &'static [&'static Panel],
    /// The SNOMED code of a condition this one replaces (resolved when this is diagnosed).
    pub replaces: Option<&'static str>,
    /// Raises blood pressure (less once treated).
    pub raises_blood_pressure: bool,
}

/// Diagnosed when an adult's BMI reaches 30.
pub const OBESITY: Code = sct("162864005", "Body mass index 30+ - obesity (finding)");

/// The long-term conditions, most common first.
pub static CHRONIC: &[Chronic] = &[
    Chronic {
        code: sct("59621000", "Essential hypertension (disorder)"),
        min_age: 25,
        risk: 0.55,
        medicines: &[&m::LISINOPRIL],
        alternative: Some(&m::AMLODIPINE),
        follow_up_months: Some(6),
        lab_shifts: &[],
        monitoring: &[&labs::BASIC_METABOLIC],
        raises_blood_pressure: true,
        replaces: None,
        work_up: Some(procedure::ECG),
    },
    Chronic {
        code: sct("55822004", "Hyperlipidemia (disorder)"),
        min_age: 30,
        risk: 0.40,
        medicines: &[&m::SIMVASTATIN],
        alternative: Some(&m::ATORVASTATIN),
        follow_up_months: None,
        lab_shifts: &[
            ("2093-3", 238.0, 22.0),
            ("18262-6", 158.0, 20.0),
            ("2571-8", 190.0, 45.0),
        ],
        monitoring: &[&labs::LIPIDS],
        raises_blood_pressure: false,
        replaces: None,
        work_up: None,
    },
    Chronic {
        code: sct("15777000", "Prediabetes (finding)"),
        min_age: 18,
        risk: 0.22,
        medicines: &[],
        alternative: None,
        follow_up_months: None,
        lab_shifts: &[("4548-4", 6.0, 0.18), ("2345-7", 110.0, 7.0)],
        monitoring: &[&labs::HBA1C],
        raises_blood_pressure: false,
        replaces: None,
        work_up: None,
    },
    Chronic {
        code: sct("44054006", "Diabetes mellitus type 2 (disorder)"),
        min_age: 30,
        risk: 0.16,
        medicines: &[&m::METFORMIN],
        alternative: None,
        follow_up_months: Some(3),
        lab_shifts: &[("4548-4", 7.6, 0.8), ("2345-7", 158.0, 32.0)],
        monitoring: &[&labs::HBA1C, &labs::BASIC_METABOLIC],
        raises_blood_pressure: false,
        replaces: Some("15777000"),
        work_up: None,
    },
    Chronic {
        code: sct("195967001", "Asthma (disorder)"),
        min_age: 2,
        risk: 0.09,
        medicines: &[&m::FLUTICASONE, &m::ALBUTEROL],
        alternative: None,
        follow_up_months: Some(12),
        lab_shifts: &[],
        monitoring: &[],
        raises_blood_pressure: false,
        replaces: None,
        work_up: Some(procedure::SPIROMETRY),
    },
    Chronic {
        code: sct(
            "232353008",
            "Perennial allergic rhinitis with seasonal variation (disorder)",
        ),
        min_age: 3,
        risk: 0.15,
        medicines: &[&m::FEXOFENADINE],
        alternative: None,
        follow_up_months: None,
        lab_shifts: &[],
        monitoring: &[],
        raises_blood_pressure: false,
        replaces: None,
        work_up: None,
    },
    Chronic {
        code: sct("40930008", "Hypothyroidism (disorder)"),
        min_age: 25,
        risk: 0.08,
        medicines: &[&m::LEVOTHYROXINE],
        alternative: None,
        follow_up_months: Some(12),
        lab_shifts: &[("3016-3", 6.5, 1.8)],
        monitoring: &[&labs::TSH],
        raises_blood_pressure: false,
        replaces: None,
        work_up: None,
    },
    Chronic {
        code: sct("239873007", "Osteoarthritis of knee (disorder)"),
        min_age: 45,
        risk: 0.25,
        medicines: &[&m::NAPROXEN],
        alternative: None,
        follow_up_months: None,
        lab_shifts: &[],
        monitoring: &[],
        raises_blood_pressure: false,
        replaces: None,
        work_up: Some(procedure::XRAY),
    },
    Chronic {
        code: sct("271737000", "Anemia (disorder)"),
        min_age: 12,
        risk: 0.06,
        medicines: &[],
        alternative: None,
        follow_up_months: None,
        lab_shifts: &[
            ("718-7", 10.6, 0.7),
            ("4544-3", 32.5, 2.0),
            ("787-2", 76.0, 4.0),
        ],
        monitoring: &[&labs::CBC],
        raises_blood_pressure: false,
        replaces: None,
        work_up: None,
    },
    Chronic {
        code: sct("433144002", "Chronic kidney disease stage 3 (disorder)"),
        min_age: 50,
        risk: 0.10,
        medicines: &[],
        alternative: None,
        follow_up_months: Some(6),
        lab_shifts: &[
            ("2160-0", 1.7, 0.25),
            ("3094-0", 29.0, 5.0),
            ("2823-3", 4.9, 0.4),
        ],
        monitoring: &[&labs::BASIC_METABOLIC],
        raises_blood_pressure: false,
        replaces: None,
        work_up: None,
    },
    Chronic {
        code: sct("88805009", "Chronic congestive heart failure (disorder)"),
        min_age: 55,
        risk: 0.06,
        medicines: &[&m::FUROSEMIDE, &m::ASPIRIN],
        alternative: None,
        follow_up_months: Some(4),
        lab_shifts: &[("2951-2", 136.0, 3.0)],
        monitoring: &[&labs::BASIC_METABOLIC],
        raises_blood_pressure: false,
        replaces: None,
        work_up: Some(procedure::ECHOCARDIOGRAPHY),
    },
];

/// Where an acute problem is seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// A same-day clinic visit.
    Clinic,
    /// The emergency department.
    Emergency,
    /// A hospital stay.
    Hospital,
}

/// A short-lived problem.
#[derive(Debug)]
pub struct Acute {
    /// SNOMED coding.
    pub code: Code,
    /// Where it is seen.
    pub setting: Setting,
    /// Ages it happens at, years (inclusive).
    pub ages: (u32, u32),
    /// How common, relative to the others of the same setting.
    pub weight: u32,
    /// Days until resolved (inclusive range).
    pub days: (i64, i64),
    /// What is prescribed: adult and child versions.
    pub medicines: (Option<&'static Medicine>, Option<&'static Medicine>),
    /// What is done.
    pub procedures: &'static [Code],
    /// Chief complaint for the note.
    pub complaint: &'static str,
    /// Comes with fever (an infection) rather than being an injury or the like.
    pub fever: bool,
    /// The first day it can happen.
    pub since: Day,
}

const fn acute(
    code: Code,
    (setting, ages, weight): (Setting, (u32, u32), u32),
    days: (i64, i64),
    medicines: (Option<&'static Medicine>, Option<&'static Medicine>),
    procedures: &'static [Code],
    complaint: &'static str,
    fever: bool,
) -> Acute {
    Acute {
        code,
        setting,
        ages,
        weight,
        days,
        medicines,
        procedures,
        complaint,
        fever,
        since: Day::from_ymd(1900, 1, 1),
    }
}

/// The short-lived problems.
pub static ACUTE: &[Acute] = &[
    acute(
        sct("195662009", "Acute viral pharyngitis (disorder)"),
        (Clinic, (2, 99), 30),
        (5, 10),
        (Some(&m::ACETAMINOPHEN), Some(&m::ACETAMINOPHEN_CHILD)),
        &[],
        "Sore throat and low-grade fever for two days.",
        true,
    ),
    acute(
        sct("43878008", "Streptococcal sore throat (disorder)"),
        (Clinic, (3, 60), 12),
        (7, 12),
        (Some(&m::PENICILLIN), Some(&m::AMOXICILLIN_CHILD)),
        &[procedure::THROAT_CULTURE],
        "Severe sore throat, fever and swollen glands.",
        true,
    ),
    acute(
        sct("444814009", "Viral sinusitis (disorder)"),
        (Clinic, (5, 99), 25),
        (7, 14),
        (None, None),
        &[],
        "Nasal congestion and facial pressure for a week.",
        false,
    ),
    acute(
        sct("36971009", "Sinusitis (disorder)"),
        (Clinic, (12, 99), 8),
        (10, 21),
        (Some(&m::AMOXICILLIN_CLAVULANATE), None),
        &[],
        "Facial pain and purulent nasal discharge for ten days.",
        true,
    ),
    acute(
        sct("10509002", "Acute bronchitis (disorder)"),
        (Clinic, (2, 99), 18),
        (10, 21),
        (Some(&m::COUGH_SYRUP), Some(&m::ACETAMINOPHEN_CHILD)),
        &[procedure::CHEST_XRAY],
        "Productive cough for five days.",
        true,
    ),
    acute(
        sct("65363002", "Otitis media (disorder)"),
        (Clinic, (0, 10), 30),
        (7, 14),
        (Some(&m::AMOXICILLIN), Some(&m::AMOXICILLIN_CHILD)),
        &[],
        "Ear pain and fever since last night.",
        true,
    ),
    Acute {
        since: Day::from_ymd(2020, 3, 1),
        ..acute(
            sct(
                "840539006",
                "Disease caused by severe acute respiratory syndrome coronavirus 2 (disorder)",
            ),
            (Clinic, (2, 99), 10),
            (10, 20),
            (Some(&m::ACETAMINOPHEN), Some(&m::ACETAMINOPHEN_CHILD)),
            &[],
            "Fever, cough and fatigue; positive home antigen test.",
            true,
        )
    },
    acute(
        sct("44465007", "Sprain of ankle (disorder)"),
        (Emergency, (8, 80), 20),
        (14, 42),
        (Some(&m::IBUPROFEN), Some(&m::ACETAMINOPHEN_CHILD)),
        &[procedure::XRAY],
        "Twisted ankle; pain and swelling, able to bear weight.",
        false,
    ),
    acute(
        sct("65966004", "Fracture of forearm (disorder)"),
        (Emergency, (3, 90), 10),
        (42, 70),
        (Some(&m::IBUPROFEN), Some(&m::ACETAMINOPHEN_CHILD)),
        &[procedure::XRAY, procedure::IMMOBILIZATION],
        "Fall onto an outstretched hand; deformity of the forearm.",
        false,
    ),
    acute(
        sct("284549007", "Laceration of hand (disorder)"),
        (Emergency, (5, 90), 12),
        (10, 21),
        (Some(&m::IBUPROFEN), None),
        &[procedure::SUTURE],
        "Cut to the hand while cooking.",
        false,
    ),
    acute(
        sct("233604007", "Pneumonia (disorder)"),
        (Hospital, (1, 99), 20),
        (14, 28),
        (Some(&m::AMOXICILLIN), Some(&m::AMOXICILLIN_CHILD)),
        &[procedure::CHEST_XRAY, procedure::OXYGEN],
        "Fever, cough and shortness of breath for three days.",
        true,
    ),
    acute(
        sct("74400008", "Appendicitis (disorder)"),
        (Hospital, (5, 70), 10),
        (14, 28),
        (Some(&m::ACETAMINOPHEN), Some(&m::ACETAMINOPHEN_CHILD)),
        &[procedure::APPENDECTOMY],
        "Abdominal pain moving to the right lower quadrant, nausea.",
        true,
    ),
];
