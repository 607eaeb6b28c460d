//! Opening a patient's chart: each section is one policy action, one read and one audit event.

use crate::record::cache::{self, View};
use crate::services::Records;
use crate::{Actor, Result};
use portal_domain::access::{AccessBasis, Action, authorize};
use portal_domain::{PatientAccess, PatientId, Principal, Role};
use portal_store::audit::{self, LogWindow, NamedEvent, PatientLogFilter};
use portal_store::patients::{self, PatientRow};
use std::sync::Arc;

/// A part of a patient's chart, as the pages show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Who the patient is, and what needs attention.
    Overview,
    /// Problems, allergies, results, immunizations, vitals.
    HealthRecord,
    /// Current and past medications.
    Medications,
    /// Secure messages.
    Messages,
    /// Appointments.
    Appointments,
    /// Who accessed the record.
    AccessLog,
}

impl Section {
    /// The policy action the section needs.
    pub fn action(self) -> Action {
        match self {
            Section::Overview => Action::ViewDemographics,
            Section::HealthRecord | Section::Medications => Action::ViewRecord,
            Section::Messages => Action::ViewMessages,
            Section::Appointments => Action::ViewAppointments,
            Section::AccessLog => Action::ViewAccessLog,
        }
    }

    /// The data category written in the audit trail.
    pub fn resource_type(self) -> &'static str {
        match self {
            Section::Overview => "Patient",
            Section::HealthRecord => "HealthRecord",
            Section::Medications => "MedicationList",
            Section::Messages => "MessageList",
            Section::Appointments => "AppointmentList",
            Section::AccessLog => "AccessLog",
        }
    }
}

/// A chart section the policy allowed, with the patient's header.
#[derive(Debug)]
pub struct ChartView {
    /// The patient's demographics (for the header).
    pub patient: PatientRow,
    /// The access decision (for breadcrumbs such as "acting as proxy").
    pub access: PatientAccess,
    /// The opening's position in the audit trail.
    recorded: i64,
}

impl ChartView {
    /// Whether the viewer is looking at their own record.
    pub fn is_own(&self) -> bool {
        self.access.basis() == AccessBasis::OwnRecord
    }
}

/// Entries per page of the access log.
pub const ACCESS_LOG_PAGE: i64 = 50;

/// One page of a record's access log.
pub struct AccessLog {
    /// The record, opened (and the opening audited).
    pub view: ChartView,
    /// The page's entries, newest first.
    pub entries: Vec<Arc<NamedEvent>>,
    /// Where the next (older) page starts, if there is one.
    pub older: Option<i64>,
    /// Every emergency access (the newest 100), whatever the page shows.
    pub emergency: Vec<Arc<NamedEvent>>,
}

/// The newest events of a record's access log matching a filter, as the page cache keeps them.
struct LogTail {
    /// The position of the newest (0: none yet).
    newest: i64,
    /// The position up to which the tail holds every matching event: read after the event at
    /// this position was committed.
    through: i64,
    /// Newest first.
    entries: Vec<Arc<NamedEvent>>,
    /// When they were first read in full.
    made_at: jiff::Timestamp,
}

impl Records {
    /// Opens one section of a patient's chart: policy, read, audit.
    pub async fn open_section(
        &self,
        actor: &Actor,
        patient: PatientId,
        section: Section,
    ) -> Result<ChartView> {
        let opened = self
            .open_view(
                actor,
                patient,
                section.action(),
                section.resource_type(),
                None,
            )
            .await?;
        // Recorded (group-committed) before the section is shown.
        let (head, recorded) = self.record_view_at(opened).await?;
        Ok(ChartView {
            patient: head.patient,
            access: head.access,
            recorded,
        })
    }

    /// Who accessed a patient's record: one page of entries matching `filter`, newest first,
    /// older than `before`, and every emergency (break-glass) access, which a flood of other
    /// entries can never push out of view.
    pub async fn access_log(
        &self,
        actor: &Actor,
        patient: PatientId,
        filter: PatientLogFilter,
        before: Option<i64>,
    ) -> Result<AccessLog> {
        let view = self
            .open_section(actor, patient, Section::AccessLog)
            .await?;
        // On a connection kept for reads every request makes.
        let (entries, older, emergency) = self
            .store()
            .read_kept(|conn, _| {
                Box::pin(self.log_page(conn, &view.access, view.recorded, filter, before))
            })
            .await?;
        Ok(AccessLog {
            view,
            entries,
            older,
            emergency,
        })
    }

    /// The entries of [`Records::access_log`] on `conn`, each event up to position `seen`
    /// included: the page, where the next begins, and every emergency access.
    async fn log_page(
        &self,
        conn: &mut portal_store::Conn,
        access: &PatientAccess,
        seen: i64,
        filter: PatientLogFilter,
        before: Option<i64>,
    ) -> Result<(Vec<Arc<NamedEvent>>, Option<i64>, Vec<Arc<NamedEvent>>)> {
        // The page asked for, and every emergency access (the newest 100) whatever the page.
        let emergency = (PatientLogFilter::Emergency, 100);
        let (mut entries, emergency) = match before {
            None => {
                let mut tails = self
                    .log_tails(
                        conn,
                        access,
                        seen,
                        &[(filter, ACCESS_LOG_PAGE + 1), emergency],
                    )
                    .await?;
                let emergency = tails.pop().unwrap_or_default();
                (tails.pop().unwrap_or_default(), emergency)
            }
            Some(_) => {
                let older = audit::for_patient(
                    conn,
                    access,
                    filter,
                    LogWindow::Before(before),
                    ACCESS_LOG_PAGE + 1,
                )
                .await?;
                let emergency = self
                    .log_tails(conn, access, seen, &[emergency])
                    .await?
                    .pop()
                    .unwrap_or_default();
                (older.into_iter().map(Arc::new).collect(), emergency)
            }
        };
        let older = (entries.len() as i64 > ACCESS_LOG_PAGE)
            .then(|| {
                entries.truncate(ACCESS_LOG_PAGE as usize);
                entries.last().map(|e| e.stored.seq)
            })
            .flatten();
        Ok((entries, older, emergency))
    }

    /// The newest events of a record's access log that match each filter (at most so many
    /// each), newest first, every event up to position `seen` included, in at most one round
    /// trip. What a view read is kept in the page cache for [`cache::FRESH_FOR`] (after which the
    /// names of those who acted are read anew): a later view whose own event is no newer than
    /// what was kept reads nothing, and any other reads only the events added since. The log
    /// only grows, in the order of its positions, and a read that began after the event at
    /// `seen` was committed sees every event before it.
    async fn log_tails(
        &self,
        conn: &mut portal_store::Conn,
        access: &PatientAccess,
        seen: i64,
        wanted: &[(PatientLogFilter, i64)],
    ) -> Result<Vec<Vec<Arc<NamedEvent>>>> {
        let now = self.now();
        let keys: Vec<cache::Key> = wanted
            .iter()
            .map(|(filter, limit)| cache::Key {
                patient: access.patient(),
                version: None,
                visibility: access.visibility(),
                viewer: None,
                view: View::AccessLog(*filter, *limit),
            })
            .collect();
        let kept: Vec<Option<Arc<LogTail>>> = keys
            .iter()
            .map(|key| self.pages().get::<LogTail>(key, now))
            .collect();
        // Only the tails kept from before `seen` (or not kept) are read.
        let stale = |kept: &Option<Arc<LogTail>>| kept.as_ref().is_none_or(|t| t.through < seen);
        let parts: Vec<(PatientLogFilter, LogWindow, i64)> = wanted
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| stale(kept))
            .map(|((filter, limit), kept)| {
                let window = match kept {
                    Some(tail) => LogWindow::After(tail.newest),
                    None => LogWindow::Before(None),
                };
                (*filter, window, *limit)
            })
            .collect();
        let mut read = if parts.is_empty() {
            Vec::new()
        } else if let Some(readers) = self.store().embedded() {
            // On SQLite, on this thread (see portal_store::embedded).
            readers.read(|conn| audit::for_patient_parts_here(conn, access, &parts))?
        } else if let Some(recent) = self.log_from_recent(access, seen, &parts, &kept) {
            recent
        } else {
            audit::for_patient_parts(conn, access, &parts).await?
        }
        .into_iter();
        let mut out = Vec::with_capacity(wanted.len());
        for ((key, kept), (_, limit)) in keys.into_iter().zip(kept).zip(wanted) {
            if !stale(&kept)
                && let Some(kept) = kept
            {
                out.push(kept.entries.clone());
                continue;
            }
            let added = read.next().unwrap_or_default();
            let (entries, made_at) = match kept {
                Some(kept) => {
                    let mut entries: Vec<Arc<NamedEvent>> =
                        added.into_iter().map(Arc::new).collect();
                    let room = usize::try_from(*limit)
                        .unwrap_or(0)
                        .saturating_sub(entries.len());
                    entries.extend(kept.entries.iter().take(room).cloned());
                    (entries, kept.made_at)
                }
                None => (added.into_iter().map(Arc::new).collect(), now),
            };
            let newest = entries
                .first()
                .map_or(0, |e: &Arc<NamedEvent>| e.stored.seq);
            let weight = entries.len() * 1024;
            self.pages().put(
                key,
                Arc::new(LogTail {
                    newest,
                    through: seen,
                    entries: entries.clone(),
                    made_at,
                }),
                made_at,
                weight,
            );
            out.push(entries);
        }
        Ok(out)
    }

    /// What [`audit::for_patient_parts`] would read for `parts`, taken instead from the events
    /// this process's audit writer committed lately, when that saves a round trip and gives the
    /// same: every part continues a kept tail, the writer holds every event of the chain after
    /// the oldest of those tails up to `seen` (none written by anybody else in between), and the
    /// kept entries name everyone who acted in the new ones. `None` otherwise, and for any
    /// capability but reading the record's access log.
    fn log_from_recent(
        &self,
        access: &PatientAccess,
        seen: i64,
        parts: &[(PatientLogFilter, LogWindow, i64)],
        kept: &[Option<Arc<LogTail>>],
    ) -> Option<Vec<Vec<NamedEvent>>> {
        if access.action() != Action::ViewAccessLog {
            return None;
        }
        let tails: Vec<&LogTail> = kept.iter().flatten().map(Arc::as_ref).collect();
        // Each stale part continues a kept tail: the oldest it was kept through bounds them.
        let from = tails.iter().map(|t| t.through).min()?;
        if parts
            .iter()
            .any(|(_, window, _)| !matches!(window, LogWindow::After(_)))
        {
            return None;
        }
        let patient = access.patient().to_string();
        let added: Vec<Arc<portal_domain::audit::StoredAuditEvent>> = self
            .audit_writer()
            .recent_between(from, seen)?
            .into_iter()
            .filter(|e| e.event.patient_id.as_deref() == Some(patient.as_str()))
            .collect();
        let names: std::collections::HashMap<&str, &Option<String>> = tails
            .iter()
            .flat_map(|t| t.entries.iter())
            .map(|e| (e.stored.event.actor_id.as_str(), &e.actor_name))
            .collect();
        let mut out = Vec::with_capacity(parts.len());
        for (filter, window, limit) in parts {
            let LogWindow::After(after) = *window else {
                return None;
            };
            let mut part = Vec::new();
            for event in added.iter().rev() {
                if event.seq <= after || !filter.matches(&event.event) {
                    continue;
                }
                if part.len() as i64 >= *limit {
                    break;
                }
                let actor_name = names.get(event.event.actor_id.as_str())?;
                part.push(NamedEvent {
                    stored: (**event).clone(),
                    actor_name: (*actor_name).clone(),
                });
            }
            out.push(part);
        }
        Some(out)
    }

    /// The records a patient-side account may open: its own and those its grants reach today.
    pub async fn my_patients(&self, actor: &Actor) -> Result<Vec<PatientRow>> {
        let Principal::User {
            id,
            role: Role::Patient,
            own_patient,
        } = &actor.principal
        else {
            return Ok(Vec::new());
        };
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        if let Some(own) = own_patient
            && let Ok(access) = authorize(
                &actor.principal,
                *own,
                Action::ViewDemographics,
                &Default::default(),
                self.now(),
            )
            && let Some(row) = patients::get(&mut conn, &access).await?
        {
            out.push(row);
        }
        // Those it holds grants for, as the policy decides them today (a grant the age rules
        // ended opens nothing).
        let granted = patients::with_grants_for(&mut conn, *id, self.now()).await?;
        let ids: Vec<PatientId> = granted.iter().map(|r| r.id).collect();
        let facts = portal_store::access::record_facts_of_many(&mut conn, Some(*id), &ids).await?;
        let now = self.now();
        out.extend(granted.into_iter().filter(|row| {
            facts.get(&row.id).is_some_and(|read| {
                authorize(
                    &actor.principal,
                    row.id,
                    Action::ViewDemographics,
                    &read.facts,
                    now,
                )
                .is_ok()
            })
        }));
        Ok(out)
    }

    /// The records a patient account opens (their own, then those they are proxy for), each with
    /// how many test results in it they have not opened yet (none where the grant does not
    /// cover the health record). Counting reads no health data, so it is not an audited view.
    pub async fn my_patients_with_news(&self, actor: &Actor) -> Result<Vec<(PatientRow, i64)>> {
        let Principal::User {
            id: user,
            role: Role::Patient,
            own_patient,
        } = &actor.principal
        else {
            return Ok(Vec::new());
        };
        let now = self.now();
        // The family's facts read with the session (the home page asks for them): when every
        // record's header and count are kept, no more is read.
        if let Some(family) = actor
            .read_ahead
            .as_deref()
            .and_then(|ahead| ahead.family.as_ref())
            && let Some(listed) = self
                .family_with_news(None, actor, *user, *own_patient, family, now)
                .await?
        {
            return Ok(listed);
        }
        // On a connection kept for reads every request makes.
        self.store()
            .read_kept(|conn, _| {
                Box::pin(async move {
                    // The policy's facts and the versions of every record of the family, in
                    // one round trip.
                    let family =
                        portal_store::access::family_facts(conn, *user, *own_patient).await?;
                    Ok(self
                        .family_with_news(Some(conn), actor, *user, *own_patient, &family, now)
                        .await?
                        .unwrap_or_default())
                })
            })
            .await
    }

    /// [`Records::my_patients_with_news`] given the policy's facts about the family's records:
    /// what is not kept in the page cache is read on `conn`; `None` when something is not kept
    /// and there is no `conn`.
    async fn family_with_news(
        &self,
        mut conn: Option<&mut portal_store::Conn>,
        actor: &Actor,
        user: portal_domain::UserId,
        own_patient: Option<PatientId>,
        read: &std::collections::HashMap<PatientId, portal_store::access::RecordFacts>,
        now: jiff::Timestamp,
    ) -> Result<Option<Vec<(PatientRow, i64)>>> {
        // The policy decides which it lists (grants that ended or were revoked are left out).
        let mut rows = Vec::with_capacity(read.len());
        for (patient, facts) in read {
            let Some(version) = facts.version else {
                continue;
            };
            let Ok(access) = authorize(
                &actor.principal,
                *patient,
                Action::ViewDemographics,
                &facts.facts,
                now,
            ) else {
                continue;
            };
            let row = match conn.as_deref_mut() {
                Some(conn) => self.head_row(conn, &access, version).await?,
                None => match self.kept_head(&access, version) {
                    Some(row) => Some(row),
                    None => return Ok(None),
                },
            };
            if let Some(row) = row {
                rows.push(row);
            }
        }
        // Their own record first, then the others by name.
        rows.sort_by(|a, b| {
            (
                Some(a.id) != own_patient,
                &a.family_name,
                &a.given_name,
                a.id,
            )
                .cmp(&(
                    Some(b.id) != own_patient,
                    &b.family_name,
                    &b.given_name,
                    b.id,
                ))
        });
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let new = match read.get(&row.id) {
                Some(facts) => {
                    match self
                        .count_new_results(conn.as_deref_mut(), actor, user, row.id, facts)
                        .await?
                    {
                        Some(count) => count,
                        None => return Ok(None),
                    }
                }
                None => 0,
            };
            out.push((row, new));
        }
        Ok(Some(out))
    }
}
