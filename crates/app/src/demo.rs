//! Demo data: a few patient records and one account of each role, with fresh random passwords
//! and authenticator secrets that are printed and written to `demo-accounts.json`.

use crate::accounts::NewStaffAccount;
use crate::{Actor, App, Error, Result, commit, crypto};
use portal_domain::access::ProxyScope;
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::refills::RefillRules;
use portal_domain::{PatientId, Principal, Role, UserId};
use portal_store::patients::PatientRow;
use portal_store::{access, patients, users};
use serde::Serialize;

/// One demo sign-in.
#[derive(Clone, Debug, Serialize)]
pub struct DemoAccount {
    /// Role.
    pub role: Role,
    /// Display name.
    pub name: String,
    /// Sign-in e-mail.
    pub email: String,
    /// Password (random per demo database).
    pub password: String,
    /// The authenticator secret, base32, for scripts and browser tests.
    pub totp_secret: String,
    /// Which records this account sees.
    pub sees: String,
}

/// A record that has no account yet, with a code to activate it.
#[derive(Clone, Debug, Serialize)]
pub struct DemoActivation {
    /// The patient's name.
    pub patient: String,
    /// The record's date of birth (asked at activation).
    pub birth_date: String,
    /// The activation code.
    pub code: String,
}

/// What `portal demo` prints and writes.
#[derive(Clone, Debug, Serialize)]
pub struct DemoAccounts {
    /// The portal's address.
    pub url: String,
    /// The sign-ins.
    pub accounts: Vec<DemoAccount>,
    /// An activation to try.
    pub activation: DemoActivation,
    /// Patient record ids by name, for scripts.
    pub patients: Vec<(String, PatientId)>,
}

/// One of the demo's own patients.
#[derive(Clone, Copy, Debug)]
pub struct DemoPerson {
    /// Medical record number.
    pub mrn: &'static str,
    /// Given name.
    pub given: &'static str,
    /// Family name.
    pub family: &'static str,
    /// Date of birth, YYYY-MM-DD.
    pub birth: &'static str,
    /// "female" or "male".
    pub sex: &'static str,
}

/// The demo patient, who signs in.
pub const SOFIA: DemoPerson = DemoPerson {
    mrn: "DEMO-1001",
    given: "Sofia",
    family: "Martinez",
    birth: "1985-03-14",
    sex: "female",
};

/// Her son, whose record she opens as his parent.
pub const LEO: DemoPerson = DemoPerson {
    mrn: "DEMO-1002",
    given: "Leo",
    family: "Martinez",
    birth: "2016-07-02",
    sex: "male",
};

/// A patient with no account yet, for trying activation.
pub const MARCUS: DemoPerson = DemoPerson {
    mrn: "DEMO-1003",
    given: "Marcus",
    family: "Chen",
    birth: "1972-11-05",
    sex: "male",
};

/// The demo's own patients' records as FHIR Bundles (`portal demo` makes them with `portal
/// generate`); each Bundle's Patient must be the person it is for. Without them the two
/// records are created empty.
pub struct DemoRecords {
    /// [`SOFIA`]'s record.
    pub sofia: Vec<u8>,
    /// [`LEO`]'s record.
    pub leo: Vec<u8>,
}

fn record(app: &App, who: &DemoPerson) -> PatientRow {
    PatientRow {
        id: PatientId::new_v7(app.now()),
        mrn: who.mrn.into(),
        given_name: who.given.into(),
        family_name: who.family.into(),
        birth_date: who.birth.into(),
        sex: who.sex.into(),
        deceased: None,
    }
}

fn demo_password() -> String {
    format!("demo-{}", crypto::random_code(12).to_lowercase())
}

impl App {
    /// Creates a patient record (demo data and tests; imports come with the FHIR issue).
    pub async fn create_patient_record(&self, actor: &Actor, row: &PatientRow) -> Result<()> {
        let mut tx = self.store().begin().await?;
        patients::insert(&mut tx, row, self.now()).await?;
        let mut event = self.event(actor, AuditAction::Create, "Patient", Outcome::Success);
        event.patient_id = Some(row.id.to_string());
        event.resource_id = Some(row.id.to_string());
        event.on_behalf_of = "operator".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    async fn enrol_demo_totp(&self, user: UserId) -> Result<String> {
        let secret = crypto::random_bytes::<20>();
        let sealed = self
            .key()
            .seal(b"totp-secret", user.to_string().as_bytes(), &secret)?;
        let mut tx = self.store().begin().await?;
        users::set_totp(&mut tx, user, &sealed, 0, self.now()).await?;
        let hashes: Vec<String> = crate::totp::new_recovery_codes()
            .iter()
            .map(|c| crypto::sha256_hex(c))
            .collect();
        users::replace_recovery_codes(&mut tx, user, &hashes).await?;
        commit(tx).await?;
        Ok(data_encoding::BASE32_NOPAD.encode(&secret))
    }

    /// Fills an empty database with the demo records (empty ones) and accounts.
    pub async fn seed_demo(&self) -> Result<DemoAccounts> {
        self.seed_demo_with(None).await
    }

    /// Imports a demo patient's Bundle and returns the record's id.
    async fn import_demo_record(&self, who: &DemoPerson, bundle: &[u8]) -> Result<PatientId> {
        let summary = self
            .import()
            .import_bundle(&Actor::operator(), bundle)
            .await?;
        let ids: Vec<&str> = summary
            .entries
            .iter()
            .filter(|e| e.resource_type == "Patient")
            .map(|e| e.id.as_str())
            .collect();
        match ids.as_slice() {
            [id] => crate::parse_patient_id(id),
            _ => Err(Error::Internal(format!(
                "the demo record of {} {} must hold exactly one Patient",
                who.given, who.family
            ))),
        }
    }

    /// Fills an empty database with the demo records and accounts; with `records`, the demo
    /// patient and her son have those records.
    pub async fn seed_demo_with(&self, records: Option<&DemoRecords>) -> Result<DemoAccounts> {
        let operator = Actor::operator();
        let mut sofia = record(self, &SOFIA);
        let mut leo = record(self, &LEO);
        let marcus = record(self, &MARCUS);
        match records {
            Some(records) => {
                sofia.id = self.import_demo_record(&SOFIA, &records.sofia).await?;
                leo.id = self.import_demo_record(&LEO, &records.leo).await?;
            }
            None => {
                for row in [&sofia, &leo] {
                    self.create_patient_record(&operator, row).await?;
                }
            }
        }
        self.create_patient_record(&operator, &marcus).await?;
        let mut accounts = Vec::new();
        for (role, name, email, sees) in [
            (
                Role::Clinician,
                "Dr. Maya Okafor",
                "clinician@demo.portal.test",
                "Sofia Martinez and Leo Martinez (care team)",
            ),
            (
                Role::Staff,
                "Sam Rivera",
                "staff@demo.portal.test",
                "any patient's appointments and messages; no clinical data",
            ),
            (
                Role::Admin,
                "Alex Morgan",
                "admin@demo.portal.test",
                "accounts, settings and (as privacy officer) the audit reports; no clinical data",
            ),
        ] {
            // The demo seeds its own sign-ins directly: a real clinic's accounts choose their
            // passwords through their set-up links.
            let password = demo_password();
            let new = NewStaffAccount::parse(email, name, role.as_str())
                .map_err(crate::Error::Invalid)?;
            let id = self
                .accounts()
                .create_staff_account(&operator, new)
                .await?
                .id;
            let hash = crypto::hash_password(password.clone()).await?;
            let mut tx = self.store().begin().await?;
            users::set_password(&mut tx, id, &hash, self.now()).await?;
            portal_store::codes::end_resets(&mut tx, id, self.now()).await?;
            commit(tx).await?;
            let totp_secret = self.enrol_demo_totp(id).await?;
            if role == Role::Admin {
                let manage = portal_domain::access::authorize_clinic(
                    &operator.principal,
                    portal_domain::access::ClinicAction::ManageUsers,
                )
                .map_err(|_| crate::Error::Forbidden)?;
                let mut tx = self.store().begin().await?;
                users::set_privacy_officer(&mut tx, &manage, id, true).await?;
                commit(tx).await?;
            }
            if role == Role::Clinician {
                let mut tx = self.store().begin().await?;
                access::add_to_care_team(&mut tx, sofia.id, id).await?;
                access::add_to_care_team(&mut tx, leo.id, id).await?;
                commit(tx).await?;
            }
            accounts.push(DemoAccount {
                role,
                name: name.into(),
                email: email.into(),
                password,
                totp_secret,
                sees: sees.into(),
            });
        }
        // The patient: her own record, and her son's as his parent (proxy).
        let password = demo_password();
        let hash = crypto::hash_password(password.clone()).await?;
        let patient_user = UserId::new_v7(self.now());
        let mut tx = self.store().begin().await?;
        users::insert(
            &mut tx,
            &users::NewUser {
                id: patient_user,
                email: "patient@demo.portal.test",
                name: &sofia.display_name(),
                role: Role::Patient,
                password_hash: &hash,
                patient_id: Some(sofia.id),
            },
            self.now(),
        )
        .await?;
        access::add_proxy_grant(
            &mut tx,
            &access::NewGrant {
                id: uuid::Uuid::now_v7(),
                proxy: patient_user,
                patient: leo.id,
                scope: ProxyScope::Full,
                relationship: "parent",
                starts_at: self.now(),
                ends_at: None,
                granted_by: "operator",
                patient_chose_at: None,
                document_checked: "",
            },
            self.now(),
        )
        .await?;
        let mut event = self.event(&operator, AuditAction::Create, "Account", Outcome::Success);
        event.resource_id = Some(patient_user.to_string());
        event.detail = "demo patient account with proxy grant".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        let totp_secret = self.enrol_demo_totp(patient_user).await?;
        accounts.insert(
            0,
            DemoAccount {
                role: Role::Patient,
                name: sofia.display_name(),
                email: "patient@demo.portal.test".into(),
                password,
                totp_secret,
                sees: "her own record (Sofia Martinez) and her son's (Leo Martinez) as his parent"
                    .into(),
            },
        );
        // The clinic's message pools: the nurse line answers medical questions with the
        // demo clinician; the front desk and billing are the demo staff member's.
        let messages = self.messages();
        for (pool, members) in [
            ("Nurse line", &["clinician@demo.portal.test"][..]),
            ("Front desk", &["staff@demo.portal.test"][..]),
            ("Billing", &["staff@demo.portal.test"][..]),
        ] {
            messages.create_pool(&operator, pool, true).await?;
            for email in members {
                messages
                    .set_pool_member(&operator, pool, email, true)
                    .await?;
            }
        }
        self.seed_demo_schedules(&operator).await?;
        self.seed_demo_refills(&operator).await?;
        let invitation = self.accounts().invite(&operator, marcus.id).await?;
        Ok(DemoAccounts {
            url: self.config().public_url.clone(),
            accounts,
            activation: DemoActivation {
                patient: marcus.display_name(),
                birth_date: marcus.birth_date.clone(),
                code: invitation.code,
            },
            patients: vec![
                (sofia.display_name(), sofia.id),
                (leo.display_name(), leo.id),
                (marcus.display_name(), marcus.id),
            ],
        })
    }
}

impl App {
    /// The demo clinic's refills: two pharmacies, and requests (the demo records' prescribers
    /// have no accounts) go to the nurse line, which the demo clinician is in and leads.
    async fn seed_demo_refills(&self, operator: &Actor) -> Result<()> {
        let refills = self.refills();
        for (name, address, phone) in [
            (
                "Main Street Pharmacy",
                "120 Main Street, Springfield",
                "(555) 010-0200",
            ),
            (
                "Riverside Drugstore",
                "4 River Road, Springfield",
                "(555) 010-0300",
            ),
        ] {
            refills
                .add_pharmacy(
                    operator,
                    &crate::refills::PharmacyForm {
                        name: name.into(),
                        address: address.into(),
                        phone: phone.into(),
                    },
                )
                .await?;
        }
        let mut tx = self.store().begin().await?;
        let pools = portal_store::pools::list(&mut tx).await?;
        let clinician = users::find_by_email(&mut tx, "clinician@demo.portal.test")
            .await?
            .ok_or_else(|| Error::Internal("the demo clinician account is missing".into()))?;
        drop(tx);
        let Some(nurse_line) = pools.iter().find(|p| p.name == "Nurse line") else {
            return Err(Error::Internal("the demo nurse line is missing".into()));
        };
        refills
            .set_pool_lead(operator, nurse_line.id, Some(clinician.id))
            .await?;
        let rules = RefillRules::default();
        refills
            .save_rules(
                operator,
                &crate::refills::RulesForm {
                    window_months: rules.window_months.to_string(),
                    refused: rules
                        .refused_schedules
                        .iter()
                        .map(|s| s.as_str().to_string())
                        .collect(),
                    escalate_hours: rules.escalate_hours.to_string(),
                    pool: nurse_line.id.to_string(),
                },
            )
            .await?;
        Ok(())
    }

    /// The demo clinic's schedules: two locations, three kinds of visit, and weekday hours for
    /// the demo clinician and a second one (who has no demo sign-in), open from today on.
    async fn seed_demo_schedules(&self, operator: &Actor) -> Result<()> {
        let second =
            NewStaffAccount::parse("clinician2@demo.portal.test", "Dr. Jordan Lee", "clinician")
                .map_err(crate::Error::Invalid)?;
        self.accounts()
            .create_staff_account(operator, second)
            .await?;
        let appointments = self.appointments();
        let settings = crate::appointments::SettingsForm {
            cancel_hours: "24".into(),
            phone: "(555) 010-0100".into(),
            reminder_hours: "72, 24".into(),
            offer_hours: "4".into(),
        };
        appointments.save_settings(operator, &settings).await?;
        appointments
            .add_location(
                operator,
                "Riverside Clinic",
                "100 River Street, Springfield",
            )
            .await?;
        appointments
            .add_location(operator, "Hillside Clinic", "8 Hill Road, Springfield")
            .await?;
        for (name, minutes, video, who, questions) in [
            (
                "New patient visit",
                "40",
                false,
                "new",
                "What would you like the clinician to help you with?\nWhich other clinicians have you seen in the past year?",
            ),
            (
                "Follow-up visit",
                "20",
                false,
                "established",
                "How have you been since your last visit?",
            ),
            (
                "Video visit",
                "20",
                true,
                "anyone",
                "What would you like to talk about?\nWhat phone number can we call if the video drops?",
            ),
        ] {
            let form = portal_domain::appointments::VisitTypeForm {
                name: name.into(),
                minutes: minutes.into(),
                video,
                audience: who.into(),
                notice_hours: "2".into(),
                horizon_days: "60".into(),
                questions: questions.into(),
                ..Default::default()
            };
            appointments.add_visit_type(operator, &form).await?;
        }
        let days = |d: &str| vec![d.to_string()];
        for (who, place, weekdays, from, to) in [
            (
                "clinician@demo.portal.test",
                "Riverside Clinic",
                "mon,tue,wed,thu,fri",
                "09:00",
                "12:00",
            ),
            (
                "clinician@demo.portal.test",
                "Riverside Clinic",
                "mon,tue,wed,thu",
                "13:00",
                "17:00",
            ),
            (
                "clinician2@demo.portal.test",
                "Hillside Clinic",
                "mon,wed,fri",
                "08:00",
                "12:00",
            ),
            (
                "clinician2@demo.portal.test",
                "Riverside Clinic",
                "tue,thu",
                "13:00",
                "16:00",
            ),
        ] {
            appointments
                .add_hours(
                    operator,
                    who,
                    place,
                    &days(weekdays),
                    (from, to),
                    ("", ""),
                    &[],
                )
                .await?;
        }
        Ok(())
    }

    /// Links imported sample records to the demo accounts: the demo patient becomes the parent
    /// (full proxy) of `children`, and every record in `care_team` joins the demo clinician's
    /// care team. Updates what each demo sign-in sees.
    pub async fn link_demo_records(
        &self,
        demo: &mut DemoAccounts,
        children: &[PatientId],
        care_team: &[PatientId],
    ) -> Result<()> {
        let mut tx = self.store().begin().await?;
        let patient_email = "patient@demo.portal.test";
        let clinician_email = "clinician@demo.portal.test";
        let parent = users::find_by_email(&mut tx, patient_email)
            .await?
            .ok_or_else(|| crate::Error::Internal("the demo patient account is missing".into()))?;
        let clinician = users::find_by_email(&mut tx, clinician_email)
            .await?
            .ok_or_else(|| {
                crate::Error::Internal("the demo clinician account is missing".into())
            })?;
        let mut names = Vec::new();
        for child in children {
            access::add_proxy_grant(
                &mut tx,
                &access::NewGrant {
                    id: uuid::Uuid::now_v7(),
                    proxy: parent.id,
                    patient: *child,
                    scope: ProxyScope::Full,
                    relationship: "parent",
                    starts_at: self.now(),
                    ends_at: None,
                    granted_by: "operator",
                    // Records old enough to choose (a teen, an adult) stand for people who
                    // chose the demo's parent themselves; for a young child it changes nothing.
                    patient_chose_at: Some(self.now()),
                    document_checked: "",
                },
                self.now(),
            )
            .await?;
        }
        for patient in care_team {
            access::add_to_care_team(&mut tx, *patient, clinician.id).await?;
            let access = portal_domain::access::authorize(
                &Principal::Operator,
                *patient,
                portal_domain::Action::ViewDemographics,
                &Default::default(),
                self.now(),
            )
            .map_err(|_| Error::Forbidden)?;
            if let Some(row) = patients::get(&mut tx, &access).await? {
                names.push((row.display_name(), row.id, children.contains(patient)));
            }
        }
        let mut event = self.event(
            &Actor::operator(),
            AuditAction::Create,
            "Account",
            Outcome::Success,
        );
        event.resource_id = Some(parent.id.to_string());
        event.detail = "demo proxy grants and care team for sample records".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        let kids: Vec<&str> = names.iter().filter(|n| n.2).map(|n| n.0.as_str()).collect();
        let all: Vec<&str> = names.iter().map(|n| n.0.as_str()).collect();
        for account in &mut demo.accounts {
            match account.role {
                Role::Patient if !kids.is_empty() => {
                    account.sees = format!(
                        "her own record (Sofia Martinez) and, as their parent, the records of Leo \
                         Martinez, {}",
                        kids.join(" and ")
                    );
                }
                Role::Clinician if !all.is_empty() => {
                    account.sees = format!("{}, and {} (care team)", account.sees, all.join(", "));
                }
                _ => {}
            }
        }
        for (name, id, _) in names {
            if !demo.patients.iter().any(|(_, known)| *known == id) {
                demo.patients.push((name, id));
            }
        }
        Ok(())
    }
}
