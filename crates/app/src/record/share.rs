//! "Send my record": the patient (or a full proxy) sends a copy of the record to an e-mail
//! address. The e-mail carries only a link that expires; the copy opens with a code shown to the
//! sender on screen, never in the e-mail. The copy (the FHIR file and the summary to print, as
//! the sender may see them) is written when it is sent and kept sealed; opening it is audited in
//! the record with the recipient named.

use super::{RecordFile, Span};
use crate::services::Records;
use crate::{Actor, Error, Result, commit, crypto};
use jiff::{SignedDuration, Timestamp};
use portal_domain::PatientId;
use portal_domain::access::Action;
use portal_domain::audit::{AuditAction, Outcome, RequestContext};
use portal_domain::fields::Email;
use portal_store::shares::{self, NewShare};
use subtle::ConstantTimeEq;

/// How long a sent copy's link works.
pub const SHARE_LIFETIME_DAYS: i64 = 14;
/// The purposes the copy's parts are sealed under.
const FILE_PURPOSE: &[u8] = b"record-share-file";
const SUMMARY_PURPOSE: &[u8] = b"record-share-summary";

/// A copy just sent: the code to give the recipient (shown once) and until when it works.
pub struct SentCopy {
    /// The code.
    pub code: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for SentCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentCopy")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The policy's leave to send a copy of one record to one checked address (from
/// [`Records::prepare_copy`]).
pub struct CopyLeave {
    access: portal_domain::PatientAccess,
    recipient: Email,
}

/// A copy opened by its recipient.
pub struct OpenedCopy {
    /// The summary to print (HTML written when it was sent).
    pub summary_html: String,
    /// The FHIR file.
    pub file: RecordFile,
    /// Until when the link works.
    pub expires_at: Timestamp,
}

/// Why a copy did not open.
#[derive(Debug, PartialEq, Eq)]
pub enum NotOpened {
    /// No such link, expired, or locked after wrong codes (never told apart).
    Gone,
    /// A wrong code; this many tries are left.
    WrongCode(i64),
}

/// A code as people type it: letters and digits, in any case, with or without the dash.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl Records {
    /// The policy's decision to let `actor` send a copy of the record (`Action::Export`, asked
    /// first, so a refused request reads nothing), and the address checked.
    pub async fn prepare_copy(
        &self,
        actor: &Actor,
        patient: PatientId,
        recipient: &str,
    ) -> Result<CopyLeave> {
        let (access, _, _) = self.decide_to_read(actor, patient, Action::Export).await?;
        let recipient = Email::parse(recipient).map_err(|e| Error::field("email", e.0))?;
        Ok(CopyLeave { access, recipient })
    }

    /// Sends a copy of the record (or the part of it in `span`) under `leave`: the FHIR file is
    /// written now under the sender's access, with `summary_html` (the summary the sender would
    /// print, written by the web face); the e-mail carries the link only.
    pub async fn send_copy(
        &self,
        actor: &Actor,
        leave: CopyLeave,
        span: Span,
        summary_html: &str,
    ) -> Result<SentCopy> {
        let CopyLeave {
            access,
            recipient: email,
        } = leave;
        let patient = access.patient();
        let user = actor.principal.user_id().ok_or(Error::Forbidden)?;
        let (_, file) = self.export_bundle(actor, patient, span).await?;
        let now = self.now();
        let id = uuid::Uuid::now_v7().to_string();
        let link = crypto::random_token();
        let code = crypto::random_code(8);
        let expires_at = now + SignedDuration::from_hours(24 * SHARE_LIFETIME_DAYS);
        let sealed_file = self
            .key()
            .seal(FILE_PURPOSE, id.as_bytes(), file.body.as_bytes())?;
        let sealed_summary =
            self.key()
                .seal(SUMMARY_PURPOSE, id.as_bytes(), summary_html.as_bytes())?;
        let mut tx = self.store().begin().await?;
        shares::add(
            &mut tx,
            &access,
            &NewShare {
                id: &id,
                shared_by: user,
                recipient: email.as_str(),
                link_hash: &crypto::sha256_hex(&link),
                code_hash: &crypto::sha256_hex(&normalise_code(&code)),
                sealed_file: &sealed_file,
                sealed_summary: &sealed_summary,
                file_name: &file.file_name,
                expires_at,
            },
            now,
        )
        .await?;
        let config = self.config();
        let body = format!(
            "Someone has sent you a copy of a health record through the {clinic} patient \
             portal.\n\nOpen it here: {base}/shared/{link}\n\nYou will need the code the person \
             who sent it gives you; it is not in this e-mail. The link works for {days} days.\n\n\
             If you did not expect this, you can ignore this e-mail.\n",
            clinic = config.clinic_name,
            base = config.public_url.trim_end_matches('/'),
            days = SHARE_LIFETIME_DAYS,
        );
        self.queue_mail(
            &mut tx,
            "record-share",
            email.as_str(),
            "A health record was sent to you",
            &body,
        )
        .await?;
        // A disclosure: the recipient is named.
        let mut event = self.patient_event(actor, &access, AuditAction::Export, "RecordShare");
        event.resource_id = Some(id);
        event.detail = format!("sent a copy to {}", email.as_str());
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(SentCopy {
            code: format!("{}-{}", &code[..4], &code[4..]),
            expires_at,
        })
    }

    /// Opens a sent copy with its link and code (the recipient, signed in or not). Each try
    /// is counted before the code is compared; five wrong ones lock the copy.
    pub async fn open_copy(
        &self,
        link: &str,
        code: &str,
        context: &RequestContext,
    ) -> Result<std::result::Result<OpenedCopy, NotOpened>> {
        if link.is_empty() || link.len() > 100 {
            return Ok(Err(NotOpened::Gone));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let Some(tried) = shares::try_open(&mut tx, &crypto::sha256_hex(link), now).await? else {
            commit(tx).await?;
            return Ok(Err(NotOpened::Gone));
        };
        let given = crypto::sha256_hex(&normalise_code(code));
        let actor = Actor::new(portal_domain::Principal::Operator, context.clone());
        let mut event = self.event(&actor, AuditAction::Read, "RecordShare", Outcome::Success);
        event.actor_id = format!("recipient:{}", tried.id);
        event.actor_role = "recipient".into();
        event.patient_id = Some(tried.patient.to_string());
        event.resource_id = Some(tried.id.clone());
        if !bool::from(given.as_bytes().ct_eq(tried.code_hash.as_bytes())) {
            event.outcome = Outcome::Denied;
            event.detail = format!("wrong code for the copy sent to {}", tried.recipient);
            self.audit(&mut tx, &event).await?;
            commit(tx).await?;
            return Ok(Err(NotOpened::WrongCode(tried.tries_left)));
        }
        shares::opened(&mut tx, &tried.id, now).await?;
        event.detail = format!("opened by {}", tried.recipient);
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        let open = |purpose: &[u8], sealed: &str| {
            self.key()
                .open(purpose, tried.id.as_bytes(), sealed)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| Error::Internal(format!("sent copy {} cannot be opened", tried.id)))
        };
        let body = open(FILE_PURPOSE, &tried.sealed_file)?;
        Ok(Ok(OpenedCopy {
            summary_html: open(SUMMARY_PURPOSE, &tried.sealed_summary)?,
            file: RecordFile {
                file_name: tried.file_name,
                resources: 0,
                body,
            },
            expires_at: tried.expires_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_people_type_them() {
        assert_eq!(normalise_code(" ab3k-9x2p "), "AB3K9X2P");
        assert_eq!(normalise_code("AB3K9X2P"), "AB3K9X2P");
    }
}
