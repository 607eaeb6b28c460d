//! Whose record each resource is in: the checks an update must pass (it never moves a resource
//! to another patient's record; a Patient found only by an identifier is the same person) and
//! the `patients` rows an import writes.

use super::resolve::Placed;
use super::{Item, Key, error_at};
use crate::{Error, Result};
use portal_domain::access::ClinicCapability;
use portal_fhir::CodeSet;
use portal_store::Conn;
use portal_store::patients::{self, PatientRow};

/// An update never moves a resource to another patient's record, and a Patient found only by an
/// identifier must be the same person.
pub(super) async fn check_update(
    tx: &mut Conn,
    import: &ClinicCapability,
    item: &Item,
    at: &Placed,
) -> Result<()> {
    let Some(known) = &at.existing else {
        return Ok(());
    };
    if item.key.resource_type != "Patient"
        && known.patient_id.is_some()
        && known.patient_id != at.patient
    {
        return Err(error_at(
            &item.key,
            &format!("{}.{}", item.key.resource_type, compartment_field(item)),
            "this update would move the resource to another patient's record (or out of every \
             record); an update may not change whose record a resource is in"
                .into(),
        ));
    }
    if item.key.resource_type == "Patient"
        && !matched_by_source(&item.key)
        && let Some(data) = &item.patient
        && let Some(stored) =
            patients::get_for_import(tx, import, crate::parse_patient_id(&known.id)?).await?
    {
        let same_birth = data
            .birth_date
            .as_deref()
            .is_none_or(|b| b == stored.birth_date);
        let same_mrn = data.mrn.as_deref().is_none_or(|m| m == stored.mrn);
        if !same_birth || !same_mrn {
            return Err(error_at(
                &item.key,
                "Patient.identifier",
                "this Patient has no id the portal knows and its identifier matches a patient \
                 with another date of birth or medical record number; it is refused rather than \
                 overwrite that record"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Writes a Patient's `patients` row.
pub(super) async fn write_patient(
    tx: &mut Conn,
    import: &ClinicCapability,
    item: &Item,
    at: &Placed,
    data: &portal_fhir::model::PatientData,
    now: jiff::Timestamp,
) -> Result<()> {
    let row = patient_row(&item.key, &at.id, data)?;
    let details = serde_json::to_string(data)
        .map_err(|e| Error::Internal(format!("cannot serialise a patient: {e}")))?;
    patients::upsert_imported(tx, import, &row, &at.id, &details, now)
        .await
        .map_err(|e| match e {
            portal_store::Error::Conflict(_) => error_at(
                &item.key,
                "Patient.identifier",
                format!(
                    "the medical record number {:?} belongs to another patient",
                    row.mrn
                ),
            ),
            other => other.into(),
        })?;
    Ok(())
}

/// Whether an item was found by its sender's id (not by an identifier).
pub(super) fn matched_by_source(key: &Key) -> bool {
    key.source_id.is_some()
        && key
            .request
            .as_ref()
            .and_then(|r| r.if_none_exist_identifier())
            .is_none()
}

/// The element that says whose record a resource is in, for error messages.
pub(super) fn compartment_field(item: &Item) -> &'static str {
    portal_fhir::compartment::patient_field(item.refs.iter().map(|(path, _)| path.as_str()))
}

pub(super) fn patient_row(
    key: &Key,
    id: &str,
    data: &portal_fhir::model::PatientData,
) -> Result<PatientRow> {
    let name = data
        .names
        .iter()
        .find(|n| n.use_.map(CodeSet::code) == Some("official"))
        .or_else(|| data.names.first());
    let given = name.map(|n| n.given.join(" ")).unwrap_or_default();
    let family = name.and_then(|n| n.family.clone()).unwrap_or_default();
    let mrn = data
        .mrn
        .clone()
        .or_else(|| key.source_id.as_ref().map(|id| format!("FHIR-{id}")))
        .unwrap_or_else(|| format!("FHIR-{id}"));
    Ok(PatientRow {
        id: crate::parse_patient_id(id)?,
        mrn,
        given_name: given,
        family_name: family,
        birth_date: data.birth_date.clone().unwrap_or_default(),
        sex: data
            .gender
            .map_or_else(|| "unknown".to_string(), |g| g.code().to_string()),
        deceased: match &data.deceased {
            Some(portal_fhir::model::Deceased::At(at)) => Some(at.clone()),
            Some(portal_fhir::model::Deceased::Flag(true)) => Some(String::new()),
            Some(portal_fhir::model::Deceased::Flag(false)) | None => None,
        },
    })
}
