//! A record's care team, managed by the front desk and admins: the clinicians who may open the
//! record as its care team. Each change is audited in the record; a clinician taken off loses
//! the record at their next request.

use crate::services::Clinic;
use crate::{Actor, Error, Result, commit};
use portal_domain::audit::AuditAction;
use portal_domain::{Action, Patient, PatientAccess, PatientId, UserId};
use portal_store::care_team;
use portal_store::patients;

pub use portal_store::care_team::Member;

/// A record's care team as its page shows it.
pub struct CareTeamView {
    /// The record.
    pub patient: Patient,
    /// The policy's decision.
    pub access: PatientAccess,
    /// The clinicians on the team.
    pub members: Vec<Member>,
    /// The active clinicians who could be put on it.
    pub candidates: Vec<Member>,
}

/// What a change did, for the page to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TeamChange {
    /// The clinician (named) was put on the team.
    Added(String),
    /// The clinician (named) was taken off it.
    Removed(String),
}

impl Clinic {
    /// The record's care team and who could join it (front desk and admins), audited.
    pub async fn care_team(&self, actor: &Actor, patient: PatientId) -> Result<CareTeamView> {
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ManageCareTeam)
            .await?;
        let record = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let members = care_team::of_record(&mut tx, &access).await?;
        let candidates = care_team::candidates(&mut tx, &access).await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "CareTeam");
        event.detail = "care team".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(CareTeamView {
            patient: record,
            access,
            members,
            candidates,
        })
    }

    /// Puts a clinician on the record's care team or takes one off (`add`), audited in the
    /// record. The clinician is chosen from the page's lists: anyone else is a field error and
    /// changes nothing.
    pub async fn change_care_team(
        &self,
        actor: &Actor,
        patient: PatientId,
        clinician: &str,
        add: bool,
    ) -> Result<TeamChange> {
        // The policy first: a form from someone it refuses is not looked at.
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ManageCareTeam)
            .await?;
        let choose = || Error::field("clinician", "Choose a clinician from the list.");
        let user: UserId = clinician.trim().parse().map_err(|_| choose())?;
        let listed = if add {
            care_team::candidates(&mut tx, &access).await?
        } else {
            care_team::of_record(&mut tx, &access).await?
        };
        let name = listed
            .into_iter()
            .find(|m| m.user == user)
            .ok_or_else(choose)?
            .name;
        let changed = if add {
            care_team::add(&mut tx, &access, user).await?
        } else {
            care_team::remove(&mut tx, &access, user).await?
        };
        if !changed {
            // Another request made the same change a moment ago.
            return Err(Error::Conflict(
                "The care team changed meanwhile: look at it again.".into(),
            ));
        }
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "CareTeam");
        event.resource_id = Some(user.to_string());
        event.detail = if add {
            format!("put {name} on the care team")
        } else {
            format!("took {name} off the care team")
        };
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(if add {
            TeamChange::Added(name)
        } else {
            TeamChange::Removed(name)
        })
    }
}
