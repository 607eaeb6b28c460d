//! The portal's own resources in the read API: secure messages as `Communication`,
//! appointments as `Appointment`, prescriptions written on approving refills as
//! `MedicationRequest` (beside the imported ones). They are not kept as FHIR: each is written
//! from the portal's tables when asked, for one record, with the access the policy granted for
//! its kind of data, and searched in memory with the same tests the store's index makes (a
//! record holds tens of them, not the thousands of an imported history). Every change to them
//! raises the record's version, so answers kept by version stay true.

use crate::Result;
use portal_domain::PatientAccess;
use portal_domain::access::Action;
use portal_domain::messages::{Recipient, Side};
use portal_fhir::Reference;
use portal_fhir::communication::{AttachedFile, Message, Party, communication};
use portal_fhir::scheduling::{AppointmentFacts, appointment};
use portal_fhir::search::{Search, terms_of};
use portal_fhir::serve::ResolvedRefs;
use portal_store::served::StoredResource;
use portal_store::{Conn, to_micros};

/// The most appointments of one record served (far more than a record holds).
const APPOINTMENT_LIMIT: i64 = 10_000;

/// A resource the portal wrote itself, as the API serves it.
#[derive(Clone, Debug)]
pub(crate) struct Own {
    /// The resource, in the form stored resources take (its references resolved to themselves).
    pub stored: StoredResource,
    /// When it happened (sent, starts, written), Unix microseconds: what a download's dates
    /// select it by.
    pub at: i64,
}

/// Whether the portal writes resources of this type itself (a Patient only for a record
/// enrolled at the portal, which has none from the EHR).
pub(crate) fn is_own_type(resource_type: &str) -> bool {
    matches!(
        resource_type,
        "Communication" | "Appointment" | "MedicationRequest" | "Patient"
    )
}

/// The action reading resources of this type takes: messages and appointments are reached as
/// the patient's pages reach them, the rest as the record.
pub(crate) fn action_for(resource_type: &str) -> Action {
    match resource_type {
        "Communication" => Action::ViewMessages,
        "Appointment" => Action::ViewAppointments,
        _ => Action::ViewRecord,
    }
}

/// The access for `action` that `access` holds or widens to on the same basis.
fn reach(access: &PatientAccess, action: Action) -> Option<PatientAccess> {
    if access.action() == action {
        Some(access.clone())
    } else {
        access.widened_to(action)
    }
}

/// The record's resources of the `types` the portal wrote itself and `access` reaches, in id
/// order.
pub(crate) async fn own_resources(
    conn: &mut Conn,
    access: &PatientAccess,
    types: &[&str],
) -> Result<Vec<Own>> {
    let mut out = Vec::new();
    let patient = access.patient().to_string();
    if types.contains(&"Patient")
        && !portal_store::served::has_imported_patient(conn, access).await?
        && let Some(row) = portal_store::patients::get(conn, access).await?
    {
        // A record enrolled at the portal: who it is, from what the portal knows.
        let resource = portal_fhir::serve::patient_of(&portal_fhir::serve::Demographics {
            id: &patient,
            mrn: &row.mrn,
            given: &row.given_name,
            family: &row.family_name,
            birth_date: &row.birth_date,
            sex: &row.sex,
        });
        let resource: serde_json::Value = serde_json::from_str(&resource)
            .map_err(|e| crate::Error::Internal(format!("patient {patient}: {e}")))?;
        // Enrolment made the record's id (a UUIDv7): its time is when the record began.
        let enrolled = uuid::Uuid::parse_str(&patient)
            .ok()
            .and_then(|u| u.get_timestamp())
            .map(|t| {
                let (seconds, nanos) = t.to_unix();
                i64::try_from(seconds).unwrap_or(0) * 1_000_000 + i64::from(nanos / 1_000)
            })
            .unwrap_or(0);
        out.push(own(resource, 1, enrolled, enrolled));
    }
    if types.contains(&"Communication")
        && let Some(messages) = reach(access, Action::ViewMessages)
    {
        for (conversation, list) in portal_store::messages::of_record(conn, &messages).await? {
            let mut previous: Option<String> = None;
            for m in &list {
                let resource = communication_of(&patient, &conversation, m, previous.take());
                previous = Some(m.id.to_string());
                let changed = m.read_at.unwrap_or(m.sent_at);
                let version = if m.read_at.is_some() { 2 } else { 1 };
                out.push(own(
                    resource,
                    version,
                    to_micros(changed),
                    to_micros(m.sent_at),
                ));
            }
        }
    }
    if types.contains(&"Appointment")
        && let Some(appointments) = reach(access, Action::ViewAppointments)
    {
        let list = portal_store::appointments::list(conn, &appointments, APPOINTMENT_LIMIT).await?;
        for a in &list {
            let resource = appointment(&AppointmentFacts {
                id: a.id.to_string(),
                patient_id: patient.clone(),
                practitioner_id: a.clinician.to_string(),
                practitioner_name: a.clinician_name.clone(),
                location_id: a.location.to_string(),
                location_name: a.location_name.clone(),
                visit_type_code: a.visit_type.to_string(),
                visit_type_name: a.visit_type_name.clone(),
                video: a.video,
                start: a.start.to_string(),
                end: a.end.to_string(),
                status: a.status,
                reason: Some(a.reason.as_str().to_string()),
                booked_at: a.booked_at.to_string(),
                cancelled_by_patient: None,
            });
            let version = if a.changed_at.is_some() { 2 } else { 1 };
            let changed = a.changed_at.unwrap_or(a.booked_at);
            out.push(own(
                resource,
                version,
                to_micros(changed),
                to_micros(a.start),
            ));
        }
    }
    if types.contains(&"MedicationRequest")
        && let Some(record) = reach(access, Action::ViewRecord)
    {
        for issued in portal_store::refills::issued(conn, &record).await? {
            let resource: serde_json::Value = serde_json::from_str(&issued.json).map_err(|e| {
                crate::Error::Internal(format!("issued prescription {}: {e}", issued.id))
            })?;
            let at = to_micros(issued.created_at);
            out.push(own(resource, 1, at, at));
        }
    }
    out.sort_by(|a, b| a.stored.id.cmp(&b.stored.id));
    Ok(out)
}

/// Those of `own` a search finds: its `_id`s and conditions, tested as the store's index
/// tests imported resources.
pub(crate) fn found_by(own: Vec<Own>, search: &Search) -> Vec<Own> {
    own.into_iter()
        .filter(|o| o.stored.resource_type == search.resource_type)
        .filter(|o| search.ids.is_empty() || search.ids.contains(&o.stored.id))
        .filter(|o| {
            let Ok(resource) = portal_fhir::json::parse(o.stored.json.as_bytes()) else {
                return false;
            };
            let terms = terms_of(&resource);
            search
                .conditions
                .iter()
                .all(|c| c.holds(&terms, o.stored.updated_at))
        })
        .collect()
}

/// Merges a page of stored resources with the portal's own ones after `after`, in id order,
/// keeping at most `limit`.
pub(crate) fn merge_page(
    stored: Vec<StoredResource>,
    own: &[Own],
    after: Option<&str>,
    limit: usize,
) -> Vec<StoredResource> {
    let mut all = stored;
    all.extend(
        own.iter()
            .filter(|o| after.is_none_or(|a| o.stored.id.as_str() > a))
            .map(|o| o.stored.clone()),
    );
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all.dedup_by(|a, b| a.id == b.id);
    all.truncate(limit);
    all
}

/// The `Communication` of one message, the one before it answered.
pub(crate) fn communication_of(
    patient: &str,
    conversation: &portal_store::messages::Conversation,
    m: &portal_store::messages::StoredMessage,
    in_response_to: Option<String>,
) -> serde_json::Value {
    let routed = match conversation.routed_to {
        Recipient::Pool(p) => Party::Pool(p.to_string(), conversation.routed_name.clone()),
        Recipient::Clinician(u) => {
            Party::Practitioner(u.to_string(), conversation.routed_name.clone())
        }
    };
    let (sender, recipient) = match m.side {
        Side::Patient if m.by_proxy => (
            Party::RelatedPerson(m.author.to_string(), m.author_name.clone()),
            routed,
        ),
        Side::Patient => (Party::Patient(patient.to_string()), routed),
        Side::Clinic => (
            Party::Practitioner(m.author.to_string(), m.author_name.clone()),
            Party::Patient(patient.to_string()),
        ),
    };
    communication(&Message {
        id: m.id.to_string(),
        conversation: conversation.id.to_string(),
        subject: conversation.subject.as_str().to_string(),
        topic: conversation.topic,
        patient: patient.to_string(),
        side: m.side,
        sender,
        recipient,
        sent: m.sent_at.to_string(),
        received: m.read_at.map(|at| at.to_string()),
        text: m.body.as_str().to_string(),
        // The files are the patient's pages' to give; the API names them only.
        files: m
            .attachments
            .iter()
            .map(|f| AttachedFile {
                content_type: f.kind.content_type().to_string(),
                url: None,
                title: f.name.as_str().to_string(),
                size: f.size,
            })
            .collect(),
        in_response_to,
    })
}

/// An own resource in the form stored ones take: its references to the record and to other
/// served resources resolve to themselves; those to the portal's accounts, pools and places
/// (which the API does not serve) go out as their names.
fn own(resource: serde_json::Value, version: i64, updated_at: i64, at: i64) -> Own {
    let resource_type = resource
        .get("resourceType")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    let id = resource
        .get("id")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    let json = resource.to_string();
    let mut refs = ResolvedRefs::default();
    let parsed = portal_fhir::json::parse(json.as_bytes()).unwrap_or_default();
    for (_, reference) in portal_fhir::collect_references(&parsed) {
        if let Reference::Relative { resource_type, id } = &reference
            && matches!(
                resource_type.as_str(),
                "Patient" | "Communication" | "MedicationRequest"
            )
        {
            refs.note(&reference, resource_type, id);
        }
    }
    Own {
        stored: StoredResource {
            id,
            resource_type,
            source_id: None,
            version,
            updated_at,
            json,
            refs: Some(refs.to_text()),
        },
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str) -> StoredResource {
        StoredResource {
            id: id.into(),
            resource_type: "MedicationRequest".into(),
            source_id: None,
            version: 1,
            updated_at: 0,
            json: "{}".into(),
            refs: None,
        }
    }

    #[test]
    fn a_page_merges_both_kinds_in_id_order_after_the_last_id() {
        let own: Vec<Own> = ["b", "d", "f"]
            .iter()
            .map(|id| Own {
                stored: stored(id),
                at: 0,
            })
            .collect();
        let ids = |page: Vec<StoredResource>| page.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let page = merge_page(vec![stored("c"), stored("e")], &own, Some("b"), 3);
        assert_eq!(ids(page), ["c", "d", "e"]);
        let page = merge_page(vec![stored("a")], &own, None, 10);
        assert_eq!(ids(page), ["a", "b", "d", "f"]);
    }

    #[test]
    fn an_own_resource_links_to_the_record_and_names_what_the_api_does_not_serve() {
        let o = own(
            serde_json::json!({
                "resourceType": "Communication",
                "id": "m1",
                "subject": { "reference": "Patient/p1" },
                "sender": { "reference": "Practitioner/u1", "display": "Dr. Park" },
                "inResponseTo": [{ "reference": "Communication/m0" }],
            }),
            1,
            5,
            5,
        );
        let refs = ResolvedRefs::from_text(o.stored.refs.as_deref().unwrap_or_default());
        let mut targets: Vec<(&str, &str)> = refs.targets().collect();
        targets.sort_unstable();
        assert_eq!(targets, [("Communication", "m0"), ("Patient", "p1")]);
        assert_eq!(
            (o.stored.resource_type.as_str(), o.stored.id.as_str()),
            ("Communication", "m1")
        );
    }
}
