//! Enrolment and account help at the front desk: where a record's enrolment stands (no account,
//! a code issued, an active, locked or disabled account), the addresses a code can be e-mailed
//! to, cancelling a code, the help desk's unlock, second-factor reset and ending of sessions
//! (each after an identity check, with a reason, audited), and the clinic's adoption figures.

use crate::enrolment::{Invitation, emails_in};
use crate::services::Accounts;
use crate::throttle::account_key;
use crate::{Actor, Error, Result, commit};
use jiff::{SignedDuration, Timestamp};
use portal_domain::access::{Action, ClinicAction, authorize_clinic};
use portal_domain::audit::{AuditAction, Outcome, REVIEW_FLAG};
use portal_domain::fields::FieldErrors;
use portal_domain::user::AccountStatus;
use portal_domain::{Patient, PatientAccess, PatientId};
use portal_store::enrolment::{self, Adoption, IssuedCode, OwnAccount, ProxyAccount};
use portal_store::{patients, sessions, throttle};

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
    /// The accounts with proxy access to the record in force, each with the end of a lock
    /// failed sign-ins set, if one holds.
    pub proxies: Vec<(ProxyAccount, Option<Timestamp>)>,
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
            (Some(account), _) => match locked_until(&mut tx, &account, now).await? {
                Some(until) => Status::Locked(account, until),
                None => Status::Active(account),
            },
            (None, Some(code)) => Status::CodeIssued(code),
            (None, None) => Status::None,
        };
        let addresses = match status {
            Status::None | Status::CodeIssued(_) => self.record_addresses(&mut tx, &access).await?,
            _ => Vec::new(),
        };
        let mut proxies = Vec::new();
        for proxy in enrolment::proxy_accounts(&mut tx, &access, now).await? {
            let until = locked_until(&mut tx, &proxy.account, now).await?;
            proxies.push((proxy, until));
        }
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "Enrolment");
        event.detail = "portal enrolment status".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(EnrolmentView {
            patient: record,
            access,
            status,
            addresses,
            proxies,
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
        let directory = authorize_clinic(&actor.principal, ClinicAction::FrontDesk)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(enrolment::adoption(&mut conn, &directory, self.now() - LATELY).await?)
    }
}

/// What the help desk does for a patient's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Help {
    /// Lifts a lock that failed sign-ins set.
    Unlock,
    /// Removes the authenticator app and recovery codes (a lost phone); ends every session.
    ResetSecondFactor,
    /// Signs the account out everywhere.
    EndSessions,
}

impl Help {
    /// The form's value.
    /// The word a page is told it was done with (`?done=`).
    pub fn done_key(self) -> &'static str {
        match self {
            Help::Unlock => "unlocked",
            Help::ResetSecondFactor => "reset",
            Help::EndSessions => "signed-out",
        }
    }

    /// Reads the form's value.
    pub fn parse(value: &str) -> Option<Help> {
        match value {
            "unlock" => Some(Help::Unlock),
            "reset-second-factor" => Some(Help::ResetSecondFactor),
            "end-sessions" => Some(Help::EndSessions),
            _ => None,
        }
    }

    /// In the audit trail and on the page.
    pub fn words(self) -> &'static str {
        match self {
            Help::Unlock => "account unlocked",
            Help::ResetSecondFactor => "second factor reset",
            Help::EndSessions => "every session ended",
        }
    }
}

/// Until when failed sign-ins (the password's, or the second step's) lock the account.
async fn locked_until(
    conn: &mut portal_store::Conn,
    account: &OwnAccount,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    let password = account_key("sign-in", &account.email);
    let code = format!("second-factor:{}", account.user);
    let mut until = throttle::locked_until(conn, &password, now).await?;
    if let Some(code_lock) = throttle::locked_until(conn, &code, now).await? {
        until = Some(until.map_or(code_lock, |u| u.max(code_lock)));
    }
    Ok(until)
}

/// How the help desk may have checked that the person asking is the patient.
pub const IDENTITY_CHECKS: [&str; 4] = [
    "Photo ID seen in person",
    "Called back on the phone number in the record",
    "Answered questions from the record (date of birth, address, a recent visit)",
    "Known to the clinic in person",
];

/// Reads the help desk's form: what to do, how the caller was checked, and why (10 to 500
/// characters). Every missing part is a field error.
fn judge_help<'r>(help: &str, identity: &str, reason: &'r str) -> Result<(Help, &'r str)> {
    let mut errors = FieldErrors::new();
    let help = Help::parse(help);
    if help.is_none() {
        errors.add("help", "Choose what to do for the account.");
    }
    if !IDENTITY_CHECKS.contains(&identity) {
        errors.add(
            "identity",
            "Choose how you checked that the caller holds the account.",
        );
    }
    let reason = reason.trim();
    let length = reason.chars().count();
    if !(10..=500).contains(&length) {
        errors.add(
            "reason",
            "Say why the account needs this, in 10 to 500 characters.",
        );
    }
    match help.filter(|_| errors.is_empty()) {
        Some(help) => Ok((help, reason)),
        None => Err(Error::Invalid(errors)),
    }
}

/// The e-mail telling an account its authenticator app was removed (no health data).
fn reset_mail(clinic: &str) -> (String, String) {
    (
        format!("Your {clinic} portal sign-in was reset"),
        format!(
            "Hello,\n\nAt your request, {clinic} removed the authenticator app from your portal \
             account and signed it out everywhere. Sign in with your password, then set up a new \
             authenticator app (Account, second step at sign-in).\n\nIf you did not ask for this, \
             call the clinic now.\n\n{clinic}\n"
        ),
    )
}

impl Accounts {
    /// Carries out the help desk's help once the account is known (for a reset, after its
    /// authenticator app was removed): lifts the locks, or ends every session (and for a reset
    /// tells the account by e-mail).
    async fn carry_out(
        &self,
        tx: &mut portal_store::Tx,
        help: Help,
        user: portal_domain::UserId,
        email: &str,
    ) -> Result<()> {
        match help {
            Help::Unlock => {
                throttle::clear(&mut *tx, &account_key("sign-in", email)).await?;
                throttle::clear(&mut *tx, &format!("second-factor:{user}")).await?;
            }
            Help::ResetSecondFactor => {
                sessions::delete_for_user(&mut *tx, user, None).await?;
                let (subject, body) = reset_mail(&self.config().clinic_name);
                self.queue_mail(tx, "second-factor-reset", email, &subject, &body)
                    .await?;
            }
            Help::EndSessions => {
                sessions::delete_for_user(&mut *tx, user, None).await?;
            }
        }
        Ok(())
    }

    /// Helps a clinic account (a clinician, staff member or another admin) that cannot sign
    /// in: unlock, reset its second factor, or end every session (admins; never their own
    /// account), with the identity check and a reason, audited (a reset flagged for review and
    /// the account told by e-mail). Patients' and proxies' accounts are helped from a record's
    /// enrolment page instead.
    pub async fn help_clinic_account(
        &self,
        actor: &Actor,
        user: portal_domain::UserId,
        help: &str,
        identity: &str,
        reason: &str,
    ) -> Result<Help> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let (help, reason) = judge_help(help, identity, reason)?;
        if actor.principal.user_id() == Some(user) {
            return Err(Error::Conflict(
                "Ask another administrator to help with your own account.".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        let account = portal_store::users::find(&mut tx, user)
            .await?
            .filter(|a| a.role != portal_domain::Role::Patient)
            .ok_or(Error::NotFound)?;
        if account.status == AccountStatus::Disabled {
            return Err(Error::Conflict(
                "The account is disabled: enable it first.".into(),
            ));
        }
        if help == Help::ResetSecondFactor
            && !portal_store::users::clear_second_factor(&mut tx, user).await?
        {
            return Err(Error::Conflict(
                "That account has no authenticator app to reset.".into(),
            ));
        }
        self.carry_out(&mut tx, help, user, &account.email).await?;
        let mut event = self.event(actor, AuditAction::Update, "Account", Outcome::Success);
        event.resource_id = Some(user.to_string());
        event.detail = format!(
            "{flag}help desk: {what} for a {role} account; identity checked: {identity}; \
             reason: {reason}",
            flag = if help == Help::ResetSecondFactor {
                REVIEW_FLAG
            } else {
                ""
            },
            what = help.words(),
            role = account.role,
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(help)
    }

    /// Helps someone whose account will not let them in: unlock, reset the second factor, or
    /// end every session. `whose` is empty for the record's own account, or the id of an
    /// account with proxy access to the record in force (a parent calling about their child's
    /// record). Staff and admins, with the way they checked the caller's identity and a reason,
    /// both audited in the record (a reset flagged for review, and the account's address told).
    pub async fn help_account(
        &self,
        actor: &Actor,
        patient: PatientId,
        whose: &str,
        help: &str,
        identity: &str,
        reason: &str,
    ) -> Result<Help> {
        // The policy first: a form from someone it refuses is not looked at.
        let (access, mut tx) = self.open_patient(actor, patient, Action::Enrol).await?;
        let (help, reason) = judge_help(help, identity, reason)?;
        let now = self.now();
        let (account, proxy) = if whose.trim().is_empty() {
            let found = enrolment::of_record(&mut tx, &access, now).await?;
            let Some(account) = found.account else {
                return Err(Error::Conflict(
                    "This record has no portal account yet: give the patient an activation \
                     code instead."
                        .into(),
                ));
            };
            (account, None)
        } else {
            let proxies = enrolment::proxy_accounts(&mut tx, &access, now).await?;
            let Some(found) = proxies
                .into_iter()
                .find(|p| p.account.user.to_string() == whose.trim())
            else {
                return Err(Error::field(
                    "whose",
                    "Choose the patient's own account or one of the proxies listed.",
                ));
            };
            (found.account, Some(found.relationship))
        };
        if help == Help::ResetSecondFactor && !account.has_second_factor {
            return Err(Error::Conflict(
                "That account has no authenticator app to reset.".into(),
            ));
        }
        if account.status == AccountStatus::Disabled {
            return Err(Error::Conflict(
                "The account is disabled. An administrator can enable it again from the Users \
                 page."
                    .into(),
            ));
        }
        if help == Help::ResetSecondFactor
            && !enrolment::clear_second_factor(&mut tx, &access, account.user).await?
        {
            return Err(Error::NotFound);
        }
        self.carry_out(&mut tx, help, account.user, &account.email)
            .await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "Account");
        event.resource_id = Some(account.user.to_string());
        event.detail = format!(
            "{flag}help desk: {what}{whose}; identity checked: {identity}; reason: {reason}",
            flag = if help == Help::ResetSecondFactor {
                REVIEW_FLAG
            } else {
                ""
            },
            what = help.words(),
            whose = match &proxy {
                Some(relationship) => format!(" for a proxy's account ({relationship})"),
                None => String::new(),
            },
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(help)
    }
}

impl Accounts {
    /// A clinic account for the admin's help page (never a patient's or proxy's; not audited:
    /// no health data).
    pub async fn clinic_account(
        &self,
        actor: &Actor,
        user: portal_domain::UserId,
    ) -> Result<portal_store::users::UserRow> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        portal_store::users::find(&mut conn, user)
            .await?
            .filter(|a| a.role != portal_domain::Role::Patient)
            .ok_or(Error::NotFound)
    }
}
