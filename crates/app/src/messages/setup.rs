//! The clinic's side of messaging's set-up: pools and their members, the messaging settings,
//! and the daily digest of overdue conversations.

use super::{keys, settings_from};
use crate::services::Messages;
use crate::{Actor, Error, Result, commit};
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::fields::FieldErrors;
use portal_domain::messages::MessagingSettings;
use portal_domain::{PoolId, Role};
use portal_store::inbasket;
use portal_store::pools::{self, Pool};

impl Messages {
    /// The clinic's pools with their members (admins).
    pub async fn pools(&self, actor: &Actor) -> Result<Vec<Pool>> {
        authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(pools::list(&mut conn).await?)
    }

    /// Creates a pool (admins and the command line).
    pub async fn create_pool(&self, actor: &Actor, name: &str, offered: bool) -> Result<PoolId> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic)
            .map_err(|_| Error::Forbidden)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(Error::field(
                "name",
                "Give the pool a name of up to 60 characters.",
            ));
        }
        let id = PoolId::from_uuid(uuid::Uuid::now_v7());
        let mut tx = self.store().begin().await?;
        if pools::list(&mut tx)
            .await?
            .iter()
            .any(|p| p.name.to_lowercase() == name.to_lowercase())
        {
            return Err(Error::field(
                "name",
                "A pool with this name already exists.",
            ));
        }
        pools::create(&mut tx, &capability, id, name, offered, self.now())
            .await
            .map_err(|e| match e {
                portal_store::Error::Conflict(_) => {
                    Error::field("name", "A pool with this name already exists.")
                }
                other => other.into(),
            })?;
        let mut event = self.event(actor, AuditAction::Create, "Pool", Outcome::Success);
        event.resource_id = Some(id.to_string());
        event.detail = format!("pool {name}");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(id)
    }

    /// Adds a clinician or staff member to a pool, or removes them (admins and the command
    /// line). `pool` and `email` name them as people do.
    pub async fn set_pool_member(
        &self,
        actor: &Actor,
        pool: &str,
        email: &str,
        member: bool,
    ) -> Result<bool> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic)
            .map_err(|_| Error::Forbidden)?;
        let mut tx = self.store().begin().await?;
        let found = pools::list(&mut tx)
            .await?
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(pool.trim()) || p.id.to_string() == pool.trim())
            .ok_or_else(|| Error::field("pool", "No pool has this name."))?;
        let user = portal_store::users::find_by_email(&mut tx, &email.trim().to_lowercase())
            .await?
            .ok_or_else(|| Error::field("email", "No account has this e-mail address."))?;
        if !matches!(user.role, Role::Clinician | Role::Staff) {
            return Err(Error::field(
                "email",
                "Only clinicians and staff can be members of a pool.",
            ));
        }
        let changed = pools::set_member(&mut tx, &capability, found.id, user.id, member).await?;
        let mut event = self.event(actor, AuditAction::Update, "Pool", Outcome::Success);
        event.resource_id = Some(found.id.to_string());
        event.detail = format!(
            "{} member {}",
            if member { "added" } else { "removed" },
            user.id
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(changed)
    }

    /// Stores the clinic's messaging settings (admins), each checked.
    pub async fn set_settings(&self, actor: &Actor, new: &MessagingSettings) -> Result<()> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic)
            .map_err(|_| Error::Forbidden)?;
        let mut errors = FieldErrors::new();
        let line = |s: &str| {
            !s.trim().is_empty() && s.chars().count() <= 120 && !s.chars().any(char::is_control)
        };
        if !line(&new.reply_time) {
            errors.add(
                "reply_time",
                "Say in up to 120 characters how soon the clinic replies.",
            );
        }
        if !line(&new.emergency_number) {
            errors.add("emergency_number", "Enter the emergency number.");
        }
        if !line(&new.crisis_line) {
            errors.add("crisis_line", "Enter a crisis line.");
        }
        if !(1..=30).contains(&new.reply_days) {
            errors.add("reply_days", "Enter between 1 and 30 business days.");
        }
        if !(1..=portal_domain::messages::ATTACHMENT_CEILING_BYTES)
            .contains(&new.attachment_max_bytes)
        {
            errors.add(
                "attachment_max_bytes",
                "Allow between 1 byte and 25 MB per file.",
            );
        }
        if !(0..=portal_domain::messages::ATTACHMENT_CEILING_COUNT)
            .contains(&new.attachment_max_count)
        {
            errors.add(
                "attachment_max_count",
                "Allow between 0 and 10 files per message.",
            );
        }
        if new
            .attachment_max_bytes
            .saturating_mul(new.attachment_max_count)
            > portal_domain::messages::ATTACHMENT_TOTAL_BYTES
        {
            errors.add(
                "attachment_max_count",
                "Files on one message may add up to at most 50 MB: allow fewer or smaller files.",
            );
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let by = actor.principal.actor_id();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        for (key, value) in [
            (keys::REPLY_TIME, new.reply_time.trim().to_string()),
            (keys::REPLY_DAYS, new.reply_days.to_string()),
            (keys::EMERGENCY, new.emergency_number.trim().to_string()),
            (keys::CRISIS, new.crisis_line.trim().to_string()),
            (keys::MAX_BYTES, new.attachment_max_bytes.to_string()),
            (keys::MAX_COUNT, new.attachment_max_count.to_string()),
        ] {
            pools::set_setting(&mut tx, &capability, key, &value, &by, now).await?;
        }
        let mut event = self.event(
            actor,
            AuditAction::Update,
            "ClinicSettings",
            Outcome::Success,
        );
        event.detail = "messaging settings".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// Queues today's digest of overdue conversations to each clinician or pool member they
    /// wait on, once a day across every portal process. Returns how many e-mails it queued
    /// (0 when another process or an earlier call took today's run).
    pub async fn send_overdue_digest(&self) -> Result<usize> {
        let now = self.now();
        let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let mut tx = self.store().begin().await?;
        if !inbasket::claim_run(&mut tx, "overdue-digest", &today.to_string(), now).await? {
            return Ok(0);
        }
        let stored = pools::settings(&mut tx).await?;
        let settings = settings_from(&self.config().messaging, &stored);
        let before = business_days_back(today, settings.reply_days)
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let overdue = inbasket::overdue(&mut tx, before).await?;
        let link = format!("{}/inbasket", self.config().public_url);
        for (address, count) in &overdue {
            let body = format!(
                "{count} patient conversation(s) routed to you or your pools have waited more \
                 than {} for an answer.\n\nSign in to the in-basket: {link}\n",
                settings.reply_time
            );
            self.queue_mail(
                &mut tx,
                "messages-overdue",
                address,
                "Patient messages are overdue",
                &body,
            )
            .await?;
        }
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(overdue.len())
    }
}

/// The start of the day `days` business days before `today`.
fn business_days_back(today: jiff::civil::Date, days: i64) -> jiff::civil::DateTime {
    let mut d = today;
    let mut left = days;
    while left > 0 {
        d = d.yesterday().unwrap_or(d);
        if !matches!(
            d.weekday(),
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        ) {
            left -= 1;
        }
    }
    d.to_datetime(jiff::civil::Time::midnight())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overdue_counts_back_business_days() {
        let monday = jiff::civil::date(2026, 12, 7);
        assert_eq!(
            business_days_back(monday, 2).date(),
            jiff::civil::date(2026, 12, 3)
        );
        assert_eq!(business_days_back(monday, 0).date(), monday);
    }
}
