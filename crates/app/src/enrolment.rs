//! Enrolment: clinics issue single-use activation codes; patients activate their accounts with
//! the code and their date of birth.

use crate::services::Accounts;
use crate::throttle::{PER_ADDRESS, address_key};
use crate::{Actor, App, Error, Result, commit, crypto};
use jiff::{SignedDuration, Timestamp};
use portal_domain::access::{
    Action, ActivationAccess, ActivationCodeFact, authorize, authorize_activation,
};
use portal_domain::audit::{AuditAction, Outcome, REVIEW_FLAG, RequestContext};
use portal_domain::fields::{ActivationCode, BirthDate, Email, FieldErrors, format_code};
use portal_domain::password::NewPassword;
use portal_domain::{PatientId, Principal, Role, UserId};
use portal_fhir::codes::CodeSet;
use portal_store::{access, codes, patients, users};

/// A code just issued: shown once, stored only as a hash.
pub struct Invitation {
    /// The code, grouped for reading (ABCD-EFGH-JKMN-PQRS).
    pub code: String,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Whose record it activates.
    pub patient: portal_domain::Patient,
    /// The policy's decision the code was issued under.
    pub access: portal_domain::PatientAccess,
}

/// The activation form, parsed.
pub struct Activation {
    code: ActivationCode,
    birth_date: BirthDate,
    email: Email,
    password: String,
    /// A parent's or guardian's name, when they activate their child's code: the code then
    /// makes a parent's grant on an account of their own, never an account that signs in as
    /// the child.
    parent: Option<String>,
}

impl Activation {
    /// Parses the fields; every problem names its field. The password is checked against the
    /// record's name later, once the code has found the record.
    pub fn parse(
        code: &str,
        birth_date: &str,
        email: &str,
        password: &str,
        whose: &str,
        parent_name: &str,
        today: jiff::civil::Date,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let parent = match whose {
            // The form offers "my own record" first, chosen unless changed.
            "mine" | "" => None,
            "child" => {
                let name = parent_name.trim();
                if name.is_empty() || name.chars().count() > 100 {
                    errors.add("name", "Enter your own name (up to 100 characters).");
                }
                Some(name.to_string())
            }
            _ => {
                errors.add(
                    "whose",
                    "Choose whether the code is for your own record or your child's.",
                );
                None
            }
        };
        let code = errors.take("code", ActivationCode::parse(code));
        let birth_date = errors.take("birth_date", BirthDate::parse(birth_date, today));
        let email = errors.take("email", Email::parse(email));
        let context: Vec<&str> = email.iter().map(Email::as_str).collect();
        errors.take("password", NewPassword::parse(password, &context));
        match (code, birth_date, email) {
            (Some(code), Some(birth_date), Some(email)) if errors.is_empty() => Ok(Self {
                code,
                birth_date,
                email,
                password: password.to_string(),
                parent,
            }),
            _ => Err(errors),
        }
    }
}

/// The e-mail addresses an imported record's demographics list (valid ones, each once).
pub(crate) fn emails_in(details: Option<&str>) -> Vec<String> {
    let Some(data) =
        details.and_then(|d| serde_json::from_str::<portal_fhir::model::PatientData>(d).ok())
    else {
        return Vec::new();
    };
    data.telecom
        .iter()
        .filter(|t| t.system.map(CodeSet::code) == Some("email"))
        .filter_map(|t| t.value.as_deref())
        .filter_map(|v| Email::parse(v).ok())
        .map(|e| e.as_str().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Wrong birth dates allowed per code before it stops working.
const MAX_BIRTH_DATE_FAILURES: i64 = 5;

/// An e-mail address with most of its local part hidden: `m•••@example.org`.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".into(),
    }
}

fn code_not_valid() -> Error {
    Error::field(
        "code",
        "Activation code is not valid. Codes work once and expire after 14 days; \
         ask the clinic for a new one.",
    )
}

/// How an activation's audit event names who issued the code, and what follows the name when
/// the activation came from the issuing address within the hour.
const ISSUED_BY: &str = "account activated with an activation code issued by ";
const SAME_PLACE_SOON: &str = ", from the address that issued it, within the hour";

/// Who issued the code that activated an account, as the activation's audit event names them
/// (for the patient's access log); `None` for any other event.
pub fn activation_issuer(detail: &str) -> Option<&str> {
    let (_, issuer) = detail.split_once(ISSUED_BY)?;
    Some(issuer.strip_suffix(SAME_PLACE_SOON).unwrap_or(issuer))
}

impl Accounts {
    /// Issues an activation code for a patient record (admin, staff or the operator). Earlier
    /// unused codes for the same record stop working.
    pub async fn invite(&self, actor: &Actor, patient: PatientId) -> Result<Invitation> {
        self.issue_code(actor, patient, None).await
    }

    /// Issues an activation code and, given an address the record lists for the patient,
    /// e-mails it there (the code and how to use it; nothing about their health). Refused for a
    /// record whose patient has an account already.
    pub(crate) async fn issue_code(
        &self,
        actor: &Actor,
        patient: PatientId,
        mail_to: Option<&str>,
    ) -> Result<Invitation> {
        let (access, mut tx) = self.open_patient(actor, patient, Action::Enrol).await?;
        let record = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let enrolment = portal_store::enrolment::of_record(&mut tx, &access, self.now()).await?;
        if enrolment.account.is_some() {
            return Err(Error::Conflict(
                "This patient already has a portal account, so an activation code is not \
                 needed. If they cannot sign in, they can reset their password from the sign-in \
                 page, or an administrator can help."
                    .into(),
            ));
        }
        if let Some(to) = mail_to
            && !self
                .record_addresses(&mut tx, &access)
                .await?
                .iter()
                .any(|a| a == to)
        {
            return Err(Error::field(
                "to",
                "Choose one of the e-mail addresses the patient's record lists.",
            ));
        }
        let code = crypto::random_code(16);
        let now = self.now();
        let expires_at = now + self.config().activation_ttl;
        codes::insert_activation(
            &mut tx,
            &access,
            &crypto::sha256_hex(&code),
            &actor.principal.actor_id(),
            &actor.context.client_addr,
            now,
            expires_at,
        )
        .await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Create, "ActivationCode");
        event.detail = match mail_to {
            Some(_) => "activation code issued and e-mailed to the address on record".into(),
            None => "activation code issued".into(),
        };
        self.audit(&mut tx, &event).await?;
        if let Some(to) = mail_to {
            let clinic = &self.config().clinic_name;
            let days = self.config().activation_ttl.as_hours() / 24;
            let body = format!(
                "Hello,\n\n{clinic} has set up online access to your health record.\n\nYour activation code: \
                 {code}\n\nGo to {base}/activate, choose \"Activate your account\" and enter the \
                 code with your date of birth. It works once, for {days} days.\n\nIf you did not \
                 expect this, you can ignore it, or call the clinic.\n\n{clinic}\n",
                code = format_code(&code),
                base = self.config().public_url.trim_end_matches('/'),
            );
            self.queue_mail(
                &mut tx,
                "activation-code",
                to,
                &format!("Your portal activation code from {clinic}"),
                &body,
            )
            .await?;
        }
        commit(tx).await?;
        Ok(Invitation {
            code: format_code(&code),
            expires_at,
            patient: record,
            access,
        })
    }

    /// [`Accounts::invite`] for the record a reference the clinic knows names: the portal's id,
    /// a medical record number, or the EHR's Patient id. Not found when it names none; a field
    /// error when it names more than one.
    pub async fn invite_by_reference(&self, actor: &Actor, reference: &str) -> Result<Invitation> {
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > 200 {
            return Err(Error::NotFound);
        }
        let found = {
            let mut conn = self.conn().await?;
            patients::ids_by_reference(&mut conn, reference).await?
        };
        match found.as_slice() {
            [patient] => self.invite(actor, *patient).await,
            [] => Err(Error::NotFound),
            _ => Err(Error::field(
                "patient",
                "This names more than one record (an MRN of one and the EHR id of another); use \
                 the portal's record id.",
            )),
        }
    }

    /// Creates a patient's account from an activation code and their date of birth.
    pub async fn activate(&self, form: Activation, context: &RequestContext) -> Result<UserId> {
        let now = self.now();
        let code_hash = crypto::sha256_hex(form.code.as_str());
        let (code, activation, patient) = self
            .check_code(&form.code, &form.birth_date, context)
            .await?;
        // Who may hold an account for this record depends on the patient's age today.
        let rules = {
            let mut conn = self.conn().await?;
            self.proxies().rules_in(&mut conn).await?
        };
        let birth = form.birth_date.date();
        let today = rules.date_of(now);
        match &form.parent {
            Some(_) if !rules.parents_may_be_granted(birth, today) => {
                return Err(Error::field(
                    "whose",
                    "This record belongs to an adult: only they can activate it. Once they \
                     have, they can invite you as their proxy from their account.",
                ));
            }
            // A teen's code opens the teen's own account; a parent of a teen is given access by
            // the clinic after checking their identity, or by the teen.
            Some(_) if rules.patient_decides(birth, today) => {
                return Err(Error::field(
                    "whose",
                    "This code is for a teenager's own account. For a parent's access, ask the \
                     clinic (bring photo ID), or your child can invite you from their account.",
                ));
            }
            None if !rules.patient_decides(birth, today) => {
                return Err(Error::field(
                    "whose",
                    "A child this young cannot have an account of their own. If you are their \
                     parent or guardian, choose \"My child's record\" and give your own name.",
                ));
            }
            _ => {}
        }
        let name = form
            .parent
            .clone()
            .unwrap_or_else(|| patient.display_name());
        let password = NewPassword::parse(&form.password, &[form.email.as_str(), &name])
            .map_err(|e| Error::field("password", e.to_string()))?;
        let hash = crypto::hash_password(password.into_inner()).await?;
        let id = UserId::new_v7(now);
        let mut tx = self.store().begin().await?;
        if !codes::use_activation(&mut tx, &code_hash, now).await? {
            return Err(code_not_valid());
        }
        let own_patient = form.parent.is_none().then_some(patient.id);
        users::insert(
            &mut tx,
            &users::NewUser {
                id,
                email: form.email.as_str(),
                name: &name,
                role: Role::Patient,
                password_hash: &hash,
                patient_id: own_patient,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            portal_store::Error::Conflict(_) => Error::field(
                "email",
                "E-mail is already in use, or this record already has an account. \
                 Sign in, or reset your password.",
            ),
            other => other.into(),
        })?;
        let actor = Actor {
            principal: Principal::User {
                id,
                role: Role::Patient,
                own_patient,
            },
            context: context.clone(),
            read_ahead: None,
        };
        if own_patient.is_none() {
            add_parent_grant(&mut tx, id, patient.id, &code.created_by, now).await?;
        }
        let mut event = self.event(&actor, AuditAction::Create, "Account", Outcome::Success);
        event.patient_id = Some(patient.id.to_string());
        event.on_behalf_of = if own_patient.is_some() {
            "own-record".into()
        } else {
            "proxy-parent".into()
        };
        event.resource_id = Some(id.to_string());
        let issuer = self.issuer_words(&mut tx, &code.created_by).await?;
        // Staff issuing a code and activating it themselves, from the same place soon after,
        // is what the admins need to look at.
        let suspicious = !code.created_addr.is_empty()
            && code.created_addr == context.client_addr
            && now.duration_since(code.created_at) < SignedDuration::from_hours(1);
        event.detail = format!(
            "{}{ISSUED_BY}{issuer}{}",
            if suspicious { REVIEW_FLAG } else { "" },
            if suspicious { SAME_PLACE_SOON } else { "" }
        );
        self.audit(&mut tx, &event).await?;
        self.tell_record_of_activation(&mut tx, &activation, form.email.as_str())
            .await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(id)
    }

    /// A signed-in account adds a child's record with the code the clinic gave for it and the
    /// child's birth date: the account gets a parent's grant, as activating the code as a
    /// parent would, when the record is a minor's.
    pub async fn add_child(
        &self,
        actor: &Actor,
        code: &str,
        birth_date: &str,
    ) -> Result<PatientId> {
        let Principal::User {
            id,
            role: Role::Patient,
            own_patient,
        } = &actor.principal
        else {
            return Err(Error::Forbidden);
        };
        let rules = {
            let mut conn = self.conn().await?;
            self.proxies().rules_in(&mut conn).await?
        };
        let now = self.now();
        let today = rules.date_of(now);
        let mut errors = FieldErrors::new();
        let given = errors.take("code", ActivationCode::parse(code));
        let birth = errors.take("birth_date", BirthDate::parse(birth_date, today));
        let (Some(given), Some(birth)) = (given, birth) else {
            return Err(Error::Invalid(errors));
        };
        let (code, _, patient) = self.check_code(&given, &birth, &actor.context).await?;
        if *own_patient == Some(patient.id) {
            return Err(Error::field("code", "This code is for your own record."));
        }
        if !rules.parents_may_be_granted(birth.date(), today) {
            return Err(Error::field(
                "code",
                "This record belongs to an adult: only they can give you access, by inviting \
                 you from their own account.",
            ));
        }
        if rules.patient_decides(birth.date(), today) {
            return Err(Error::field(
                "code",
                "This code is for a teenager's own account. For a parent's access, ask the \
                 clinic (bring photo ID), or your child can invite you from their account.",
            ));
        }
        let code_hash = crypto::sha256_hex(given.as_str());
        let mut tx = self.store().begin().await?;
        if !codes::use_activation(&mut tx, &code_hash, now).await? {
            return Err(code_not_valid());
        }
        add_parent_grant(&mut tx, *id, patient.id, &code.created_by, now).await?;
        let mut event = self.event(actor, AuditAction::Create, "ProxyGrant", Outcome::Success);
        event.patient_id = Some(patient.id.to_string());
        event.on_behalf_of = "proxy-parent".into();
        let issuer = self.issuer_words(&mut tx, &code.created_by).await?;
        event.detail =
            format!("a parent added the record with an activation code issued by {issuer}");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(patient.id)
    }

    /// Checks an activation code and the birth date typed with it (throttled per address and
    /// per code, every failure audited): the code's row, the capability it gives and the
    /// record it opens.
    async fn check_code(
        &self,
        given: &ActivationCode,
        birth_date: &BirthDate,
        context: &RequestContext,
    ) -> Result<(codes::ActivationRow, ActivationAccess, patients::PatientRow)> {
        let addr_key = address_key("activate", &context.client_addr);
        // Both counts are taken before the code and the date are compared, so attempts sent
        // at once cannot outrun them.
        let attempt = self.take_attempt(&[(&addr_key, PER_ADDRESS)]).await?;
        let now = self.now();
        let code_hash = crypto::sha256_hex(given.as_str());
        let found = {
            let mut conn = self.conn().await?;
            codes::take_activation_attempt(&mut conn, &code_hash, now, MAX_BIRTH_DATE_FAILURES)
                .await?
        };
        let Some(code) = found else {
            self.audit_failed_activation(context, None, "code unknown, used, expired or void")
                .await?;
            return Err(code_not_valid());
        };
        let fact = ActivationCodeFact {
            patient: code.patient_id,
            expires_at: code.expires_at,
            used: code.used_at.is_some(),
            failed_attempts: code.failed_attempts,
        };
        let activation = authorize_activation(&fact, MAX_BIRTH_DATE_FAILURES, now)
            .map_err(|_| code_not_valid())?;
        let patient = {
            let mut conn = self.conn().await?;
            patients::get_for_activation(&mut conn, &activation)
                .await?
                .ok_or_else(code_not_valid)?
        };
        if patient.birth_date != birth_date.date().to_string() {
            self.audit_failed_activation(context, Some(patient.id), "date of birth did not match")
                .await?;
            return Err(Error::field(
                "birth_date",
                "Date of birth does not match the clinic's record for this code.",
            ));
        }
        {
            let mut conn = self.conn().await?;
            codes::give_back_activation_attempt(&mut conn, &code_hash).await?;
        }
        self.attempt_succeeded(attempt, &[]).await?;
        Ok((code, activation, patient))
    }

    /// Who issued a code, in words for the audit trail and the patient's access log.
    async fn issuer_words(
        &self,
        conn: &mut portal_store::Conn,
        created_by: &str,
    ) -> Result<String> {
        let user = match created_by.parse::<uuid::Uuid>() {
            Ok(id) => users::find(conn, UserId::from_uuid(id)).await?,
            Err(_) => None,
        };
        Ok(match user {
            Some(u) => format!("{} ({})", u.name, u.role),
            None if created_by == "operator" => "the clinic's administration".into(),
            None => "the clinic".into(),
        })
    }

    /// Tells the e-mail addresses the imported record gives for the patient that an account
    /// was activated for their record (no health data; the sign-in address half hidden).
    async fn tell_record_of_activation(
        &self,
        tx: &mut portal_store::Conn,
        activation: &ActivationAccess,
        sign_in_email: &str,
    ) -> Result<()> {
        let details = patients::details_for_activation(tx, activation).await?;
        let addresses = emails_in(details.as_deref());
        let clinic = &self.config().clinic_name;
        let body = format!(
            "Hello,\n\nA {clinic} portal account was just activated for the health record that \
             lists this e-mail address. It signs in as {masked}.\n\nIf this was you or someone \
             you asked, there is nothing to do. If not, call the clinic now: they can disable the \
             account and see who issued its activation code.\n\n{clinic}\n",
            masked = mask_email(sign_in_email),
        );
        for to in addresses {
            self.queue_mail(
                tx,
                "account-activated",
                &to,
                &format!("A {clinic} portal account was activated for your record"),
                &body,
            )
            .await?;
        }
        Ok(())
    }

    /// Records a refused activation (no account exists yet: the actor is anonymous).
    async fn audit_failed_activation(
        &self,
        context: &RequestContext,
        patient: Option<PatientId>,
        why: &str,
    ) -> Result<()> {
        let anonymous = Actor {
            principal: Principal::Operator,
            context: context.clone(),
            read_ahead: None,
        };
        let mut event = self.event(&anonymous, AuditAction::Create, "Account", Outcome::Denied);
        event.actor_id = String::new();
        event.actor_role = "anonymous".into();
        event.patient_id = patient.map(|p| p.to_string());
        event.detail = format!("activation refused: {why}");
        self.audit_alone(&event).await
    }
}

impl App {
    /// Asks the policy whether `actor` may do `action` on `patient`'s data, reading the facts
    /// it decides on in the transaction it returns, which the caller goes on to read and write
    /// the patient's data in. A refusal is written to the audit trail and answered exactly like
    /// a missing record.
    pub(crate) async fn open_patient(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
    ) -> Result<(portal_domain::PatientAccess, portal_store::Tx)> {
        let tx = self.store().begin().await?;
        self.decide_patient(actor, patient, action, tx).await
    }

    /// The policy's decision in `tx`: the access, or a recorded refusal answered as "not found".
    pub(crate) async fn decide_patient(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
        mut tx: portal_store::Tx,
    ) -> Result<(portal_domain::PatientAccess, portal_store::Tx)> {
        match self.decide_on(&mut tx, actor, patient, action).await? {
            Ok((access, _)) => Ok((access, tx)),
            Err(refusal) => {
                // The refusal is written in a transaction of its own, once this one is gone.
                drop(tx);
                Err(self.refused(actor, patient, refusal).await)
            }
        }
    }

    /// [`App::open_patient`] for a use case that only reads, without a transaction (each read
    /// after it starts its own, which sees at least the version read here): the access, the
    /// record's version, which keys the page cache (see `record::cache`), and the connection
    /// (give it back before waiting on the audit trail).
    pub(crate) async fn decide_to_read(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
    ) -> Result<(
        portal_domain::PatientAccess,
        access::RecordVersion,
        Option<portal_store::PoolConn>,
    )> {
        // Facts read with the request's session are as good as facts read now.
        if let Some(ahead) = actor.read_ahead.as_deref().filter(|a| a.patient == patient) {
            return match self.decide_with(actor, patient, action, &ahead.facts) {
                Ok((access, version)) => Ok((access, version, None)),
                Err(refusal) => Err(self.refused(actor, patient, refusal).await),
            };
        }
        let mut conn = self.conn().await?;
        match self.decide_on(&mut conn, actor, patient, action).await? {
            Ok((access, version)) => Ok((access, version, Some(conn))),
            Err(refusal) => {
                drop(conn);
                Err(self.refused(actor, patient, refusal).await)
            }
        }
    }

    /// The policy's decision on the facts read on `conn`, in one round trip: the access and the
    /// record's version, or the refusal to record (and whether the record exists).
    async fn decide_on(
        &self,
        conn: &mut portal_store::Conn,
        actor: &Actor,
        patient: PatientId,
        action: Action,
    ) -> Result<
        std::result::Result<(portal_domain::PatientAccess, access::RecordVersion), (Action, bool)>,
    > {
        // A person's relationships decide for them and for the apps they connected.
        let user = actor.principal.deciding_user();
        let read = access::record_facts(conn, user, patient).await?;
        Ok(self.decide_with(actor, patient, action, &read))
    }

    /// The policy's decision on facts read: the access and the record's version, or the
    /// refusal to record (and whether the record exists).
    fn decide_with(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
        read: &access::RecordFacts,
    ) -> std::result::Result<(portal_domain::PatientAccess, access::RecordVersion), (Action, bool)>
    {
        let Some(version) = read.version else {
            return Err((action, false));
        };
        match authorize(&actor.principal, patient, action, &read.facts, self.now()) {
            Ok(access) => Ok((access, version)),
            Err(_) => Err((action, true)),
        }
    }

    /// The policy's decisions on several records for one action, their facts read in one round
    /// trip: the records allowed, in the order given; each refusal is recorded (together).
    pub(crate) async fn decide_to_read_each(
        &self,
        actor: &Actor,
        patients: &[PatientId],
        action: Action,
    ) -> Result<Vec<(portal_domain::PatientAccess, access::RecordVersion)>> {
        // A person's relationships decide for them and for the apps they connected.
        let user = actor.principal.deciding_user();
        let mut conn = self.conn().await?;
        let facts = access::record_facts_of_many(&mut conn, user, patients).await?;
        drop(conn);
        let none = access::RecordFacts::default();
        let mut allowed = Vec::with_capacity(patients.len());
        let mut refusals = Vec::new();
        for patient in patients {
            let read = facts.get(patient).unwrap_or(&none);
            match self.decide_with(actor, *patient, action, read) {
                Ok(decided) => allowed.push(decided),
                Err(refusal) => refusals.push(self.refusal_event(actor, *patient, refusal)),
            }
        }
        self.audit_all(refusals).await?;
        Ok(allowed)
    }

    /// Records a refusal and returns the error it is answered with ("not found", whether or not
    /// the record exists).
    pub(crate) async fn refused(
        &self,
        actor: &Actor,
        patient: PatientId,
        refusal: (Action, bool),
    ) -> Error {
        match self
            .audit_alone(&self.refusal_event(actor, patient, refusal))
            .await
        {
            Ok(()) => Error::NotFound,
            Err(e) => e,
        }
    }

    /// The audit event of a refusal.
    fn refusal_event(
        &self,
        actor: &Actor,
        patient: PatientId,
        (action, exists): (Action, bool),
    ) -> portal_domain::audit::AuditEvent {
        let mut event = self.event(actor, AuditAction::Read, "Patient", Outcome::Denied);
        event.patient_id = Some(patient.to_string());
        event.detail = format!(
            "refused {}{}",
            action.as_str(),
            if exists { "" } else { " (no such record)" }
        );
        event
    }

    /// An audit event about one patient's data under an access decision.
    pub(crate) fn patient_event(
        &self,
        actor: &Actor,
        access: &portal_domain::PatientAccess,
        action: AuditAction,
        resource_type: &str,
    ) -> portal_domain::audit::AuditEvent {
        let mut event = self.event(actor, action, resource_type, Outcome::Success);
        event.patient_id = Some(access.patient().to_string());
        event.on_behalf_of = access.basis().as_str().into();
        event.break_glass = access.is_break_glass();
        event
    }
}

/// A parent's grant made with an activation code: made by whoever issued the code (the clinic
/// checked who it gave it to); the age rules bound what it reaches.
async fn add_parent_grant(
    tx: &mut portal_store::Conn,
    parent: UserId,
    patient: PatientId,
    issued_by: &str,
    now: Timestamp,
) -> Result<()> {
    access::add_proxy_grant(
        tx,
        &access::NewGrant {
            id: uuid::Uuid::now_v7(),
            proxy: parent,
            patient,
            scope: portal_domain::access::ProxyScope::Full,
            relationship: portal_domain::access::Relationship::Parent.as_str(),
            starts_at: now,
            ends_at: None,
            granted_by: issued_by,
            patient_chose_at: None,
            document_checked: "activation code the clinic issued",
        },
        now,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_form_names_each_bad_field() {
        let today = jiff::civil::date(2026, 11, 26);
        let errors = Activation::parse("x", "31/12/1990", "nope", "short", "theirs", "", today)
            .err()
            .expect("errors");
        for field in ["code", "birth_date", "email", "password", "whose"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn the_issuer_is_read_back_from_the_activation_event() {
        let plain = format!("{ISSUED_BY}Sam Rivera (staff)");
        assert_eq!(activation_issuer(&plain), Some("Sam Rivera (staff)"));
        let flagged = format!("{REVIEW_FLAG}{ISSUED_BY}Sam Rivera (staff){SAME_PLACE_SOON}");
        assert_eq!(activation_issuer(&flagged), Some("Sam Rivera (staff)"));
        assert_eq!(activation_issuer("viewed the summary"), None);
    }
}
