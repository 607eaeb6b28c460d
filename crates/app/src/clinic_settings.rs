//! One overview of every clinic setting: the value in force and where it comes from. A value
//! stored in the clinic's settings (from an administration page) wins over the start-up flag or
//! environment variable, which wins over the built-in default; settings read only at start-up
//! (the name, the address, the time zone, activation codes) say so and name their variable.

use crate::services::Clinic;
use crate::{Actor, Error, Result};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::appointments::AppointmentSettings;
use portal_domain::messages::MessagingSettings;
use portal_store::pools::{self, StoredSetting};
use std::collections::HashMap;

/// Where a setting's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Stored from an administration page (or the command line): by whom, when.
    Stored {
        /// The account's name (`cli` for the command line).
        by: String,
        /// When.
        at: Timestamp,
    },
    /// A start-up flag or environment variable that differs from the built-in default.
    StartUp,
    /// The built-in default.
    BuiltIn,
}

/// One setting as the overview shows it.
#[derive(Clone, Debug)]
pub struct SettingLine {
    /// What it is.
    pub label: &'static str,
    /// Its value in force, in words.
    pub value: String,
    /// Where that comes from.
    pub source: Source,
    /// The environment variable that sets it at start-up, if one does.
    pub variable: Option<&'static str>,
}

/// A group of settings and the page that changes them.
#[derive(Clone, Debug)]
pub struct SettingsGroup {
    /// The group's title.
    pub title: &'static str,
    /// The administration page that changes them (none: start-up only).
    pub change: Option<&'static str>,
    /// Its settings.
    pub lines: Vec<SettingLine>,
}

/// Builds lines against the stored settings.
struct Lines<'a> {
    stored: &'a HashMap<String, StoredSetting>,
}

impl Lines<'_> {
    /// A setting the clinic may store (`key`), with a start-up value that may differ from the
    /// built-in default.
    fn line(
        &self,
        label: &'static str,
        value: String,
        key: Option<&str>,
        start_up: Option<(&'static str, bool)>,
    ) -> SettingLine {
        let stored = key.and_then(|k| self.stored.get(k));
        let source = match (stored, start_up) {
            (Some(s), _) => Source::Stored {
                by: s.updated_by.clone(),
                at: s.updated_at,
            },
            (None, Some((_, true))) => Source::StartUp,
            _ => Source::BuiltIn,
        };
        SettingLine {
            label,
            value,
            source,
            variable: start_up.map(|(v, _)| v),
        }
    }
}

fn hours(n: i64) -> String {
    if n == 1 {
        "1 hour".into()
    } else {
        format!("{n} hours")
    }
}

fn duration_words(d: jiff::SignedDuration) -> String {
    let minutes = d.as_secs() / 60;
    if minutes % (24 * 60) == 0 && minutes >= 24 * 60 {
        let days = minutes / (24 * 60);
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    } else if minutes % 60 == 0 && minutes >= 60 {
        hours(minutes / 60)
    } else {
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    }
}

fn or_none(text: &str) -> String {
    if text.trim().is_empty() {
        "(none)".into()
    } else {
        text.to_string()
    }
}

impl Clinic {
    /// Every clinic setting with its value in force and where it comes from (admins).
    pub async fn settings_overview(&self, actor: &Actor) -> Result<Vec<SettingsGroup>> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic)
            .map_err(|_| Error::Forbidden)?;
        let config = self.config();
        let built_in = crate::Config::default();
        let (stored_rows, proxy_rules) = {
            let mut conn = self.conn().await?;
            let rows = pools::settings_with_origin(&mut conn, &capability).await?;
            let rules = portal_store::access::proxy_rules(&mut conn).await?;
            (rows, rules)
        };
        let pairs: Vec<(String, String)> = stored_rows
            .iter()
            .map(|s| (s.key.clone(), s.value.clone()))
            .collect();
        let stored: HashMap<String, StoredSetting> = stored_rows
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        let lines = Lines { stored: &stored };
        let messaging = crate::messages::settings_from(&config.messaging, &pairs);
        let m0 = &config.messaging;
        let mb = MessagingSettings::default();
        let appointments = crate::appointments::setup::settings_from(&config.appointments, &pairs);
        let a0 = &config.appointments;
        let ab = AppointmentSettings::default();
        let refills = crate::refills::setup::rules_from(&pairs);
        use crate::appointments::keys as ak;
        use crate::messages::keys as mk;
        use crate::refills::setup::keys as rk;

        let rules = crate::session_rules::rules_from(config, &pairs);
        use crate::session_rules::keys as sk;
        let mut groups = vec![SettingsGroup {
            title: "Sign-in and sessions",
            change: Some("#sessions-form"),
            lines: vec![
                lines.line(
                    "Sessions end after this long without use",
                    duration_words(rules.idle_timeout),
                    Some(sk::IDLE_MINUTES),
                    Some((
                        "PORTAL_IDLE_TIMEOUT_MINUTES",
                        config.idle_timeout != built_in.idle_timeout,
                    )),
                ),
                lines.line(
                    "Sessions end this long after sign-in",
                    duration_words(rules.absolute_timeout),
                    Some(sk::ABSOLUTE_HOURS),
                    Some((
                        "PORTAL_ABSOLUTE_TIMEOUT_HOURS",
                        config.absolute_timeout != built_in.absolute_timeout,
                    )),
                ),
                lines.line(
                    "Patients must use a second factor",
                    if rules.require_patient_second_factor {
                        "Yes".into()
                    } else {
                        "No (offered, not required; clinic accounts always use one)".into()
                    },
                    Some(sk::PATIENT_SECOND_FACTOR),
                    Some((
                        "PORTAL_REQUIRE_PATIENT_SECOND_FACTOR",
                        config.require_patient_second_factor
                            != built_in.require_patient_second_factor,
                    )),
                ),
            ],
        }];
        groups.push(SettingsGroup {
            title: "The clinic",
            change: None,
            lines: vec![
                lines.line(
                    "Activation codes work for",
                    duration_words(config.activation_ttl),
                    None,
                    Some((
                        "PORTAL_ACTIVATION_DAYS",
                        config.activation_ttl != built_in.activation_ttl,
                    )),
                ),
                lines.line(
                    "Name in pages and e-mails",
                    config.clinic_name.clone(),
                    None,
                    Some((
                        "PORTAL_CLINIC_NAME",
                        config.clinic_name != built_in.clinic_name,
                    )),
                ),
                lines.line(
                    "Address in e-mailed links",
                    config.public_url.clone(),
                    None,
                    Some((
                        "PORTAL_PUBLIC_URL",
                        config.public_url != built_in.public_url,
                    )),
                ),
                lines.line(
                    "Time zone (visits, reminders, birthdays)",
                    a0.zone.iana_name().unwrap_or("UTC").to_string(),
                    None,
                    Some(("PORTAL_TIME_ZONE", a0.zone != ab.zone)),
                ),
            ],
        });
        groups.push(SettingsGroup {
            title: "Messaging",
            change: Some("/admin/messaging"),
            lines: vec![
                lines.line(
                    "Reply time patients are told",
                    or_none(&messaging.reply_time),
                    Some(mk::REPLY_TIME),
                    Some(("PORTAL_MESSAGE_REPLY_TIME", m0.reply_time != mb.reply_time)),
                ),
                lines.line(
                    "Business days before a message counts as overdue",
                    messaging.reply_days.to_string(),
                    Some(mk::REPLY_DAYS),
                    None,
                ),
                lines.line(
                    "Emergency number",
                    or_none(&messaging.emergency_number),
                    Some(mk::EMERGENCY),
                    Some((
                        "PORTAL_EMERGENCY_NUMBER",
                        m0.emergency_number != mb.emergency_number,
                    )),
                ),
                lines.line(
                    "Crisis line",
                    or_none(&messaging.crisis_line),
                    Some(mk::CRISIS),
                    None,
                ),
                lines.line(
                    "Largest attached file",
                    format!("{} MB", messaging.attachment_max_bytes / (1024 * 1024)),
                    Some(mk::MAX_BYTES),
                    Some((
                        "PORTAL_ATTACHMENT_MB",
                        m0.attachment_max_bytes != mb.attachment_max_bytes,
                    )),
                ),
                lines.line(
                    "Most files on one message",
                    messaging.attachment_max_count.to_string(),
                    Some(mk::MAX_COUNT),
                    Some((
                        "PORTAL_ATTACHMENT_COUNT",
                        m0.attachment_max_count != mb.attachment_max_count,
                    )),
                ),
            ],
        });
        groups.push(SettingsGroup {
            title: "Appointments",
            change: Some("/admin/schedules"),
            lines: vec![
                lines.line(
                    "Patients may cancel or move a visit until",
                    format!("{} before it", hours(appointments.cancel_hours)),
                    Some(ak::CANCEL_HOURS),
                    Some(("PORTAL_CANCEL_HOURS", a0.cancel_hours != ab.cancel_hours)),
                ),
                lines.line(
                    "Clinic phone for late changes",
                    or_none(&appointments.phone),
                    Some(ak::PHONE),
                    Some(("PORTAL_CLINIC_PHONE", a0.phone != ab.phone)),
                ),
                lines.line(
                    "Reminders before a visit",
                    if appointments.reminder_hours.is_empty() {
                        "None".into()
                    } else {
                        appointments
                            .reminder_hours
                            .iter()
                            .map(|h| hours(*h))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    Some(ak::REMINDER_HOURS),
                    Some((
                        "PORTAL_REMINDER_HOURS",
                        a0.reminder_hours != ab.reminder_hours,
                    )),
                ),
                lines.line(
                    "An earlier-time offer stays open for",
                    hours(appointments.offer_hours),
                    Some(ak::OFFER_HOURS),
                    Some(("PORTAL_OFFER_HOURS", a0.offer_hours != ab.offer_hours)),
                ),
            ],
        });
        groups.push(SettingsGroup {
            title: "Refills",
            change: Some("/admin/refills"),
            lines: vec![
                lines.line(
                    "Renewable when written within",
                    format!("{} months", refills.window_months),
                    Some(rk::WINDOW_MONTHS),
                    None,
                ),
                lines.line(
                    "Controlled-substance schedules not renewed from the portal",
                    if refills.refused_schedules.is_empty() {
                        "None".into()
                    } else {
                        refills
                            .refused_schedules
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    Some(rk::REFUSED_SCHEDULES),
                    None,
                ),
                lines.line(
                    "A request moves on after",
                    hours(i64::from(refills.escalate_hours)),
                    Some(rk::ESCALATE_HOURS),
                    None,
                ),
            ],
        });
        let confidential = proxy_rules
            .confidential
            .iter()
            .map(|s| s.words())
            .collect::<Vec<_>>()
            .join(", ");
        let jurisdiction = proxy_rules.ages.jurisdiction.clone();
        groups.push(SettingsGroup {
            title: "Proxy access",
            change: Some("/admin/proxy-rules"),
            lines: vec![
                lines.line(
                    "Age rules in force",
                    jurisdiction.clone(),
                    Some(portal_store::access::JURISDICTION_KEY),
                    None,
                ),
                lines.line(
                    "Kept from proxies unless the patient shares them",
                    if confidential.is_empty() {
                        "None".into()
                    } else {
                        confidential
                    },
                    Some(&portal_store::access::confidential_key(&jurisdiction)),
                    None,
                ),
            ],
        });
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_whole_unit() {
        assert_eq!(
            duration_words(jiff::SignedDuration::from_mins(15)),
            "15 minutes"
        );
        assert_eq!(
            duration_words(jiff::SignedDuration::from_mins(1)),
            "1 minute"
        );
        assert_eq!(
            duration_words(jiff::SignedDuration::from_hours(12)),
            "12 hours"
        );
        assert_eq!(
            duration_words(jiff::SignedDuration::from_hours(24 * 14)),
            "14 days"
        );
        assert_eq!(
            duration_words(jiff::SignedDuration::from_mins(90)),
            "90 minutes"
        );
    }

    #[test]
    fn a_stored_value_wins_over_the_start_up_value() {
        let mut stored = HashMap::new();
        let at = Timestamp::UNIX_EPOCH;
        stored.insert(
            "k".to_string(),
            StoredSetting {
                key: "k".into(),
                value: "v".into(),
                updated_at: at,
                updated_by: "Ada Admin".into(),
            },
        );
        let lines = Lines { stored: &stored };
        let line = lines.line("L", "v".into(), Some("k"), Some(("PORTAL_K", true)));
        assert_eq!(
            line.source,
            Source::Stored {
                by: "Ada Admin".into(),
                at
            }
        );
        assert_eq!(line.variable, Some("PORTAL_K"));
        let line = lines.line("L", "v".into(), Some("other"), Some(("PORTAL_K", true)));
        assert_eq!(line.source, Source::StartUp);
        let line = lines.line("L", "v".into(), Some("other"), Some(("PORTAL_K", false)));
        assert_eq!(line.source, Source::BuiltIn);
        let line = lines.line("L", "v".into(), None, None);
        assert_eq!(line.source, Source::BuiltIn);
    }
}
