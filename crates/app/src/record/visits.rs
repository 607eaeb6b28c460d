//! Visits with what was recorded at them, and clinical documents.

use super::*;
use crate::services::Records;

/// A visit opened.
#[derive(Debug)]
pub struct VisitDetail {
    /// The encounter.
    pub visit: Item,
    /// Everything recorded at it: diagnoses, notes, results, medications, procedures, …
    pub items: Vec<Item>,
    /// Results shown on their own line: those of no report, or of a report the viewer cannot
    /// see yet.
    pub stand_alone: HashSet<ResourceId>,
    /// Of its items and the reports listing them, those not yet visible to the patient.
    pub held: HashSet<ResourceId>,
}

/// A document to download.
#[derive(Debug)]
pub struct Download {
    /// A file name without health data in it.
    pub file_name: String,
    /// The MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Records {
    /// Past visits, newest first.
    pub async fn visits(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(RecordHead, Vec<Item>)> {
        self.list_of(
            actor,
            patient,
            (Action::ViewNotes, "VisitList"),
            &[ItemKind::Encounter],
        )
        .await
    }

    /// One visit with what was recorded at it.
    pub async fn visit(
        &self,
        actor: &Actor,
        patient: PatientId,
        visit_id: ResourceId,
    ) -> Result<(RecordHead, VisitDetail)> {
        let (head, mut tx, viewed) = self
            .open_record(actor, patient, Action::ViewNotes, "Visit", Some(visit_id))
            .await?;
        let now = self.now();
        let Some(visit) = records::get(&mut tx, &head.access, visit_id, now)
            .await?
            .filter(|r| r.columns.kind == ItemKind::Encounter)
        else {
            drop(tx);
            return Err(self
                .missing_item(actor, &head.access, "Visit", visit_id)
                .await);
        };
        let rows = records::list(
            &mut tx,
            &head.access,
            &ItemQuery {
                kinds: &[
                    ItemKind::Condition,
                    ItemKind::Document,
                    ItemKind::DiagnosticReport,
                    ItemKind::Observation,
                    ItemKind::MedicationRequest,
                    ItemKind::Procedure,
                    ItemKind::Immunization,
                    ItemKind::CarePlan,
                    ItemKind::Allergy,
                ],
                encounter_id: Some(visit_id),
                limit: 2_000,
                ..ItemQuery::default()
            },
            now,
        )
        .await?;
        // A result listed by a report stands on its own only while the viewer cannot see the
        // report (the report may be of another visit).
        let here: HashSet<ResourceId> = rows.iter().map(|r| r.resource_id).collect();
        let elsewhere: HashSet<ResourceId> = rows
            .iter()
            .filter_map(|r| r.report_id)
            .filter(|report| !here.contains(report))
            .collect();
        let mut unseen_reports = HashSet::new();
        for report in &elsewhere {
            if records::get(&mut tx, &head.access, *report, now)
                .await?
                .is_none()
            {
                unseen_reports.insert(*report);
            }
        }
        let stand_alone = rows
            .iter()
            .filter(|r| r.columns.kind == ItemKind::Observation)
            .filter(|r| {
                r.report_id
                    .is_none_or(|report| unseen_reports.contains(&report))
            })
            .map(|r| r.resource_id)
            .collect();
        let asked: Vec<ResourceId> = here.iter().chain(&elsewhere).copied().collect();
        let held = records::held_among(&mut tx, &head.access, &asked, now).await?;
        self.finish_read(tx, viewed).await?;
        Ok((
            head,
            VisitDetail {
                visit: item_of(visit),
                items: items(rows),
                stand_alone,
                held,
            },
        ))
    }

    /// Clinical documents (notes), newest first.
    pub async fn documents(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(RecordHead, Vec<Item>)> {
        self.list_of(
            actor,
            patient,
            (Action::ViewNotes, "DocumentList"),
            &[ItemKind::Document],
        )
        .await
    }

    /// One document's content, to download.
    pub async fn document_download(
        &self,
        actor: &Actor,
        patient: PatientId,
        document_id: ResourceId,
    ) -> Result<Download> {
        let (head, mut tx, viewed) = self
            .open_record(
                actor,
                patient,
                Action::ViewNotes,
                "Document",
                Some(document_id),
            )
            .await?;
        let Some(row) = records::get(&mut tx, &head.access, document_id, self.now())
            .await?
            .filter(|r| r.columns.kind == ItemKind::Document)
        else {
            drop(tx);
            return Err(self
                .missing_item(actor, &head.access, "Document", document_id)
                .await);
        };
        let raw = portal_store::resources::json(&mut tx, &head.access, row.resource_id).await?;
        self.finish_read(tx, viewed).await?;
        let sort_at = row.columns.sort_at;
        let attachment = match item_of(row).details {
            Some(Mapped::DocumentReference(doc)) => doc.contents.into_iter().next(),
            _ => None,
        }
        .ok_or(Error::NotFound)?;
        let date = sort_at
            .and_then(|at| jiff::Timestamp::from_microsecond(at).ok())
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "undated".into());
        download_of(&attachment, raw.as_deref(), &date)
    }
}

/// The bytes of an attachment: its decoded text, or its inline data read from the stored JSON.
fn download_of(attachment: &Attachment, raw: Option<&str>, date: &str) -> Result<Download> {
    let content_type = attachment
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let extension = match content_type.split(';').next().unwrap_or("").trim() {
        "text/plain" => "txt",
        "text/html" => "html.txt",
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        _ => "bin",
    };
    let file_name = format!("clinical-note-{date}.{extension}");
    if let Some(text) = &attachment.text {
        // Text is always served as plain text, so HTML in a note is never rendered.
        return Ok(Download {
            file_name,
            content_type: "text/plain; charset=utf-8".into(),
            bytes: text.clone().into_bytes(),
        });
    }
    if attachment.has_binary {
        // The stored JSON is read with the importer's parser, which refuses repeated keys: the
        // bytes served are the ones the import checked, never a second "data" it did not see.
        use portal_fhir::json::{JsonContainerTrait, JsonValueTrait};
        let stored = raw
            .map(|json| portal_fhir::json::parse(json.as_bytes()))
            .transpose()
            .map_err(|_| Error::Internal("stored document is not readable JSON".into()))?;
        let data = stored
            .as_ref()
            .and_then(|v| {
                v.get("content")?
                    .as_array()?
                    .first()?
                    .get("attachment")?
                    .get("data")?
                    .as_str()
                    .map(str::to_string)
            })
            .ok_or(Error::NotFound)?;
        let bytes = data_encoding::BASE64
            .decode(data.as_bytes())
            .map_err(|_| Error::Internal("stored attachment is not base64".into()))?;
        return Ok(Download {
            file_name,
            content_type,
            bytes,
        });
    }
    Err(Error::NotFound)
}
