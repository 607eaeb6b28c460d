//! The clinic's refill set-up, by admins (a page) and the command line: the pharmacy
//! directory, the refill rules, the pool requests go to when the prescriber has no account,
//! each pool's lead, and clinicians' NPIs (which link them to the prescribers records name).
//! Every change is audited.

use super::*;
use portal_domain::PoolId;
use portal_domain::access::{ClinicAction, ClinicCapability, authorize_clinic};
use portal_domain::audit::Outcome;
use portal_domain::fields::FieldErrors;
use portal_store::pools::{self, Pool};

/// The setting keys refills read from the clinic's settings.
pub mod keys {
    /// Months within which a prescription the record gives no end date for may be renewed.
    pub const WINDOW_MONTHS: &str = "refills.window_months";
    /// DEA schedules not renewed from the portal ("II,III,IV,V").
    pub const REFUSED_SCHEDULES: &str = "refills.refused_schedules";
    /// Hours before a request nobody acted on moves on.
    pub const ESCALATE_HOURS: &str = "refills.escalate_hours";
    /// The pool requests go to when the prescriber has no account.
    pub const POOL: &str = "refills.pool";
}

/// Reads stored settings over the defaults; unreadable values keep the default.
pub fn rules_from(stored: &[(String, String)]) -> RefillRules {
    let mut rules = RefillRules::default();
    for (key, value) in stored {
        match key.as_str() {
            keys::WINDOW_MONTHS => {
                if let Ok(m) = RefillRules::parse_window(value) {
                    rules.window_months = m;
                }
            }
            keys::REFUSED_SCHEDULES => {
                if let Ok(s) = RefillRules::parse_schedules(value) {
                    rules.refused_schedules = s;
                }
            }
            keys::ESCALATE_HOURS => {
                if let Ok(h) = RefillRules::parse_escalate_hours(value) {
                    rules.escalate_hours = h;
                }
            }
            _ => {}
        }
    }
    rules
}

/// Everything the refill set-up page shows.
#[derive(Debug)]
pub struct RefillSetup {
    /// Every pharmacy of the directory.
    pub pharmacies: Vec<Pharmacy>,
    /// The rules.
    pub rules: RefillRules,
    /// The pools, with their leads.
    pub pools: Vec<Pool>,
    /// The pool requests go to when the prescriber has no account.
    pub refill_pool: Option<PoolId>,
    /// Active clinicians (id, name), who may lead a pool.
    pub clinicians: Vec<(UserId, String)>,
}

/// A pharmacy as the admin's form sent it.
#[derive(Clone, Debug, Default)]
pub struct PharmacyForm {
    /// Its name.
    pub name: String,
    /// Its street address.
    pub address: String,
    /// Its phone number.
    pub phone: String,
}

/// The rules as the admin's form sent them.
#[derive(Clone, Debug, Default)]
pub struct RulesForm {
    /// Months of the renewal window.
    pub window_months: String,
    /// The schedules refused online (each ticked box: "II", "III" …).
    pub refused: Vec<String>,
    /// Hours before a request moves on.
    pub escalate_hours: String,
    /// The pool for requests whose prescriber has no account (empty: none).
    pub pool: String,
}

fn configure(actor: &Actor) -> Result<ClinicCapability> {
    authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic).map_err(|_| Error::Forbidden)
}

fn line(field: &'static str, raw: &str, max: usize, errors: &mut FieldErrors) -> String {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        errors.add(field, format!("Enter 1 to {max} characters on one line."));
    }
    t.to_string()
}

impl Refills {
    /// The pool requests go to when the prescriber has no account, if the clinic set one.
    pub(crate) async fn refill_pool(
        &self,
        conn: &mut portal_store::Conn,
    ) -> Result<Option<PoolId>> {
        let stored = pools::settings(conn).await?;
        let id = stored
            .iter()
            .find(|(k, _)| k == keys::POOL)
            .and_then(|(_, v)| v.parse::<PoolId>().ok());
        let Some(id) = id else { return Ok(None) };
        Ok(pools::list(conn)
            .await?
            .iter()
            .any(|p| p.id == id)
            .then_some(id))
    }

    async fn audited(&self, tx: &mut Tx, actor: &Actor, what: &str, detail: String) -> Result<()> {
        let mut event = self.event(actor, AuditAction::Update, what, Outcome::Success);
        event.detail = detail;
        self.audit(tx, &event).await
    }

    /// The refill set-up page (admins).
    pub async fn setup(&self, actor: &Actor) -> Result<RefillSetup> {
        configure(actor)?;
        let mut tx = self.store().begin_read().await?;
        let pharmacies = store::pharmacies(&mut tx, false).await?;
        let rules = self.rules_in(&mut tx).await?;
        let pools = pools::list(&mut tx).await?;
        let refill_pool = self.refill_pool(&mut tx).await?;
        let clinicians = portal_store::users::list(&mut tx)
            .await?
            .into_iter()
            .filter(|u| {
                u.role == Role::Clinician && u.status == portal_domain::user::AccountStatus::Active
            })
            .map(|u| (u.id, u.name))
            .collect();
        Ok(RefillSetup {
            pharmacies,
            rules,
            pools,
            refill_pool,
            clinicians,
        })
    }

    /// Adds a pharmacy to the directory, offered to patients.
    pub async fn add_pharmacy(&self, actor: &Actor, form: &PharmacyForm) -> Result<PharmacyId> {
        let capability = configure(actor)?;
        let mut errors = FieldErrors::new();
        let name = line("name", &form.name, 120, &mut errors);
        let address = line("address", &form.address, 200, &mut errors);
        let phone = line("phone", &form.phone, 40, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let id = PharmacyId::from_uuid(uuid::Uuid::now_v7());
        let mut tx = self.store().begin().await?;
        let added = store::add_pharmacy(
            &mut tx,
            &capability,
            &Pharmacy {
                id,
                name: name.clone(),
                address,
                phone,
                offered: true,
            },
            self.now(),
        )
        .await;
        if let Err(portal_store::Error::Conflict(_)) = added {
            return Err(Error::field(
                "name",
                "A pharmacy with this name and address is already listed.",
            ));
        }
        added?;
        self.audited(&mut tx, actor, "Pharmacy", format!("added pharmacy {id}"))
            .await?;
        commit(tx).await?;
        Ok(id)
    }

    /// Offers a pharmacy to patients again, or stops offering it (requests that chose it keep
    /// it).
    pub async fn set_pharmacy_offered(
        &self,
        actor: &Actor,
        id: PharmacyId,
        offered: bool,
    ) -> Result<()> {
        let capability = configure(actor)?;
        let mut tx = self.store().begin().await?;
        if !store::set_pharmacy_offered(&mut tx, &capability, id, offered).await? {
            return Err(Error::NotFound);
        }
        self.audited(
            &mut tx,
            actor,
            "Pharmacy",
            format!(
                "pharmacy {id} {}",
                if offered { "offered" } else { "withdrawn" }
            ),
        )
        .await?;
        commit(tx).await
    }

    /// Stores the refill rules and the pool for requests without a prescriber's account.
    pub async fn save_rules(&self, actor: &Actor, form: &RulesForm) -> Result<()> {
        let capability = configure(actor)?;
        let mut errors = FieldErrors::new();
        let window = errors.take(
            "window_months",
            RefillRules::parse_window(&form.window_months),
        );
        let hours = errors.take(
            "escalate_hours",
            RefillRules::parse_escalate_hours(&form.escalate_hours),
        );
        let refused = errors.take(
            "refused",
            RefillRules::parse_schedules(&form.refused.join(",")),
        );
        let mut tx = self.store().begin().await?;
        let pool = match form.pool.trim() {
            "" => Some(String::new()),
            raw => {
                let known = pools::list(&mut tx).await?;
                raw.parse::<PoolId>()
                    .ok()
                    .filter(|id| known.iter().any(|p| p.id == *id))
                    .map(|id| id.to_string())
            }
        };
        if pool.is_none() {
            errors.add("pool", "Choose a pool from the list.");
        }
        let (Some(window), Some(hours), Some(refused), Some(pool), true) =
            (window, hours, refused, pool, errors.is_empty())
        else {
            return Err(Error::Invalid(errors));
        };
        let rules = RefillRules {
            window_months: window,
            refused_schedules: refused,
            escalate_hours: hours,
        };
        let by = actor.principal.actor_id();
        let now = self.now();
        for (key, value) in [
            (keys::WINDOW_MONTHS, window.to_string()),
            (keys::REFUSED_SCHEDULES, rules.schedules_text()),
            (keys::ESCALATE_HOURS, hours.to_string()),
            (keys::POOL, pool),
        ] {
            pools::set_setting(&mut tx, &capability, key, &value, &by, now).await?;
        }
        self.audited(
            &mut tx,
            actor,
            "ClinicSettings",
            format!(
                "refills: window {window} months; refused schedules {}; moves on after {hours} \
                 hours",
                if rules.refused_schedules.is_empty() {
                    "none".to_string()
                } else {
                    rules.schedules_text()
                }
            ),
        )
        .await?;
        commit(tx).await
    }

    /// Sets or clears a pool's lead clinician.
    pub async fn set_pool_lead(
        &self,
        actor: &Actor,
        pool: PoolId,
        lead: Option<UserId>,
    ) -> Result<()> {
        let capability = configure(actor)?;
        let mut tx = self.store().begin().await?;
        if let Some(lead) = lead {
            let ok = portal_store::users::find(&mut tx, lead)
                .await?
                .is_some_and(|u| {
                    u.role == Role::Clinician
                        && u.status == portal_domain::user::AccountStatus::Active
                });
            if !ok {
                return Err(Error::field("lead", "Choose a clinician from the list."));
            }
        }
        if !store::set_pool_lead(&mut tx, &capability, pool, lead).await? {
            return Err(Error::NotFound);
        }
        self.audited(
            &mut tx,
            actor,
            "Pool",
            match lead {
                Some(lead) => format!("pool {pool} led by {lead}"),
                None => format!("pool {pool} has no lead"),
            },
        )
        .await?;
        commit(tx).await
    }

    /// Sets or clears a clinician's NPI (ten digits), which links them to the Practitioner
    /// records name as prescriber.
    pub async fn set_npi(&self, actor: &Actor, email: &str, npi: &str) -> Result<()> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let npi = npi.trim();
        let well_formed = npi.len() == 10 && npi.bytes().all(|b| b.is_ascii_digit());
        if !npi.is_empty() && !well_formed {
            return Err(Error::field("npi", "An NPI is ten digits."));
        }
        let mut tx = self.store().begin().await?;
        let user = portal_store::users::find_by_email(&mut tx, &email.trim().to_lowercase())
            .await?
            .filter(|u| u.role == Role::Clinician)
            .ok_or_else(|| Error::field("email", "No clinician has this e-mail address."))?;
        let set = store::set_npi(
            &mut tx,
            &capability,
            user.id,
            (!npi.is_empty()).then_some(npi),
        )
        .await;
        if let Err(portal_store::Error::Conflict(_)) = set {
            return Err(Error::field("npi", "Another account has this NPI."));
        }
        set?;
        self.audited(
            &mut tx,
            actor,
            "Account",
            format!(
                "NPI of {} {}",
                user.id,
                if npi.is_empty() { "cleared" } else { "set" }
            ),
        )
        .await?;
        commit(tx).await
    }
}
