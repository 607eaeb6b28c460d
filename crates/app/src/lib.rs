//! The portal's use cases. Each takes the acting principal, asks the access policy, runs the
//! store in one transaction with its audit event, and queues outbox work. Both faces (pages and
//! the FHIR API) and the command line call only this crate.

pub mod accounts;
pub mod appointments;
pub mod audit_report;
pub mod audit_trail;
mod audit_writer;
pub mod auth;
pub mod care_team;
pub mod chart;
pub mod clinic;
pub mod clinic_settings;
pub mod clock;
pub mod crypto;
pub mod demo;
pub mod enrolment;
pub mod enrolment_desk;
pub mod fhir_api;
pub mod import;
pub mod mail;
pub mod messages;
pub mod metrics;
pub mod proxies;
pub mod record;
pub mod refills;
pub mod services;
pub mod session_rules;
pub mod smart;
pub mod throttle;
pub mod tokens;
pub mod totp;

use jiff::{SignedDuration, Timestamp};
use portal_domain::audit::{AuditAction, AuditEvent, Outcome, RequestContext};
use portal_domain::fields::FieldErrors;
use portal_domain::{PatientId, Principal};
use portal_store::audit::HeadKey;
use portal_store::{Conn, Store};
use std::sync::Arc;

pub use clock::{Clock, FixedClock, SystemClock};
pub use crypto::SecretKey;
pub use services::{Accounts, Appointments, Clinic, Import, Messages, Records, Refills};

/// What can go wrong in a use case, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input was refused; each message names its field.
    #[error("{0}")]
    Invalid(FieldErrors),
    /// Not there, or not the caller's to see (the two are never told apart).
    #[error("not found")]
    NotFound,
    /// The caller's role may not do this.
    #[error("forbidden")]
    Forbidden,
    /// No valid session.
    #[error("sign-in required")]
    Unauthenticated,
    /// Too many failed attempts; try again later.
    #[error("too many attempts; try again in {minutes} minute(s)")]
    Throttled {
        /// Whole minutes to wait, at least 1.
        minutes: i64,
    },
    /// The change clashes with existing data.
    #[error("{0}")]
    Conflict(String),
    /// Incoming data was refused as a whole; the message names the entry, type and element.
    #[error("{0}")]
    Rejected(String),
    /// The store failed.
    #[error("storage failure: {0}")]
    Store(#[from] portal_store::Error),
    /// Something else failed inside the portal.
    #[error("internal failure: {0}")]
    Internal(String),
}

impl Error {
    /// One field error.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(FieldErrors::single(field, message))
    }
}

/// Shorthand for use-case results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The settings the use cases need.
#[derive(Clone, Debug)]
pub struct Config {
    /// Sessions end after this long without a request.
    pub idle_timeout: SignedDuration,
    /// Sessions end this long after sign-in, whatever happens.
    pub absolute_timeout: SignedDuration,
    /// Activation codes work for this long.
    pub activation_ttl: SignedDuration,
    /// Password-reset links work for this long.
    pub reset_ttl: SignedDuration,
    /// Whether patients must use a second factor too.
    pub require_patient_second_factor: bool,
    /// The address people reach the portal at, for links in e-mails (no trailing slash).
    pub public_url: String,
    /// The clinic's name, shown in pages and e-mails.
    pub clinic_name: String,
    /// How many entries one imported Bundle may hold and how long one of its strings may be.
    pub import_limits: portal_fhir::Limits,
    /// How much of what record pages show may be kept in memory between views, in estimated
    /// bytes (0: nothing; see `record::cache`).
    pub page_cache_bytes: usize,
    /// Messaging's defaults (reply time, emergency numbers, attachment limits), which the
    /// clinic's stored settings override.
    pub messaging: portal_domain::messages::MessagingSettings,
    /// Appointments' defaults (the clinic's time zone, the cancellation cut-off, the phone
    /// number), which the clinic's stored settings override (all but the zone).
    pub appointments: portal_domain::appointments::AppointmentSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            idle_timeout: SignedDuration::from_mins(15),
            absolute_timeout: SignedDuration::from_hours(12),
            activation_ttl: SignedDuration::from_hours(14 * 24),
            reset_ttl: SignedDuration::from_mins(30),
            require_patient_second_factor: false,
            public_url: "http://127.0.0.1:8080".into(),
            clinic_name: "Patient Portal".into(),
            import_limits: portal_fhir::Limits::default(),
            page_cache_bytes: record::PAGE_CACHE_DEFAULT_BYTES,
            messaging: portal_domain::messages::MessagingSettings::default(),
            appointments: portal_domain::appointments::AppointmentSettings::default(),
        }
    }
}

/// Who is acting, and from where.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The principal the policy decides on.
    pub principal: Principal,
    /// The request it came with.
    pub context: RequestContext,
    /// What the policy decides on about the one record the request is about, read in the same
    /// round trip as the session ([`Accounts::resolve_session_for`]).
    pub(crate) read_ahead: Option<Arc<ReadAhead>>,
}

/// The policy's facts about one record, read with the session of the request they serve.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    pub(crate) patient: PatientId,
    pub(crate) facts: portal_store::access::RecordFacts,
    /// For a patient's home page: the facts about the account's own record and every record
    /// it holds or held a proxy grant for (and `patient`'s), read in the same round trip.
    pub(crate) family:
        Option<std::collections::HashMap<PatientId, portal_store::access::RecordFacts>>,
}

impl Actor {
    /// A principal acting through a request.
    pub fn new(principal: Principal, context: RequestContext) -> Self {
        Self {
            principal,
            context,
            read_ahead: None,
        }
    }
    /// The server's command line.
    pub fn operator() -> Self {
        Self {
            principal: Principal::Operator,
            context: RequestContext {
                client_addr: "local".into(),
                user_agent: "portal-cli".into(),
                request_id: String::new(),
            },
            read_ahead: None,
        }
    }
}

/// The application: the store, the clock, the keys and the settings, shared by every request.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Config,
    key: SecretKey,
    head_key: HeadKey,
    dummy_hash: String,
    metrics: metrics::Metrics,
    mail_wakeup: tokio::sync::Notify,
    audit_writer: audit_writer::AuditWriter,
    pages: record::cache::PageCache,
    located: fhir_api::Located,
    session_rules: session_rules::Cached,
}

impl App {
    /// Builds the application; creates the audit chain's head if the trail is new.
    pub async fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        key: SecretKey,
    ) -> Result<Self> {
        let head_key = HeadKey(key.derive(b"audit-head"));
        let mut conn = store
            .pool()
            .acquire()
            .await
            .map_err(portal_store::Error::from)?;
        portal_store::audit::ensure_head(&mut conn, &head_key).await?;
        drop(conn);
        // A patient's birthday, on which a proxy's reach changes, starts in the clinic's zone.
        portal_store::access::set_clinic_zone(config.appointments.zone.clone());
        let dummy_hash = crypto::hash_password_blocking("dummy password for unknown accounts")?;
        Ok(Self {
            inner: Arc::new(Inner {
                audit_writer: audit_writer::AuditWriter::start(store.clone(), head_key.clone()),
                pages: record::cache::PageCache::new(config.page_cache_bytes),
                located: fhir_api::Located::default(),
                session_rules: std::sync::RwLock::new(None),
                store,
                clock,
                config,
                key,
                head_key,
                dummy_hash,
                metrics: metrics::Metrics::default(),
                mail_wakeup: tokio::sync::Notify::new(),
            }),
        })
    }

    /// The store: the app's own; both faces and the command line go through the use cases.
    #[cfg(not(feature = "test-support"))]
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }
    /// The store, for tests that look at what a request wrote.
    #[cfg(feature = "test-support")]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    /// Whether the records are in an embedded SQLite database (whose write-ahead log the
    /// importing process copies into the database file itself).
    pub fn is_embedded(&self) -> bool {
        self.store().backend() == portal_store::Backend::Sqlite
    }
    /// The most database connections this process opens.
    pub fn max_connections(&self) -> u32 {
        self.store().pool().options().get_max_connections()
    }
    /// Copies SQLite's write-ahead log into the database file (`truncate`: and empties the
    /// log); nothing on PostgreSQL.
    pub async fn checkpoint(&self, truncate: bool) -> Result<()> {
        Ok(self.store().checkpoint(truncate).await?)
    }
    /// The current time, from the injected clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    /// Counters for /metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }
    pub(crate) fn key(&self) -> &SecretKey {
        &self.inner.key
    }
    pub(crate) fn head_key(&self) -> &HeadKey {
        &self.inner.head_key
    }
    pub(crate) fn dummy_hash(&self) -> &str {
        &self.inner.dummy_hash
    }
    pub(crate) fn pages(&self) -> &record::cache::PageCache {
        &self.inner.pages
    }
    /// Which record each resource the read API found is in.
    pub(crate) fn located(&self) -> &fhir_api::Located {
        &self.inner.located
    }
    /// The audit writer's handle (for the events it committed lately).
    pub(crate) fn audit_writer(&self) -> &audit_writer::AuditWriter {
        &self.inner.audit_writer
    }
    pub(crate) fn mail_wakeup(&self) -> &tokio::sync::Notify {
        &self.inner.mail_wakeup
    }

    /// A connection from the pool, for reads and single statements.
    pub(crate) async fn conn(&self) -> Result<portal_store::PoolConn> {
        Ok(self
            .store()
            .pool()
            .acquire()
            .await
            .map_err(portal_store::Error::from)?)
    }

    /// Writes one audit event inside the caller's transaction.
    pub(crate) async fn audit(&self, conn: &mut Conn, event: &AuditEvent) -> Result<()> {
        let id = uuid::Uuid::now_v7().to_string();
        portal_store::audit::append(conn, self.store().backend(), self.head_key(), &id, event)
            .await?;
        self.metrics().audit_events.inc();
        Ok(())
    }

    /// Records one audit event apart from any change of data (reads, refusals, sign-in
    /// failures): group-committed with other requests' events, and returns once it is durable.
    pub(crate) async fn audit_alone(&self, event: &AuditEvent) -> Result<()> {
        self.audit_at(event).await.map(|_| ())
    }

    /// [`App::audit_alone`] for several events at once: they share the group commit, and this
    /// returns once all are durable.
    pub(crate) async fn audit_all(&self, events: Vec<AuditEvent>) -> Result<()> {
        let n = events.len();
        self.inner
            .audit_writer
            .record_all(events)
            .await
            .map_err(|e| Error::Internal(format!("the audit events were not recorded: {e}")))?;
        self.metrics().audit_events.add(n as u64);
        Ok(())
    }

    /// [`App::audit_alone`], giving the event's position in the audit trail.
    pub(crate) async fn audit_at(&self, event: &AuditEvent) -> Result<i64> {
        let seq = self
            .inner
            .audit_writer
            .record(event.clone())
            .await
            .map_err(|e| Error::Internal(format!("the audit event was not recorded: {e}")))?;
        self.metrics().audit_events.inc();
        Ok(seq)
    }

    /// A new event by `actor`, to be completed by the caller.
    pub(crate) fn event(
        &self,
        actor: &Actor,
        action: AuditAction,
        resource_type: &str,
        outcome: Outcome,
    ) -> AuditEvent {
        AuditEvent {
            at: self.now(),
            actor_id: actor.principal.actor_id(),
            actor_role: actor.principal.role_label().to_string(),
            on_behalf_of: String::new(),
            patient_id: None,
            action,
            resource_type: resource_type.to_string(),
            resource_id: None,
            outcome,
            break_glass: false,
            detail: String::new(),
            context: actor.context.clone(),
        }
    }
}

/// Commits a transaction, mapping the error.
pub(crate) async fn commit(tx: portal_store::Tx) -> Result<()> {
    tx.commit().await.map_err(portal_store::Error::from)?;
    Ok(())
}

/// The domain's records that pages show as they are (the store's own rows stay inside the app).
pub mod types {
    pub use portal_domain::Patient as PatientRow;
    pub use portal_domain::audit::{NamedEvent, PatientLogFilter, Verdict};
    pub use portal_domain::user::Account;
    pub use portal_store::audit_report::{Line as ReportLine, Order};
    pub use portal_store::enrolment::{Adoption, IssuedCode, OwnAccount, ProxyAccount};
}

impl App {
    /// How many e-mails wait in the outbox (for /metrics).
    pub async fn outbox_pending(&self) -> Result<i64> {
        let mut conn = self.conn().await?;
        Ok(portal_store::outbox::pending(&mut conn).await?)
    }

    /// Whether the database answers (for /readyz).
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store().ping().await?)
    }
}

/// Reads a patient id the portal itself wrote.
pub(crate) fn parse_patient_id(s: &str) -> Result<portal_domain::PatientId> {
    s.parse()
        .map_err(|_| Error::Internal(format!("{s:?} is not a patient id")))
}
