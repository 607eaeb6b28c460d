//! Audit reports for the privacy officer: the trail searched and ordered, a page at a time or as
//! a CSV file whose cells a spreadsheet never runs as formulas; the accounting of disclosures is
//! the report of one record's disclosures.

use crate::services::Clinic;
use crate::{Actor, Error, Result};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use portal_domain::access::{
    ClinicAction, ClinicCapability, authorize_audit_review, authorize_clinic,
};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::fields::FieldErrors;
use portal_domain::{PatientId, Principal};
use portal_store::audit_report::{self, Line, Order, Query};
use portal_store::{patients, users};

/// Lines on one page of a report.
pub const REPORT_PAGE: i64 = 50;

/// Accounts one report may be filtered on.
pub const MAX_ACCOUNTS: i64 = 50;

/// Lines a CSV export holds at most (narrow the search for more).
pub const CSV_LIMIT: i64 = 50_000;

/// What a privacy officer asks of the trail, as the report's form and links carry it.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    /// Only events by these accounts (ids), when given.
    pub actors: Option<Vec<String>>,
    /// About which record.
    pub patient: Option<PatientId>,
    /// One action ("read", "update" …), or empty for all.
    pub action: String,
    /// From (UTC): a date, or a date and time to the minute; included.
    pub from: String,
    /// To (UTC), likewise; included to its last instant.
    pub to: String,
    /// Only disclosures.
    pub disclosures: bool,
    /// Only break-glass and events flagged for review.
    pub flagged: bool,
    /// Ordered by.
    pub order: Order,
    /// Ascending.
    pub ascending: bool,
    /// The page, from 1.
    pub page: i64,
}

/// One page of a report.
pub struct Report {
    /// Its lines.
    pub lines: Vec<Line>,
    /// Events matching in all.
    pub total: i64,
    /// Pages in all.
    pub pages: i64,
}

/// Reads a bound of the time range (UTC): `2026-12-01` or `2026-12-01T14:30` (also with a space
/// or seconds). The start of what it names, and its last microsecond.
fn bound(text: &str) -> Option<(Timestamp, Timestamp)> {
    let text = text.trim().replace(' ', "T");
    let utc = |dt: DateTime| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok();
    // A date and time parses as a date too (its time dropped): look for the time first.
    if !text.contains('T')
        && let Ok(date) = text.parse::<Date>()
    {
        let start = utc(date.at(0, 0, 0, 0))?;
        let end = utc(date.at(23, 59, 59, 999_999_999))?;
        return Some((start, end));
    }
    let dt = text.parse::<DateTime>().ok()?;
    let start = utc(dt)?;
    // To the minute unless seconds were given: a bound names the whole minute (or second).
    let whole = if text.matches(':').count() >= 2 {
        jiff::SignedDuration::from_secs(1)
    } else {
        jiff::SignedDuration::from_mins(1)
    };
    let end = start
        .checked_add(whole - jiff::SignedDuration::from_micros(1))
        .ok()?;
    Some((start, end))
}

/// A cell of the CSV export: a text a spreadsheet would take for a formula (starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return) gets a `'` before it, and every cell is quoted.
pub fn csv_cell(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let text = if risky {
        format!("'{text}")
    } else {
        text.to_string()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

impl Clinic {
    /// The capability to read the audit reports: a privacy officer's, as their account says now.
    pub(crate) async fn audit_review(&self, actor: &Actor) -> Result<ClinicCapability> {
        let Principal::User { id, .. } = &actor.principal else {
            return Err(Error::Forbidden);
        };
        let officer = {
            let mut conn = self.conn().await?;
            users::is_privacy_officer(&mut conn, *id).await?
        };
        authorize_audit_review(&actor.principal, officer).map_err(|_| Error::Forbidden)
    }

    /// Whether the acting account is a privacy officer (for its menu).
    pub async fn is_privacy_officer(&self, actor: &Actor) -> Result<bool> {
        Ok(self.audit_review(actor).await.is_ok())
    }

    /// The store's query for `ask`: the time range checked (each bound a valid UTC date or
    /// minute, the first not after the second), who resolved to accounts.
    async fn report_query(&self, ask: &Ask, offset: i64, limit: i64) -> Result<Query> {
        let mut errors = FieldErrors::new();
        // Each bound: empty, or a date or minute in UTC (the start of `from`, the end of `to`).
        let mut read = |text: &str, field: &'static str, which: &str| match text.trim() {
            "" => None,
            text => match bound(text) {
                Some((start, end)) => Some(if field == "from" { start } else { end }),
                None => {
                    errors.add(
                        field,
                        format!(
                            "Enter the {which} as a date (2026-12-01) or a date and time in UTC \
                             (2026-12-01 14:30)."
                        ),
                    );
                    None
                }
            },
        };
        let from = read(&ask.from, "from", "start");
        let to = read(&ask.to, "to", "end");
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            errors.add("to", "The end is before the start.");
        }
        let action = ask.action.trim();
        if !action.is_empty() && AuditAction::from_stored(action).is_none() {
            errors.add("action", "Choose one of the listed actions.");
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        Ok(Query {
            actors: ask.actors.clone(),
            patient: ask.patient.map(|p| p.to_string()),
            action: (!action.is_empty()).then(|| action.to_string()),
            from,
            to,
            disclosures: ask.disclosures,
            flagged: ask.flagged,
            order: ask.order,
            ascending: ask.ascending,
            offset,
            limit,
        })
    }

    /// One page of a report (privacy officers), audited as a read of the trail.
    pub async fn audit_report(&self, actor: &Actor, ask: &Ask) -> Result<Report> {
        let review = self.audit_review(actor).await?;
        let page = ask.page.max(1);
        let query = self
            .report_query(ask, (page - 1) * REPORT_PAGE, REPORT_PAGE)
            .await?;
        let mut conn = self.conn().await?;
        let (lines, total) = audit_report::report(&mut conn, &review, &query).await?;
        drop(conn);
        let mut event = self.event(actor, AuditAction::Read, "AuditReport", Outcome::Success);
        event.patient_id = ask.patient.map(|p| p.to_string());
        event.detail = format!("audit report, {total} event(s), page {page}");
        self.audit_alone(&event).await?;
        Ok(Report {
            lines,
            total,
            pages: ((total + REPORT_PAGE - 1) / REPORT_PAGE).max(1),
        })
    }

    /// The whole report as CSV (at most [`CSV_LIMIT`] lines), audited as an export; `when` is
    /// written in UTC. Columns: position, when, who, role, on whose behalf, action, data,
    /// patient, MRN, outcome, flagged, detail, address.
    pub async fn audit_csv(&self, actor: &Actor, ask: &Ask) -> Result<String> {
        let review = self.audit_review(actor).await?;
        let query = self.report_query(ask, 0, CSV_LIMIT).await?;
        let mut conn = self.conn().await?;
        let (lines, total) = audit_report::report(&mut conn, &review, &query).await?;
        drop(conn);
        let mut out = String::from(
            "\"#\",\"When (UTC)\",\"Who\",\"Role\",\"On behalf of\",\"Action\",\"Data\",\
             \"Patient\",\"MRN\",\"Outcome\",\"Flagged\",\"Detail\",\"From\"\r\n",
        );
        for line in &lines {
            let e = &line.event.stored.event;
            let who = line
                .event
                .actor_name
                .clone()
                .unwrap_or_else(|| e.actor_id.clone());
            let flagged = if e.break_glass {
                "break-glass"
            } else if e.detail.starts_with(portal_domain::audit::REVIEW_FLAG) {
                "for review"
            } else {
                ""
            };
            let cells = [
                line.event.stored.seq.to_string(),
                e.at.to_string(),
                who,
                e.actor_role.clone(),
                e.on_behalf_of.clone(),
                e.action.as_str().to_string(),
                e.resource_type.clone(),
                line.patient_name.clone().unwrap_or_default(),
                line.patient_mrn.clone().unwrap_or_default(),
                e.outcome.as_str().to_string(),
                flagged.to_string(),
                e.detail.clone(),
                e.context.client_addr.clone(),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        let mut event = self.event(actor, AuditAction::Export, "AuditReport", Outcome::Success);
        event.patient_id = ask.patient.map(|p| p.to_string());
        event.detail = format!(
            "audit report exported as CSV, {} of {total} event(s)",
            lines.len()
        );
        self.audit_alone(&event).await?;
        Ok(out)
    }

    /// The records a privacy officer's patient filter names (name, date of birth or MRN),
    /// audited as a directory search.
    pub async fn report_patients(
        &self,
        actor: &Actor,
        text: &str,
    ) -> Result<Vec<patients::PatientRow>> {
        self.audit_review(actor).await?;
        let directory = authorize_clinic(&actor.principal, ClinicAction::SearchDirectory)
            .map_err(|_| Error::Forbidden)?;
        let Some(query) = portal_domain::patient::PatientQuery::parse(text) else {
            return Ok(Vec::new());
        };
        let mut conn = self.conn().await?;
        let rows: Vec<patients::PatientRow> = patients::search(&mut conn, &directory, &query, 20)
            .await?
            .into_iter()
            .map(|f| f.row)
            .collect();
        drop(conn);
        let detail = format!(
            "directory search for the audit reports, {} result(s)",
            rows.len()
        );
        self.audit_directory_search(actor, detail).await?;
        Ok(rows)
    }

    /// The accounts a privacy officer's "who" names (part of a name or e-mail address): their
    /// ids and names, at most [`MAX_ACCOUNTS`]; a field error when none or more match.
    pub async fn report_accounts(&self, actor: &Actor, who: &str) -> Result<Vec<(String, String)>> {
        self.audit_review(actor).await?;
        let who: String = who.trim().chars().take(100).collect();
        let mut conn = self.conn().await?;
        let found = users::names_matching(&mut conn, &who, MAX_ACCOUNTS + 1).await?;
        match found.len() {
            0 => Err(Error::field(
                "who",
                "No account's name or e-mail address contains this.",
            )),
            n if n > MAX_ACCOUNTS as usize => Err(Error::field(
                "who",
                "More than 50 accounts match: type more of the name or address.",
            )),
            _ => Ok(found),
        }
    }

    /// The names of accounts a report is filtered on (ids the portal wrote into its links).
    pub async fn report_account_names(&self, actor: &Actor, ids: &[String]) -> Result<Vec<String>> {
        self.audit_review(actor).await?;
        let mut conn = self.conn().await?;
        Ok(users::names_of(&mut conn, ids).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_formula_prefix_is_neutralised() {
        for risky in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            let cell = csv_cell(risky);
            assert!(cell.starts_with("\"'"), "{risky:?} -> {cell}");
        }
        assert_eq!(csv_cell("Dr \"Ana\" Lee"), "\"Dr \"\"Ana\"\" Lee\"");
        assert_eq!(csv_cell("read"), "\"read\"");
        assert_eq!(csv_cell(""), "\"\"");
    }

    #[test]
    fn bounds_are_inclusive_utc_days_and_minutes() {
        let (start, end) = bound("2026-12-01").expect("date");
        assert_eq!(start.to_string(), "2026-12-01T00:00:00Z");
        assert_eq!(end.to_string(), "2026-12-01T23:59:59.999999999Z");
        let (start, end) = bound("2026-12-01 14:30").expect("minute");
        assert_eq!(start.to_string(), "2026-12-01T14:30:00Z");
        assert_eq!(end.to_string(), "2026-12-01T14:30:59.999999Z");
        assert!(bound("2026-02-30").is_none());
        assert!(bound("yesterday").is_none());
    }
}
