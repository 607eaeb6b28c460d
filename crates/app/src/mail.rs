//! E-mail delivery: a background worker drains the outbox through SMTP, or (in demo mode and
//! when no SMTP server is configured) writes each message as an `.eml` file in a folder.

use crate::{App, Result};
use jiff::SignedDuration;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use portal_store::outbox::{self, OutboxMessage};
use std::path::PathBuf;
use std::time::Duration;

/// Where e-mail goes.
#[derive(Clone)]
pub enum Transport {
    /// Written as files into this folder.
    Directory(PathBuf),
    /// Sent through an SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Directory(dir) => write!(f, "Directory({})", dir.display()),
            Transport::Smtp(_) => f.write_str("Smtp(***)"),
        }
    }
}

impl Transport {
    /// An SMTP transport from a URL such as `smtps://user:pass@mail.example.org` or
    /// `smtp://127.0.0.1:25`.
    pub fn smtp(url: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| crate::Error::Internal(format!("bad SMTP URL: {e}")))?
            .build();
        Ok(Transport::Smtp(transport))
    }
}

/// How long a claimed message stays with one worker before another may retry it.
const CLAIM_FOR: SignedDuration = SignedDuration::from_mins(2);

/// What outbox bodies are sealed for: a body may carry a reset link, so the database keeps it
/// encrypted under the portal key, bound to the message's id.
const BODY_PURPOSE: &[u8] = b"outbox-body";
/// What outbox attachments are sealed for.
const ATTACHMENT_PURPOSE: &[u8] = b"outbox-attachment";

fn backoff(attempts: i64) -> SignedDuration {
    let secs = 30_i64.saturating_mul(1 << attempts.clamp(0, 7));
    SignedDuration::from_secs(secs.min(3600))
}

fn build(from: &Mailbox, msg: &OutboxMessage) -> std::result::Result<Message, String> {
    let to: Mailbox = msg
        .recipient
        .parse()
        .map_err(|e| format!("bad recipient: {e}"))?;
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(msg.subject.clone());
    let built = match &msg.attachment {
        None => builder
            .header(ContentType::TEXT_PLAIN)
            .body(msg.body.clone()),
        Some((name, content)) => {
            let kind = if name.ends_with(".ics") {
                "text/calendar; charset=utf-8; method=PUBLISH"
            } else {
                "application/octet-stream"
            };
            let kind = ContentType::parse(kind).map_err(|e| format!("content type: {e}"))?;
            builder.multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(msg.body.clone()))
                    .singlepart(Attachment::new(name.clone()).body(content.clone(), kind)),
            )
        }
    };
    built.map_err(|e| format!("cannot build message: {e}"))
}

async fn deliver(
    transport: &Transport,
    from: &Mailbox,
    msg: &OutboxMessage,
) -> std::result::Result<(), String> {
    let email = build(from, msg)?;
    match transport {
        Transport::Directory(dir) => {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("cannot create mail folder: {e}"))?;
            let path = dir.join(format!("{}.eml", msg.id));
            tokio::fs::write(&path, email.formatted())
                .await
                .map_err(|e| format!("cannot write mail file: {e}"))
        }
        Transport::Smtp(smtp) => smtp
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}")),
    }
}

impl App {
    /// Seals an e-mail body for the outbox row `message_id`.
    pub(crate) fn seal_mail_body(&self, message_id: &str, body: &str) -> Result<String> {
        self.key()
            .seal(BODY_PURPOSE, message_id.as_bytes(), body.as_bytes())
    }

    /// Queues one e-mail in the caller's transaction (sent once it commits; wake the worker
    /// with [`App::mail_wakeup`] after the commit). Bodies are sealed at rest and never carry
    /// health data.
    pub(crate) async fn queue_mail(
        &self,
        tx: &mut portal_store::Conn,
        kind: &str,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<()> {
        self.queue_mail_id(tx, kind, to, subject, body)
            .await
            .map(|_| ())
    }

    async fn queue_mail_id(
        &self,
        tx: &mut portal_store::Conn,
        kind: &str,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<String> {
        let message_id = uuid::Uuid::now_v7().to_string();
        let sealed = self.seal_mail_body(&message_id, body)?;
        portal_store::outbox::enqueue(tx, &message_id, kind, to, subject, &sealed, self.now())
            .await?;
        Ok(message_id)
    }

    /// [`App::queue_mail`] with a file (a calendar entry), sealed like the body.
    pub(crate) async fn queue_mail_with_file(
        &self,
        tx: &mut portal_store::Conn,
        (kind, to, subject, body): (&str, &str, &str, &str),
        file_name: &str,
        content: &str,
    ) -> Result<()> {
        let message_id = self.queue_mail_id(tx, kind, to, subject, body).await?;
        let sealed = self.key().seal(
            ATTACHMENT_PURPOSE,
            message_id.as_bytes(),
            content.as_bytes(),
        )?;
        portal_store::outbox::attach(tx, &message_id, file_name, &sealed).await?;
        Ok(())
    }

    fn open_mail_body(&self, msg: &OutboxMessage) -> Option<String> {
        let plain = self
            .key()
            .open(BODY_PURPOSE, msg.id.as_bytes(), &msg.body)?;
        String::from_utf8(plain).ok()
    }

    /// Opens a sealed attachment; `Err` when it does not open with this portal's key.
    fn open_mail_attachment(&self, msg: &mut OutboxMessage) -> std::result::Result<(), String> {
        if let Some((name, sealed)) = msg.attachment.take() {
            let plain = self
                .key()
                .open(ATTACHMENT_PURPOSE, msg.id.as_bytes(), &sealed)
                .and_then(|p| String::from_utf8(p).ok())
                .ok_or("the attachment does not open with this portal's key")?;
            msg.attachment = Some((name, plain));
        }
        Ok(())
    }

    /// Delivers every message that is due; returns how many went.
    pub async fn drain_outbox(&self, transport: &Transport, from: &Mailbox) -> Result<usize> {
        let mut sent = 0;
        loop {
            let now = self.now();
            let claimed = {
                let mut conn = self.conn().await?;
                outbox::claim(&mut conn, self.store().backend(), now, now + CLAIM_FOR).await?
            };
            let Some(mut msg) = claimed else {
                return Ok(sent);
            };
            let result = match self.open_mail_body(&msg) {
                Some(body) => {
                    msg.body = body;
                    match self.open_mail_attachment(&mut msg) {
                        Ok(()) => deliver(transport, from, &msg).await,
                        Err(e) => Err(e),
                    }
                }
                None => Err("the message body does not open with this portal's key".to_string()),
            };
            let mut conn = self.conn().await?;
            match result {
                Ok(()) => {
                    outbox::mark_sent(&mut conn, &msg.id, self.now()).await?;
                    self.metrics().mail_sent.inc();
                    sent += 1;
                }
                Err(error) => {
                    tracing::warn!(message_id = %msg.id, kind = %msg.kind, attempts = msg.attempts, %error, "e-mail delivery failed; will retry");
                    self.metrics().mail_failures.inc();
                    let retry = self.now() + backoff(msg.attempts);
                    outbox::mark_failed(&mut conn, &msg.id, &error, retry).await?;
                }
            }
        }
    }

    /// Runs until `shutdown` fires: drains the outbox when woken by a new message and every
    /// few seconds (messages written by other portal processes, retries), queues the day's
    /// digest of overdue patient messages once a day, the appointment reminders due, and the
    /// refill requests that waited too long.
    pub async fn run_mail_worker(
        &self,
        transport: Transport,
        from: Mailbox,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut digest_checked: Option<jiff::civil::Date> = None;
        loop {
            // Once a day, across every portal process: tell the clinic what waits too long.
            // Each process tries the day's claim once; the first to insert it sends.
            let today = self.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
            if digest_checked != Some(today) {
                match self.messages().send_overdue_digest().await {
                    Ok(_) => digest_checked = Some(today),
                    Err(e) => {
                        tracing::error!(error = %e, "the overdue-messages digest failed; will try again")
                    }
                }
            }
            // Reminders due now, claimed once across every portal process.
            if let Err(e) = self.appointments().send_due_reminders().await {
                tracing::error!(error = %e, "appointment reminders failed; will try again");
            }
            // Refill requests nobody acted on move to the pool, then its lead.
            if let Err(e) = self.refills().move_on_waiting().await {
                tracing::error!(error = %e, "moving waiting refill requests failed; will try again");
            }
            if let Err(e) = self.drain_outbox(&transport, &from).await {
                tracing::error!(error = %e, "outbox worker failed; will try again");
            }
            tokio::select! {
                _ = self.mail_wakeup().notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_an_hour() {
        assert_eq!(backoff(0), SignedDuration::from_secs(30));
        assert_eq!(backoff(1), SignedDuration::from_secs(60));
        assert_eq!(backoff(50), SignedDuration::from_secs(3600));
    }
}
