//! The clinical record in the portal's own terms: the kinds of item, one shape for an item, and
//! every clinical rule the pages, downloads and APIs share, as pure functions.

mod classify;
mod flag;
mod kind;
mod release;
mod sensitivity;
mod vaccines;

pub use classify::{
    NOTE_CATEGORY, NOTE_REPORT_CATEGORIES, RESULT_CATEGORIES, VITAL_SIGNS, is_active_condition,
    is_active_medication, is_note_report, is_result, report_is_note,
};
pub use flag::Flag;
pub use kind::ItemKind;
pub use release::{
    Hold, MAX_HOLD_DAYS, category_family, check_hold, is_pending_panel, is_released, release_time,
    report_release,
};
pub use sensitivity::{ACT_CODE_SYSTEM, Categories, Sensitivity};
pub use vaccines::{FluVaccine, YEARLY_FLU_VACCINES, flu_vaccine};

use crate::ids::ResourceId;

/// What the record lists of a clinical item, read from the resource itself: the columns of
/// every list, search and trend.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemColumns {
    /// What it is.
    pub kind: ItemKind,
    /// The first category code ("" none).
    pub category: String,
    /// The main code's system.
    pub code_system: String,
    /// The main code.
    pub code: String,
    /// Words for it.
    pub label: String,
    /// Its FHIR status (or clinical status).
    pub status: String,
    /// When, for sorting (UTC microseconds).
    pub sort_at: Option<i64>,
    /// A result's abnormal flag.
    pub flag: Flag,
    /// The confidential categories it falls in (none, for most).
    pub sensitivity: Categories,
}

/// One item of a patient's clinical record with its details `D` (the store hands the details
/// as JSON text; the app reads them into the mapped resource).
#[derive(Clone, Debug, PartialEq)]
pub struct ClinicalItem<D> {
    /// The resource's id.
    pub resource_id: ResourceId,
    /// What the record lists of it.
    pub columns: ItemColumns,
    /// The visit it belongs to.
    pub encounter_id: Option<ResourceId>,
    /// Who ordered, performed or wrote it.
    pub who_id: Option<ResourceId>,
    /// Their name.
    pub who_name: Option<String>,
    /// Where.
    pub where_id: Option<ResourceId>,
    /// Its name.
    pub where_name: Option<String>,
    /// The report that lists it.
    pub report_id: Option<ResourceId>,
    /// When the patient may see it (UTC microseconds); `None`: held until released.
    pub released_at: Option<i64>,
    /// The details.
    pub details: D,
}

impl<D> ClinicalItem<D> {
    /// The same item with its details turned into another form.
    pub fn map_details<E>(self, f: impl FnOnce(D) -> E) -> ClinicalItem<E> {
        ClinicalItem {
            resource_id: self.resource_id,
            columns: self.columns,
            encounter_id: self.encounter_id,
            who_id: self.who_id,
            who_name: self.who_name,
            where_id: self.where_id,
            where_name: self.where_name,
            report_id: self.report_id,
            released_at: self.released_at,
            details: f(self.details),
        }
    }

    /// Whether it is a test result (not a vital sign, survey or note).
    pub fn is_result(&self) -> bool {
        is_result(self.columns.kind, &self.columns.category)
    }

    /// Whether it is a clinical note sent as a report.
    pub fn is_note_report(&self) -> bool {
        is_note_report(self.columns.kind, &self.columns.category)
    }
}
