//! Sign-in and session settings the clinic may change from the settings page: how long a
//! session lasts without use and at most, and whether patients must use a second factor. A
//! stored value wins over the start-up flag; each process reads the stored values at most
//! every [`FRESH_FOR`] and at once after a change it made itself.

use crate::services::Clinic;
use crate::{Actor, App, Error, Result, commit};
use jiff::{SignedDuration, Timestamp};
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::audit::{AuditAction, Outcome, REVIEW_FLAG};
use portal_domain::fields::FieldErrors;
use portal_store::pools;

/// The setting keys.
pub mod keys {
    /// Minutes a session lasts without a request.
    pub const IDLE_MINUTES: &str = "sessions.idle_minutes";
    /// Hours a session lasts after sign-in at most.
    pub const ABSOLUTE_HOURS: &str = "sessions.absolute_hours";
    /// "yes" when patients must use a second factor too.
    pub const PATIENT_SECOND_FACTOR: &str = "sessions.patient_second_factor";
}

/// How long another process's change may take to reach this one.
pub const FRESH_FOR: SignedDuration = SignedDuration::from_secs(30);

/// The idle time-outs the page accepts, in minutes.
pub const IDLE_MINUTES: std::ops::RangeInclusive<i64> = 5..=120;
/// The longest sessions the page accepts, in hours.
pub const ABSOLUTE_HOURS: std::ops::RangeInclusive<i64> = 1..=24;

/// The sign-in and session settings in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRules {
    /// Sessions end after this long without a request.
    pub idle_timeout: SignedDuration,
    /// Sessions end this long after sign-in (for sessions signed in from now on).
    pub absolute_timeout: SignedDuration,
    /// Whether patients must use a second factor too.
    pub require_patient_second_factor: bool,
}

/// Reads stored settings over the start-up values; a value out of range keeps the start-up one.
pub fn rules_from(config: &crate::Config, stored: &[(String, String)]) -> SessionRules {
    let mut rules = SessionRules {
        idle_timeout: config.idle_timeout,
        absolute_timeout: config.absolute_timeout,
        require_patient_second_factor: config.require_patient_second_factor,
    };
    for (key, value) in stored {
        match key.as_str() {
            keys::IDLE_MINUTES => {
                if let Some(m) = value
                    .parse::<i64>()
                    .ok()
                    .filter(|m| IDLE_MINUTES.contains(m))
                {
                    rules.idle_timeout = SignedDuration::from_mins(m);
                }
            }
            keys::ABSOLUTE_HOURS => {
                if let Some(h) = value
                    .parse::<i64>()
                    .ok()
                    .filter(|h| ABSOLUTE_HOURS.contains(h))
                {
                    rules.absolute_timeout = SignedDuration::from_hours(h);
                }
            }
            keys::PATIENT_SECOND_FACTOR => {
                rules.require_patient_second_factor = value == "yes";
            }
            _ => {}
        }
    }
    rules
}

/// The rules as last read, and when.
pub(crate) type Cached = std::sync::RwLock<Option<(Timestamp, SessionRules)>>;

impl App {
    /// The sign-in and session settings in force (read from the store at most every
    /// [`FRESH_FOR`]).
    pub async fn session_rules(&self) -> Result<SessionRules> {
        let now = self.now();
        if let Ok(cached) = self.inner.session_rules.read()
            && let Some((at, rules)) = *cached
            && at <= now
            && now.duration_since(at) < FRESH_FOR
        {
            return Ok(rules);
        }
        let stored = {
            let mut conn = self.conn().await?;
            pools::settings(&mut conn).await?
        };
        let rules = rules_from(self.config(), &stored);
        if let Ok(mut cached) = self.inner.session_rules.write() {
            *cached = Some((now, rules));
        }
        Ok(rules)
    }

    /// Forgets the rules read, so the next request reads them again.
    fn forget_session_rules(&self) {
        if let Ok(mut cached) = self.inner.session_rules.write() {
            *cached = None;
        }
    }
}

impl Clinic {
    /// Stores the sign-in and session settings (admins), audited and flagged for review (they
    /// weaken or strengthen every account's protection). Each value is checked; a refused form
    /// changes nothing.
    pub async fn set_session_rules(
        &self,
        actor: &Actor,
        idle_minutes: &str,
        absolute_hours: &str,
        patient_second_factor: bool,
    ) -> Result<()> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic)
            .map_err(|_| Error::Forbidden)?;
        let mut errors = FieldErrors::new();
        let idle = idle_minutes
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|m| IDLE_MINUTES.contains(m));
        if idle.is_none() {
            errors.add(
                "idle_minutes",
                format!(
                    "Enter a whole number of minutes from {} to {}.",
                    IDLE_MINUTES.start(),
                    IDLE_MINUTES.end()
                ),
            );
        }
        let absolute = absolute_hours
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|h| ABSOLUTE_HOURS.contains(h));
        if absolute.is_none() {
            errors.add(
                "absolute_hours",
                format!(
                    "Enter a whole number of hours from {} to {}.",
                    ABSOLUTE_HOURS.start(),
                    ABSOLUTE_HOURS.end()
                ),
            );
        }
        let (Some(idle), Some(absolute)) = (idle, absolute) else {
            return Err(Error::Invalid(errors));
        };
        if idle > absolute * 60 {
            return Err(Error::field(
                "idle_minutes",
                "A session cannot last longer without use than it lasts at most.",
            ));
        }
        let now = self.now();
        let by = actor.principal.actor_id();
        let mut tx = self.store().begin().await?;
        let second = if patient_second_factor { "yes" } else { "no" };
        for (key, value) in [
            (keys::IDLE_MINUTES, idle.to_string()),
            (keys::ABSOLUTE_HOURS, absolute.to_string()),
            (keys::PATIENT_SECOND_FACTOR, second.to_string()),
        ] {
            pools::set_setting(&mut tx, &capability, key, &value, &by, now).await?;
        }
        let mut event = self.event(
            actor,
            AuditAction::Update,
            "ClinicSettings",
            Outcome::Success,
        );
        event.detail = format!(
            "{REVIEW_FLAG}sign-in and sessions: idle time-out {idle} minutes, longest session \
             {absolute} hours, patients' second factor {}",
            if patient_second_factor {
                "required"
            } else {
                "not required"
            }
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.forget_session_rules();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_win_within_their_ranges() {
        let config = crate::Config::default();
        let stored = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let rules = rules_from(
            &config,
            &stored(&[
                (keys::IDLE_MINUTES, "10"),
                (keys::ABSOLUTE_HOURS, "8"),
                (keys::PATIENT_SECOND_FACTOR, "yes"),
            ]),
        );
        assert_eq!(rules.idle_timeout, SignedDuration::from_mins(10));
        assert_eq!(rules.absolute_timeout, SignedDuration::from_hours(8));
        assert!(rules.require_patient_second_factor);
        // Out of range or unreadable: the start-up value stays.
        let rules = rules_from(
            &config,
            &stored(&[(keys::IDLE_MINUTES, "1"), (keys::ABSOLUTE_HOURS, "forever")]),
        );
        assert_eq!(rules.idle_timeout, config.idle_timeout);
        assert_eq!(rules.absolute_timeout, config.absolute_timeout);
        assert!(!rules.require_patient_second_factor);
    }
}
