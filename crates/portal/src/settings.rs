//! Configuration: defaults, then `PORTAL_*` environment variables, then command-line flags.

use clap::Args;
use jiff::SignedDuration;
use std::path::PathBuf;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Settings shared by every command.
#[derive(Args, Clone)]
pub struct Settings {
    /// Folder for the SQLite database, the secret key and (without SMTP) outgoing e-mail.
    #[arg(
        long,
        env = "PORTAL_DATA_DIR",
        default_value = "./portal-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. Default: portal.db in the data directory.
    #[arg(long, env = "PORTAL_DATABASE", hide_env_values = true, global = true)]
    pub database: Option<Secret>,
    /// Most database connections this process opens.
    #[arg(
        long,
        env = "PORTAL_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub max_connections: u32,
    /// 64 hex digits; every portal process sharing a database needs the same key.
    /// Default: generated once into secret.key in the data directory.
    #[arg(long, env = "PORTAL_SECRET_KEY", hide_env_values = true, global = true)]
    pub secret_key: Option<Secret>,
    /// The address people use to reach the portal (used in e-mailed links; https:// turns on
    /// secure cookies and HSTS).
    #[arg(
        long,
        env = "PORTAL_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub public_url: String,
    /// The clinic's name, shown in the authenticator app and e-mails.
    #[arg(
        long,
        env = "PORTAL_CLINIC_NAME",
        default_value = "Patient Portal",
        global = true
    )]
    pub clinic_name: String,
    /// SMTP server for e-mail, e.g. smtps://user:pass@mail.example.org. Without it, e-mails are
    /// written as .eml files to the data directory's mail folder.
    #[arg(long, env = "PORTAL_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<Secret>,
    /// The sender of e-mails.
    #[arg(
        long,
        env = "PORTAL_MAIL_FROM",
        default_value = "Patient Portal <no-reply@portal.invalid>",
        global = true
    )]
    pub mail_from: String,
    /// Minutes without activity after which a session ends.
    #[arg(
        long,
        env = "PORTAL_IDLE_TIMEOUT_MINUTES",
        default_value_t = 15,
        global = true
    )]
    pub idle_timeout_minutes: i64,
    /// Hours after sign-in after which a session ends whatever happens.
    #[arg(
        long,
        env = "PORTAL_ABSOLUTE_TIMEOUT_HOURS",
        default_value_t = 12,
        global = true
    )]
    pub absolute_timeout_hours: i64,
    /// Days an activation code works.
    #[arg(
        long,
        env = "PORTAL_ACTIVATION_DAYS",
        default_value_t = 14,
        global = true
    )]
    pub activation_days: i64,
    /// Require patients to use a second factor too (clinic accounts always must).
    #[arg(long, env = "PORTAL_REQUIRE_PATIENT_SECOND_FACTOR", global = true)]
    pub require_patient_second_factor: bool,
    /// A proxy network (CIDR or address) whose X-Forwarded-For names the client; repeat it, or
    /// separate several with commas. The client is the right-most address that is not one of them.
    #[arg(
        long = "trusted-proxy",
        env = "PORTAL_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<portal_web::proxies::Cidr>,
    /// Where to serve /metrics (Prometheus text), apart from the portal's own address; loopback by
    /// default, `off` for none.
    #[arg(
        long,
        env = "PORTAL_METRICS_LISTEN",
        default_value = "127.0.0.1:9464",
        global = true
    )]
    pub metrics_listen: String,
    /// File the server appends the audit chain's head to (`TIME SEQ:HASH`), at start and then
    /// every --audit-checkpoint-every seconds; keep it where the database's owner cannot rewrite
    /// it. Several processes may share it.
    #[arg(
        long,
        env = "PORTAL_AUDIT_CHECKPOINT_FILE",
        value_name = "FILE",
        global = true
    )]
    pub audit_checkpoint_file: Option<PathBuf>,
    /// Seconds between two audit checkpoints the server keeps (1 up to a year).
    #[arg(
        long,
        env = "PORTAL_AUDIT_CHECKPOINT_EVERY",
        default_value_t = 3600,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=31_536_000),
        global = true
    )]
    pub audit_checkpoint_every: u64,
    /// The most entries one imported Bundle may hold (`POST /fhir` and `portal import`).
    #[arg(
        long,
        env = "PORTAL_MAX_BUNDLE_ENTRIES",
        default_value_t = portal_fhir::Limits::DEFAULT_MAX_ENTRIES as u64,
        value_name = "COUNT",
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub max_bundle_entries: u64,
    /// The most bytes one string of an imported Bundle may take, as written (a base64 attachment
    /// is a third longer than the document it holds).
    #[arg(
        long,
        env = "PORTAL_MAX_STRING_BYTES",
        default_value_t = portal_fhir::Limits::DEFAULT_MAX_STRING_BYTES as u64,
        value_name = "BYTES",
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub max_string_bytes: u64,
    /// Megabytes of what record pages show that one process keeps in memory between views
    /// (0: none). Every view is still decided by the policy and audited.
    #[arg(
        long,
        env = "PORTAL_PAGE_CACHE_MB",
        default_value_t = (portal_app::record::PAGE_CACHE_DEFAULT_BYTES / (1024 * 1024)) as u64,
        value_name = "MB",
        value_parser = clap::value_parser!(u64).range(0..=65_536),
        global = true
    )]
    pub page_cache_mb: u64,
    /// The clinic's time zone (an IANA name such as `America/New_York`): pages show dates and
    /// times on its calendar. Empty means the machine's own zone.
    #[arg(long, env = "PORTAL_TIME_ZONE", default_value = "", global = true)]
    pub time_zone: String,
    /// The locale pages write dates for (`en-US` until translations come).
    #[arg(long, env = "PORTAL_LOCALE", default_value = "en-US", global = true)]
    pub locale: String,
    /// What the compose page promises about replies, until an admin sets it on the messaging
    /// page (e.g. "2 business days").
    #[arg(
        long,
        env = "PORTAL_MESSAGE_REPLY_TIME",
        default_value = "2 business days",
        global = true
    )]
    pub message_reply_time: String,
    /// The emergency number messaging tells patients to call, until an admin sets it.
    #[arg(
        long,
        env = "PORTAL_EMERGENCY_NUMBER",
        default_value = "911",
        global = true
    )]
    pub emergency_number: String,
    /// The largest file on a message, in megabytes, until an admin sets it (at most 25).
    #[arg(
        long,
        env = "PORTAL_ATTACHMENT_MB",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=25),
        global = true
    )]
    pub attachment_mb: u64,
    /// The most files on one message, until an admin sets it (0 to 10; their sizes together
    /// stay within 50 MB).
    #[arg(
        long,
        env = "PORTAL_ATTACHMENT_COUNT",
        default_value_t = 3,
        value_parser = clap::value_parser!(u64).range(0..=10),
        global = true
    )]
    pub attachment_count: u64,
    /// Hours before a visit after which patients must call to cancel or move it, until an
    /// admin sets it on the schedules page.
    #[arg(
        long,
        env = "PORTAL_CANCEL_HOURS",
        default_value_t = 24,
        value_parser = clap::value_parser!(i64).range(0..=336),
        global = true
    )]
    pub cancel_hours: i64,
    /// The clinic's phone number, which appointment pages tell patients to call, until an admin
    /// sets it.
    #[arg(long, env = "PORTAL_CLINIC_PHONE", default_value = "", global = true)]
    pub clinic_phone: String,
    /// Hours before a visit each appointment reminder goes (comma-separated; empty for none),
    /// until an admin sets them.
    #[arg(
        long,
        env = "PORTAL_REMINDER_HOURS",
        default_value = "72,24",
        global = true
    )]
    pub reminder_hours: String,
    /// Hours an earlier-time offer stays open, until an admin sets it.
    #[arg(
        long,
        env = "PORTAL_OFFER_HOURS",
        default_value_t = 4,
        value_parser = clap::value_parser!(i64).range(1..=72),
        global = true
    )]
    pub offer_hours: i64,
    /// Log format: "text" or "json".
    #[arg(long, env = "PORTAL_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_ref().map(|_| "***"))
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.expose().to_string(),
            None => format!("sqlite://{}", self.data_dir.join("portal.db").display()),
        }
    }

    /// The settings the use cases need.
    pub fn app_config(&self) -> portal_app::Config {
        portal_app::Config {
            idle_timeout: SignedDuration::from_mins(self.idle_timeout_minutes.max(1)),
            absolute_timeout: SignedDuration::from_hours(self.absolute_timeout_hours.max(1)),
            activation_ttl: SignedDuration::from_hours(self.activation_days.max(1) * 24),
            reset_ttl: SignedDuration::from_mins(30),
            require_patient_second_factor: self.require_patient_second_factor,
            public_url: self.public_url.trim_end_matches('/').to_string(),
            clinic_name: self.clinic_name.clone(),
            import_limits: portal_fhir::Limits {
                max_entries: usize::try_from(self.max_bundle_entries).unwrap_or(usize::MAX),
                max_string_bytes: usize::try_from(self.max_string_bytes).unwrap_or(usize::MAX),
            },
            page_cache_bytes: usize::try_from(self.page_cache_mb)
                .unwrap_or(usize::MAX)
                .saturating_mul(1024 * 1024),
            messaging: portal_domain::messages::MessagingSettings {
                reply_time: self.message_reply_time.trim().to_string(),
                emergency_number: self.emergency_number.trim().to_string(),
                attachment_max_bytes: usize::try_from(self.attachment_mb).unwrap_or(10)
                    * 1024
                    * 1024,
                attachment_max_count: usize::try_from(self.attachment_count).unwrap_or(3).min(
                    portal_domain::messages::ATTACHMENT_TOTAL_BYTES
                        / (usize::try_from(self.attachment_mb).unwrap_or(10) * 1024 * 1024),
                ),
                ..portal_domain::messages::MessagingSettings::default()
            },
            appointments: portal_domain::appointments::AppointmentSettings {
                // An unknown zone name is refused at start-up (the pages' dates read it too).
                zone: if self.time_zone.trim().is_empty() {
                    jiff::tz::TimeZone::system()
                } else {
                    jiff::tz::TimeZone::get(self.time_zone.trim())
                        .unwrap_or_else(|_| jiff::tz::TimeZone::system())
                },
                cancel_hours: self.cancel_hours,
                phone: self.clinic_phone.trim().to_string(),
                // A list that does not read is refused at start-up (`serve`).
                reminder_hours: portal_domain::appointments::offers::parse_reminder_hours(
                    &self.reminder_hours,
                )
                .unwrap_or_else(|_| vec![72, 24]),
                offer_hours: self.offer_hours,
            },
        }
    }
}
