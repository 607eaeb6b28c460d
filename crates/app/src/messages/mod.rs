//! Secure messaging: the patient's side starts conversations and replies; the clinic answers
//! what is routed to it, notes, reassigns and closes. Each operation is one policy action on
//! one conversation, read and written in one transaction with its audit event; the e-mail
//! telling the clinic a message waits is queued in the same transaction (never with health
//! data).

use crate::chart::Section;
use crate::services::Messages;
use crate::{Actor, Error, Result, commit};
use portal_domain::access::{
    Action, ClinicAction, ConversationFacts, authorize_clinic, authorize_conversation,
};
use portal_domain::audit::AuditAction;
use portal_domain::fields::FieldErrors;
use portal_domain::messages::attachment::{self, FileName};
use portal_domain::messages::{Body, MessagingSettings, NewConversation, Recipient, Side, Status};
use portal_domain::{
    AttachmentId, ConversationId, MessageId, PatientAccess, PatientId, Principal, Role, UserId,
};
use portal_store::drafts::{self, Draft};
use portal_store::messages::{self as store, NewAttachment, NewMessage, Offered};
use portal_store::patients::{self, PatientRow};
use portal_store::{access, inbasket, pools};
use sha2::{Digest, Sha256};

pub use portal_store::drafts::Draft as SavedDraft;
pub use portal_store::inbasket::Waiting;
pub use portal_store::messages::{
    AttachmentFile, ClinicEntry, Conversation, Listing, StoredMessage,
};
pub use portal_store::pools::Pool;

/// A file as the browser sent it, not yet judged.
#[derive(Clone)]
pub struct Upload {
    /// The name the browser gave.
    pub name: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Upload({} bytes)", self.bytes.len())
    }
}

/// What a compose or reply form sent.
#[derive(Clone, Debug, Default)]
pub struct MessageForm {
    /// The recipient's form text (new conversations).
    pub recipient: String,
    /// The topic's form text (new conversations).
    pub topic: String,
    /// The subject (new conversations).
    pub subject: String,
    /// The text.
    pub body: String,
    /// The form's one-time key.
    pub send_key: String,
    /// The conversation a new one follows (started from a closed one).
    pub follows: Option<ConversationId>,
    /// Attached files.
    pub files: Vec<Upload>,
}

impl MessageForm {
    fn draft(&self) -> Draft {
        Draft {
            recipient: self.recipient.clone(),
            topic: self.topic.clone(),
            subject: self.subject.clone(),
            body: self.body.clone(),
            saved_at: None,
        }
    }
}

/// The form's one-time key: 32 hex digits from the CSPRNG, so a form sent twice stores once.
pub fn new_send_key() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

pub(crate) fn check_send_key(key: &str) -> Result<()> {
    if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::field(
            "send_key",
            "This form has expired. Copy your text, reload the page and send it again.",
        ))
    }
}

/// The patient's list of conversations.
#[derive(Debug)]
pub struct ConversationList {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// Newest first.
    pub conversations: Vec<Conversation>,
    /// Whether the viewer is on the patient's side.
    pub patient_side: bool,
}

/// What the compose page needs.
#[derive(Debug)]
pub struct Compose {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// Whom the patient's side may write to.
    pub recipients: Vec<Offered>,
    /// The kept draft, or what was typed when the form was refused.
    pub draft: Draft,
    /// The clinic's messaging settings (reply time, emergency numbers, limits).
    pub settings: MessagingSettings,
    /// The form's one-time key.
    pub send_key: String,
    /// The closed conversation this one follows.
    pub follows: Option<Conversation>,
}

/// One conversation's page.
#[derive(Debug)]
pub struct Thread {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// The conversation.
    pub conversation: Conversation,
    /// Its messages, oldest first.
    pub messages: Vec<StoredMessage>,
    /// The clinic's notes and changes (`None` for the patient's side, which never sees them).
    pub clinic_entries: Option<Vec<ClinicEntry>>,
    /// Where the clinic may route it (clinic side).
    pub routes: Vec<Offered>,
    /// The viewer's kept reply draft.
    pub draft: Draft,
    /// The reply form's one-time key.
    pub send_key: String,
    /// The clinic's messaging settings.
    pub settings: MessagingSettings,
}

/// The in-basket.
#[derive(Debug)]
pub struct InBasket {
    /// One page of the conversations waiting (open), unread first, then the longest wait.
    pub waiting: Vec<Waiting>,
    /// How many wait in all.
    pub open: i64,
    /// How many of those hold messages nobody at the clinic opened.
    pub unread: i64,
    /// Which page this is (from 1).
    pub page: i64,
    /// How many pages there are (at least 1).
    pub pages: i64,
    /// How many come before this page.
    pub offset: i64,
    /// The latest conversations marked done, for a look back.
    pub done: Vec<Waiting>,
}

const LIST_LIMIT: i64 = 200;
/// Conversations on one page of the in-basket.
pub const INBASKET_PAGE: i64 = 50;
/// Conversations done lately shown under the in-basket.
const DONE_SHOWN: i64 = 20;

/// The setting keys messaging reads from the clinic's settings.
mod clinic_work;
mod setup;

pub mod keys {
    /// Expected reply time in words.
    pub const REPLY_TIME: &str = "messages.reply_time";
    /// Business days before a waiting conversation is overdue.
    pub const REPLY_DAYS: &str = "messages.reply_days";
    /// The emergency number.
    pub const EMERGENCY: &str = "messages.emergency_number";
    /// The crisis line.
    pub const CRISIS: &str = "messages.crisis_line";
    /// The largest attachment in bytes.
    pub const MAX_BYTES: &str = "messages.attachment_max_bytes";
    /// The most attachments on one message.
    pub const MAX_COUNT: &str = "messages.attachment_max_count";
}

/// Reads stored settings over the defaults; unreadable values keep the default.
pub fn settings_from(
    defaults: &MessagingSettings,
    stored: &[(String, String)],
) -> MessagingSettings {
    let mut s = defaults.clone();
    for (key, value) in stored {
        match key.as_str() {
            keys::REPLY_TIME => s.reply_time = value.clone(),
            keys::EMERGENCY => s.emergency_number = value.clone(),
            keys::CRISIS => s.crisis_line = value.clone(),
            keys::REPLY_DAYS => s.reply_days = value.parse().unwrap_or(s.reply_days),
            keys::MAX_BYTES => {
                s.attachment_max_bytes = value
                    .parse::<usize>()
                    .unwrap_or(s.attachment_max_bytes)
                    .min(portal_domain::messages::ATTACHMENT_CEILING_BYTES)
            }
            keys::MAX_COUNT => {
                s.attachment_max_count = value
                    .parse::<usize>()
                    .unwrap_or(s.attachment_max_count)
                    .min(portal_domain::messages::ATTACHMENT_CEILING_COUNT)
            }
            _ => {}
        }
    }
    let total = portal_domain::messages::ATTACHMENT_TOTAL_BYTES;
    if s.attachment_max_bytes
        .saturating_mul(s.attachment_max_count)
        > total
    {
        s.attachment_max_count = total / s.attachment_max_bytes.max(1);
    }
    s
}

/// Judges each file against the settings; the errors name the files.
fn judge_files(
    files: &[Upload],
    settings: &MessagingSettings,
) -> Result<Vec<NewAttachment>, FieldErrors> {
    let mut errors = FieldErrors::new();
    if let Err(e) = attachment::check_count(files.len(), settings.attachment_max_count) {
        errors.add("files", e.0);
        return Err(errors);
    }
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let shown = FileName::clean(&file.name, attachment::Kind::Pdf);
        let shown = shown.as_str().trim_end_matches(".pdf").to_string();
        match attachment::judge(
            &file.bytes,
            &file.name,
            &shown,
            settings.attachment_max_bytes,
        ) {
            Ok(kind) => out.push(NewAttachment {
                id: AttachmentId::from_uuid(uuid::Uuid::now_v7()),
                name: FileName::clean(&file.name, kind),
                kind,
                sha256: hex::encode(Sha256::digest(&file.bytes)),
                content: file.bytes.clone(),
            }),
            Err(refused) => errors.add("files", refused.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn user_of(actor: &Actor) -> Option<UserId> {
    actor.principal.user_id()
}

fn side_of(actor: &Actor) -> Side {
    match actor.principal {
        Principal::User {
            role: Role::Patient,
            ..
        } => Side::Patient,
        _ => Side::Clinic,
    }
}

impl Messages {
    /// The clinic's messaging settings: what the admin stored over the portal's defaults.
    pub async fn settings(&self) -> Result<MessagingSettings> {
        let mut conn = self.conn().await?;
        let stored = pools::settings(&mut conn).await?;
        Ok(settings_from(&self.config().messaging, &stored))
    }

    /// The record's conversations: every one for the patient's side; for the clinic, those
    /// routed to the viewer or their pools. `search` narrows the patient's side's list to
    /// conversations whose subject or messages contain the words.
    pub async fn list(
        &self,
        actor: &Actor,
        patient: PatientId,
        search: Option<&str>,
    ) -> Result<ConversationList> {
        let view = self
            .records()
            .open_section(actor, patient, Section::Messages)
            .await?;
        let side = side_of(actor);
        let listing = match (side, user_of(actor), search) {
            (Side::Patient, _, Some(words)) if !words.trim().is_empty() => {
                Listing::Search(words.trim())
            }
            (Side::Patient, _, _) => Listing::Record,
            (Side::Clinic, Some(user), _) => Listing::RoutedTo(user),
            (Side::Clinic, None, _) => return Err(Error::NotFound),
        };
        let mut conn = self.conn().await?;
        let conversations = store::list(&mut conn, &view.access, side, listing, LIST_LIMIT).await?;
        Ok(ConversationList {
            patient: view.patient,
            access: view.access,
            conversations,
            patient_side: side == Side::Patient,
        })
    }

    /// Messages from the clinic the patient's side has not opened, for the home page and the
    /// menu (0 for a viewer who may not read the record's messages). Kept in the page cache
    /// under the record's version read with the request's session, which every change of the
    /// count raises (a clinic message, the patient's side opening one).
    pub async fn unread(&self, actor: &Actor, access: &PatientAccess) -> Result<i64> {
        if !access.also_allows(Action::ViewMessages)
            || !matches!(
                access.basis(),
                portal_domain::AccessBasis::OwnRecord | portal_domain::AccessBasis::Proxy(_)
            )
        {
            return Ok(0);
        }
        let now = self.now();
        let key = actor
            .read_ahead
            .as_deref()
            .filter(|a| a.patient == access.patient())
            .and_then(|a| a.facts.version)
            .map(|version| crate::record::cache::Key {
                patient: access.patient(),
                version: Some(version),
                visibility: access.visibility(),
                viewer: None,
                view: crate::record::cache::View::NewMessages,
            });
        if let Some(count) = key.as_ref().and_then(|k| self.pages().get::<i64>(k, now)) {
            return Ok(*count);
        }
        // On a connection kept for the reads every request makes: the home page asks.
        let count = self
            .store()
            .read_kept::<_, portal_store::Error>(|conn, _| {
                Box::pin(store::unread_for_patient(conn, access))
            })
            .await?;
        if let Some(key) = key {
            self.pages().put(key, std::sync::Arc::new(count), now, 0);
        }
        Ok(count)
    }

    /// The compose page: whom the patient's side may write to, the kept draft, the settings.
    pub async fn compose(
        &self,
        actor: &Actor,
        patient: PatientId,
        follows: Option<ConversationId>,
    ) -> Result<Compose> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::SendMessage)
            .await?;
        if side_of(actor) != Side::Patient {
            // The clinic answers conversations routed to it; it does not start them here.
            drop(tx);
            return Err(self
                .refused(actor, patient, (Action::SendMessage, true))
                .await);
        }
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let recipients = store::recipients(&mut tx, &access).await?;
        let follows = match follows {
            Some(id) => Some(
                store::find(&mut tx, &access, id)
                    .await?
                    .ok_or(Error::NotFound)?,
            ),
            None => None,
        };
        let draft = match user_of(actor) {
            Some(user) => drafts::find(&mut tx, &access, user, None).await?,
            None => None,
        };
        let stored = pools::settings(&mut tx).await?;
        drop(tx);
        let settings = settings_from(&self.config().messaging, &stored);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "MessageCompose");
        event.detail = "compose".into();
        self.audit_alone(&event).await?;
        let draft = draft.unwrap_or_else(|| Draft {
            subject: follows
                .as_ref()
                .map(|c| format!("Re: {}", c.subject.as_str()))
                .unwrap_or_default(),
            topic: follows
                .as_ref()
                .map(|c| c.topic.as_str().to_string())
                .unwrap_or_default(),
            ..Draft::default()
        });
        Ok(Compose {
            patient: row,
            access,
            recipients,
            draft,
            settings,
            send_key: new_send_key(),
            follows,
        })
    }

    /// Starts a conversation from the patient's side. The same form sent twice stores one
    /// conversation (its one-time key); a refused form changes nothing and gives back what
    /// was typed.
    pub async fn start(
        &self,
        actor: &Actor,
        patient: PatientId,
        form: &MessageForm,
    ) -> Result<ConversationId, (Error, Draft)> {
        self.start_inner(actor, patient, form)
            .await
            .map_err(|e| (e, form.draft()))
    }

    async fn start_inner(
        &self,
        actor: &Actor,
        patient: PatientId,
        form: &MessageForm,
    ) -> Result<ConversationId> {
        let author = user_of(actor).ok_or(Error::NotFound)?;
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::SendMessage)
            .await?;
        if side_of(actor) != Side::Patient {
            // The clinic answers conversations routed to it; it does not start them here.
            drop(tx);
            return Err(self
                .refused(actor, patient, (Action::SendMessage, true))
                .await);
        }
        if let Some((existing, _)) = store::message_by_key(&mut tx, &access, &form.send_key).await?
        {
            return Ok(existing);
        }
        check_send_key(&form.send_key)?;
        let stored = pools::settings(&mut tx).await?;
        let settings = settings_from(&self.config().messaging, &stored);
        let parsed =
            NewConversation::parse(&form.recipient, &form.topic, &form.subject, &form.body);
        let files = judge_files(&form.files, &settings);
        let (new, files) = match (parsed, files) {
            (Ok(new), Ok(files)) => (new, files),
            (parsed, files) => {
                let mut errors = FieldErrors::new();
                for e in [parsed.err(), files.err()].into_iter().flatten() {
                    for (f, m) in e.iter() {
                        errors.add(f, m.clone());
                    }
                }
                return Err(Error::Invalid(errors));
            }
        };
        // Only a recipient the compose page offers this record.
        let offered = store::recipients(&mut tx, &access).await?;
        if !offered.iter().any(|o| o.recipient == new.recipient) {
            return Err(Error::field(
                "recipient",
                "Choose who should receive your message from the list.",
            ));
        }
        let follows = match form.follows {
            Some(id) => Some(
                store::find(&mut tx, &access, id)
                    .await?
                    .ok_or(Error::NotFound)?
                    .id,
            ),
            None => None,
        };
        let now = self.now();
        let id = ConversationId::from_uuid(uuid::Uuid::now_v7());
        let message = NewMessage {
            id: MessageId::from_uuid(uuid::Uuid::now_v7()),
            author,
            side: Side::Patient,
            body: &new.body,
            send_key: &form.send_key,
            attachments: &files,
        };
        let started = store::start(
            &mut tx,
            &access,
            id,
            new.topic,
            &new.subject,
            new.recipient,
            follows,
            &message,
            now,
        )
        .await;
        if let Err(portal_store::Error::Conflict(_)) = started {
            // The same form, sent at the same moment, was stored by the other request.
            drop(tx);
            return self.sent_by_key(actor, patient, &form.send_key).await;
        }
        started?;
        drafts::discard(&mut tx, &access, author, None).await?;
        // The clinic is told first: the audit event takes the trail's head, held to the commit.
        self.tell_clinic(&mut tx, new.recipient).await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Create, "Message");
        event.resource_id = Some(id.to_string());
        event.detail = format!("started a conversation; {} file(s)", files.len());
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(id)
    }

    /// The conversation a one-time key stored, looked up after a clash with a concurrent
    /// request that sent the same form.
    async fn sent_by_key(
        &self,
        actor: &Actor,
        patient: PatientId,
        key: &str,
    ) -> Result<ConversationId> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::SendMessage)
            .await?;
        store::message_by_key(&mut tx, &access, key)
            .await?
            .map(|(c, _)| c)
            .ok_or_else(|| Error::Conflict("The message was not stored; send it again.".into()))
    }

    /// Keeps what the patient's side typed in the compose form.
    pub async fn save_compose_draft(
        &self,
        actor: &Actor,
        patient: PatientId,
        form: &MessageForm,
    ) -> Result<()> {
        let author = user_of(actor).ok_or(Error::NotFound)?;
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::SendMessage)
            .await?;
        self.keep_draft(&mut tx, actor, &access, author, None, form)
            .await?;
        commit(tx).await
    }

    async fn keep_draft(
        &self,
        tx: &mut portal_store::Conn,
        actor: &Actor,
        access: &PatientAccess,
        author: UserId,
        conversation: Option<ConversationId>,
        form: &MessageForm,
    ) -> Result<()> {
        let draft = form.draft();
        if draft.body.chars().count() > portal_domain::messages::BODY_MAX
            || draft.subject.chars().count() > portal_domain::messages::SUBJECT_MAX * 4
        {
            return Err(Error::field("body", "This draft is too long to keep."));
        }
        drafts::save(tx, access, author, conversation, &draft, self.now()).await?;
        let mut event = self.patient_event(actor, access, AuditAction::Update, "MessageDraft");
        event.resource_id = conversation.map(|c| c.to_string());
        self.audit(tx, &event).await
    }

    /// Decides one operation on one conversation in `conn`: the access, or a recorded refusal
    /// answered as "not found" (also when the conversation is in another record than the
    /// path's).
    async fn decide_conversation(
        &self,
        conn: &mut portal_store::Conn,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        action: Action,
    ) -> Result<std::result::Result<PatientAccess, (Action, bool)>> {
        let user = user_of(actor);
        let found = store::conversation_facts(conn, conversation, user).await?;
        let record = access::record_facts(conn, user, patient).await?;
        let exists = record.version.is_some();
        let facts: ConversationFacts = match found {
            Some(f) if f.patient == patient && exists => f,
            _ => return Ok(Err((action, exists))),
        };
        Ok(
            authorize_conversation(&actor.principal, &record.facts, &facts, action, self.now())
                .map_err(|_| (action, true)),
        )
    }

    /// [`App::open_patient`] for a use case that only reads: a transaction that takes no write
    /// lock (on SQLite a deferred `BEGIN`).
    async fn read_patient(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
    ) -> Result<(PatientAccess, portal_store::Tx)> {
        let tx = self.store().begin_read().await?;
        self.decide_patient(actor, patient, action, tx).await
    }

    /// [`Messages::open_conversation`] for a use case that only reads: a transaction that takes
    /// no write lock.
    async fn read_conversation(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        action: Action,
    ) -> Result<(PatientAccess, portal_store::Tx)> {
        let tx = self.store().begin_read().await?;
        self.decide_conversation_in(tx, actor, patient, conversation, action)
            .await
    }

    /// Decides one operation on one conversation in `tx`: the access and the transaction, or
    /// the recorded refusal.
    async fn decide_conversation_in(
        &self,
        mut tx: portal_store::Tx,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        action: Action,
    ) -> Result<(PatientAccess, portal_store::Tx)> {
        match self
            .decide_conversation(&mut tx, actor, patient, conversation, action)
            .await?
        {
            Ok(access) => Ok((access, tx)),
            Err(refusal) => {
                drop(tx);
                Err(self.refused(actor, patient, refusal).await)
            }
        }
    }

    /// Opens a write transaction and decides one operation on one conversation in it.
    async fn open_conversation(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        action: Action,
    ) -> Result<(PatientAccess, portal_store::Tx)> {
        let tx = self.store().begin().await?;
        self.decide_conversation_in(tx, actor, patient, conversation, action)
            .await
    }

    /// One conversation's page. Opening it marks the other side's messages read (the patient
    /// sees when the clinic read theirs), in the same transaction as its audit event; a page
    /// with nothing new is read without the write lock and its view group-committed.
    pub async fn open(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
    ) -> Result<Thread> {
        // Read without the write lock; only a page that opens new messages writes (their
        // read receipts, with the view's audit event, in one transaction).
        let (access, mut tx) = self
            .read_conversation(actor, patient, conversation, Action::ViewMessages)
            .await?;
        let side = side_of(actor);
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let found = store::find(&mut tx, &access, conversation)
            .await?
            .ok_or(Error::NotFound)?;
        let messages = store::messages(&mut tx, &access, conversation).await?;
        let clinic_entries = match side {
            Side::Clinic => Some(store::clinic_entries(&mut tx, &access, conversation).await?),
            Side::Patient => None,
        };
        let routes = match side {
            Side::Clinic => self.routes(&mut tx).await?,
            Side::Patient => Vec::new(),
        };
        let draft = match user_of(actor) {
            Some(user) => drafts::find(&mut tx, &access, user, Some(conversation)).await?,
            None => None,
        };
        let stored = pools::settings(&mut tx).await?;
        drop(tx);
        let unread = messages
            .iter()
            .any(|m| m.side != side && m.read_at.is_none());
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "Message");
        event.resource_id = Some(conversation.to_string());
        if unread {
            let (access, mut tx) = self
                .open_conversation(actor, patient, conversation, Action::ViewMessages)
                .await?;
            // Marking raises the record's version (the count of new messages changes).
            let newly_read =
                store::mark_read(&mut tx, &access, conversation, side, self.now()).await?;
            if newly_read > 0 {
                event.detail = format!("opened {newly_read} new message(s)");
            }
            self.audit(&mut tx, &event).await?;
            commit(tx).await?;
        } else {
            self.audit_alone(&event).await?;
        }
        Ok(Thread {
            patient: row,
            access,
            conversation: found,
            messages,
            clinic_entries,
            routes,
            draft: draft.unwrap_or_default(),
            send_key: new_send_key(),
            settings: settings_from(&self.config().messaging, &stored),
        })
    }

    /// Replies in a conversation, from either side. The same form sent twice stores once; a
    /// closed conversation takes no reply.
    pub async fn reply(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        form: &MessageForm,
    ) -> Result<(), (Error, Draft)> {
        self.reply_inner(actor, patient, conversation, form)
            .await
            .map_err(|e| (e, form.draft()))
    }

    async fn reply_inner(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        form: &MessageForm,
    ) -> Result<()> {
        let author = user_of(actor).ok_or(Error::NotFound)?;
        let (access, mut tx) = self
            .open_conversation(actor, patient, conversation, Action::SendMessage)
            .await?;
        if store::message_by_key(&mut tx, &access, &form.send_key)
            .await?
            .is_some()
        {
            return Ok(());
        }
        check_send_key(&form.send_key)?;
        let stored = pools::settings(&mut tx).await?;
        let settings = settings_from(&self.config().messaging, &stored);
        let body = Body::message(&form.body);
        let files = judge_files(&form.files, &settings);
        let (body, files) = match (body, files) {
            (Ok(b), Ok(f)) => (b, f),
            (body, files) => {
                let mut errors = files.err().unwrap_or_default();
                if let Err(e) = body {
                    errors.add("body", e.0);
                }
                return Err(Error::Invalid(errors));
            }
        };
        let found = store::find(&mut tx, &access, conversation)
            .await?
            .ok_or(Error::NotFound)?;
        let side = side_of(actor);
        let status = match side {
            Side::Patient => found.status.after_patient_message(),
            Side::Clinic => found.status.after_clinic_message(),
        }
        .map_err(|closed| Error::Conflict(closed.to_string()))?;
        let message = NewMessage {
            id: MessageId::from_uuid(uuid::Uuid::now_v7()),
            author,
            side,
            body: &body,
            send_key: &form.send_key,
            attachments: &files,
        };
        match store::add(&mut tx, &access, conversation, &message, status, self.now()).await {
            Err(portal_store::Error::Conflict(_)) => return Ok(()),
            other => {
                if !other? {
                    return Err(Error::NotFound);
                }
            }
        }
        // Reading what one answers: the other side's messages are read now.
        // (Adding and marking messages raise the record's version.)
        store::mark_read(&mut tx, &access, conversation, side, self.now()).await?;
        drafts::discard(&mut tx, &access, author, Some(conversation)).await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Create, "Message");
        event.resource_id = Some(conversation.to_string());
        event.detail = format!("replied; {} file(s)", files.len());
        if side == Side::Patient && found.status != Status::Open {
            self.tell_clinic(&mut tx, found.routed_to).await?;
        }
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(())
    }

    /// Keeps a reply draft.
    pub async fn save_reply_draft(
        &self,
        actor: &Actor,
        patient: PatientId,
        conversation: ConversationId,
        form: &MessageForm,
    ) -> Result<()> {
        let author = user_of(actor).ok_or(Error::NotFound)?;
        let (access, mut tx) = self
            .open_conversation(actor, patient, conversation, Action::SendMessage)
            .await?;
        self.keep_draft(&mut tx, actor, &access, author, Some(conversation), form)
            .await?;
        commit(tx).await
    }

    /// One attached file, for those who may read its conversation.
    pub async fn attachment(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: AttachmentId,
    ) -> Result<AttachmentFile> {
        let conversation = {
            let mut conn = self.conn().await?;
            store::attachment_conversation(&mut conn, id).await?
        };
        // A file nobody has is refused like a file in another record.
        let conversation =
            conversation.unwrap_or_else(|| ConversationId::from_uuid(uuid::Uuid::nil()));
        let (access, mut tx) = self
            .read_conversation(actor, patient, conversation, Action::ViewMessages)
            .await?;
        let file = store::attachment(&mut tx, &access, conversation, id)
            .await?
            .ok_or(Error::NotFound)?;
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "MessageAttachment");
        event.resource_id = Some(id.to_string());
        self.audit_alone(&event).await?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_settings_override_defaults_within_the_ceilings() {
        let d = MessagingSettings::default();
        let s = settings_from(
            &d,
            &[
                (keys::REPLY_TIME.into(), "1 business day".into()),
                (keys::MAX_BYTES.into(), "999999999999".into()),
                (keys::MAX_COUNT.into(), "nonsense".into()),
            ],
        );
        assert_eq!(s.reply_time, "1 business day");
        assert_eq!(
            s.attachment_max_bytes,
            portal_domain::messages::ATTACHMENT_CEILING_BYTES
        );
        // 25 MB files: two of them fill a message's 50 MB.
        assert_eq!(s.attachment_max_count, 2);
        assert!(d.attachment_max_count > 2);
    }

    #[test]
    fn send_keys_are_32_hex_digits() {
        let k = new_send_key();
        assert!(check_send_key(&k).is_ok());
        assert_ne!(k, new_send_key());
        assert!(check_send_key("short").is_err());
        assert!(check_send_key(&"z".repeat(32)).is_err());
    }

    #[test]
    fn files_are_judged_and_named_by_content() {
        let settings = MessagingSettings::default();
        let good = Upload {
            name: "rash.jpeg".into(),
            bytes: vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3],
        };
        let judged = judge_files(std::slice::from_ref(&good), &settings).expect("a photo");
        assert_eq!(judged[0].name.as_str(), "rash.jpg");
        let html = Upload {
            name: "<img src=x onerror=alert(1)>.png".into(),
            bytes: b"<html>".to_vec(),
        };
        let errors = judge_files(&[good.clone(), html], &settings).expect_err("refused");
        assert!(
            errors
                .get("files")
                .is_some_and(|m| m.starts_with("img src_x onerror_alert_1 is not")),
            "{errors:?}"
        );
        let many = vec![good; settings.attachment_max_count + 1];
        assert!(judge_files(&many, &settings).is_err());
    }
}
