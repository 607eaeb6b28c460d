//! The codes the generator writes: code systems, encounter types, procedures, vaccines,
//! allergens and vital signs (real SNOMED CT, CVX and LOINC codes, the ones Synthea uses where
//! it has one).

/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// RxNorm.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// CDC vaccine codes.
pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";
/// UCUM units.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// One coding of a code system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// The code system's URI.
    pub system: &'static str,
    /// The code.
    pub code: &'static str,
    /// Its display text.
    pub display: &'static str,
}

/// A SNOMED CT coding.
pub const fn sct(code: &'static str, display: &'static str) -> Code {
    Code {
        system: SNOMED,
        code,
        display,
    }
}

/// An RxNorm coding.
pub const fn rx(code: &'static str, display: &'static str) -> Code {
    Code {
        system: RXNORM,
        code,
        display,
    }
}

/// A CVX coding.
pub const fn cvx(code: &'static str, display: &'static str) -> Code {
    Code {
        system: CVX,
        code,
        display,
    }
}

/// A LOINC coding.
pub const fn loinc(code: &'static str, display: &'static str) -> Code {
    Code {
        system: LOINC,
        code,
        display,
    }
}

/// Encounter types.
pub mod encounter {
    use super::{Code, sct};
    /// Adult annual physical.
    pub const CHECK_UP: Code = sct("162673000", "General examination of patient (procedure)");
    /// Child well visit.
    pub const WELL_CHILD: Code = sct("410620009", "Well child visit (procedure)");
    /// Acute complaint.
    pub const SYMPTOM: Code = sct("185345009", "Encounter for symptom (procedure)");
    /// Chronic condition follow-up.
    pub const PROBLEM: Code = sct("185347001", "Encounter for problem (procedure)");
    /// Emergency department.
    pub const EMERGENCY: Code = sct("50849002", "Emergency room admission (procedure)");
    /// Hospital stay.
    pub const ADMISSION: Code = sct("32485007", "Hospital admission (procedure)");
}

/// Procedures.
pub mod procedure {
    use super::{Code, sct};
    /// At visits of patients on medicines.
    pub const MEDICATION_RECONCILIATION: Code =
        sct("430193006", "Medication reconciliation (procedure)");
    /// Yearly from age 12.
    pub const DEPRESSION_SCREENING: Code = sct("171207006", "Depression screening (procedure)");
    /// Yearly for adults.
    pub const SOCIAL_NEEDS: Code = sct(
        "710824005",
        "Assessment of health and social care needs (procedure)",
    );
    /// Yearly from age 14.
    pub const SUBSTANCE_USE: Code =
        sct("428211000124100", "Assessment of substance use (procedure)");
    /// Women from 40, every other year.
    pub const MAMMOGRAPHY: Code = sct("71651007", "Mammography (procedure)");
    /// From 45, every ten years.
    pub const COLONOSCOPY: Code = sct("73761001", "Colonoscopy (procedure)");
    /// Asthma.
    pub const SPIROMETRY: Code = sct("127783003", "Spirometry (procedure)");
    /// Heart failure.
    pub const ECHOCARDIOGRAPHY: Code = sct("40701008", "Echocardiography (procedure)");
    /// Cardiac work-up.
    pub const ECG: Code = sct("29303009", "Electrocardiographic procedure (procedure)");
    /// Sore throat.
    pub const THROAT_CULTURE: Code = sct("117015009", "Throat culture (procedure)");
    /// Chest complaints.
    pub const CHEST_XRAY: Code = sct("399208008", "Plain X-ray of chest (procedure)");
    /// Injuries.
    pub const XRAY: Code = sct("363680008", "Radiographic imaging procedure (procedure)");
    /// Fractures.
    pub const IMMOBILIZATION: Code = sct("274474001", "Bone immobilization (procedure)");
    /// Lacerations.
    pub const SUTURE: Code = sct("288086009", "Suture open wound (procedure)");
    /// Pneumonia.
    pub const OXYGEN: Code = sct("371908008", "Oxygen administration by mask (procedure)");
    /// Appendicitis.
    pub const APPENDECTOMY: Code = sct("80146002", "Appendectomy (procedure)");
}

/// A childhood vaccine dose due at an age.
#[derive(Debug)]
pub struct Dose {
    /// CVX coding.
    pub vaccine: Code,
    /// Age it is due, in months.
    pub months: i64,
}

const fn dose(vaccine: Code, months: i64) -> Dose {
    Dose { vaccine, months }
}

/// Vaccines.
pub mod vaccine {
    use super::{Code, cvx};
    /// Yearly from six months.
    pub const FLU: Code = cvx("140", "Influenza, seasonal, injectable, preservative free");
    /// Adults, every ten years.
    pub const TD: Code = cvx("113", "Td (adult) preservative free");
    /// From 50, two doses.
    pub const ZOSTER: Code = cvx("187", "zoster vaccine recombinant");
    /// At 65.
    pub const PNEUMOCOCCAL: Code = cvx("33", "pneumococcal polysaccharide PPV23");
    /// 2021 onwards.
    pub const COVID: Code = cvx(
        "208",
        "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose",
    );
}

/// The childhood schedule, by age.
pub static CHILDHOOD_DOSES: &[Dose] = &[
    dose(cvx("08", "Hep B, adolescent or pediatric"), 0),
    dose(cvx("08", "Hep B, adolescent or pediatric"), 1),
    dose(cvx("119", "rotavirus, monovalent"), 2),
    dose(cvx("20", "DTaP"), 2),
    dose(cvx("49", "Hib (PRP-OMP)"), 2),
    dose(cvx("133", "Pneumococcal conjugate PCV 13"), 2),
    dose(cvx("10", "IPV"), 2),
    dose(cvx("119", "rotavirus, monovalent"), 4),
    dose(cvx("20", "DTaP"), 4),
    dose(cvx("49", "Hib (PRP-OMP)"), 4),
    dose(cvx("133", "Pneumococcal conjugate PCV 13"), 4),
    dose(cvx("10", "IPV"), 4),
    dose(cvx("08", "Hep B, adolescent or pediatric"), 6),
    dose(cvx("20", "DTaP"), 6),
    dose(cvx("133", "Pneumococcal conjugate PCV 13"), 6),
    dose(cvx("10", "IPV"), 6),
    dose(cvx("49", "Hib (PRP-OMP)"), 12),
    dose(cvx("133", "Pneumococcal conjugate PCV 13"), 12),
    dose(cvx("03", "MMR"), 12),
    dose(cvx("21", "varicella"), 12),
    dose(cvx("83", "Hep A, ped/adol, 2 dose"), 12),
    dose(cvx("20", "DTaP"), 15),
    dose(cvx("83", "Hep A, ped/adol, 2 dose"), 18),
    dose(cvx("20", "DTaP"), 48),
    dose(cvx("10", "IPV"), 48),
    dose(cvx("03", "MMR"), 48),
    dose(cvx("21", "varicella"), 48),
    dose(cvx("115", "Tdap"), 132),
    dose(cvx("62", "HPV, quadrivalent"), 132),
    dose(cvx("114", "meningococcal MCV4P"), 132),
    dose(cvx("62", "HPV, quadrivalent"), 138),
    dose(cvx("114", "meningococcal MCV4P"), 192),
];

/// What an allergy is to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllergyCategory {
    /// `food`.
    Food,
    /// `medication`.
    Medication,
    /// `environment`.
    Environment,
}

impl AllergyCategory {
    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            AllergyCategory::Food => "food",
            AllergyCategory::Medication => "medication",
            AllergyCategory::Environment => "environment",
        }
    }
}

/// A substance people are allergic to, with its usual reactions.
#[derive(Debug)]
pub struct Allergen {
    /// SNOMED substance coding.
    pub code: Code,
    /// Its category.
    pub category: AllergyCategory,
    /// Reactions it causes.
    pub reactions: &'static [Code],
}

const HIVES: Code = sct("247472004", "Wheal (finding)");
const RASH: Code = sct("271807003", "Eruption of skin (disorder)");
/// The reaction that makes an allergy severe.
pub const ANAPHYLAXIS: Code = sct("39579001", "Anaphylaxis (disorder)");
const DYSPNEA: Code = sct("267036007", "Dyspnea (finding)");
const ITCHING: Code = sct("418290006", "Itching of skin (finding)");
const RHINITIS: Code = sct("878820003", "Rhinoconjunctivitis (disorder)");
const SNEEZING: Code = sct("76067001", "Sneezing (finding)");
const NAUSEA: Code = sct("422587007", "Nausea (finding)");
const DIARRHEA: Code = sct("62315008", "Diarrhea (finding)");

/// The allergens.
pub static ALLERGENS: &[Allergen] = &[
    Allergen {
        code: sct("762952008", "Peanut (substance)"),
        category: AllergyCategory::Food,
        reactions: &[HIVES, ANAPHYLAXIS, DYSPNEA],
    },
    Allergen {
        code: sct("442571000124108", "Tree nut (substance)"),
        category: AllergyCategory::Food,
        reactions: &[HIVES, ANAPHYLAXIS],
    },
    Allergen {
        code: sct("44027008", "Seafood (substance)"),
        category: AllergyCategory::Food,
        reactions: &[HIVES, NAUSEA, ANAPHYLAXIS],
    },
    Allergen {
        code: sct("102263004", "Eggs (edible) (substance)"),
        category: AllergyCategory::Food,
        reactions: &[RASH, NAUSEA],
    },
    Allergen {
        code: sct("3718001", "Cow's milk (substance)"),
        category: AllergyCategory::Food,
        reactions: &[DIARRHEA, RASH],
    },
    Allergen {
        code: sct("764146007", "Penicillin (substance)"),
        category: AllergyCategory::Medication,
        reactions: &[HIVES, RASH, ANAPHYLAXIS],
    },
    Allergen {
        code: sct("387458008", "Aspirin (substance)"),
        category: AllergyCategory::Medication,
        reactions: &[HIVES, DYSPNEA],
    },
    Allergen {
        code: sct("387207008", "Ibuprofen (substance)"),
        category: AllergyCategory::Medication,
        reactions: &[RASH, NAUSEA],
    },
    Allergen {
        code: sct("256277009", "Grass pollen (substance)"),
        category: AllergyCategory::Environment,
        reactions: &[RHINITIS, SNEEZING, ITCHING],
    },
    Allergen {
        code: sct("782576004", "Tree pollen (substance)"),
        category: AllergyCategory::Environment,
        reactions: &[RHINITIS, SNEEZING],
    },
    Allergen {
        code: sct("260147004", "House dust mite (organism)"),
        category: AllergyCategory::Environment,
        reactions: &[RHINITIS, SNEEZING, DYSPNEA],
    },
    Allergen {
        code: sct("264287008", "Animal dander (substance)"),
        category: AllergyCategory::Environment,
        reactions: &[RHINITIS, ITCHING],
    },
    Allergen {
        code: sct("288328004", "Bee venom (substance)"),
        category: AllergyCategory::Environment,
        reactions: &[HIVES, ANAPHYLAXIS],
    },
    Allergen {
        code: sct("111088007", "Latex (substance)"),
        category: AllergyCategory::Environment,
        reactions: &[RASH, ITCHING],
    },
];

/// Vital signs (LOINC) and their UCUM units.
pub mod vital {
    use super::{Code, loinc};
    /// Body height, cm.
    pub const HEIGHT: Code = loinc("8302-2", "Body height");
    /// Body weight, kg.
    pub const WEIGHT: Code = loinc("29463-7", "Body weight");
    /// Body mass index, kg/m2.
    pub const BMI: Code = loinc("39156-5", "Body mass index (BMI) [Ratio]");
    /// Heart rate, /min.
    pub const HEART_RATE: Code = loinc("8867-4", "Heart rate");
    /// Respiratory rate, /min.
    pub const RESPIRATORY_RATE: Code = loinc("9279-1", "Respiratory rate");
    /// Body temperature, Cel.
    pub const TEMPERATURE: Code = loinc("8310-5", "Body temperature");
    /// Oxygen saturation by pulse oximetry, %.
    pub const OXYGEN_SATURATION: Code = loinc(
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
    );
    /// The blood pressure panel.
    pub const BLOOD_PRESSURE: Code =
        loinc("85354-9", "Blood pressure panel with all children optional");
    /// Its systolic component, mm[Hg].
    pub const SYSTOLIC: Code = loinc("8480-6", "Systolic blood pressure");
    /// Its diastolic component, mm[Hg].
    pub const DIASTOLIC: Code = loinc("8462-4", "Diastolic blood pressure");
}
