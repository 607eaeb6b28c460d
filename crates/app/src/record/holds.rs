//! The clinic's result-release rules: which categories of results wait before the patient
//! sees them.

use super::*;
use crate::services::Clinic;

impl Clinic {
    /// The clinic's result holds (admins).
    pub async fn result_holds(&self, actor: &Actor) -> Result<Vec<Hold>> {
        let configure = authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(records::holds(&mut conn, &configure).await?)
    }

    /// Holds results of a category for `days` days, or until released (`None`).
    pub async fn set_result_hold(
        &self,
        actor: &Actor,
        category: &str,
        days: Option<i64>,
    ) -> Result<()> {
        let configure = authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        if !matches!(actor.principal, Principal::User { .. }) {
            return Err(Error::Forbidden);
        }
        let hold = check_hold(category, days).map_err(Error::Rejected)?;
        let category = hold.category.as_str();
        let mut tx = self.store().begin().await?;
        records::set_hold(&mut tx, &configure, &hold, self.now()).await?;
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
        self.audit(&mut tx, &event).await?;
        commit(tx).await
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
