//! The FHIR R4 read API: read, search and `$everything` for system clients whose token may
//! read. Each resource goes out under the portal's id with its references rewritten to the
//! portal's ids ([`portal_fhir::serve`]); the stored JSON stays as it was sent.
//!
//! Every request is one policy decision per record it touches and one audit event per record
//! (searches of a record's resources name one record; a Patient search names each patient it
//! returns). Anything outside what the caller may see is "not found", exactly as a resource that
//! does not exist.

use crate::record::cache::{Key, View};
mod own;

pub(crate) use own::{communication_of, own_resources};

use crate::services::FhirApi;
use crate::{Actor, Error, Result, commit};
use portal_domain::access::{
    Action, ClinicAction, ClinicCapability, Interaction, TypeAccess, authorize_clinic,
};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::{PatientAccess, PatientId};
use portal_fhir::search::{self, Condition, Prefix, Search};
use portal_fhir::serve::{ResolvedRefs, Served, serve_stored};
use portal_store::access::RecordVersion;
use portal_store::served::{self, DateCompare, Filter, Query, Scope, StoredResource};
use std::sync::Arc;

/// Which record each resource found so far is in (`None`: the directory), so a read of it
/// again asks the database only what the policy needs. A resource never moves between records
/// (an import that would move one is refused) and is never deleted, so what was found stays
/// true; a resource not found is not kept (it may arrive). Bounded: emptied when full.
#[derive(Default)]
pub(crate) struct Located(
    std::sync::Mutex<std::collections::HashMap<(String, String), Option<PatientId>>>,
);

/// The most resources [`Located`] keeps (about 150 bytes each).
const LOCATED_MAX: usize = 200_000;

impl Located {
    fn get(&self, resource_type: &str, id: &str) -> Option<Option<PatientId>> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&(resource_type.to_string(), id.to_string()))
            .copied()
    }

    fn put(&self, resource_type: &str, id: &str, patient: Option<PatientId>) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= LOCATED_MAX {
            map.clear();
        }
        map.insert((resource_type.to_string(), id.to_string()), patient);
    }
}

/// An answer of the API: a resource or a Bundle, as JSON text.
#[derive(Clone, Debug)]
pub struct FhirBody(pub String);

/// The types `$everything` returns: the record's resources of every type the API serves.
pub(crate) fn compartment_types() -> Vec<&'static str> {
    search::SERVED
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| search::in_patient_compartment(t) || *t == "Patient")
        .collect()
}

impl FhirApi {
    /// The policy's leave to use the API; a token that may not read is refused (403).
    fn leave(&self, actor: &Actor) -> Result<ClinicCapability> {
        authorize_clinic(&actor.principal, ClinicAction::ReadApi).map_err(|_| Error::Forbidden)
    }

    /// `GET /fhir/{type}/{id}`.
    pub async fn read(&self, actor: &Actor, resource_type: &str, id: &str) -> Result<FhirBody> {
        let leave = self.leave(actor)?;
        let resource_type = served_type(resource_type)?;
        let only_where = granted(actor, resource_type, Interaction::Read)?;
        let located = match self.located().get(resource_type, id) {
            Some(known) => Some(known),
            None => {
                let mut conn = self.conn().await?;
                let mut found = served::locate(&mut conn, &leave, resource_type, id).await?;
                if found.is_none() && own::is_own_type(resource_type) {
                    found = served::locate_own(&mut conn, &leave, resource_type, id)
                        .await?
                        .map(Some);
                }
                drop(conn);
                if let Some(patient) = found {
                    self.located().put(resource_type, id, patient);
                }
                found
            }
        };
        let query = Query {
            resource_type,
            ids: &[id],
            filters: &[],
        };
        let found = match located {
            None => {
                self.audit_missing(actor, resource_type, id).await?;
                return Err(Error::NotFound);
            }
            Some(Some(patient)) => {
                let (access, version, _) = self
                    .decide_to_read(actor, patient, own::action_for(resource_type))
                    .await?;
                let now = self.now();
                let key = answer_key(&access, version, format!("{resource_type}/{id}"));
                // An answer kept is for readers who see the whole type.
                let kept = only_where
                    .is_empty()
                    .then(|| self.pages().get::<String>(&key, now))
                    .flatten();
                if let Some(body) = kept {
                    let mut event = self.read_event(actor, Some(&access), resource_type);
                    event.resource_id = Some(id.to_string());
                    self.audit_alone(&event).await?;
                    return Ok(FhirBody(String::clone(&body)));
                }
                let mut tx = self.store().begin_read().await?;
                let mut rows =
                    served::search(&mut tx, Scope::Record(&access, now), &query, None, 1).await?;
                if rows.is_empty() && own::is_own_type(resource_type) {
                    rows = own::own_resources(&mut tx, &access, &[resource_type])
                        .await?
                        .into_iter()
                        .map(|o| o.stored)
                        .filter(|r| r.id == id)
                        .collect();
                }
                commit(tx).await?;
                rows.retain(|row| meets(row, &only_where));
                let mut event = self.read_event(actor, Some(&access), resource_type);
                event.resource_id = Some(id.to_string());
                if rows.is_empty() {
                    event.outcome = Outcome::Denied;
                    event.detail = "FHIR API read: not shown to this reader".into();
                    self.audit_alone(&event).await?;
                    return Err(Error::NotFound);
                }
                self.audit_alone(&event).await?;
                let body = serve(&rows[0])?;
                if only_where.is_empty() {
                    self.keep_answer(key, &body, now);
                }
                return Ok(FhirBody(body));
            }
            Some(None) => {
                if !directory_reachable(actor, resource_type) {
                    self.audit_missing(actor, resource_type, id).await?;
                    return Err(Error::NotFound);
                }
                let mut tx = self.store().begin_read().await?;
                let mut rows =
                    served::search(&mut tx, Scope::Directory(&leave), &query, None, 1).await?;
                commit(tx).await?;
                rows.retain(|row| meets(row, &only_where));
                let mut event = self.read_event(actor, None, resource_type);
                event.resource_id = Some(id.to_string());
                self.audit_alone(&event).await?;
                rows
            }
        };
        let row = found.into_iter().next().ok_or(Error::NotFound)?;
        Ok(FhirBody(serve(&row)?))
    }

    /// `GET /fhir/{type}?…` and `POST /fhir/{type}/_search`: a searchset Bundle.
    pub async fn search(
        &self,
        actor: &Actor,
        resource_type: &str,
        pairs: &[(String, String)],
    ) -> Result<FhirBody> {
        let leave = self.leave(actor)?;
        let resource_type = served_type(resource_type)?;
        let mut search = search::parse_search(resource_type, pairs)
            .map_err(|e| Error::Rejected(e.to_string()))?;
        // An app searches within what it was granted: its scopes' conditions join the search's,
        // and it includes only the types it may read.
        let only_where = granted(actor, resource_type, Interaction::Search)?;
        search.conditions.extend(only_where.iter().cloned());
        let reaches = |t: &str, i: Interaction| crate::smart::type_access(actor, t, i);
        search.include_medication &= reaches("Medication", Interaction::Read) != TypeAccess::None;
        search.revinclude_provenance &=
            reaches("Provenance", Interaction::Search) == TypeAccess::All;
        let filters = filters_of(&search.conditions);
        let ids: Vec<&str> = search.ids.iter().map(String::as_str).collect();
        let query = Query {
            resource_type,
            ids: &ids,
            filters: &filters,
        };
        let link = self.self_link(&format!("fhir/{resource_type}"), pairs);
        let now = self.now();

        if search::in_patient_compartment(resource_type) {
            let Some(patient) = &search.patient else {
                return Err(Error::Rejected(format!(
                    "A search of {resource_type} must name the patient (patient=Patient/id)."
                )));
            };
            let Ok(patient) = patient.parse::<PatientId>() else {
                self.audit_missing(actor, "Patient", patient).await?;
                return Err(Error::NotFound);
            };
            let (access, version, _) = self
                .decide_to_read(actor, patient, own::action_for(resource_type))
                .await?;
            let mut event = self.read_event(actor, Some(&access), resource_type);
            event.detail = "FHIR API search".into();
            let key = answer_key(&access, version, grant_key(actor, &link));
            if let Some(body) = self.pages().get::<String>(&key, now) {
                self.audit_alone(&event).await?;
                return Ok(FhirBody(String::clone(&body)));
            }
            let scope = Scope::Record(&access, now);
            let mut tx = self.store().begin_read().await?;
            let own = if own::is_own_type(resource_type) {
                let all = own::own_resources(&mut tx, &access, &[resource_type]).await?;
                own::found_by(all, &search)
            } else {
                Vec::new()
            };
            let page = self
                .page(&mut tx, scope, &leave, &query, &search, &own)
                .await?;
            commit(tx).await?;
            self.audit_alone(&event).await?;
            let body = page.bundle(&self.config().public_url, &link, pairs);
            self.keep_answer(key, &body, now);
            return Ok(FhirBody(body));
        }

        // The directory, or patients found by their demographics: each patient returned is
        // decided and audited on its own.
        let mut tx = self.store().begin_read().await?;
        let mut page = self
            .page(
                &mut tx,
                Scope::Directory(&leave),
                &leave,
                &query,
                &search,
                &[],
            )
            .await?;
        commit(tx).await?;
        if resource_type == "Patient" {
            // One round trip decides every patient of the page; their events share a commit.
            let found: Vec<PatientId> = page
                .matches
                .iter()
                .filter_map(|row| row.id.parse().ok())
                .collect();
            let allowed = self
                .decide_to_read_each(actor, &found, Action::ViewDemographics)
                .await?;
            let mut events = Vec::with_capacity(allowed.len());
            let mut tx = self.store().begin_read().await?;
            for (access, _) in &allowed {
                let mut event = self.read_event(actor, Some(access), "Patient");
                event.resource_id = Some(access.patient().to_string());
                event.detail = "FHIR API search".into();
                events.push(event);
                if search.revinclude_provenance {
                    let target = [format!("Patient/{}", access.patient())];
                    page.included.extend(
                        served::provenance_of(&mut tx, Scope::Record(access, now), &target).await?,
                    );
                }
            }
            commit(tx).await?;
            let shown: std::collections::HashSet<String> = allowed
                .iter()
                .map(|(access, _)| access.patient().to_string())
                .collect();
            page.matches.retain(|row| shown.contains(&row.id));
            self.audit_all(events).await?;
        } else {
            let mut event = self.read_event(actor, None, resource_type);
            event.detail = format!("FHIR API search: {} found", page.total);
            self.audit_alone(&event).await?;
        }
        Ok(FhirBody(page.bundle(
            &self.config().public_url,
            &link,
            pairs,
        )))
    }

    /// `GET /fhir/Patient/{id}/$everything`: a page of the record's resources of every served
    /// type, the Patient first, nothing outside the record.
    pub async fn everything(
        &self,
        actor: &Actor,
        patient: &str,
        pairs: &[(String, String)],
    ) -> Result<FhirBody> {
        self.leave(actor)?;
        let mut count = search::DEFAULT_COUNT;
        let mut after = None;
        for (name, value) in pairs {
            match name.as_str() {
                "_count" => {
                    count = match value.parse::<usize>() {
                        Ok(n) if n >= 1 => n.min(search::MAX_COUNT),
                        _ => {
                            return Err(Error::Rejected(
                                "_count must be a whole number of at least 1.".into(),
                            ));
                        }
                    }
                }
                "_page" => after = Some(value.as_str()),
                other => {
                    return Err(Error::Rejected(format!(
                        "The parameter {other} is not supported by $everything; _count is."
                    )));
                }
            }
        }
        let Ok(patient_id) = patient.parse::<PatientId>() else {
            self.audit_missing(actor, "Patient", patient).await?;
            return Err(Error::NotFound);
        };
        let (access, version, _) = self
            .decide_to_read(actor, patient_id, Action::ViewRecord)
            .await?;
        let now = self.now();
        let link = self.self_link(&format!("fhir/Patient/{patient}/$everything"), pairs);
        let key = answer_key(&access, version, grant_key(actor, &link));
        let mut event = self.read_event(actor, Some(&access), "Everything");
        event.detail = "FHIR API $everything".into();
        if let Some(body) = self.pages().get::<String>(&key, now) {
            self.audit_alone(&event).await?;
            return Ok(FhirBody(String::clone(&body)));
        }
        // An app gets the types it was granted whole (one granted by a search parameter it
        // searches).
        let types: Vec<&str> = compartment_types()
            .into_iter()
            .filter(|t| crate::smart::type_access(actor, t, Interaction::Search) == TypeAccess::All)
            .collect();
        let mut tx = self.store().begin_read().await?;
        // The portal's own messages, appointments and prescriptions are in the record too.
        let own = own::own_resources(&mut tx, &access, &types).await?;
        let total = served::compartment_count(&mut tx, &access, now, &types).await?
            + i64::try_from(own.len()).unwrap_or(i64::MAX);
        let stored = served::compartment(&mut tx, &access, now, &types, after, count + 1).await?;
        let mut matches = own::merge_page(stored, &own, after, count + 1);
        commit(tx).await?;
        let more = matches.len() > count;
        matches.truncate(count);
        self.audit_alone(&event).await?;
        let page = Page {
            total,
            count_only: false,
            next: more.then(|| matches.last().map(|r| r.id.clone())).flatten(),
            matches,
            included: Vec::new(),
        };
        let body = page.bundle(&self.config().public_url, &link, pairs);
        self.keep_answer(key, &body, now);
        Ok(FhirBody(body))
    }

    /// The page of a search in `scope`, with what it includes; `own` are the portal's own
    /// resources the search found, merged in id order with the stored ones.
    async fn page(
        &self,
        tx: &mut portal_store::Conn,
        scope: Scope<'_>,
        leave: &ClinicCapability,
        query: &Query<'_>,
        search: &Search,
        own: &[own::Own],
    ) -> Result<Page> {
        let total =
            served::count(tx, scope, query).await? + i64::try_from(own.len()).unwrap_or(i64::MAX);
        if search.count_only {
            return Ok(Page {
                total,
                count_only: true,
                next: None,
                matches: Vec::new(),
                included: Vec::new(),
            });
        }
        let after = search.page.as_deref();
        let stored = served::search(tx, scope, query, after, search.count + 1).await?;
        let mut matches = own::merge_page(stored, own, after, search.count + 1);
        let more = matches.len() > search.count;
        matches.truncate(search.count);
        let mut included = Vec::new();
        if search.include_medication {
            let medications: Vec<String> = matches
                .iter()
                .filter_map(|r| r.refs.as_deref())
                .flat_map(|refs| {
                    ResolvedRefs::from_text(refs)
                        .targets()
                        .filter(|(t, _)| *t == "Medication")
                        .map(|(_, id)| id.to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut ids: Vec<&str> = medications.iter().map(String::as_str).collect();
            ids.sort_unstable();
            ids.dedup();
            included.extend(served::directory_by_ids(tx, leave, &ids).await?);
        }
        // A Patient search finds Provenance record by record, once each patient is allowed.
        if search.revinclude_provenance && search.resource_type != "Patient" {
            let targets: Vec<String> = matches
                .iter()
                .map(|r| format!("{}/{}", r.resource_type, r.id))
                .collect();
            included.extend(served::provenance_of(tx, scope, &targets).await?);
        }
        Ok(Page {
            total,
            count_only: false,
            next: more.then(|| matches.last().map(|r| r.id.clone())).flatten(),
            matches,
            included,
        })
    }

    /// Keeps an answer about a record for the next same request while the record is unchanged
    /// (see the page cache: the policy still decides, and the read is still audited, each time).
    fn keep_answer(&self, key: Key, body: &str, now: jiff::Timestamp) {
        self.pages()
            .put(key, Arc::new(body.to_string()), now, body.len() + 256);
    }

    /// The link to this search as asked, absolute.
    fn self_link(&self, path: &str, pairs: &[(String, String)]) -> String {
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        let base = self.config().public_url.trim_end_matches('/');
        if query.is_empty() {
            format!("{base}/{path}")
        } else {
            format!("{base}/{path}?{query}")
        }
    }

    /// The audit event of a read through the API.
    fn read_event(
        &self,
        actor: &Actor,
        access: Option<&PatientAccess>,
        resource_type: &str,
    ) -> portal_domain::audit::AuditEvent {
        let audit_type = format!("FHIR {resource_type}");
        let mut event = match access {
            Some(access) => self.patient_event(actor, access, AuditAction::Read, &audit_type),
            None => self.event(actor, AuditAction::Read, &audit_type, Outcome::Success),
        };
        if event.detail.is_empty() {
            event.detail = "FHIR API read".into();
        }
        event
    }

    /// Records a read of something that is not there.
    async fn audit_missing(&self, actor: &Actor, resource_type: &str, id: &str) -> Result<()> {
        let mut event = self.event(
            actor,
            AuditAction::Read,
            &format!("FHIR {resource_type}"),
            Outcome::Denied,
        );
        // The id is the caller's text: kept only when it is one the portal could have made.
        if id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            event.resource_id = Some(id.to_string());
        }
        event.detail = "FHIR API read: no such resource".into();
        self.audit_alone(&event).await
    }
}

/// The page cache's key of an answer about a record: its version, what the reader's access
/// shows of it, and the request.
fn answer_key(access: &PatientAccess, version: RecordVersion, request: String) -> Key {
    Key {
        patient: access.patient(),
        version: Some(version),
        visibility: access.visibility(),
        viewer: None,
        view: View::Fhir(request),
    }
}

/// The conditions an app's scopes add to reading `resource_type` (none for a system client);
/// a type the app was not granted is refused (403).
fn granted(
    actor: &Actor,
    resource_type: &'static str,
    interaction: Interaction,
) -> Result<Vec<Condition>> {
    match crate::smart::type_access(actor, resource_type, interaction) {
        TypeAccess::All => Ok(Vec::new()),
        TypeAccess::None => Err(Error::Forbidden),
        TypeAccess::Where { param, values } => {
            search::parse_search(resource_type, &[(param, values.join(","))])
                .map(|s| s.conditions)
                .map_err(|_| Error::Forbidden)
        }
    }
}

/// Whether `actor` reads resources of this type that are in no record. An app reads one
/// patient's record: of the directory, only the practitioners, organizations, places and
/// medications records point at (a Provenance in no record may be about anyone's).
fn directory_reachable(actor: &Actor, resource_type: &str) -> bool {
    match &actor.principal {
        portal_domain::Principal::App { .. } => matches!(
            resource_type,
            "Practitioner" | "Organization" | "Location" | "Medication"
        ),
        _ => true,
    }
}

/// Whether `actor` may see this resource of a type granted only where `conditions` hold.
fn meets(row: &StoredResource, conditions: &[Condition]) -> bool {
    if conditions.is_empty() {
        return true;
    }
    let Ok(resource) = portal_fhir::json::parse(row.json.as_bytes()) else {
        return false;
    };
    let terms = search::terms_of(&resource);
    conditions.iter().all(|c| c.holds(&terms, row.updated_at))
}

/// The request part of an answer's key: for an app, with what it was granted (two apps on the
/// same record may see different parts of it).
fn grant_key(actor: &Actor, request: &str) -> String {
    match &actor.principal {
        portal_domain::Principal::App { scopes, .. } => {
            format!("{request}\n{}", scopes.as_text())
        }
        _ => request.to_string(),
    }
}

/// The served type a request names, or a 400 naming it.
fn served_type(name: &str) -> Result<&'static str> {
    search::served_type(name).ok_or_else(|| {
        Error::Rejected(format!(
            "{} is not a resource type this portal serves. See /fhir/metadata.",
            name.chars().take(64).collect::<String>()
        ))
    })
}

/// The store's filters for a checked search's conditions.
fn filters_of(conditions: &[Condition]) -> Vec<Filter<'_>> {
    conditions
        .iter()
        .map(|c| match c {
            Condition::Token { param, any } => Filter::Token {
                param,
                any: any
                    .iter()
                    .map(|v| (v.system.as_deref(), v.code.as_deref()))
                    .collect(),
            },
            Condition::Text { param, any, exact } => Filter::Text {
                param,
                any: any.iter().map(String::as_str).collect(),
                exact: *exact,
            },
            Condition::Date {
                param,
                prefix,
                low,
                high,
            } => Filter::Date {
                param,
                compare: match prefix {
                    Prefix::Eq => DateCompare::Eq,
                    Prefix::Ne => DateCompare::Ne,
                    Prefix::Gt => DateCompare::Gt,
                    Prefix::Lt => DateCompare::Lt,
                    Prefix::Ge => DateCompare::Ge,
                    Prefix::Le => DateCompare::Le,
                },
                low: *low,
                high: *high,
            },
        })
        .collect()
}

/// A stored resource as it goes out. A reference to a resource of a type the API does not
/// serve goes out as an unresolved one (its identifier and display, no link that would fail).
fn serve(row: &StoredResource) -> Result<String> {
    serve_linking(row, |_, _| true)
}

/// [`serve`], keeping as links only the references to resources `keep` accepts (by type and
/// id); the others go out unresolved.
pub(crate) fn serve_linking(
    row: &StoredResource,
    keep: impl Fn(&str, &str) -> bool,
) -> Result<String> {
    let last_updated = served::instant(row.updated_at);
    let mut refs = ResolvedRefs::from_text(row.refs.as_deref().unwrap_or_default());
    refs.retain(|resource_type, id| {
        search::served_type(resource_type).is_some() && keep(resource_type, id)
    });
    serve_stored(
        &row.json,
        &Served {
            id: &row.id,
            version: row.version,
            last_updated: &last_updated,
            source_id: row.source_id.as_deref(),
        },
        &refs,
    )
    .ok_or_else(|| Error::Internal(format!("stored resource {} cannot be read", row.id)))
}

/// A page of a search.
struct Page {
    total: i64,
    count_only: bool,
    /// The last id of this page, when there is a next.
    next: Option<String>,
    matches: Vec<StoredResource>,
    included: Vec<StoredResource>,
}

impl Page {
    /// The searchset Bundle, written as text: each resource's JSON goes in as served.
    fn bundle(&self, public_url: &str, self_link: &str, pairs: &[(String, String)]) -> String {
        let base = public_url.trim_end_matches('/');
        let mut out = String::with_capacity(256 + self.matches.len() * 2048);
        out.push_str(r#"{"resourceType":"Bundle","type":"searchset","total":"#);
        out.push_str(&self.total.to_string());
        out.push_str(r#","link":[{"relation":"self","url":"#);
        out.push_str(&json_string(self_link));
        out.push('}');
        if let Some(last) = &self.next {
            let mut next: Vec<(String, String)> = pairs
                .iter()
                .filter(|(k, _)| k != "_page")
                .cloned()
                .collect();
            next.push(("_page".into(), last.clone()));
            let query = serde_urlencoded::to_string(&next).unwrap_or_default();
            let path = self_link.split('?').next().unwrap_or(self_link);
            out.push_str(r#",{"relation":"next","url":"#);
            out.push_str(&json_string(&format!("{path}?{query}")));
            out.push('}');
        }
        out.push(']');
        if !self.count_only {
            out.push_str(r#","entry":["#);
            let mut first = true;
            for (rows, mode) in [(&self.matches, "match"), (&self.included, "include")] {
                for row in rows.iter() {
                    let Ok(resource) = serve(row) else {
                        tracing::warn!(resource = %row.id, "stored resource unreadable");
                        continue;
                    };
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    push_entry(&mut out, base, row, &resource, Some(mode));
                }
            }
            out.push(']');
        }
        out.push('}');
        out
    }
}

/// Writes one Bundle entry: its full URL under `base`, the served resource, and for a
/// searchset its search mode.
pub(crate) fn push_entry(
    out: &mut String,
    base: &str,
    row: &StoredResource,
    resource: &str,
    mode: Option<&str>,
) {
    out.push_str(r#"{"fullUrl":"#);
    out.push_str(&json_string(&format!(
        "{base}/fhir/{}/{}",
        row.resource_type, row.id
    )));
    out.push_str(r#","resource":"#);
    out.push_str(resource);
    if let Some(mode) = mode {
        out.push_str(r#","search":{"mode":""#);
        out.push_str(mode);
        out.push_str(r#""}"#);
    }
    out.push('}');
}

pub(crate) fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_domain::ids::ClientId;
    use portal_domain::{Principal, UserId};

    fn actor(principal: Principal) -> Actor {
        Actor::new(
            principal,
            portal_domain::audit::RequestContext {
                client_addr: "test".into(),
                user_agent: "test".into(),
                request_id: String::new(),
            },
        )
    }

    #[test]
    fn an_app_reads_only_the_directory_records_point_at() {
        let app = actor(Principal::App {
            client: ClientId::from_uuid(uuid::Uuid::from_u128(1)),
            user: UserId::from_uuid(uuid::Uuid::from_u128(2)),
            user_patient: None,
            patient: PatientId::from_uuid(uuid::Uuid::from_u128(3)),
            scopes: Box::new(portal_domain::access::SmartScopes::parse("patient/*.read")),
        });
        for t in ["Practitioner", "Organization", "Location", "Medication"] {
            assert!(directory_reachable(&app, t), "{t}");
        }
        assert!(!directory_reachable(&app, "Provenance"));
        let system = actor(Principal::System {
            client: ClientId::from_uuid(uuid::Uuid::from_u128(4)),
            scopes: portal_domain::ApiScopes::parse("system/*.read").expect("scopes"),
        });
        assert!(directory_reachable(&system, "Provenance"));
    }
}
