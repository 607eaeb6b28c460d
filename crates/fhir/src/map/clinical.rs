//! Mapping Encounter, Condition, AllergyIntolerance, Procedure, Immunization, CarePlan and
//! CareTeam.

use super::datatypes::read_concept;
use super::elements::{Node, Read};
use crate::codes::{
    AllergyClinicalStatus, AllergyVerificationStatus, CarePlanActivityStatus, CodeSet,
    ConditionClinicalStatus, ConditionVerificationStatus, EncounterLocationStatus,
};
use crate::error::shown_str;
use crate::model::{
    ALLERGY_CLINICAL_SYSTEM, ALLERGY_VERIFICATION_SYSTEM, AllergyIntoleranceData,
    CONDITION_CLINICAL_SYSTEM, CONDITION_VERIFICATION_SYSTEM, CarePlanActivity, CarePlanData,
    CareTeamData, CareTeamParticipant, Concept, ConditionData, EncounterData, EncounterParticipant,
    ImmunizationData, Occurrence, ProcedureData, Reaction,
};
use crate::primitives::to_instant_micros;
use crate::refs::Reference;

/// The types `onset[x]` and `abatement[x]` (without Boolean) may take.
const ONSET_TYPES: [&str; 5] = ["DateTime", "Age", "Period", "Range", "String"];

/// A status `CodeableConcept` bound to a required value set: every coding of `system` must
/// carry a code of `T`. Returns the concept and that code.
fn status_concept<T: CodeSet>(
    node: &Node<'_>,
    key: &str,
    system: &str,
) -> Read<(Option<Concept>, Option<T>)> {
    let Some(concept) = node.concept(key)? else {
        return Ok((None, None));
    };
    let mut found = None;
    for (index, coding) in concept.codings.iter().enumerate() {
        if coding.system.as_deref() != Some(system) {
            continue;
        }
        let code = coding.code.as_deref().unwrap_or_default();
        match T::from_code(code) {
            Some(value) => found = found.or(Some(value)),
            None => {
                return Err(node.error(
                    &format!("{key}.coding[{index}].code"),
                    format!("{} is not one of {}", shown_str(code), T::CODES.join("|")),
                ));
            }
        }
    }
    Ok((Some(concept), found))
}

/// The references of `performer[].actor` (actor is required in each performer).
fn performer_actors(node: &Node<'_>) -> Read<Vec<Reference>> {
    let actors = node.each("performer", |performer| {
        if performer.get("actor")?.is_none() {
            return Err(performer.error("actor", "required element missing"));
        }
        performer.reference("actor")
    })?;
    Ok(actors.into_iter().flatten().collect())
}

pub(super) fn encounter(node: &Node<'_>) -> Read<EncounterData> {
    let status = node.coded("status")?;
    let class = node.coding("class")?;
    let period = node.period("period")?;
    let period_sort = period
        .as_ref()
        .and_then(|period| period.start.as_deref())
        .and_then(to_instant_micros);
    let hospitalization = node.object("hospitalization")?;
    Ok(EncounterData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.required("status", status)?,
        class: node.required("class", class)?,
        types: node.concepts("type")?,
        subject: node.reference("subject")?,
        participants: node.each("participant", |node| {
            Ok(EncounterParticipant {
                individual: node.reference("individual")?,
                roles: node.concepts("type")?,
                period: node.period("period")?,
            })
        })?,
        period,
        period_sort,
        reason_codes: node.concepts("reasonCode")?,
        reason_references: node.references("reasonReference")?,
        locations: node.each("location", |node| {
            node.coded::<EncounterLocationStatus>("status")?;
            node.period("period")?;
            node.required_reference("location")
        })?,
        service_provider: node.reference("serviceProvider")?,
        discharge_disposition: match hospitalization {
            Some(hospitalization) => hospitalization.concept("dischargeDisposition")?,
            None => None,
        },
        part_of: node.reference("partOf")?,
    })
}

pub(super) fn condition(node: &Node<'_>) -> Read<ConditionData> {
    let (clinical_status, clinical) = status_concept::<ConditionClinicalStatus>(
        node,
        "clinicalStatus",
        CONDITION_CLINICAL_SYSTEM,
    )?;
    let (verification_status, verification) = status_concept::<ConditionVerificationStatus>(
        node,
        "verificationStatus",
        CONDITION_VERIFICATION_SYSTEM,
    )?;
    let abatement = node.occurrence(
        "abatement",
        &["DateTime", "Age", "Period", "Range", "String", "Boolean"],
    )?;
    // con-5: an entry made in error has no clinical status.
    if verification == Some(ConditionVerificationStatus::EnteredInError)
        && clinical_status.is_some()
    {
        return Err(node.error(
            "clinicalStatus",
            "must be absent when verificationStatus is entered-in-error (con-5)",
        ));
    }
    // con-4: an abated condition is no longer active.
    let abated_ok = matches!(
        clinical,
        Some(
            ConditionClinicalStatus::Inactive
                | ConditionClinicalStatus::Resolved
                | ConditionClinicalStatus::Remission
        )
    );
    if abatement.is_some() && !abated_ok {
        return Err(node.error(
            "clinicalStatus",
            "a condition with an abatement must be inactive, resolved or remission (con-4)",
        ));
    }
    let onset = node.occurrence("onset", &ONSET_TYPES)?;
    Ok(ConditionData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        clinical_status,
        verification_status,
        categories: node.concepts("category")?,
        severity: node.concept("severity")?,
        code: node.concept("code")?,
        body_sites: node.concepts("bodySite")?,
        subject: node.required_reference("subject")?,
        encounter: node.reference("encounter")?,
        onset_sort: onset.as_ref().and_then(Occurrence::sort_key),
        onset,
        abatement,
        recorded_date: node.date_time("recordedDate")?,
        recorder: node.reference("recorder")?,
        asserter: node.reference("asserter")?,
        notes: node.notes("note")?,
    })
}

pub(super) fn allergy_intolerance(node: &Node<'_>) -> Read<AllergyIntoleranceData> {
    let (clinical_status, _) =
        status_concept::<AllergyClinicalStatus>(node, "clinicalStatus", ALLERGY_CLINICAL_SYSTEM)?;
    let (verification_status, verification) = status_concept::<AllergyVerificationStatus>(
        node,
        "verificationStatus",
        ALLERGY_VERIFICATION_SYSTEM,
    )?;
    let in_error = verification == Some(AllergyVerificationStatus::EnteredInError);
    // ait-1 and ait-2: a clinical status exactly when the entry is not in error.
    if in_error && clinical_status.is_some() {
        return Err(node.error(
            "clinicalStatus",
            "must be absent when verificationStatus is entered-in-error (ait-2)",
        ));
    }
    if !in_error && clinical_status.is_none() {
        return Err(node.error(
            "clinicalStatus",
            "required unless verificationStatus is entered-in-error (ait-1)",
        ));
    }
    Ok(AllergyIntoleranceData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        clinical_status,
        verification_status,
        type_: node.coded("type")?,
        categories: node.coded_list("category")?,
        criticality: node.coded("criticality")?,
        code: node.concept("code")?,
        patient: node.required_reference("patient")?,
        encounter: node.reference("encounter")?,
        onset: node.occurrence("onset", &ONSET_TYPES)?,
        recorded_date: node.date_time("recordedDate")?,
        recorder: node.reference("recorder")?,
        asserter: node.reference("asserter")?,
        reactions: node.each("reaction", |node| {
            let manifestations = node.concepts("manifestation")?;
            if manifestations.is_empty() {
                return Err(node.error("manifestation", "required element missing"));
            }
            Ok(Reaction {
                substance: node.concept("substance")?,
                manifestations,
                severity: node.coded("severity")?,
                description: node.string("description")?,
                onset: node.date_time("onset")?,
            })
        })?,
        notes: node.notes("note")?,
    })
}

pub(super) fn procedure(node: &Node<'_>) -> Read<ProcedureData> {
    let status = node.coded("status")?;
    let performed = node.occurrence(
        "performed",
        &["DateTime", "Period", "String", "Age", "Range"],
    )?;
    Ok(ProcedureData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.required("status", status)?,
        code: node.concept("code")?,
        subject: node.required_reference("subject")?,
        encounter: node.reference("encounter")?,
        performed_sort: performed.as_ref().and_then(Occurrence::sort_key),
        performed,
        recorder: node.reference("recorder")?,
        performers: performer_actors(node)?,
        location: node.reference("location")?,
        reason_codes: node.concepts("reasonCode")?,
        reason_references: node.references("reasonReference")?,
        body_sites: node.concepts("bodySite")?,
        outcome: node.concept("outcome")?,
        notes: node.notes("note")?,
    })
}

pub(super) fn immunization(node: &Node<'_>) -> Read<ImmunizationData> {
    let status = node.coded("status")?;
    let vaccine_code = node.one("vaccineCode", read_concept)?;
    let occurrence = node.occurrence("occurrence", &["DateTime", "String"])?;
    let occurrence = node.required("occurrence[x]", occurrence)?;
    Ok(ImmunizationData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.required("status", status)?,
        status_reason: node.concept("statusReason")?,
        vaccine_code: node.required("vaccineCode", vaccine_code)?,
        patient: node.required_reference("patient")?,
        encounter: node.reference("encounter")?,
        occurrence_sort: occurrence.sort_key(),
        occurrence,
        recorded: node.date_time("recorded")?,
        primary_source: node.boolean("primarySource")?,
        lot_number: node.string("lotNumber")?,
        expiration_date: node.date("expirationDate")?,
        location: node.reference("location")?,
        site: node.concept("site")?,
        route: node.concept("route")?,
        performers: performer_actors(node)?,
        notes: node.notes("note")?,
    })
}

pub(super) fn care_plan(node: &Node<'_>) -> Read<CarePlanData> {
    let status = node.coded("status")?;
    let intent = node.coded("intent")?;
    Ok(CarePlanData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.required("status", status)?,
        intent: node.required("intent", intent)?,
        categories: node.concepts("category")?,
        title: node.string("title")?,
        description: node.string("description")?,
        subject: node.required_reference("subject")?,
        encounter: node.reference("encounter")?,
        period: node.period("period")?,
        created: node.date_time("created")?,
        author: node.reference("author")?,
        care_teams: node.references("careTeam")?,
        addresses: node.references("addresses")?,
        goals: node.references("goal")?,
        activities: node.each("activity", |node| {
            let reference = node.reference("reference")?;
            let Some(detail) = node.object("detail")? else {
                return Ok(CarePlanActivity {
                    reference,
                    ..CarePlanActivity::default()
                });
            };
            // cpl-3: an activity is either a reference or a detail.
            if reference.is_some() {
                return Err(
                    node.error_here("an activity has a reference or a detail, not both (cpl-3)")
                );
            }
            let status = detail.coded::<CarePlanActivityStatus>("status")?;
            Ok(CarePlanActivity {
                code: detail.concept("code")?,
                status: Some(detail.required("status", status)?),
                description: detail.string("description")?,
                location: detail.reference("location")?,
                reason_codes: detail.concepts("reasonCode")?,
                reference: None,
            })
        })?,
        notes: node.notes("note")?,
    })
}

pub(super) fn care_team(node: &Node<'_>) -> Read<CareTeamData> {
    Ok(CareTeamData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.coded("status")?,
        categories: node.concepts("category")?,
        name: node.string("name")?,
        subject: node.reference("subject")?,
        encounter: node.reference("encounter")?,
        period: node.period("period")?,
        participants: node.each("participant", |node| {
            Ok(CareTeamParticipant {
                roles: node.concepts("role")?,
                member: node.reference("member")?,
                on_behalf_of: node.reference("onBehalfOf")?,
                period: node.period("period")?,
            })
        })?,
        reason_codes: node.concepts("reasonCode")?,
        managing_organizations: node.references("managingOrganization")?,
        notes: node.notes("note")?,
    })
}

#[cfg(test)]
#[path = "clinical_tests.rs"]
mod tests;
