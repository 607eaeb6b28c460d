//! "Download my record": the record, whole or for a time span, as a FHIR Bundle (the same
//! resources and ids the read API serves) and as the lists a printable summary shows. Each
//! download is one policy decision and one audit event (an export). What the reader may not see
//! (results not yet released, and for a proxy items in a confidential category) is left out,
//! and nothing in the file points at what was left out.

use super::{Item, RecordHead, items};
use crate::fhir_api::{compartment_types, json_string, own_resources, push_entry, serve_linking};
use crate::services::Records;
use crate::{Actor, Result};
use portal_domain::PatientId;
use portal_domain::access::Action;
use portal_domain::audit::AuditAction;
use portal_domain::record::ItemKind;
use portal_fhir::serve::ResolvedRefs;
use portal_store::records::{self, ItemQuery};
use portal_store::served;
use std::collections::HashSet;

/// The span a download covers: from (inclusive) and until (exclusive), Unix microseconds;
/// `None` for no bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// The first microsecond.
    pub from: Option<i64>,
    /// The microsecond after the last.
    pub until: Option<i64>,
}

/// A file to download.
#[derive(Debug)]
pub struct RecordFile {
    /// The name to save it under.
    pub file_name: String,
    /// The content (JSON).
    pub body: String,
    /// How many resources it holds.
    pub resources: usize,
}

/// What a printable summary lists, each newest first.
#[derive(Debug, Default)]
pub struct PrintedRecord {
    /// Problems.
    pub conditions: Vec<Item>,
    /// Allergies.
    pub allergies: Vec<Item>,
    /// Medications.
    pub medications: Vec<Item>,
    /// Vaccinations.
    pub immunizations: Vec<Item>,
    /// Results and vital signs.
    pub results: Vec<Item>,
    /// Procedures.
    pub procedures: Vec<Item>,
    /// Visits.
    pub visits: Vec<Item>,
}

/// The types a directory reference may point at.
const DIRECTORY: [&str; 4] = ["Practitioner", "Organization", "Location", "Medication"];

/// The most items of one kind a printable summary lists.
const PRINT_LIMIT: i64 = 5_000;

impl Records {
    /// The record (or the part of it in `span`) as a FHIR `collection` Bundle, with the
    /// practitioners, organizations, places and medications it points at.
    pub async fn export_bundle(
        &self,
        actor: &Actor,
        patient: PatientId,
        span: Span,
    ) -> Result<(RecordHead, RecordFile)> {
        let (head, mut tx, mut viewed) = self
            .open_record(actor, patient, Action::ViewRecord, "RecordExport", None)
            .await?;
        let now = self.now();
        let visibility = head.access.visibility();
        // A Provenance lists every resource it is about, shown or not: only a reader who sees
        // the whole record gets them.
        let types: Vec<&str> = compartment_types()
            .into_iter()
            .filter(|t| {
                *t != "Provenance" || (visibility.unreleased && visibility.shows_every_category())
            })
            .collect();
        let mut rows =
            served::record_export(&mut tx, &head.access, now, &types, (span.from, span.until))
                .await?;
        // The portal's own messages, appointments and prescriptions, by when each happened
        // (and, for a record enrolled at the portal, its Patient).
        let own = own_resources(&mut tx, &head.access, &types).await?;
        rows.extend(
            own.into_iter()
                .filter(|o| {
                    o.stored.resource_type == "Patient"
                        || (span.from.is_none_or(|from| o.at >= from)
                            && span.until.is_none_or(|until| o.at < until))
                })
                .map(|o| o.stored),
        );
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        let mut wanted: Vec<String> = rows
            .iter()
            .filter_map(|r| r.refs.as_deref())
            .flat_map(|refs| {
                ResolvedRefs::from_text(refs)
                    .targets()
                    .filter(|(t, _)| DIRECTORY.contains(t))
                    .map(|(_, id)| id.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let ids: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let directory = served::directory_for_record(&mut tx, &head.access, &ids).await?;
        let inside: HashSet<(String, String)> = rows
            .iter()
            .chain(&directory)
            .map(|r| (r.resource_type.clone(), r.id.clone()))
            .collect();
        let base = self.config().public_url.trim_end_matches('/').to_string();
        let mut body = String::with_capacity(256 + (rows.len() + directory.len()) * 2048);
        body.push_str(r#"{"resourceType":"Bundle","type":"collection","timestamp":"#);
        body.push_str(&json_string(&served::instant(portal_store::to_micros(now))));
        body.push_str(r#","entry":["#);
        let mut count = 0;
        for row in rows.iter().chain(&directory) {
            // Only links to what the file holds: nothing points at what was left out.
            let resource = serve_linking(row, |t, id| {
                inside.contains(&(t.to_string(), id.to_string()))
            })?;
            if count > 0 {
                body.push(',');
            }
            count += 1;
            push_entry(&mut body, &base, row, &resource, None);
        }
        body.push_str("]}");
        viewed.0.action = AuditAction::Export;
        viewed.0.detail = format!("download: FHIR Bundle of {count} resources");
        self.finish_read(tx, viewed).await?;
        let day = now
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
            .to_string();
        Ok((
            head,
            RecordFile {
                file_name: format!("health-record-{day}.json"),
                body,
                resources: count,
            },
        ))
    }

    /// What a printable summary of the record (or the part of it in `span`) lists.
    pub async fn export_summary(
        &self,
        actor: &Actor,
        patient: PatientId,
        span: Span,
    ) -> Result<(RecordHead, PrintedRecord)> {
        let (head, mut tx, mut viewed) = self
            .open_record(actor, patient, Action::ViewRecord, "RecordExport", None)
            .await?;
        let now = self.now();
        let mut printed = PrintedRecord::default();
        for (kinds, list) in [
            (&[ItemKind::Condition][..], &mut printed.conditions),
            (&[ItemKind::Allergy][..], &mut printed.allergies),
            (&[ItemKind::MedicationRequest][..], &mut printed.medications),
            (&[ItemKind::Immunization][..], &mut printed.immunizations),
            (&[ItemKind::Observation][..], &mut printed.results),
            (&[ItemKind::Procedure][..], &mut printed.procedures),
            (&[ItemKind::Encounter][..], &mut printed.visits),
        ] {
            let rows = records::list(
                &mut tx,
                &head.access,
                &ItemQuery {
                    kinds,
                    from: span.from,
                    until: span.until,
                    limit: PRINT_LIMIT,
                    ..ItemQuery::default()
                },
                now,
            )
            .await?;
            *list = items(rows);
        }
        viewed.0.action = AuditAction::Export;
        viewed.0.detail = "download: printable summary".into();
        self.finish_read(tx, viewed).await?;
        Ok((head, printed))
    }
}
