//! Test results: the list (reports with their results, results on their own), one result or
//! report with its history, release of a held result, and the count of new results.

use super::*;
use crate::auth::CurrentUser;
use crate::services::Records;

/// A line of the results list: a report with its results, or a result on its own.
#[derive(Debug)]
pub struct ResultLine {
    /// The report or result.
    pub item: Item,
    /// For a report: how many results it lists, and the worst flag among them.
    pub members: usize,
    /// The worst flag of the report and its results.
    pub worst_flag: Flag,
    /// Not yet opened by this account.
    pub unread: bool,
    /// Not yet visible to the patient.
    pub held: bool,
    /// A result released before the rest of its panel: its report is still held.
    pub pending_panel: bool,
}

/// A test measured more than once among the listed results: where its trend is.
#[derive(Debug)]
pub struct TrendLink {
    /// The test's newest result (its page draws the trend).
    pub latest: Item,
    /// How many results of the test are listed.
    pub count: usize,
}

/// The results list: its lines, and the tests whose trend it can show.
#[derive(Debug)]
pub struct ResultList {
    /// Reports and results on their own, newest first.
    pub lines: Vec<ResultLine>,
    /// Tests with more than one result, the most often measured first.
    pub trends: Vec<TrendLink>,
}

/// Filters of the results list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultFilter {
    /// Part of the test's name.
    pub name: String,
    /// LOINC codes of tests whose other name (the short name people know) matches `name`.
    pub also_loinc: Vec<&'static str>,
    /// From this date (UTC microseconds), inclusive.
    pub from: Option<i64>,
    /// Up to this date, exclusive.
    pub until: Option<i64>,
}

/// One result or report opened.
#[derive(Debug)]
pub struct ResultDetail {
    /// The result or report.
    pub item: Item,
    /// For a report: its results.
    pub members: Vec<Item>,
    /// For a result: the same test over time, oldest first.
    pub history: Vec<Item>,
    /// The clinician who ordered it, or the visit's clinician.
    pub ordered_by: Option<String>,
    /// Not yet visible to the patient.
    pub held: bool,
    /// A result released before the rest of its panel: its report is still held.
    pub pending_panel: bool,
    /// Of its results or its history, those not yet visible to the patient.
    pub held_results: HashSet<ResourceId>,
}

impl Records {
    /// Test results, newest first: reports with their results, and results on their own.
    pub async fn test_results(
        &self,
        actor: &Actor,
        patient: PatientId,
        filter: &ResultFilter,
    ) -> Result<(RecordHead, Arc<ResultList>)> {
        let opened = self
            .open_view(actor, patient, Action::ViewRecord, "ResultList", None)
            .await?;
        let view = View::Results(
            filter.name.trim().to_string(),
            filter.also_loinc.clone(),
            filter.from,
            filter.until,
        );
        let reader = opened.viewer;
        let list = self
            .page(&opened, view, async |conn, access, now| {
                let (list, weight) = read_results(conn, access, reader, filter, now).await?;
                Ok(Some((list, weight)))
            })
            .await?
            .ok_or(Error::NotFound)?;
        let head = self.record_view(opened).await?;
        Ok((head, list))
    }

    /// One result or report, with its results or its history; marks it read for the viewer.
    pub async fn test_result(
        &self,
        actor: &Actor,
        patient: PatientId,
        resource_id: ResourceId,
    ) -> Result<(RecordHead, Arc<ResultDetail>)> {
        let opened = self
            .open_view(
                actor,
                patient,
                Action::ViewRecord,
                "Result",
                Some(resource_id),
            )
            .await?;
        let reader = opened.viewer;
        let mut to_mark = Vec::new();
        let detail = self
            .page(
                &opened,
                View::Result(resource_id),
                async |conn, access, now| {
                    let Some((detail, weight, unread)) =
                        read_result(conn, access, reader, resource_id, now).await?
                    else {
                        return Ok(None);
                    };
                    to_mark = unread;
                    Ok(Some((detail, weight)))
                },
            )
            .await?;
        let Some(detail) = detail else {
            return Err(self
                .missing_item(actor, &opened.head.access, "Result", resource_id)
                .await);
        };
        let head = self.record_view(opened).await?;
        // Opening a result marks it (and a report's results) read for a patient-side account;
        // only the first opening writes (and changes the record's version: the next view reads
        // the markers anew).
        if let Some(user) = reader
            && !to_mark.is_empty()
        {
            let mut tx = self.store().begin().await?;
            records::mark_read(&mut tx, &head.access, user, &to_mark, self.now()).await?;
            commit(tx).await?;
        }
        Ok((head, detail))
    }

    /// Releases a held result (or report, with its results) to the patient now.
    pub async fn release_result(
        &self,
        actor: &Actor,
        patient: PatientId,
        resource_id: ResourceId,
    ) -> Result<u64> {
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ReleaseResult)
            .await?;
        let released = records::release(&mut tx, &access, resource_id, self.now()).await?;
        if released == 0 {
            drop(tx);
            return Err(self
                .missing_item(actor, &access, "ResultRelease", resource_id)
                .await);
        }
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "ResultRelease");
        event.resource_id = Some(resource_id.to_string());
        event.detail = format!("released {released} item(s) to the patient");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(released)
    }

    /// How many released results this viewer has not opened yet, given the access the policy
    /// granted for the page asking (the home page); 0 unless that access covers the clinical
    /// record of a patient-side account (own record, or a proxy with full access).
    pub async fn unread_result_count(&self, actor: &Actor, access: &PatientAccess) -> Result<i64> {
        match viewer(actor) {
            Some(user) => self.new_results(actor, user, access.patient()).await,
            None => Ok(0),
        }
    }

    /// How many released results of `patient`'s record the account `user` has not opened yet;
    /// 0 unless the policy lets the account read that record's results as the patient or a
    /// proxy with full access. Counting reads no health data, so it is not an audited view.
    pub(crate) async fn new_results(
        &self,
        actor: &Actor,
        user: portal_domain::UserId,
        patient: PatientId,
    ) -> Result<i64> {
        let mut conn = self.conn().await?;
        let read = portal_store::access::record_facts(&mut conn, Some(user), patient).await?;
        Ok(self
            .count_new_results(Some(&mut conn), actor, user, patient, &read)
            .await?
            .unwrap_or_default())
    }

    /// [`Records::new_results`] given the policy's facts about the record: from the page cache,
    /// else read on `conn`; `None` when the count is not kept and there is no `conn`.
    pub(crate) async fn count_new_results(
        &self,
        conn: Option<&mut Conn>,
        actor: &Actor,
        user: portal_domain::UserId,
        patient: PatientId,
        read: &portal_store::access::RecordFacts,
    ) -> Result<Option<i64>> {
        let now = self.now();
        let Some(version) = read.version else {
            return Ok(Some(0));
        };
        let Ok(access) = portal_domain::access::authorize(
            &actor.principal,
            patient,
            Action::ViewRecord,
            &read.facts,
            now,
        ) else {
            return Ok(Some(0));
        };
        if !matches!(
            access.basis(),
            AccessBasis::OwnRecord | AccessBasis::Proxy(portal_domain::access::ProxyScope::Full)
        ) {
            return Ok(Some(0));
        }
        let key = cache::Key {
            patient,
            version: Some(version),
            visibility: access.visibility(),
            viewer: Some(user),
            view: View::NewResults,
        };
        if let Some(count) = self.pages().get::<i64>(&key, now) {
            return Ok(Some(*count));
        }
        let Some(conn) = conn else {
            return Ok(None);
        };
        let count = records::unread_results(conn, &access, user, now).await?;
        self.pages().put(key, Arc::new(count), now, 0);
        Ok(Some(count))
    }
}

/// The results list of a record as `reader` (a patient-side account, whose read markers show)
/// sees it at `now`, and an estimate of its size in bytes.
async fn read_results(
    conn: &mut Conn,
    access: &PatientAccess,
    reader: Option<portal_domain::UserId>,
    filter: &ResultFilter,
    now: jiff::Timestamp,
) -> Result<(ResultList, usize)> {
    let rows = records::list(
        conn,
        access,
        &ItemQuery {
            kinds: ItemKind::RESULTS,
            label_contains: filter.name.trim(),
            or_loinc: &filter.also_loinc,
            from: filter.from,
            until: filter.until,
            limit: 2_000,
            ..ItemQuery::default()
        },
        now,
    )
    .await?;
    let mut weight = weigh(&rows);
    // Results whose name matched bring their report in.
    let mut reports: Vec<ItemRow> = Vec::new();
    let mut seen: HashSet<ResourceId> = HashSet::new();
    let mut stand_alone: Vec<ItemRow> = Vec::new();
    let mut members_of: HashMap<ResourceId, Vec<ItemRow>> = HashMap::new();
    for row in rows.into_iter().filter(ItemRow::is_result) {
        if row.columns.kind == ItemKind::DiagnosticReport {
            if seen.insert(row.resource_id) {
                reports.push(row);
            }
        } else if let Some(report) = row.report_id {
            members_of.entry(report).or_default().push(row);
        } else {
            stand_alone.push(row);
        }
    }
    let unlisted: Vec<ResourceId> = members_of
        .keys()
        .filter(|id| !seen.contains(*id))
        .copied()
        .collect();
    for report_id in unlisted {
        match records::get(conn, access, report_id, now).await? {
            Some(report) => {
                weight += weigh(std::slice::from_ref(&report));
                seen.insert(report_id);
                reports.push(report);
            }
            // A report the viewer may not see yet: its released results stand on their own.
            None => stand_alone.extend(members_of.remove(&report_id).unwrap_or_default()),
        }
    }
    let ids: Vec<ResourceId> = reports
        .iter()
        .chain(&stand_alone)
        .map(|r| r.resource_id)
        .collect();
    let read = match reader {
        Some(user) => records::read_among(conn, access, user, &ids).await?,
        None => HashSet::new(),
    };
    let mut asked = ids.clone();
    asked.extend(stand_alone.iter().filter_map(|r| r.report_id));
    let held = records::held_among(conn, access, &asked, now).await?;
    let trends = trends_among(members_of.values().flatten().chain(&stand_alone));
    let mut lines: Vec<ResultLine> = reports
        .into_iter()
        .chain(stand_alone)
        .map(|row| {
            let members = members_of.get(&row.resource_id);
            let worst = Flag::worst(
                members
                    .into_iter()
                    .flatten()
                    .map(|m| m.columns.flag)
                    .chain(std::iter::once(row.columns.flag)),
            );
            ResultLine {
                members: members.map_or(0, Vec::len),
                worst_flag: worst,
                unread: reader.is_some() && !read.contains(&row.resource_id),
                held: held.contains(&row.resource_id),
                pending_panel: pending_panel(&row, &held),
                item: item_of(row),
            }
        })
        .collect();
    lines.sort_by(|a, b| {
        b.item
            .columns
            .sort_at
            .cmp(&a.item.columns.sort_at)
            .then_with(|| a.item.resource_id.cmp(&b.item.resource_id))
    });
    Ok((ResultList { lines, trends }, weight))
}

/// One result or report of a record as `reader` sees it at `now`: the detail, an estimate of
/// its size in bytes, and which of it `reader` has not opened yet. `None`: the record has no
/// such result that the reader may see.
async fn read_result(
    conn: &mut Conn,
    access: &PatientAccess,
    reader: Option<portal_domain::UserId>,
    resource_id: ResourceId,
    now: jiff::Timestamp,
) -> Result<Option<(ResultDetail, usize, Vec<ResourceId>)>> {
    let Some(row) = records::get(conn, access, resource_id, now)
        .await?
        .filter(|r| ItemKind::RESULTS.contains(&r.columns.kind))
    else {
        return Ok(None);
    };
    let (members, history) = if row.columns.kind == ItemKind::DiagnosticReport {
        let members = records::list(
            conn,
            access,
            &ItemQuery {
                kinds: &[ItemKind::Observation],
                report_id: Some(row.resource_id),
                limit: 500,
                ..ItemQuery::default()
            },
            now,
        )
        .await?;
        (members, Vec::new())
    } else {
        let mut history = records::list(
            conn,
            access,
            &ItemQuery {
                kinds: &[ItemKind::Observation],
                code: Some((&row.columns.code_system, &row.columns.code)),
                limit: 500,
                ..ItemQuery::default()
            },
            now,
        )
        .await?;
        history.reverse();
        (Vec::new(), history)
    };
    // The visit's clinician ordered it; a report's own performer is often the lab.
    let visit_clinician = match row.encounter_id {
        Some(encounter) => records::get(conn, access, encounter, now)
            .await?
            .and_then(|e| e.who_name),
        None => None,
    };
    let ordered_by = visit_clinician.or_else(|| row.who_name.clone());
    let unread = match reader {
        Some(user) => {
            let mut opened = vec![row.resource_id];
            opened.extend(members.iter().map(|m| m.resource_id));
            let read = records::read_among(conn, access, user, &opened).await?;
            opened.retain(|id| !read.contains(id));
            opened
        }
        None => Vec::new(),
    };
    let mut asked = vec![row.resource_id];
    asked.extend(row.report_id);
    asked.extend(members.iter().chain(&history).map(|r| r.resource_id));
    let mut held = records::held_among(conn, access, &asked, now).await?;
    let pending_panel = pending_panel(&row, &held);
    let is_held = held.remove(&row.resource_id);
    if let Some(report) = &row.report_id {
        held.remove(report);
    }
    let weight = weigh(std::slice::from_ref(&row)) + weigh(&members) + weigh(&history);
    Ok(Some((
        ResultDetail {
            held: is_held,
            pending_panel,
            held_results: held,
            item: item_of(row),
            members: items(members),
            history: items(history),
            ordered_by,
        },
        weight,
        unread,
    )))
}

/// A results filter kept for the session that applied it (see [`Records::keep_result_filter`]).
pub use portal_store::result_filters::SavedFilter as SavedResultFilter;

impl Records {
    /// Keeps a results filter for this session and record and returns its opaque id, so the
    /// filtered list has an address with no test name in it; `None` for an empty filter, which
    /// needs no keeping. Only for a record the user may read.
    pub async fn keep_result_filter(
        &self,
        actor: &Actor,
        user: &CurrentUser,
        patient: PatientId,
        filter: &SavedResultFilter,
    ) -> Result<Option<String>> {
        // Only for a record the user may read: another patient's answers like a missing one.
        let (_, mut tx) = self
            .open_patient(actor, patient, Action::ViewRecord)
            .await?;
        if *filter == SavedResultFilter::default() {
            return Ok(None);
        }
        let id = crate::crypto::random_token()
            .get(..20)
            .unwrap_or_default()
            .to_string();
        portal_store::result_filters::save(
            &mut tx,
            &id,
            user.session.id,
            patient,
            filter,
            self.now(),
        )
        .await?;
        crate::commit(tx).await?;
        Ok(Some(id))
    }

    /// The filter kept under `id` by this session for this record; `None` for an id made by
    /// another session or for another record, or one gone with its session.
    pub async fn kept_result_filter(
        &self,
        user: &CurrentUser,
        patient: PatientId,
        id: &str,
    ) -> Result<Option<SavedResultFilter>> {
        let mut conn = self.conn().await?;
        Ok(portal_store::result_filters::find(&mut conn, id, user.session.id, patient).await?)
    }
}

/// The tests measured more than once among `results`, each
/// with its newest result; the most often measured first, then by name.
fn trends_among<'a>(results: impl Iterator<Item = &'a ItemRow>) -> Vec<TrendLink> {
    let mut by_test: HashMap<(&str, &str), (usize, &ItemRow)> = HashMap::new();
    for row in results.filter(|r| !r.columns.code.is_empty()) {
        let key = (row.columns.code_system.as_str(), row.columns.code.as_str());
        let entry = by_test.entry(key).or_insert((0, row));
        entry.0 += 1;
        if row.columns.sort_at > entry.1.columns.sort_at {
            entry.1 = row;
        }
    }
    let mut trends: Vec<TrendLink> = by_test
        .into_values()
        .filter(|(count, _)| *count > 1)
        .map(|(count, latest)| TrendLink {
            latest: item_of(latest.clone()),
            count,
        })
        .collect();
    trends.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.latest.columns.label.cmp(&b.latest.columns.label))
    });
    trends
}

/// Whether a result is out before the rest of its panel: the report listing it is still held.
fn pending_panel(row: &ItemRow, held: &HashSet<ResourceId>) -> bool {
    is_pending_panel(
        row.columns.kind,
        row.report_id.is_some_and(|r| held.contains(&r)),
    )
}
