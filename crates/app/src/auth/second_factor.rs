//! The second factor: checking a code at sign-in, enrolling an authenticator, recovery codes.

use super::*;
use crate::services::Accounts;

impl Accounts {
    /// Second step of sign-in: a TOTP code (each accepted once) or a recovery code. Opens a new
    /// session (new id) and ends the half-finished one.
    pub async fn verify_second_factor(
        &self,
        current: &CurrentUser,
        code_raw: &str,
        context: &RequestContext,
    ) -> Result<NewSession> {
        if current.stage != Stage::SecondFactor {
            return Err(Error::Unauthenticated);
        }
        let code = SecondFactorCode::parse(code_raw).map_err(|e| Error::field("code", e.0))?;
        let key = format!("second-factor:{}", current.id);
        let addr_key = address_key("second-factor", &context.client_addr);
        // The attempt is taken before the code is checked. The password is already right, so
        // an address locked by others' failures does not stop this account; its own count does.
        let keys = [
            (key.as_str(), PER_ACCOUNT),
            (addr_key.as_str(), PER_ADDRESS),
        ];
        let attempt = match self.try_take_attempt(&keys).await? {
            Taken::Yes(attempt) => attempt,
            Taken::Locked { index: 1, .. } => self.take_attempt(&keys[..1]).await?,
            Taken::Locked { minutes, .. } => {
                self.metrics().throttled.inc();
                return Err(Error::Throttled { minutes });
            }
        };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let user = users::find(&mut tx, current.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let accepted = match &code {
            SecondFactorCode::Totp(digits) => {
                let secret = self.totp_secret(&user)?;
                match totp::matching_step(&secret, digits, now) {
                    Some(step) => users::consume_totp_step(&mut tx, user.id, step).await?,
                    None => false,
                }
            }
            SecondFactorCode::Recovery(rc) => {
                users::consume_recovery_code(&mut tx, user.id, &crypto::sha256_hex(rc), now).await?
            }
        };
        let actor = current.actor(context.clone());
        if !accepted {
            drop(tx);
            self.metrics().sign_in_failures.inc();
            let mut event = self.event(&actor, AuditAction::SignIn, "Session", Outcome::Denied);
            event.detail = "wrong second-factor code".into();
            self.audit_alone(&event).await?;
            if attempt.locks(&key) {
                self.tell_of_lock(&user, "second-factor code", context)
                    .await?;
            }
            return Err(wrong_code());
        }
        sessions::delete(&mut tx, &current.token_hash).await?;
        let (session, id) = self
            .open_session(&mut tx, &user, Stage::Full, context)
            .await?;
        let mut event = self.event(&actor, AuditAction::SignIn, "Session", Outcome::Success);
        event.resource_id = Some(id.to_string());
        event.detail = match code {
            SecondFactorCode::Totp(_) => "signed in with authenticator code".into(),
            SecondFactorCode::Recovery(_) => "signed in with a recovery code".into(),
        };
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.attempt_succeeded(attempt, &[&key]).await?;
        self.metrics().sign_ins.inc();
        Ok(session)
    }

    fn totp_secret(&self, user: &UserRow) -> Result<Vec<u8>> {
        let sealed = user
            .totp_secret_enc
            .as_deref()
            .ok_or(Error::Unauthenticated)?;
        self.key()
            .open(TOTP_PURPOSE, user.id.to_string().as_bytes(), sealed)
            .ok_or_else(|| Error::Internal("a stored TOTP secret does not decrypt".into()))
    }

    /// Starts enrolling an authenticator app: a new secret, its QR code and manual key.
    pub fn start_enrolment(&self, current: &CurrentUser) -> Result<Enrolment> {
        let secret = crypto::random_bytes::<20>();
        let sealed_secret =
            self.key()
                .seal(ENROL_PURPOSE, current.id.to_string().as_bytes(), &secret)?;
        let uri = totp::provisioning_uri(&secret, &self.config().clinic_name, &current.email);
        let qr_svg = totp::qr_svg(&uri)
            .ok_or_else(|| Error::Internal("the QR code could not be drawn".into()))?;
        Ok(Enrolment {
            sealed_secret,
            qr_svg,
            manual_key: totp::manual_key(&secret),
        })
    }

    /// The enrolment page again for a secret already shown (after a mistyped code), so the
    /// person does not have to scan a new QR code; `None` if the sealed secret is not valid.
    pub fn enrolment_from_sealed(&self, current: &CurrentUser, sealed: &str) -> Option<Enrolment> {
        let secret = self
            .key()
            .open(ENROL_PURPOSE, current.id.to_string().as_bytes(), sealed)?;
        let uri = totp::provisioning_uri(&secret, &self.config().clinic_name, &current.email);
        Some(Enrolment {
            sealed_secret: sealed.to_string(),
            qr_svg: totp::qr_svg(&uri)?,
            manual_key: totp::manual_key(&secret),
        })
    }

    /// Finishes enrolment with a code from the app. From the account page (a full session) the
    /// current password is asked again. Returns the ten recovery codes (shown once) and, when
    /// enrolment was part of sign-in, the new full session.
    pub async fn finish_enrolment(
        &self,
        current: &CurrentUser,
        sealed_secret: &str,
        code_raw: &str,
        reauth: Option<Reauth<'_>>,
        context: &RequestContext,
    ) -> Result<(Vec<String>, Option<NewSession>)> {
        if current.stage == Stage::SecondFactor {
            return Err(Error::Unauthenticated);
        }
        let secret = self
            .key()
            .open(
                ENROL_PURPOSE,
                current.id.to_string().as_bytes(),
                sealed_secret,
            )
            .ok_or_else(|| Error::field("code", "The enrolment expired; start again."))?;
        let code = match SecondFactorCode::parse(code_raw) {
            Ok(SecondFactorCode::Totp(c)) => c,
            _ => {
                return Err(Error::field(
                    "code",
                    "Code must be the 6 digits your authenticator app shows.",
                ));
            }
        };
        let key = format!("second-factor:{}", current.id);
        let attempt = self.take_attempt(&[(&key, PER_ACCOUNT)]).await?;
        let now = self.now();
        let user = {
            let mut conn = self.conn().await?;
            users::find(&mut conn, current.id)
                .await?
                .ok_or(Error::Unauthenticated)?
        };
        let reauth = reauth.unwrap_or(Reauth {
            password: "",
            current_code: "",
        });
        if current.stage == Stage::Full {
            let typed = reauth.password.to_string();
            if !crypto::verify_password(typed, user.password_hash.clone()).await {
                return Err(Error::field(
                    "current_password",
                    "Current password is not right.",
                ));
            }
        }
        let Some(step) = totp::matching_step(&secret, &code, now) else {
            return Err(wrong_code());
        };
        let codes = totp::new_recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| crypto::sha256_hex(c)).collect();
        let sealed = self
            .key()
            .seal(TOTP_PURPOSE, user.id.to_string().as_bytes(), &secret)?;
        let mut tx = self.store().begin().await?;
        // Replacing an authenticator from the account page also needs a code from the current
        // one (or a recovery code): a password alone must not move the second factor.
        if current.stage == Stage::Full && user.totp_secret_enc.is_some() {
            let accepted = match SecondFactorCode::parse(reauth.current_code) {
                Ok(SecondFactorCode::Totp(digits)) => {
                    let old = self.totp_secret(&user)?;
                    match totp::matching_step(&old, &digits, now) {
                        Some(s) => users::consume_totp_step(&mut tx, user.id, s).await?,
                        None => false,
                    }
                }
                Ok(SecondFactorCode::Recovery(rc)) => {
                    users::consume_recovery_code(&mut tx, user.id, &crypto::sha256_hex(&rc), now)
                        .await?
                }
                Err(_) => false,
            };
            if !accepted {
                drop(tx);
                return Err(Error::field(
                    "current_code",
                    "Code from your current authenticator app (or a recovery code) is not right.",
                ));
            }
        }
        users::set_totp(&mut tx, user.id, &sealed, step, now).await?;
        users::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
        let new_session = if current.stage == Stage::Enrol {
            sessions::delete(&mut tx, &current.token_hash).await?;
            Some(
                self.open_session(&mut tx, &user, Stage::Full, context)
                    .await?
                    .0,
            )
        } else {
            None
        };
        let actor = current.actor(context.clone());
        let mut event = self.event(
            &actor,
            AuditAction::Update,
            "SecondFactor",
            Outcome::Success,
        );
        event.resource_id = Some(user.id.to_string());
        event.detail = "authenticator app enrolled; recovery codes issued".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.attempt_succeeded(attempt, &[&key]).await?;
        if new_session.is_some() {
            self.metrics().sign_ins.inc();
        }
        Ok((codes, new_session))
    }

    /// How many unused recovery codes the account has.
    pub async fn recovery_codes_left(&self, current: &CurrentUser) -> Result<i64> {
        let mut conn = self.conn().await?;
        Ok(users::recovery_codes_left(&mut conn, current.id).await?)
    }
}
