//! The clinics, hospitals and clinicians of one seed. Every Bundle carries the ones its patient
//! sees (as PUTs under fixed ids), so each file imports on its own and importing many files
//! keeps one copy of each.

use super::person::{Sex, TOWNS};
use super::rng::Rng;
use uuid::Uuid;

/// The stream of a seed the directory is drawn from; patient streams are 1..=N.
const DIRECTORY_STREAM: u64 = 0;
/// Clinics (primary care).
const CLINICS: usize = 10;
/// Hospitals (emergency department and wards).
const HOSPITALS: usize = 3;
/// Clinicians per clinic or hospital.
const STAFF: usize = 3;

/// A clinic or hospital.
#[derive(Debug)]
pub struct Organization {
    /// Resource id.
    pub id: Uuid,
    /// Its identifier value, unique to the seed.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Town and ZIP code.
    pub town: (&'static str, &'static str),
    /// Street line.
    pub street: String,
    /// Main phone.
    pub phone: String,
}

/// A clinician.
#[derive(Debug)]
pub struct Practitioner {
    /// Resource id.
    pub id: Uuid,
    /// NPI-shaped identifier, unique to the seed.
    pub npi: String,
    /// Given name.
    pub given: &'static str,
    /// Family name.
    pub family: &'static str,
    /// Sex.
    pub sex: Sex,
}

impl Practitioner {
    /// "Dr. Ana Silva".
    pub fn display(&self) -> String {
        format!("Dr. {} {}", self.given, self.family)
    }
}

/// One organization and its clinicians.
#[derive(Debug)]
pub struct Site {
    /// The organization.
    pub organization: Organization,
    /// Its clinicians.
    pub staff: Vec<Practitioner>,
}

/// Every site of a seed.
#[derive(Debug)]
pub struct Directory {
    clinics: Vec<Site>,
    hospitals: Vec<Site>,
}

/// The two sites a patient uses.
#[derive(Clone, Copy, Debug)]
pub struct CareSites<'a> {
    /// Primary care.
    pub clinic: &'a Site,
    /// Emergencies and admissions.
    pub hospital: &'a Site,
}

const CLINIC_NAMES: &[&str] = &[
    "Family Medicine",
    "Primary Care Associates",
    "Community Health Center",
    "Internal Medicine Group",
    "Health Partners",
];

const PRACTITIONER_GIVEN: &[(&str, Sex)] = &[
    ("Anna", Sex::Female),
    ("Rachel", Sex::Female),
    ("Nadia", Sex::Female),
    ("Grace", Sex::Female),
    ("Mei", Sex::Female),
    ("Laura", Sex::Female),
    ("Priya", Sex::Female),
    ("Ines", Sex::Female),
    ("Daniel", Sex::Male),
    ("Samuel", Sex::Male),
    ("Marcus", Sex::Male),
    ("Tomas", Sex::Male),
    ("Kenji", Sex::Male),
    ("Omar", Sex::Male),
    ("Peter", Sex::Male),
    ("Victor", Sex::Male),
];

const PRACTITIONER_FAMILY: &[&str] = &[
    "Alvarez",
    "Bergstrom",
    "Chowdhury",
    "Delgado",
    "Eriksen",
    "Fitzgerald",
    "Goldberg",
    "Hashemi",
    "Ivanova",
    "Jablonski",
    "Kowalski",
    "Lindqvist",
    "Mendoza",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinlan",
    "Rahman",
    "Sorensen",
    "Takahashi",
    "Underwood",
    "Vasquez",
    "Whitaker",
];

impl Directory {
    /// The sites of `seed`.
    pub fn new(seed: u64) -> Directory {
        let mut rng = Rng::stream(seed, DIRECTORY_STREAM);
        // Part of each NPI, so that different seeds imported into one database stay apart.
        let seed_tag = rng.between(0, 9999);
        let mut next_npi = 0;
        let mut site = |rng: &mut Rng, index: usize, hospital: bool| {
            let town = TOWNS[index % TOWNS.len()];
            let name = if hospital {
                format!("{} General Hospital", town.0)
            } else {
                format!("{} {}", town.0, CLINIC_NAMES[index % CLINIC_NAMES.len()])
            };
            let organization = Organization {
                id: rng.uuid(),
                identifier: format!("GEN-{seed}-ORG-{}", index + 1),
                name,
                town,
                street: format!("{} Main Street", rng.between(10, 900)),
                phone: format!(
                    "555-{:03}-{:04}",
                    rng.between(200, 999),
                    rng.between(0, 9999)
                ),
            };
            let staff = (0..STAFF)
                .map(|_| {
                    next_npi += 1;
                    let &(given, sex) = rng.pick(PRACTITIONER_GIVEN);
                    let family = *rng.pick(PRACTITIONER_FAMILY);
                    Practitioner {
                        id: rng.uuid(),
                        npi: format!("9{seed_tag:04}{next_npi:05}"),
                        given,
                        family,
                        sex,
                    }
                })
                .collect();
            Site {
                organization,
                staff,
            }
        };
        let clinics = (0..CLINICS).map(|i| site(&mut rng, i, false)).collect();
        let hospitals = (0..HOSPITALS)
            .map(|i| site(&mut rng, CLINICS + i, true))
            .collect();
        Directory { clinics, hospitals }
    }

    /// The clinic and hospital a patient uses.
    pub fn sites_for(&self, rng: &mut Rng) -> CareSites<'_> {
        CareSites {
            clinic: rng.pick(&self.clinics),
            hospital: rng.pick(&self.hospitals),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_directory_depends_only_on_the_seed() {
        let a = Directory::new(4);
        let b = Directory::new(4);
        assert_eq!(a.clinics[0].organization.id, b.clinics[0].organization.id);
        assert_eq!(a.hospitals[2].staff[1].npi, b.hospitals[2].staff[1].npi);
        assert_ne!(
            a.clinics[0].organization.id,
            Directory::new(5).clinics[0].organization.id
        );
    }

    #[test]
    fn identifiers_are_unique_within_a_seed() {
        let d = Directory::new(1);
        let sites = d.clinics.iter().chain(&d.hospitals);
        let npis: HashSet<&str> = sites
            .clone()
            .flat_map(|s| s.staff.iter().map(|p| p.npi.as_str()))
            .collect();
        assert_eq!(npis.len(), (CLINICS + HOSPITALS) * STAFF);
        let orgs: HashSet<&str> = sites.map(|s| s.organization.identifier.as_str()).collect();
        assert_eq!(orgs.len(), CLINICS + HOSPITALS);
        assert!(npis.iter().all(|n| n.len() == 10));
    }
}
