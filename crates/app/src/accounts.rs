//! Accounts: creating staff accounts, changing and resetting passwords, enabling and disabling.

use crate::services::Accounts;
use crate::throttle::{Limits, PER_ACCOUNT, PER_ADDRESS, Taken, account_key, address_key};
use crate::{Actor, Error, Result, auth::CurrentUser, commit, crypto};
use jiff::SignedDuration;
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::audit::{AuditAction, Outcome, REVIEW_FLAG, RequestContext};
use portal_domain::fields::{Email, FieldErrors, PersonName};
use portal_domain::password::NewPassword;
use portal_domain::user::{Account, AccountStatus};
use portal_domain::{Principal, Role, UserId};
use portal_store::sessions;
use portal_store::users::{self, NewUser};

/// A staff account to create, parsed from its form. There is no password: the person chooses
/// it through a one-time set-up link, so whoever creates the account never knows it.
pub struct NewStaffAccount {
    /// Sign-in e-mail.
    pub email: Email,
    /// Display name.
    pub name: PersonName,
    /// Role (never patient: patients activate their own accounts).
    pub role: Role,
}

impl NewStaffAccount {
    /// Parses the fields; every problem names its field.
    pub fn parse(email: &str, name: &str, role: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let email = errors.take("email", Email::parse(email));
        let name = errors.take("name", PersonName::parse(name));
        let role = match role.parse::<Role>() {
            Ok(Role::Patient) | Err(_) => {
                errors.add("role", "Role must be admin, clinician or staff.");
                None
            }
            Ok(r) => Some(r),
        };
        match (email, name, role) {
            (Some(email), Some(name), Some(role)) if errors.is_empty() => {
                Ok(Self { email, name, role })
            }
            _ => Err(errors),
        }
    }
}

/// A new staff account and its one-time set-up link.
pub struct CreatedAccount {
    /// The account.
    pub id: UserId,
    /// The set-up link: e-mailed to the person when an admin created the account; printed by
    /// `portal user create` for the operator to hand over (the very first admin).
    pub setup_link: String,
}

/// How long a set-up link works.
pub const SETUP_LINK_TTL: SignedDuration = SignedDuration::from_hours(72);

impl Accounts {
    /// Creates a clinician, staff or admin account (by an admin or the operator) with no
    /// usable password, and a one-time link with which the person chooses it; the second
    /// factor is enrolled at their first sign-in. An admin's creation e-mails the link to the
    /// person; creating a clinician or admin account is flagged for the other admins' review.
    pub async fn create_staff_account(
        &self,
        actor: &Actor,
        new: NewStaffAccount,
    ) -> Result<CreatedAccount> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        // Nobody knows this password: it is random and thrown away.
        let hash = crypto::hash_password(crypto::random_token()).await?;
        let now = self.now();
        let id = UserId::new_v7(now);
        let token = crypto::random_token();
        let setup_link = format!("{}/reset/{token}", self.config().public_url);
        let mut tx = self.store().begin().await?;
        users::insert(
            &mut tx,
            &NewUser {
                id,
                email: new.email.as_str(),
                name: new.name.as_str(),
                role: new.role,
                password_hash: &hash,
                patient_id: None,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            portal_store::Error::Conflict(_) => {
                Error::field("email", "E-mail is already used by another account.")
            }
            other => other.into(),
        })?;
        portal_store::codes::insert_reset(
            &mut tx,
            &crypto::sha256_hex(&token),
            id,
            now,
            now + SETUP_LINK_TTL,
        )
        .await?;
        let mailed = !matches!(actor.principal, Principal::Operator);
        if mailed {
            let clinic = &self.config().clinic_name;
            let body = format!(
                "Hello {name},\n\nAn administrator created a {role} account for you in the \
                 {clinic} portal. To choose your password, open this link within 3 days:\n\n\
                 {setup_link}\n\nThe link works once. When you first sign in, you will set up an \
                 authenticator app on your phone as the second step of signing in.\n\n{clinic}\n",
                name = new.name.as_str(),
                role = new.role,
            );
            self.queue_mail(
                &mut tx,
                "account-setup",
                new.email.as_str(),
                &format!("Set up your {clinic} account"),
                &body,
            )
            .await?;
        }
        let mut event = self.event(actor, AuditAction::Create, "Account", Outcome::Success);
        event.resource_id = Some(id.to_string());
        let how = if mailed {
            "set-up link e-mailed"
        } else {
            "set-up link printed for the operator"
        };
        event.detail = match new.role {
            Role::Clinician | Role::Admin => {
                format!("{REVIEW_FLAG}{} account created; {how}", new.role)
            }
            _ => format!("{} account created; {how}", new.role),
        };
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        if mailed {
            self.mail_wakeup().notify_one();
        }
        Ok(CreatedAccount { id, setup_link })
    }

    /// Every account, for the admin's list.
    pub async fn list_accounts(&self, actor: &Actor) -> Result<Vec<Account>> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        let now = self.now();
        // Every lock in two reads, not one per account.
        let passwords =
            portal_store::throttle::locked_with_prefix(&mut conn, "sign-in-account:", now).await?;
        let codes =
            portal_store::throttle::locked_with_prefix(&mut conn, "second-factor:", now).await?;
        Ok(users::list(&mut conn)
            .await?
            .into_iter()
            .map(|u| {
                let locks = [
                    passwords.get(&account_key("sign-in", &u.email)),
                    codes.get(&format!("second-factor:{}", u.id)),
                ];
                Account {
                    locked_until: locks.into_iter().flatten().max().copied(),
                    id: u.id,
                    email: u.email,
                    name: u.name,
                    role: u.role,
                    status: u.status,
                    has_second_factor: u.totp_secret_enc.is_some(),
                    patient_id: u.patient_id,
                }
            })
            .collect())
    }

    /// Lifts the locks failed sign-ins put on an account (admins), audited.
    pub async fn unlock_account(&self, actor: &Actor, user: UserId) -> Result<()> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let mut tx = self.store().begin().await?;
        let account = users::find(&mut tx, user).await?.ok_or(Error::NotFound)?;
        portal_store::throttle::clear(&mut tx, &account_key("sign-in", &account.email)).await?;
        portal_store::throttle::clear(&mut tx, &format!("second-factor:{user}")).await?;
        let mut event = self.event(actor, AuditAction::Update, "Account", Outcome::Success);
        event.resource_id = Some(user.to_string());
        event.patient_id = account.patient_id.map(|p| p.to_string());
        event.detail = "account unlocked by an administrator".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// Enables or disables an account; disabling ends its sessions at once.
    pub async fn set_account_status(
        &self,
        actor: &Actor,
        user: UserId,
        status: AccountStatus,
    ) -> Result<()> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        if actor.principal.user_id() == Some(user) {
            return Err(Error::Conflict(
                "You cannot disable your own account.".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        let role = users::find(&mut tx, user)
            .await?
            .ok_or(Error::NotFound)?
            .role;
        if !users::set_status(&mut tx, user, status).await? {
            return Err(Error::NotFound);
        }
        if status == AccountStatus::Disabled {
            sessions::delete_for_user(&mut tx, user, None).await?;
            portal_store::codes::end_resets(&mut tx, user, self.now()).await?;
        }
        let mut event = self.event(actor, AuditAction::Update, "Account", Outcome::Success);
        event.resource_id = Some(user.to_string());
        event.detail = match (status, role) {
            (AccountStatus::Active, Role::Clinician | Role::Admin) => {
                format!("{REVIEW_FLAG}{role} account re-enabled")
            }
            _ => format!("status {}", status.as_str()),
        };
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// Grants or takes back the privacy officer permission of an admin or clinician account
    /// (admins); audited and flagged for the other admins' review.
    pub async fn set_privacy_officer(&self, actor: &Actor, user: UserId, on: bool) -> Result<()> {
        let manage = authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        if actor.principal.user_id() == Some(user) {
            return Err(Error::Conflict(
                "Another administrator must change your own privacy officer permission.".into(),
            ));
        }
        let mut tx = self.store().begin().await?;
        // Those who hold the permission now are told of every change (those it is given to
        // included), so nobody takes it unseen.
        let mut told = users::privacy_officer_emails(&mut tx).await?;
        if !users::set_privacy_officer(&mut tx, &manage, user, on).await? {
            return Err(Error::Conflict(
                "Only an administrator's or a clinician's account can be a privacy officer.".into(),
            ));
        }
        let mut event = self.event(actor, AuditAction::Update, "Account", Outcome::Success);
        event.resource_id = Some(user.to_string());
        event.detail = format!(
            "{REVIEW_FLAG}privacy officer permission {}",
            if on { "granted" } else { "taken back" }
        );
        self.audit(&mut tx, &event).await?;
        let changed = users::find(&mut tx, user).await?.ok_or(Error::NotFound)?;
        if !told.contains(&changed.email) {
            told.push(changed.email.clone());
        }
        let by = match actor.principal.user_id() {
            Some(id) => users::find(&mut tx, id)
                .await?
                .map_or_else(|| "An administrator".to_string(), |u| u.name),
            None => "The clinic's administration".to_string(),
        };
        let clinic = self.config().clinic_name.clone();
        let body = format!(
            "Hello,\n\n{by} {what} the privacy officer permission {to} {name}: it opens the \
             audit reports. If this was not expected, tell another administrator.\n\n{clinic}\n",
            what = if on { "gave" } else { "took back" },
            to = if on { "to" } else { "from" },
            name = changed.name,
        );
        for to in told {
            self.queue_mail(
                &mut tx,
                "privacy-officer",
                &to,
                "The privacy officer permission was changed",
                &body,
            )
            .await?;
        }
        commit(tx).await
    }

    /// The accounts holding the privacy officer permission (for the Users page).
    pub async fn privacy_officers(&self, actor: &Actor) -> Result<Vec<UserId>> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(users::privacy_officers(&mut conn).await?)
    }

    /// Changes the signed-in user's password after checking the current one; ends the account's
    /// other sessions.
    pub async fn change_password(
        &self,
        current: &CurrentUser,
        current_password: &str,
        new_password: &str,
        context: &RequestContext,
    ) -> Result<()> {
        let key = format!("password-change:{}", current.id);
        let attempt = self.take_attempt(&[(&key, PER_ACCOUNT)]).await?;
        let user = {
            let mut conn = self.conn().await?;
            users::find(&mut conn, current.id)
                .await?
                .ok_or(Error::Unauthenticated)?
        };
        let mut errors = FieldErrors::new();
        if !crypto::verify_password(current_password.to_string(), user.password_hash.clone()).await
        {
            errors.add("current_password", "Current password is not right.");
        } else {
            self.attempt_succeeded(attempt, &[&key]).await?;
        }
        let new = errors.take(
            "new_password",
            NewPassword::parse(new_password, &[&user.email, &user.name]),
        );
        let Some(new) = new.filter(|_| errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let hash = crypto::hash_password(new.into_inner()).await?;
        let mut tx = self.store().begin().await?;
        users::set_password(&mut tx, user.id, &hash, self.now()).await?;
        sessions::delete_for_user(&mut tx, user.id, Some(current.session.id)).await?;
        portal_store::codes::end_resets(&mut tx, user.id, self.now()).await?;
        let actor = current.actor(context.clone());
        let mut event = self.event(&actor, AuditAction::Update, "Password", Outcome::Success);
        event.resource_id = Some(user.id.to_string());
        event.detail = "password changed; other sessions ended".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// Sends a password-reset link if the address belongs to an active account, and otherwise a
    /// note that no account uses the address. The answer, the counters and the audit trail move
    /// the same either way, so none of them tells whether an account exists. At most
    /// [`RESET_PER_ADDRESS_ASKED`] messages go to one address an hour; more requests are dropped
    /// without a word.
    pub async fn request_password_reset(
        &self,
        email_raw: &str,
        context: &RequestContext,
    ) -> Result<()> {
        let email = Email::parse(email_raw).map_err(|e| Error::field("email", e.0))?;
        let addr_key = address_key("reset", &context.client_addr);
        // Every request counts against the address, found or not, so the throttle does not
        // tell the two apart either; the count is taken before anything is looked up.
        let _counted = self.take_attempt(&[(&addr_key, PER_ADDRESS)]).await?;
        let asked_key = account_key("reset", email.as_str());
        let asked = [(asked_key.as_str(), RESET_PER_ADDRESS_ASKED)];
        if let Taken::Locked { .. } = self.try_take_attempt(&asked).await? {
            return Ok(());
        }
        let token = crypto::random_token();
        let token_hash = crypto::sha256_hex(&token);
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let user = users::find_by_email(&mut tx, email.as_str()).await?;
        let Some(user) = user.filter(|u| u.status == AccountStatus::Active) else {
            let body = format!(
                "Hello,\n\nSomeone asked to reset the password of a {clinic} account for this \
                 e-mail address, but no active account uses it. If you have an account under \
                 another address, ask for the reset there; if you did not ask, ignore this \
                 message.\n\n{clinic}\n",
                clinic = self.config().clinic_name
            );
            self.queue_mail(
                &mut tx,
                "password-reset",
                email.as_str(),
                &format!("Reset your {} password", self.config().clinic_name),
                &body,
            )
            .await?;
            let anonymous = Actor::new(crate::Principal::Operator, context.clone());
            let mut event = self.event(
                &anonymous,
                AuditAction::Create,
                "PasswordReset",
                Outcome::Denied,
            );
            event.actor_id = String::new();
            event.actor_role = "anonymous".into();
            event.detail = "reset asked for an address with no active account".into();
            self.audit(&mut tx, &event).await?;
            commit(tx).await?;
            self.mail_wakeup().notify_one();
            return Ok(());
        };
        portal_store::codes::insert_reset(
            &mut tx,
            &token_hash,
            user.id,
            now,
            now + self.config().reset_ttl,
        )
        .await?;
        let link = format!("{}/reset/{token}", self.config().public_url);
        let body = format!(
            "Hello,\n\nSomeone asked to reset the password of your {clinic} account. \
             To choose a new password, open this link within 30 minutes:\n\n{link}\n\n\
             The link works once. If you did not ask for this, ignore this message: \
             your password stays as it is.\n\n{clinic}\n",
            clinic = self.config().clinic_name
        );
        self.queue_mail(
            &mut tx,
            "password-reset",
            &user.email,
            &format!("Reset your {} password", self.config().clinic_name),
            &body,
        )
        .await?;
        let actor = Actor::new(crate::auth::principal_of(&user), context.clone());
        let mut event = self.event(
            &actor,
            AuditAction::Create,
            "PasswordReset",
            Outcome::Success,
        );
        event.resource_id = Some(user.id.to_string());
        event.detail = "reset link e-mailed".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(())
    }

    /// Whether a reset link is still good (to show the form or an "expired" page).
    pub async fn reset_link_is_valid(&self, token: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        Ok(
            portal_store::codes::valid_reset(&mut conn, &crypto::sha256_hex(token), self.now())
                .await?
                .is_some(),
        )
    }

    /// Sets a new password through a reset link. The link works once; it never signs anyone in
    /// (the second factor is still asked at sign-in); every session of the account ends.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        context: &RequestContext,
    ) -> Result<()> {
        let token_hash = crypto::sha256_hex(token);
        let now = self.now();
        let expired = || {
            Error::field(
                "token",
                "This reset link has expired or was already used. Ask for a new one.",
            )
        };
        let user = {
            let mut conn = self.conn().await?;
            let id = portal_store::codes::valid_reset(&mut conn, &token_hash, now)
                .await?
                .ok_or_else(expired)?;
            users::find(&mut conn, id)
                .await?
                .filter(|u| u.status == AccountStatus::Active)
                .ok_or_else(expired)?
        };
        let new = NewPassword::parse(new_password, &[&user.email, &user.name])
            .map_err(|e| Error::field("new_password", e.to_string()))?;
        let hash = crypto::hash_password(new.into_inner()).await?;
        let mut tx = self.store().begin().await?;
        if !portal_store::codes::use_reset(&mut tx, &token_hash, now).await? {
            return Err(expired());
        }
        users::set_password(&mut tx, user.id, &hash, now).await?;
        sessions::delete_for_user(&mut tx, user.id, None).await?;
        let actor = Actor::new(crate::auth::principal_of(&user), context.clone());
        let mut event = self.event(&actor, AuditAction::Update, "Password", Outcome::Success);
        event.resource_id = Some(user.id.to_string());
        event.detail = "password reset by e-mailed link; all sessions ended".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }
}

/// Reset messages one e-mail address may be sent an hour, whether an account uses it or not.
pub const RESET_PER_ADDRESS_ASKED: Limits = Limits {
    free_failures: 3,
    first_lock: SignedDuration::from_hours(1),
    max_lock: SignedDuration::from_hours(1),
    forget_after: SignedDuration::from_hours(1),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_account_form_names_each_bad_field() {
        let errors = NewStaffAccount::parse("nope", "", "patient")
            .err()
            .expect("errors");
        for field in ["email", "name", "role"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        assert!(errors.get("password").is_none(), "no password is asked");
    }
}
