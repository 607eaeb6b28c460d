//! The clinic's result-release rules: which categories of results wait before the patient
//! sees them.

use super::*;
use crate::services::Clinic;
use jiff::SignedDuration;
use portal_domain::record::category_family;
pub use portal_store::records::CategoryCount;

/// How far back a new hold "until a clinician releases" reaches, in days: results that arrived
/// this recently and that nobody on the patient's side has opened are held too.
pub const UNTIL_RELEASED_REACH_DAYS: i64 = 30;

impl Clinic {
    /// The clinic's result holds (admins).
    pub async fn result_holds(&self, actor: &Actor) -> Result<Vec<Hold>> {
        let configure = authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(records::holds(&mut conn, &configure).await?)
    }

    /// The result categories present in the records, with how many items each has and how
    /// many patients cannot see yet (admins).
    pub async fn result_categories(&self, actor: &Actor) -> Result<Vec<CategoryCount>> {
        let configure = authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(records::result_categories(&mut conn, &configure, self.now()).await?)
    }

    /// Holds results of a category for `days` days, or until released (`None`). Results of the
    /// category (reports and results alike) that arrived within the hold's reach and that no
    /// patient or proxy has opened yet are held too, as if the rule had been there: the last
    /// `days` days, or [`UNTIL_RELEASED_REACH_DAYS`] for a hold until release. Returns how
    /// many such results it held.
    pub async fn set_result_hold(
        &self,
        actor: &Actor,
        category: &str,
        days: Option<i64>,
    ) -> Result<u64> {
        let configure = authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        if !matches!(actor.principal, Principal::User { .. }) {
            return Err(Error::Forbidden);
        }
        let hold = check_hold(category, days).map_err(Error::Rejected)?;
        let category = hold.category.as_str();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        records::set_hold(&mut tx, &configure, &hold, now).await?;
        let family = category_family(category);
        let codes: Vec<String> = records::result_categories(&mut tx, &configure, now)
            .await?
            .into_iter()
            .map(|c| c.category)
            .filter(|c| category_family(c) == family)
            .collect();
        let reach = SignedDuration::from_hours(24 * days.unwrap_or(UNTIL_RELEASED_REACH_DAYS));
        let since = now.checked_sub(reach).unwrap_or(now);
        let shift = days.map(|d| SignedDuration::from_hours(24 * d));
        let held = records::hold_unopened(&mut tx, &configure, &codes, since, shift, now).await?;
        let mut event = self.event(
            actor,
            AuditAction::Update,
            "ResultReleaseRule",
            portal_domain::audit::Outcome::Success,
        );
        event.detail = match days {
            Some(d) => format!("hold {category} results for {d} day(s)"),
            None => format!("hold {category} results until released"),
        };
        event.detail.push_str(&format!(
            "; {held} unopened result(s) that arrived since then held too"
        ));
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(held)
    }

    /// Stops holding a category.
    pub async fn remove_result_hold(&self, actor: &Actor, category: &str) -> Result<()> {
        let configure = authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        let mut tx = self.store().begin().await?;
        let category = category.trim();
        if records::remove_hold(&mut tx, &configure, category).await? == 0 {
            return Err(Error::NotFound);
        }
        let mut event = self.event(
            actor,
            AuditAction::Delete,
            "ResultReleaseRule",
            portal_domain::audit::Outcome::Success,
        );
        event.detail = format!("stop holding {category} results");
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }
}
