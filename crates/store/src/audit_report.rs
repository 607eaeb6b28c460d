//! Audit reports (ONC 170.315(d)(3)) for a privacy officer: the trail searched by who, which
//! patient, what action, an inclusive time range, only disclosures or only flagged events;
//! ordered by any column, a page at a time, with each patient named.

use crate::audit::NAMED_COLUMNS;
use crate::{Conn, Result, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::audit::NamedEvent;
use sqlx::Row;

/// The column a report is ordered by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// When (the chain's order).
    #[default]
    When,
    /// Who acted (by name).
    Who,
    /// The action.
    Action,
    /// The kind of data.
    Data,
    /// The patient (by family name).
    Patient,
    /// Success or refusal.
    Outcome,
    /// The client address.
    From,
}

impl Order {
    /// Every order, as the report's columns run.
    pub const ALL: [Order; 7] = [
        Order::When,
        Order::Who,
        Order::Action,
        Order::Data,
        Order::Patient,
        Order::Outcome,
        Order::From,
    ];

    /// Its name in a link.
    pub fn key(self) -> &'static str {
        match self {
            Order::When => "when",
            Order::Who => "who",
            Order::Action => "action",
            Order::Data => "data",
            Order::Patient => "patient",
            Order::Outcome => "outcome",
            Order::From => "from",
        }
    }

    /// The order a link names (`None` for anything else).
    pub fn parse(key: &str) -> Option<Order> {
        Order::ALL.into_iter().find(|o| o.key() == key)
    }

    fn sql(self) -> &'static str {
        match self {
            Order::When => "e.seq",
            Order::Who => "COALESCE(u.name, e.actor_id)",
            Order::Action => "e.action",
            Order::Data => "e.resource_type",
            Order::Patient => "COALESCE(p.family_name, '')",
            Order::Outcome => "e.outcome",
            Order::From => "e.client_addr",
        }
    }
}

/// What a report asks for.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only events by these actor ids (`Some(empty)`: the name matched nobody).
    pub actors: Option<Vec<String>>,
    /// Only events about this record.
    pub patient: Option<String>,
    /// Only this action ("read", "update" …).
    pub action: Option<String>,
    /// From this instant, included.
    pub from: Option<Timestamp>,
    /// Up to this instant, included.
    pub to: Option<Timestamp>,
    /// Only disclosures: data that left the portal (apps' and systems' reads, downloads, copies
    /// sent).
    pub disclosures: bool,
    /// Only break-glass events and those flagged for review.
    pub flagged: bool,
    /// The order.
    pub order: Order,
    /// Ascending rather than descending.
    pub ascending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to read.
    pub limit: i64,
}

/// One line of a report.
#[derive(Clone, Debug)]
pub struct Line {
    /// The event, with the actor's name.
    pub event: NamedEvent,
    /// The patient's name, when the event is about a record.
    pub patient_name: Option<String>,
    /// The patient's medical record number.
    pub patient_mrn: Option<String>,
}

/// A page of a report and how many events match in all.
pub async fn report(
    conn: &mut Conn,
    review: &ClinicCapability,
    q: &Query,
) -> Result<(Vec<Line>, i64)> {
    crate::require(review, ClinicAction::ReadAuditTrail, "the audit reports")?;
    let mut binds: Vec<String> = Vec::new();
    let mut times: Vec<i64> = Vec::new();
    let mut wanted: Vec<String> = Vec::new();
    // Text parameters first ($1 …), then the times.
    let text = |value: &str, binds: &mut Vec<String>| {
        binds.push(value.to_string());
        format!("${}", binds.len())
    };
    if let Some(actors) = &q.actors {
        if actors.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let list: Vec<String> = actors.iter().map(|a| text(a, &mut binds)).collect();
        wanted.push(format!("e.actor_id IN ({})", list.join(", ")));
    }
    if let Some(patient) = &q.patient {
        wanted.push(format!("e.patient_id = {}", text(patient, &mut binds)));
    }
    if let Some(action) = &q.action {
        wanted.push(format!("e.action = {}", text(action, &mut binds)));
    }
    if q.disclosures {
        wanted.push(
            "e.outcome = 'success' AND ((e.actor_role IN ('app', 'system') \
             AND e.action IN ('read', 'export')) OR e.actor_role = 'recipient' \
             OR e.resource_type IN ('RecordExport', 'RecordShare'))"
                .into(),
        );
    }
    if q.flagged {
        wanted.push("(e.break_glass <> 0 OR e.detail LIKE 'flagged for review: %')".into());
    }
    let texts = binds.len();
    if let Some(from) = q.from {
        times.push(to_micros(from));
        wanted.push(format!("e.at >= ${}", texts + times.len()));
    }
    if let Some(to) = q.to {
        times.push(to_micros(to));
        wanted.push(format!("e.at <= ${}", texts + times.len()));
    }
    let filter = if wanted.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", wanted.join(" AND "))
    };
    let from = "FROM audit_events e LEFT JOIN users u ON u.id = e.actor_id \
                LEFT JOIN patients p ON p.id = e.patient_id";
    let count_sql = format!("SELECT COUNT(*) AS n {from} {filter}");
    let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql));
    for b in &binds {
        count = count.bind(b.clone());
    }
    for t in &times {
        count = count.bind(*t);
    }
    let total: i64 = count.fetch_one(&mut *conn).await?.try_get("n")?;
    // A page past the end shows the last one.
    let limit = q.limit.clamp(1, 100_000);
    let last_page_start = (total - 1).max(0) / limit * limit;
    let offset = q.offset.clamp(0, last_page_start);
    let direction = if q.ascending { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {NAMED_COLUMNS}, p.given_name AS patient_given, p.family_name AS patient_family, \
         p.mrn AS patient_mrn {from} {filter} ORDER BY {} {direction}, e.seq {direction} \
         LIMIT {} OFFSET {}",
        q.order.sql(),
        limit,
        offset
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        rows = rows.bind(b);
    }
    for t in times {
        rows = rows.bind(t);
    }
    let rows = rows.fetch_all(conn).await?;
    let events = crate::audit::named(&rows)?;
    let mut out = Vec::with_capacity(rows.len());
    for (row, event) in rows.iter().zip(events) {
        let given: Option<String> = row.try_get("patient_given")?;
        let family: Option<String> = row.try_get("patient_family")?;
        out.push(Line {
            event,
            patient_name: given.zip(family).map(|(g, f)| format!("{g} {f}")),
            patient_mrn: row.try_get("patient_mrn")?,
        });
    }
    Ok((out, total))
}
