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
