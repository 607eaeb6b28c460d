//! The medicines the generator prescribes (RxNorm) and how each is usually prescribed.

use super::codes::{Code, rx};

/// A prescribable medicine and how it is usually prescribed.
#[derive(Debug)]
pub struct Medicine {
    /// RxNorm coding.
    pub code: Code,
    /// Patient instruction.
    pub instruction: &'static str,
    /// Doses per period.
    pub frequency: u32,
    /// The period, in `period_unit`.
    pub period: u32,
    /// UCUM unit of the period (`h` or `d`).
    pub period_unit: &'static str,
    /// Taken only when needed.
    pub as_needed: bool,
    /// Units dispensed per fill.
    pub quantity: u32,
    /// Days one fill lasts.
    pub supply_days: u32,
    /// Refills allowed.
    pub repeats: u32,
}

const fn med(
    code: Code,
    instruction: &'static str,
    (frequency, period, period_unit): (u32, u32, &'static str),
    as_needed: bool,
    (quantity, supply_days, repeats): (u32, u32, u32),
) -> Medicine {
    Medicine {
        code,
        instruction,
        frequency,
        period,
        period_unit,
        as_needed,
        quantity,
        supply_days,
        repeats,
    }
}

/// Hypertension, first line.
pub const LISINOPRIL: Medicine = med(
    rx("314076", "lisinopril 10 MG Oral Tablet"),
    "Take 1 tablet by mouth once daily.",
    (1, 1, "d"),
    false,
    (90, 90, 3),
);
/// Hypertension, when lisinopril is not tolerated.
pub const AMLODIPINE: Medicine = med(
    rx("197361", "amlodipine 5 MG Oral Tablet"),
    "Take 1 tablet by mouth once daily.",
    (1, 1, "d"),
    false,
    (90, 90, 3),
);
/// Type 2 diabetes.
pub const METFORMIN: Medicine = med(
    rx(
        "860975",
        "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
    ),
    "Take 1 tablet by mouth twice daily with meals.",
    (2, 1, "d"),
    false,
    (180, 90, 3),
);
/// Hyperlipidemia.
pub const SIMVASTATIN: Medicine = med(
    rx("312961", "Simvastatin 20 MG Oral Tablet"),
    "Take 1 tablet by mouth every evening.",
    (1, 1, "d"),
    false,
    (90, 90, 3),
);
/// Hyperlipidemia, when simvastatin is not enough.
pub const ATORVASTATIN: Medicine = med(
    rx("259255", "Atorvastatin 80 MG Oral Tablet"),
    "Take 1 tablet by mouth once daily.",
    (1, 1, "d"),
    false,
    (90, 90, 3),
);
/// Asthma, controller.
pub const FLUTICASONE: Medicine = med(
    rx(
        "895994",
        "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
    ),
    "Inhale 2 puffs twice daily. Rinse mouth after use.",
    (2, 1, "d"),
    false,
    (1, 30, 5),
);
/// Asthma, reliever.
pub const ALBUTEROL: Medicine = med(
    rx(
        "745679",
        "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
    ),
    "Inhale 2 puffs every 4 hours as needed for wheezing or shortness of breath.",
    (1, 4, "h"),
    true,
    (1, 30, 2),
);
/// Hypothyroidism.
pub const LEVOTHYROXINE: Medicine = med(
    rx("966222", "Levothyroxine Sodium 0.075 MG Oral Tablet"),
    "Take 1 tablet by mouth every morning on an empty stomach.",
    (1, 1, "d"),
    false,
    (90, 90, 3),
);
/// Heart failure.
pub const FUROSEMIDE: Medicine = med(
    rx("313988", "Furosemide 40 MG Oral Tablet"),
    "Take 1 tablet by mouth once daily in the morning.",
    (1, 1, "d"),
    false,
    (90, 90, 3),
);
/// Cardiovascular prevention.
pub const ASPIRIN: Medicine = med(
    rx("243670", "Aspirin 81 MG Oral Tablet"),
    "Take 1 tablet by mouth once daily.",
    (1, 1, "d"),
    false,
    (90, 90, 3),
);
/// Allergic rhinitis.
pub const FEXOFENADINE: Medicine = med(
    rx("997488", "Fexofenadine hydrochloride 30 MG Oral Tablet"),
    "Take 1 tablet by mouth once daily as needed for allergy symptoms.",
    (1, 1, "d"),
    true,
    (30, 30, 5),
);
/// Anaphylaxis risk.
pub const EPINEPHRINE: Medicine = med(
    rx(
        "1870230",
        "NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector",
    ),
    "Inject into the outer thigh once for a severe allergic reaction; call 911.",
    (1, 1, "d"),
    true,
    (2, 365, 1),
);
/// Osteoarthritis and pain.
pub const NAPROXEN: Medicine = med(
    rx("849574", "Naproxen sodium 220 MG Oral Tablet"),
    "Take 1 tablet by mouth every 12 hours as needed for pain, with food.",
    (1, 12, "h"),
    true,
    (60, 30, 2),
);
/// Bacterial infections.
pub const AMOXICILLIN: Medicine = med(
    rx("308192", "Amoxicillin 500 MG Oral Tablet"),
    "Take 1 tablet by mouth three times daily for 10 days. Complete the course.",
    (3, 1, "d"),
    false,
    (30, 10, 0),
);
/// Bacterial infections in children.
pub const AMOXICILLIN_CHILD: Medicine = med(
    rx("308182", "Amoxicillin 250 MG Oral Capsule"),
    "Take 1 capsule by mouth twice daily for 10 days. Complete the course.",
    (2, 1, "d"),
    false,
    (20, 10, 0),
);
/// Strep throat.
pub const PENICILLIN: Medicine = med(
    rx("834060", "Penicillin V Potassium 250 MG Oral Tablet"),
    "Take 1 tablet by mouth twice daily for 10 days. Complete the course.",
    (2, 1, "d"),
    false,
    (20, 10, 0),
);
/// Sinusitis.
pub const AMOXICILLIN_CLAVULANATE: Medicine = med(
    rx(
        "562251",
        "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet",
    ),
    "Take 1 tablet by mouth every 12 hours for 7 days.",
    (1, 12, "h"),
    false,
    (14, 7, 0),
);
/// Pain after injuries.
pub const IBUPROFEN: Medicine = med(
    rx("310965", "Ibuprofen 200 MG Oral Tablet"),
    "Take 1 to 2 tablets by mouth every 6 hours as needed for pain, with food.",
    (1, 6, "h"),
    true,
    (40, 10, 0),
);
/// Fever and pain.
pub const ACETAMINOPHEN: Medicine = med(
    rx("313782", "Acetaminophen 325 MG Oral Tablet"),
    "Take 2 tablets by mouth every 6 hours as needed for fever or pain.",
    (1, 6, "h"),
    true,
    (40, 7, 0),
);
/// Fever and pain in children.
pub const ACETAMINOPHEN_CHILD: Medicine = med(
    rx("313820", "Acetaminophen 160 MG Chewable Tablet"),
    "Chew 1 tablet every 6 hours as needed for fever or pain.",
    (1, 6, "h"),
    true,
    (24, 7, 0),
);
/// Cough.
pub const COUGH_SYRUP: Medicine = med(
    rx(
        "1043400",
        "Acetaminophen 21.7 MG/ML / Dextromethorphan Hydrobromide 1 MG/ML / doxylamine succinate 0.417 MG/ML Oral Solution",
    ),
    "Take 15 mL by mouth at bedtime as needed for cough.",
    (1, 1, "d"),
    true,
    (1, 7, 0),
);
