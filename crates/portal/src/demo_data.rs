//! The sample patients `portal demo` loads: real Synthea records (FHIR R4 Bundles) shipped inside
//! the binary, so the demo needs nothing from the network.

/// The Bundles, in import order: providers first, then patients.
pub const BUNDLES: &[(&str, &[u8])] = &[
    (
        "00-organizations-ma-2025.json",
        include_bytes!("../../../fixtures/synthea/00-organizations-ma-2025.json"),
    ),
    (
        "00-practitioners-ma-2025.json",
        include_bytes!("../../../fixtures/synthea/00-practitioners-ma-2025.json"),
    ),
    (
        "conchita-ramon.json",
        include_bytes!("../../../fixtures/synthea/conchita-ramon.json"),
    ),
    (
        "sandee-lesch.json",
        include_bytes!("../../../fixtures/synthea/sandee-lesch.json"),
    ),
    (
        "lucien-bosco.json",
        include_bytes!("../../../fixtures/synthea/lucien-bosco.json"),
    ),
];

/// The patients the demo patient account holds proxy grants for (as their parent).
pub const CHILDREN: &[&str] = &["conchita-ramon.json", "sandee-lesch.json"];

/// The seed and patient numbers of `portal generate` whose clinical stories the demo patient and
/// her son get: chosen for a rich record (repeated lab tests with ranges and flags, vital signs,
/// problems, an allergy, medications, immunizations, visits with notes).
const GENERATED: (u64, u32, u32) = (7, 75, 46);

/// The demo patient's and her son's records, made by `portal generate` around who they are.
pub fn generated_records() -> std::io::Result<portal_app::demo::DemoRecords> {
    let (seed, sofia, leo) = GENERATED;
    Ok(portal_app::demo::DemoRecords {
        sofia: portal_generate::bundle_for(seed, sofia, &identity(&portal_app::demo::SOFIA, 1))?,
        leo: portal_generate::bundle_for(seed, leo, &identity(&portal_app::demo::LEO, 2))?,
    })
}

/// The generator's identity of a demo person; `n` tells their Patient ids apart.
fn identity(who: &portal_app::demo::DemoPerson, n: u128) -> portal_generate::Identity {
    let (year, month, day) = (
        who.birth
            .get(..4)
            .and_then(|y| y.parse().ok())
            .unwrap_or(1980),
        who.birth
            .get(5..7)
            .and_then(|m| m.parse().ok())
            .unwrap_or(1),
        who.birth
            .get(8..10)
            .and_then(|d| d.parse().ok())
            .unwrap_or(1),
    );
    portal_generate::Identity {
        // Fixed ids, so every demo database names the two records the same way.
        id: uuid::Uuid::from_u128(0xDE30_0000_0000_4000_8000_0000_0000_0000 | n),
        given: who.given,
        family: who.family,
        female: who.sex == "female",
        birth: (year, month, day),
        mrn: who.mrn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_records_are_the_demo_people() {
        let records = generated_records().expect("records");
        for (bundle, who) in [
            (&records.sofia, portal_app::demo::SOFIA),
            (&records.leo, portal_app::demo::LEO),
        ] {
            let json: serde_json::Value = serde_json::from_slice(bundle).expect("JSON");
            let patient = json["entry"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| &e["resource"])
                .find(|r| r["resourceType"] == "Patient")
                .expect("a Patient");
            assert_eq!(patient["birthDate"], who.birth);
            assert_eq!(patient["gender"], who.sex);
            assert_eq!(patient["name"][0]["given"][0], who.given);
            assert_eq!(patient["identifier"][0]["value"], who.mrn);
        }
    }
}
