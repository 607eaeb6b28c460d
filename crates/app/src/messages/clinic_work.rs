//! The clinic's work on conversations: internal notes, routing, done and close, the
//! in-basket, telling a pool a message waits, and the FHIR `Communication` view the read API
//! serves.

use super::*;

impl Messages {
    /// Every clinician and pool the clinic may route a conversation to.
    pub(super) async fn routes(&self, conn: &mut portal_store::Conn) -> Result<Vec<Offered>> {
        let mut out: Vec<Offered> = pools::list(conn)
            .await?
            .into_iter()
            .map(|p| Offered {
                recipient: Recipient::Pool(p.id),
                name: p.name,
            })
            .collect();
        for user in portal_store::users::list(conn).await? {
            if user.role == Role::Clinician
                && user.status == portal_domain::user::AccountStatus::Active
            {
                out.push(Offered {
                    recipient: Recipient::Clinician(user.id),
                    name: user.name,
                });
            }
        }
        Ok(out)
    }

    /// Writes an internal note (clinic side only; never shown to the patient's side).
    pub async fn note(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        text: &str,
    ) -> Result<()> {
        let author = user_of(actor).ok_or(Error::NotFound)?;
        let body = Body::note(text).map_err(|e| Error::field("note", e.0))?;
        let (access, mut tx) = self
            .open_conversation(actor, patient, conversation, Action::NoteMessage)
            .await?;
        if !store::add_note(&mut tx, &access, conversation, author, &body, self.now()).await? {
            return Err(Error::NotFound);
        }
        let mut event = self.patient_event(actor, &access, AuditAction::Create, "MessageNote");
        event.resource_id = Some(conversation.to_string());
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// Routes a conversation to another clinician or pool, and tells them.
    pub async fn reassign(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        to: &str,
    ) -> Result<()> {
        let actor_id = user_of(actor).ok_or(Error::NotFound)?;
        let to = Recipient::parse(to).map_err(|e| Error::field("to", e.0))?;
        let (access, mut tx) = self
            .open_conversation(actor, patient, conversation, Action::ReassignMessage)
            .await?;
        let routes = self.routes(&mut tx).await?;
        let Some(target) = routes.iter().find(|r| r.recipient == to) else {
            return Err(Error::field(
                "to",
                "Choose a clinician or pool from the list.",
            ));
        };
        let words = format!("to {}", target.name);
        if !store::reassign(
            &mut tx,
            &access,
            conversation,
            to,
            actor_id,
            &words,
            self.now(),
        )
        .await?
        {
            return Err(Error::NotFound);
        }
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "MessageRouting");
        event.resource_id = Some(conversation.to_string());
        event.detail = match to {
            Recipient::Clinician(u) => format!("reassigned to user {u}"),
            Recipient::Pool(p) => format!("reassigned to pool {p}"),
        };
        self.audit(&mut tx, &event).await?;
        self.tell_clinic(&mut tx, to).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(())
    }

    /// Marks a conversation done (`close: false`; a new message from the patient's side opens
    /// it again) or closes it to replies (`close: true`).
    pub async fn finish(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        close: bool,
    ) -> Result<()> {
        let actor_id = user_of(actor).ok_or(Error::NotFound)?;
        let (access, mut tx) = self
            .open_conversation(actor, patient, conversation, Action::CloseConversation)
            .await?;
        let found = store::find(&mut tx, &access, conversation)
            .await?
            .ok_or(Error::NotFound)?;
        let status = if close {
            Status::Closed
        } else {
            found
                .status
                .mark_done()
                .map_err(|closed| Error::Conflict(closed.to_string()))?
        };
        store::set_status(&mut tx, &access, conversation, status, actor_id, self.now()).await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "MessageStatus");
        event.resource_id = Some(conversation.to_string());
        event.detail = status.as_str().into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// A conversation's messages as FHIR `Communication` resources, for the read API: read
    /// under the same policy as its page and audited as a read; the clinic's internal notes
    /// are never among them.
    pub async fn communications(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
    ) -> Result<Vec<serde_json::Value>> {
        let (access, mut tx) = self
            .read_conversation(actor, patient, conversation, Action::ViewMessages)
            .await?;
        let found = store::find(&mut tx, &access, conversation)
            .await?
            .ok_or(Error::NotFound)?;
        let messages = store::messages(&mut tx, &access, conversation).await?;
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "Message");
        event.resource_id = Some(conversation.to_string());
        event.detail = "as FHIR Communication".into();
        self.audit_alone(&event).await?;
        let patient = patient.to_string();
        let mut previous: Option<String> = None;
        let mut out = Vec::with_capacity(messages.len());
        for m in &messages {
            out.push(crate::fhir_api::communication_of(
                &patient,
                &found,
                m,
                previous.replace(m.id.to_string()),
            ));
        }
        Ok(out)
    }

    /// The in-basket: conversations routed to the user or their pools, page `page` (from 1;
    /// past the last page, the last) of those waiting, and the latest done.
    pub async fn inbasket(&self, actor: &Actor, page: u32) -> Result<InBasket> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ViewInBasket)
            .map_err(|_| Error::Forbidden)?;
        let user = user_of(actor).ok_or(Error::Forbidden)?;
        let mut conn = self.conn().await?;
        let (open, unread) = inbasket::counts(&mut conn, &capability, user, Status::Open).await?;
        let pages = ((open + INBASKET_PAGE - 1) / INBASKET_PAGE).max(1);
        let page = i64::from(page).clamp(1, pages);
        let offset = (page - 1) * INBASKET_PAGE;
        let waiting = inbasket::page(
            &mut conn,
            &capability,
            user,
            Status::Open,
            inbasket::Order::Waiting,
            offset,
            INBASKET_PAGE,
        )
        .await?;
        let done = inbasket::page(
            &mut conn,
            &capability,
            user,
            Status::Done,
            inbasket::Order::Recent,
            0,
            DONE_SHOWN,
        )
        .await?;
        Ok(InBasket {
            waiting,
            open,
            unread,
            page,
            pages,
            offset,
            done,
        })
    }

    /// Queues the e-mail telling the clinician or the pool's members that a message waits
    /// (no health data: not the patient, not the subject).
    pub(super) async fn tell_clinic(
        &self,
        tx: &mut portal_store::Conn,
        to: Recipient,
    ) -> Result<()> {
        let addresses = store::addresses_for(tx, to).await?;
        let link = format!("{}/inbasket", self.config().public_url);
        let clinic = self.config().clinic_name.clone();
        for address in addresses {
            let body = format!(
                "A patient message waits for you in the {clinic} in-basket.\n\n\
                 Sign in to read it: {link}\n"
            );
            self.queue_mail(
                tx,
                "message-waiting",
                &address,
                "A patient message is waiting",
                &body,
            )
            .await?;
        }
        Ok(())
    }
}
