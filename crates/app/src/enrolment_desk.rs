//! Enrolment at the front desk: where a record's enrolment stands (no account, a code issued,
//! an active, locked or disabled account), the addresses a code can be e-mailed to, cancelling
//! a code, and the clinic's adoption figures.

use crate::enrolment::{Invitation, emails_in};
use crate::services::Accounts;
use crate::throttle::account_key;
use crate::{Actor, Error, Result, commit};
use jiff::{SignedDuration, Timestamp};
use portal_domain::access::{Action, ClinicAction, authorize_clinic};
use portal_domain::audit::AuditAction;
use portal_domain::user::AccountStatus;
use portal_domain::{Patient, PatientAccess, PatientId};
use portal_store::enrolment::{self, Adoption, IssuedCode, OwnAccount};
use portal_store::{patients, throttle};

/// Where a record's enrolment stands.
#[derive(Clone, Debug)]
pub enum Status {
    /// No account and no code that still works.
    None,
    /// A code waits to be used.
    CodeIssued(IssuedCode),
    /// The patient's own account may sign in.
    Active(OwnAccount),
    /// Too many failed sign-ins: locked until then.
    Locked(OwnAccount, Timestamp),
    /// An admin disabled the account.
    Disabled(OwnAccount),
}

/// A record's enrolment as the front desk sees it.
pub struct EnrolmentView {
    /// The record.
    pub patient: Patient,
    /// The policy's decision.
    pub access: PatientAccess,
    /// Where it stands.
    pub status: Status,
    /// The e-mail addresses the record lists, a code can be sent to (none once it has an
    /// account).
    pub addresses: Vec<String>,
}

/// How far back "signed in lately" looks.
pub const LATELY: SignedDuration = SignedDuration::from_hours(30 * 24);

impl Accounts {
    /// The addresses the record lists for the patient.
    pub(crate) async fn record_addresses(
        &self,
        conn: &mut portal_store::Conn,
        enrol: &PatientAccess,
    ) -> Result<Vec<String>> {
        let details = patients::details_for_enrolment(conn, enrol).await?;
        Ok(emails_in(details.as_deref()))
    }

    /// Where a record's enrolment stands (staff and admins), audited as a read of the record's
    /// account.
    pub async fn enrolment(&self, actor: &Actor, patient: PatientId) -> Result<EnrolmentView> {
        let (access, mut tx) = self.open_patient(actor, patient, Action::Enrol).await?;
        let record = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let now = self.now();
        let found = enrolment::of_record(&mut tx, &access, now).await?;
        let status = match (found.account, found.code) {
            (Some(account), _) if account.status == AccountStatus::Disabled => {
                Status::Disabled(account)
            }
            (Some(account), _) => {
                let key = account_key("sign-in", &account.email);
                match throttle::locked_until(&mut tx, &key, now).await? {
                    Some(until) => Status::Locked(account, until),
                    None => Status::Active(account),
                }
            }
            (None, Some(code)) => Status::CodeIssued(code),
            (None, None) => Status::None,
        };
        let addresses = match status {
            Status::None | Status::CodeIssued(_) => self.record_addresses(&mut tx, &access).await?,
            _ => Vec::new(),
        };
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "Enrolment");
        event.detail = "portal enrolment status".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(EnrolmentView {
            patient: record,
            access,
            status,
            addresses,
        })
    }

    /// Issues a code and e-mails it to `to`, one of the addresses the record lists.
    pub async fn email_code(
        &self,
        actor: &Actor,
        patient: PatientId,
        to: &str,
    ) -> Result<Invitation> {
        self.issue_code(actor, patient, Some(to)).await
    }

    /// Makes the record's waiting codes stop working (a letter lost, a code given to the wrong
    /// person); audited. How many there were.
    pub async fn cancel_codes(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(Patient, PatientAccess, u64)> {
        let (access, mut tx) = self.open_patient(actor, patient, Action::Enrol).await?;
        let record = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let cancelled = enrolment::cancel_codes(&mut tx, &access, self.now()).await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "ActivationCode");
        event.detail = format!("activation code cancelled ({cancelled} waiting)");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok((record, access, cancelled))
    }

    /// The clinic's adoption figures (front desk and admins; counts only).
    pub async fn adoption(&self, actor: &Actor) -> Result<Adoption> {
        let directory = authorize_clinic(&actor.principal, ClinicAction::SearchDirectory)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(enrolment::adoption(&mut conn, &directory, self.now() - LATELY).await?)
    }
}
