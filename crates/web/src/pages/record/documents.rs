//! Clinical documents: the list, and one document downloaded.

use super::*;

#[derive(Template)]
#[template(path = "documents.html")]
struct DocumentsPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    id: PatientId,
    documents: Vec<Line>,
}

/// GET /patients/{id}/documents
pub async fn documents(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    let (head, documents) = state.app.records().documents(&user.actor(ctx), id).await?;
    Ok(render(&DocumentsPage {
        page: page("Documents", &user, Nav::Documents, id),
        basis: basis_words(&head.access, &head.patient),
        id,
        documents: documents
            .iter()
            .map(|d| {
                let mut parts = Vec::new();
                if let Some(who) = who(d) {
                    parts.push(format!("By {who}"));
                }
                if let Some(Mapped::DocumentReference(doc)) = &d.details
                    && let Some(content) = doc.contents.first()
                {
                    parts.push(match content.content_type.as_deref() {
                        Some(t) if t.starts_with("text/") => "Text".into(),
                        Some("application/pdf") => "PDF".into(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    });
                }
                Line {
                    title: label(d),
                    detail: joined(parts),
                    when: state.dates.day_of(d.columns.sort_at),
                    href: Some(format!("/patients/{id}/documents/{}", d.resource_id)),
                }
            })
            .collect(),
        patient: Banner::new(&head.patient, &state.dates, state.app.now()),
    }))
}

/// GET /patients/{id}/documents/{did}: the document as a download (text as plain text, never
/// rendered as HTML).
pub async fn download(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    path: ItemPath,
) -> PageResult {
    let file = state
        .app
        .records()
        .document_download(&user.actor(ctx), path.patient, path.item)
        .await?;
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
