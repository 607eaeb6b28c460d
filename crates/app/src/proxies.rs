//! Proxy and caregiver access (issue 29): who holds access to a record and what each grant
//! allows; an adult (or a teen) inviting a proxy by e-mail and limiting, widening, sharing or
//! ending it; the clinic granting a parent access to a minor after checking identity; a patient
//! asking the clinic to remove a proxy; accepting an invitation; the clinic's age rules and
//! confidential categories. What a grant reaches on each request is the policy's
//! ([`portal_domain::access::ProxyRules`]); every change here is audited against the record.

use crate::services::Proxies;
use crate::{Actor, Error, Result, commit, crypto};
use jiff::{SignedDuration, Timestamp};
use portal_domain::access::{
    AccessBasis, Action, AgeRules, ClinicAction, PatientAccess, ProxyRules, ProxyScope,
    Relationship, authorize, authorize_clinic,
};
use portal_domain::audit::{AuditAction, Outcome, RequestContext};
use portal_domain::fields::{Email, FieldErrors};
use portal_domain::password::NewPassword;
use portal_domain::record::Categories;
use portal_domain::{PatientId, Principal, Role, UserId};
use portal_store::access::{JURISDICTION_KEY, confidential_key};
use portal_store::proxies::{self, Change, GrantRow, InvitationRow, NewInvitation};
use portal_store::{access, patients, pools, users};

/// How long an invitation's link works.
pub const INVITATION_DAYS: i64 = 14;

/// The identity documents staff may note having checked before granting a parent access.
pub const DOCUMENTS: [&str; 5] = [
    "Driver's licence or state ID",
    "Passport",
    "Birth certificate with the parent's photo ID",
    "Court order naming the guardian, with photo ID",
    "Known to the clinic in person, with photo ID",
];

/// Where a patient stands under the age rules today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A young child: parents act for them; they have no say and no account.
    Child,
    /// A teen: a parent's access is limited unless the teen widens it; they may hold their own
    /// account and choose.
    Teen,
    /// An adult: only grants they make count.
    Adult,
}

/// One grant as its page shows it.
#[derive(Clone, Debug)]
pub struct GrantView {
    /// The grant as stored.
    pub row: GrantRow,
    /// What it reaches today (`None`: nothing: ended, revoked, or ended by age).
    pub reaches: Option<ProxyScope>,
    /// Whether it is live (not revoked, started, not past its end).
    pub live: bool,
    /// Whether the viewer may end it here.
    pub may_end: bool,
    /// Whether the patient made it or chose its reach in their present age band.
    pub patient_chose: bool,
}

/// Who holds access to a record, for the patient or the clinic.
pub struct ProxyOverview {
    /// The policy's decision the page was read under.
    pub access: PatientAccess,
    /// The record's patient.
    pub patient: portal_domain::Patient,
    /// Its grants, live first.
    pub grants: Vec<GrantView>,
    /// Invitations not yet accepted.
    pub invitations: Vec<InvitationRow>,
    /// Where the patient stands under the age rules.
    pub stage: Stage,
    /// The rules in force.
    pub rules: ProxyRules,
    /// Whether the viewer acts for the clinic.
    pub by_clinic: bool,
}

/// An invitation as the invitee sees it through the link.
pub struct InvitationPreview {
    /// The invitation.
    pub invitation: InvitationRow,
    /// Whose record.
    pub patient_name: String,
}

/// The invitation form, as typed.
#[derive(Clone, Debug, Default)]
pub struct InviteForm {
    /// The invitee's address.
    pub email: String,
    /// "parent", "caregiver" or "other".
    pub relationship: String,
    /// "full" or "non-clinical".
    pub scope: String,
    /// The last day of access (YYYY-MM-DD), or empty.
    pub until: String,
    /// The document staff checked (clinic invitations).
    pub document: String,
}

/// A change the patient or the clinic asks for on one grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantChange {
    /// End it.
    End,
    /// The patient chooses its reach.
    Reach(ProxyScope),
    /// The patient shares these confidential categories with the proxy.
    Share(Categories),
    /// The patient asks the clinic to remove it.
    AskRemoval,
}

fn stage_of(
    rules: &ProxyRules,
    birth: Option<jiff::civil::Date>,
    today: jiff::civil::Date,
) -> Stage {
    let Some(birth) = birth else {
        return Stage::Adult;
    };
    if !rules.parents_may_be_granted(birth, today) {
        Stage::Adult
    } else if rules.patient_decides(birth, today) {
        Stage::Teen
    } else {
        Stage::Child
    }
}

/// A record opened to manage its proxies: the policy's decision, the transaction it was read
/// in, the record, the rules in force, and where the patient stands under them now.
struct Opened {
    access: PatientAccess,
    tx: portal_store::Tx,
    record: portal_domain::Patient,
    rules: ProxyRules,
    birth: Option<jiff::civil::Date>,
    stage: Stage,
    now: Timestamp,
}

fn by_clinic(access: &PatientAccess) -> bool {
    matches!(
        access.basis(),
        AccessBasis::ClinicStaff | AccessBasis::Administration | AccessBasis::Operator
    )
}

impl Proxies {
    /// The clinic's rules for proxies as stored (defaults where nothing is stored).
    pub(crate) async fn rules_in(&self, conn: &mut portal_store::Conn) -> Result<ProxyRules> {
        Ok(access::proxy_rules(conn).await?)
    }

    /// Opens the record under `Action::ManageProxy` (a refusal is recorded and answered "not
    /// found") with what deciding about its proxies needs.
    async fn open(&self, actor: &Actor, patient: PatientId) -> Result<Opened> {
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ManageProxy)
            .await?;
        let record = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let rules = self.rules_in(&mut tx).await?;
        let now = self.now();
        let birth = record.birth_date.parse().ok();
        let stage = stage_of(&rules, birth, rules.date_of(now));
        Ok(Opened {
            access,
            tx,
            record,
            rules,
            birth,
            stage,
            now,
        })
    }

    /// Who holds access to the record and what each grant allows (the patient, or the clinic's
    /// staff and admins).
    pub async fn overview(&self, actor: &Actor, patient: PatientId) -> Result<ProxyOverview> {
        let Opened {
            access,
            mut tx,
            record,
            rules,
            birth,
            stage,
            now,
        } = self.open(actor, patient).await?;
        let grants = proxies::of_record(&mut tx, &access).await?;
        let invitations = proxies::open_invitations(&mut tx, &access, now).await?;
        let clinic = by_clinic(&access);
        let grants = grants
            .into_iter()
            .map(|row| self.view_of(row, &access, &rules, birth, stage, now))
            .collect();
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "ProxyGrants");
        event.detail = "read who holds access to the record".into();
        self.audit(&mut tx, &event).await?;
        crate::commit(tx).await?;
        Ok(ProxyOverview {
            access,
            patient: record,
            grants,
            invitations,
            stage,
            rules,
            by_clinic: clinic,
        })
    }

    fn view_of(
        &self,
        row: GrantRow,
        access: &PatientAccess,
        rules: &ProxyRules,
        birth: Option<jiff::civil::Date>,
        stage: Stage,
        now: Timestamp,
    ) -> GrantView {
        let fact = portal_domain::access::ProxyGrantFact {
            scope: row.scope.unwrap_or(ProxyScope::NonClinical),
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            revoked: row.revoked_at.is_some(),
            relationship: row.relationship,
            patient_chose_at: row.patient_chose_at,
            shared: row.shared,
        };
        let live = row.revoked_at.is_none()
            && row.starts_at <= now
            && row.ends_at.is_none_or(|end| now < end)
            && row.scope.is_some();
        let reaches = birth
            .filter(|_| live)
            .and_then(|b| rules.reach(&fact, b, now));
        let made_by_patient = access
            .principal()
            .user_id()
            .is_some_and(|u| row.granted_by_id == u.to_string());
        let patient_chose = row.patient_chose_at.is_some_and(|at| {
            birth.is_some_and(|b| {
                rules
                    .ages
                    .band_on(b, rules.date_of(now))
                    .is_some_and(|band| {
                        portal_domain::access::age_on(b, rules.date_of(at))
                            .is_some_and(|age| age >= i64::from(band.from_age))
                    })
            })
        });
        let may_end = live
            && (by_clinic(access)
                || (access.basis() == AccessBasis::OwnRecord
                    && (stage == Stage::Adult || made_by_patient)));
        GrantView {
            row,
            reaches,
            live,
            may_end,
            patient_chose,
        }
    }

    /// Invites someone by e-mail to become a proxy for the record: the patient themselves (a
    /// teen or an adult), or the clinic granting a parent access to a minor after checking the
    /// identity document it notes. The e-mail holds only a link.
    pub async fn invite(
        &self,
        actor: &Actor,
        patient: PatientId,
        form: &InviteForm,
    ) -> Result<Timestamp> {
        let Opened {
            access,
            mut tx,
            rules,
            stage,
            now,
            ..
        } = self.open(actor, patient).await?;
        let clinic = by_clinic(&access);
        let mut errors = FieldErrors::new();
        let email = errors.take("email", Email::parse(&form.email));
        let relationship = Relationship::ALL
            .into_iter()
            .find(|r| r.as_str() == form.relationship);
        if relationship.is_none() {
            errors.add(
                "relationship",
                "Choose how they are related to the patient.",
            );
        }
        let scope = if clinic {
            // A parent's grant follows the age rules; the clinic grants all they allow.
            Some(ProxyScope::Full)
        } else {
            ProxyScope::from_stored(&form.scope)
        };
        if scope.is_none() {
            errors.add("scope", "Choose what they may see and do.");
        }
        let ends_at = match form.until.trim() {
            "" => None,
            day => match day.parse::<jiff::civil::Date>() {
                Ok(d) if d > rules.date_of(now) => d
                    .tomorrow()
                    .ok()
                    .and_then(|d| d.to_zoned_datetime(rules.zone.clone()).ok())
                    .map(|z| z.timestamp()),
                Ok(_) => {
                    errors.add("until", "The last day must be after today.");
                    None
                }
                Err(_) => {
                    errors.add(
                        "until",
                        "Enter the last day as YYYY-MM-DD, or leave it empty.",
                    );
                    None
                }
            },
        };
        let document = form.document.trim();
        if clinic {
            if relationship != Some(Relationship::Parent) {
                errors.add(
                    "relationship",
                    "The clinic grants access to a parent or guardian; other people are invited by the patient.",
                );
            }
            if stage == Stage::Adult {
                errors.add(
                    "email",
                    "This patient is an adult: only they can give someone access, from their own account.",
                );
            }
            if !DOCUMENTS.contains(&document) {
                errors.add("document", "Note the identity document you checked.");
            }
        } else if stage == Stage::Child {
            return Err(Error::Forbidden);
        }
        if let Some(email) = &email
            && let Some(own) = actor.principal.user_id()
            && let Some(me) = users::find(&mut tx, own).await?
            && me.email == email.as_str()
        {
            errors.add("email", "That is your own address: invite someone else.");
        }
        let (Some(email), Some(relationship), Some(scope)) = (email, relationship, scope) else {
            return Err(Error::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let token = crypto::random_token();
        let id = uuid::Uuid::now_v7().to_string();
        let expires_at = now + SignedDuration::from_hours(24 * INVITATION_DAYS);
        let invited_by = actor.principal.actor_id();
        proxies::invite(
            &mut tx,
            &access,
            &NewInvitation {
                id: &id,
                email: email.as_str(),
                relationship,
                scope,
                ends_at,
                by_patient: !clinic,
                invited_by: &invited_by,
                document_checked: if clinic { document } else { "" },
                token_hash: &crypto::sha256_hex(&token),
                expires_at,
            },
            now,
        )
        .await?;
        let config = self.config();
        let body = format!(
            "Hello,\n\n{who} has invited you to help with someone's care through the {clinic} \
             patient portal, as their proxy.\n\nTo see who, and to accept or decline, open this \
             link: {base}/proxy-invitations/{token}\n\nThe link works for {days} days. If you \
             did not expect this, you can ignore this e-mail.\n\n{clinic}\n",
            who = if clinic { "The clinic" } else { "A patient" },
            clinic = config.clinic_name,
            base = config.public_url.trim_end_matches('/'),
            days = INVITATION_DAYS,
        );
        self.queue_mail(
            &mut tx,
            "proxy-invitation",
            email.as_str(),
            &format!("You are invited to be a proxy at {}", config.clinic_name),
            &body,
        )
        .await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Create, "ProxyInvitation");
        event.resource_id = Some(id);
        event.detail = format!(
            "invited {} as {} ({}){}",
            email.as_str(),
            relationship.as_str(),
            scope.as_str(),
            if clinic {
                format!("; identity checked: {document}")
            } else {
                String::new()
            }
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(expires_at)
    }

    /// Cancels an invitation not yet accepted.
    pub async fn cancel_invitation(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: &str,
    ) -> Result<()> {
        let Opened {
            access,
            mut tx,
            stage,
            now,
            ..
        } = self.open(actor, patient).await?;
        let Some(invitation) = proxies::open_invitations(&mut tx, &access, now)
            .await?
            .into_iter()
            .find(|i| i.id == id)
        else {
            return Err(Error::NotFound);
        };
        // The clinic's invitation (after an identity check) is the clinic's to cancel, or an
        // adult patient's; a teen asks the clinic once it is a grant.
        if !(invitation.by_patient || by_clinic(&access) || stage == Stage::Adult) {
            return Err(Error::Forbidden);
        }
        if !proxies::cancel_invitation(&mut tx, &access, id, now).await? {
            return Err(Error::NotFound);
        }
        let mut event = self.patient_event(actor, &access, AuditAction::Delete, "ProxyInvitation");
        event.resource_id = Some(id.to_string());
        event.detail = "cancelled an invitation".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// Changes one grant of the record: the clinic may end any; the patient ends those they
    /// made (an adult, any), chooses a grant's reach and what it shares (a teen or an adult),
    /// and may ask the clinic to remove a proxy.
    pub async fn change(
        &self,
        actor: &Actor,
        patient: PatientId,
        grant: &str,
        what: GrantChange,
    ) -> Result<()> {
        let Opened {
            access,
            mut tx,
            rules,
            birth,
            stage,
            now,
            ..
        } = self.open(actor, patient).await?;
        let Some(row) = proxies::one(&mut tx, &access, grant).await? else {
            return Err(Error::NotFound);
        };
        let view = self.view_of(row, &access, &rules, birth, stage, now);
        if !view.live {
            return Err(Error::NotFound);
        }
        let own = access.basis() == AccessBasis::OwnRecord;
        let by = actor.principal.actor_id();
        let (change, detail) = match what {
            GrantChange::End if view.may_end => {
                (Change::Revoke(&by), "ended the grant".to_string())
            }
            GrantChange::Reach(scope) if own && stage != Stage::Child => (
                Change::Choose(scope),
                format!("chose the grant's reach: {}", scope.as_str()),
            ),
            GrantChange::Share(categories) if own && stage != Stage::Child => (
                Change::Share(categories),
                format!(
                    "shares confidential categories: {}",
                    if categories.is_empty() {
                        "none".to_string()
                    } else {
                        categories.to_stored()
                    }
                ),
            ),
            GrantChange::AskRemoval if own => (
                Change::AskRemoval,
                "asked the clinic to remove this proxy".to_string(),
            ),
            _ => return Err(Error::Forbidden),
        };
        if !proxies::change(&mut tx, &access, grant, change, now).await? {
            return Err(Error::NotFound);
        }
        if what == GrantChange::End {
            let config = self.config();
            self.queue_mail(
                &mut tx,
                "proxy-ended",
                &view.row.proxy_email,
                &format!("Your proxy access at {} has changed", config.clinic_name),
                &format!(
                    "Hello,\n\nAccess you held to someone's record in the {clinic} patient portal \
                     has ended. Sign in to see the records you can still open.\n\n{clinic}\n",
                    clinic = config.clinic_name
                ),
            )
            .await?;
        }
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "ProxyGrant");
        event.resource_id = Some(grant.to_string());
        event.detail = format!("{detail} (proxy: {})", view.row.proxy_name);
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(())
    }

    /// The invitation a link opens, for its invitee (signed in or not), the showing audited in
    /// the record; `None` for a link that is unknown, used, cancelled or expired.
    pub async fn invitation(
        &self,
        token: &str,
        context: &RequestContext,
    ) -> Result<Option<InvitationPreview>> {
        let Some(preview) = self.find_invitation(token).await? else {
            return Ok(None);
        };
        // The patient's name was shown to whoever holds the link: recorded in the record.
        let actor = Actor::new(Principal::Operator, context.clone());
        let mut event = self.event(
            &actor,
            AuditAction::Read,
            "ProxyInvitation",
            Outcome::Success,
        );
        event.actor_id = format!("invitee:{}", preview.invitation.id);
        event.actor_role = "invitee".into();
        event.patient_id = Some(preview.invitation.patient.to_string());
        event.resource_id = Some(preview.invitation.id.clone());
        event.detail = format!(
            "invitation opened by its link (sent to {})",
            preview.invitation.email
        );
        self.audit_alone(&event).await?;
        Ok(Some(preview))
    }

    /// The open invitation a link names, with whose record it is.
    async fn find_invitation(&self, token: &str) -> Result<Option<InvitationPreview>> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        let mut conn = self.conn().await?;
        let Some(invitation) =
            proxies::open_invitation(&mut conn, &crypto::sha256_hex(token), self.now()).await?
        else {
            return Ok(None);
        };
        // The link is the invitee's leave to learn whose record it is.
        let access = authorize(
            &Principal::Operator,
            invitation.patient,
            Action::ViewDemographics,
            &Default::default(),
            self.now(),
        )
        .map_err(|_| Error::NotFound)?;
        let Some(record) = patients::get(&mut conn, &access).await? else {
            return Ok(None);
        };
        Ok(Some(InvitationPreview {
            invitation,
            patient_name: record.display_name(),
        }))
    }

    /// Accepts an invitation for the signed-in account: the grant is made, once.
    pub async fn accept(&self, actor: &Actor, token: &str) -> Result<PatientId> {
        let Principal::User {
            id,
            role: Role::Patient,
            own_patient,
        } = &actor.principal
        else {
            return Err(Error::Forbidden);
        };
        let preview = self.find_invitation(token).await?.ok_or(Error::NotFound)?;
        // The link is the invited address's: another account cannot take the grant with it.
        let mut conn = self.conn().await?;
        let account = users::find(&mut conn, *id).await?.ok_or(Error::Forbidden)?;
        drop(conn);
        if account.email != preview.invitation.email {
            return Err(Error::field(
                "token",
                "This invitation was sent to another e-mail address. Sign in with the account of \
                 that address, or ask for an invitation to the address you sign in with.",
            ));
        }
        if *own_patient == Some(preview.invitation.patient) {
            return Err(Error::field(
                "token",
                "This invitation is for your own record: you already have access to it.",
            ));
        }
        self.grant_from_invitation(&actor.context, *id, &preview.invitation)
            .await?;
        Ok(preview.invitation.patient)
    }

    /// Accepts an invitation with a new account under the invited address (the link proved
    /// it): the account has no record of its own; it signs in with a second factor like any.
    pub async fn accept_with_new_account(
        &self,
        token: &str,
        name: &str,
        password: &str,
        context: &RequestContext,
    ) -> Result<UserId> {
        let preview = self.find_invitation(token).await?.ok_or(Error::NotFound)?;
        let email = preview.invitation.email.clone();
        let mut errors = FieldErrors::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.add("name", "Enter your name (up to 100 characters).");
        }
        errors.take("password", NewPassword::parse(password, &[&email, name]));
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let hash = crypto::hash_password(password.to_string()).await?;
        let now = self.now();
        let id = UserId::new_v7(now);
        let mut tx = self.store().begin().await?;
        users::insert(
            &mut tx,
            &users::NewUser {
                id,
                email: &email,
                name,
                role: Role::Patient,
                password_hash: &hash,
                patient_id: None,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            portal_store::Error::Conflict(_) => Error::field(
                "email",
                "This address already has an account: sign in to accept the invitation.",
            ),
            other => other.into(),
        })?;
        let actor = Actor::new(
            Principal::User {
                id,
                role: Role::Patient,
                own_patient: None,
            },
            context.clone(),
        );
        let mut event = self.event(&actor, AuditAction::Create, "Account", Outcome::Success);
        event.resource_id = Some(id.to_string());
        event.detail = "proxy account created from an invitation".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.grant_from_invitation(context, id, &preview.invitation)
            .await?;
        Ok(id)
    }

    async fn grant_from_invitation(
        &self,
        context: &RequestContext,
        user: UserId,
        invitation: &InvitationRow,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !proxies::take_invitation(&mut tx, &invitation.id, user, now).await? {
            return Err(Error::NotFound);
        }
        let grant = uuid::Uuid::now_v7();
        access::add_proxy_grant(
            &mut tx,
            &access::NewGrant {
                id: grant,
                proxy: user,
                patient: invitation.patient,
                scope: invitation.scope.unwrap_or(ProxyScope::NonClinical),
                relationship: invitation.relationship.as_str(),
                starts_at: now,
                ends_at: invitation.ends_at,
                granted_by: &invitation.invited_by,
                // The patient's own invitation is their choice, standing (they could cancel it)
                // until it was accepted.
                patient_chose_at: invitation.by_patient.then_some(now),
                document_checked: &invitation.document_checked,
            },
            now,
        )
        .await?;
        let actor = Actor::new(
            Principal::User {
                id: user,
                role: Role::Patient,
                own_patient: None,
            },
            context.clone(),
        );
        let mut event = self.event(&actor, AuditAction::Create, "ProxyGrant", Outcome::Success);
        event.patient_id = Some(invitation.patient.to_string());
        event.resource_id = Some(grant.to_string());
        event.on_behalf_of = format!("proxy-{}", invitation.relationship.as_str());
        event.detail = format!(
            "accepted an invitation to be a proxy ({}, {})",
            invitation.relationship.as_str(),
            invitation.scope.map_or("none", ProxyScope::as_str)
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// The patients' open requests that the clinic remove a proxy (the front desk and admins),
    /// oldest first; reading the list is audited like a directory search.
    pub async fn removal_requests(&self, actor: &Actor) -> Result<Vec<proxies::RemovalRequest>> {
        let directory = authorize_clinic(&actor.principal, ClinicAction::FrontDesk)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        let rows = proxies::removal_requests(&mut conn, &directory).await?;
        drop(conn);
        if !rows.is_empty() {
            let mut event = self.event(
                actor,
                AuditAction::Read,
                "PatientDirectory",
                Outcome::Success,
            );
            event.detail = format!("requests to remove a proxy, {} listed", rows.len());
            self.audit_alone(&event).await?;
        }
        Ok(rows)
    }

    /// The clinic's rules for proxies and every jurisdiction's age rules (admins).
    pub async fn settings(&self, actor: &Actor) -> Result<(ProxyRules, Vec<AgeRules>)> {
        authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        let rules = self.rules_in(&mut conn).await?;
        let all = proxies::age_rules(&mut conn).await?;
        Ok((rules, all))
    }

    /// Saves a jurisdiction's age rules (checked: bands from 0, no gaps, the last for life),
    /// puts them in force, and sets the confidential categories kept from proxies.
    pub async fn save_settings(
        &self,
        actor: &Actor,
        rules: &AgeRules,
        confidential: Categories,
    ) -> Result<()> {
        let cap = authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic)
            .map_err(|_| Error::Forbidden)?;
        rules.check().map_err(|e| Error::field("bands", e.0))?;
        if rules.jurisdiction.chars().count() > 100 {
            return Err(Error::field(
                "jurisdiction",
                "Keep the name under 100 characters.",
            ));
        }
        let now = self.now();
        let by = actor.principal.actor_id();
        let mut tx = self.store().begin().await?;
        proxies::save_age_rules(&mut tx, &cap, rules).await?;
        pools::set_setting(
            &mut tx,
            &cap,
            JURISDICTION_KEY,
            &rules.jurisdiction,
            &by,
            now,
        )
        .await?;
        pools::set_setting(
            &mut tx,
            &cap,
            &confidential_key(&rules.jurisdiction),
            &confidential.to_stored(),
            &by,
            now,
        )
        .await?;
        // What every proxy sees may have changed.
        access::touch_all_records(&mut tx).await?;
        let mut event = self.event(actor, AuditAction::Update, "ProxyRules", Outcome::Success);
        event.detail = format!(
            "proxy rules: {} ({} bands); confidential: {}",
            rules.jurisdiction,
            rules.bands.len(),
            confidential.to_stored()
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }
}
