//! Secure messages as FHIR R4 `Communication` resources, for the read API to serve: one per
//! message, in reply to the one before it, about the patient, with its text and its files.
//! Only messages have a mapping; the clinic's internal notes are a different type with none,
//! so they can never be served through it.

use portal_domain::messages::{Side, Topic};
use serde_json::{Value, json};

/// The code system of the portal's message topics.
pub const TOPIC_SYSTEM: &str = "https://patient-portal.example/fhir/CodeSystem/message-topic";

/// Who a message is from or to, as a FHIR reference the read API resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Party {
    /// The patient (`Patient/{id}`).
    Patient(String),
    /// A proxy writing for the patient (`RelatedPerson/{id}`), with their name.
    RelatedPerson(String, String),
    /// A clinician or staff member (`Practitioner/{id}`), with their name.
    Practitioner(String, String),
    /// A clinic pool (`Group/{id}`), with its name.
    Pool(String, String),
}

impl Party {
    /// The party as a FHIR Reference, with the name as its display when known.
    pub fn reference(&self) -> Value {
        let (reference, name) = match self {
            Party::Patient(id) => (format!("Patient/{id}"), ""),
            Party::RelatedPerson(id, name) => (format!("RelatedPerson/{id}"), name.as_str()),
            Party::Practitioner(id, name) => (format!("Practitioner/{id}"), name.as_str()),
            Party::Pool(id, name) => (format!("Group/{id}"), name.as_str()),
        };
        // FHIR has no empty strings: an unknown name is left out.
        if name.trim().is_empty() {
            json!({ "reference": reference })
        } else {
            json!({ "reference": reference, "display": name })
        }
    }
}

/// A file attached to a message, as the read API serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedFile {
    /// The media type.
    pub content_type: String,
    /// Where its bytes are served, if anywhere.
    pub url: Option<String>,
    /// Its name.
    pub title: String,
    /// Its size in bytes.
    pub size: i64,
}

/// One message of a conversation, in the terms the mapping needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The message's id (the Communication's id).
    pub id: String,
    /// The conversation's id (an identifier shared by its messages).
    pub conversation: String,
    /// The conversation's subject.
    pub subject: String,
    /// What the conversation is about.
    pub topic: Topic,
    /// The patient's record id.
    pub patient: String,
    /// Which side wrote it.
    pub side: Side,
    /// Who wrote it.
    pub sender: Party,
    /// Who it is for.
    pub recipient: Party,
    /// When it was sent (FHIR instant).
    pub sent: String,
    /// When the other side first opened it (FHIR instant).
    pub received: Option<String>,
    /// Its text.
    pub text: String,
    /// Its files.
    pub files: Vec<AttachedFile>,
    /// The message it answers (the one before it in the conversation).
    pub in_response_to: Option<String>,
}

/// The `Communication` for one message.
pub fn communication(m: &Message) -> Value {
    let mut payload = vec![json!({ "contentString": m.text })];
    for f in &m.files {
        let mut attachment = json!({
            "contentType": f.content_type,
            "title": f.title,
            "size": f.size,
        });
        if let (Some(url), Some(obj)) = (&f.url, attachment.as_object_mut()) {
            obj.insert("url".into(), json!(url));
        }
        payload.push(json!({ "contentAttachment": attachment }));
    }
    let mut resource = json!({
        "resourceType": "Communication",
        "id": m.id,
        "identifier": [{
            "system": "https://patient-portal.example/fhir/NamingSystem/conversation",
            "value": m.conversation,
        }],
        "status": "completed",
        "category": [{
            "coding": [{
                "system": TOPIC_SYSTEM,
                "code": m.topic.as_str(),
                "display": m.topic.label(),
            }],
        }],
        "medium": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode",
                "code": "WRITTEN",
                "display": "written",
            }],
        }],
        "subject": { "reference": format!("Patient/{}", m.patient) },
        "topic": { "text": m.subject },
        "sent": m.sent,
        "recipient": [m.recipient.reference()],
        "sender": m.sender.reference(),
        "payload": payload,
    });
    if let Some(obj) = resource.as_object_mut() {
        if let Some(received) = &m.received {
            obj.insert("received".into(), json!(received));
        }
        if let Some(previous) = &m.in_response_to {
            obj.insert(
                "inResponseTo".into(),
                json!([{ "reference": format!("Communication/{previous}") }]),
            );
        }
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(side: Side) -> Message {
        Message {
            id: "m2".into(),
            conversation: "c1".into(),
            subject: "Rash on my arm".into(),
            topic: Topic::MedicalQuestion,
            patient: "p1".into(),
            side,
            sender: Party::Practitioner("u9".into(), "Dr. Ada Park".into()),
            recipient: Party::Patient("p1".into()),
            sent: "2026-12-05T10:00:00Z".into(),
            received: Some("2026-12-05T11:00:00Z".into()),
            text: "Please send another photo.".into(),
            files: vec![AttachedFile {
                content_type: "image/png".into(),
                url: Some("Binary/f1".into()),
                title: "rash.png".into(),
                size: 67,
            }],
            in_response_to: Some("m1".into()),
        }
    }

    #[test]
    fn a_message_maps_to_a_completed_communication_about_the_patient() {
        let c = communication(&message(Side::Clinic));
        assert_eq!(c["resourceType"], "Communication");
        assert_eq!(c["status"], "completed");
        assert_eq!(c["subject"]["reference"], "Patient/p1");
        assert_eq!(c["sender"]["reference"], "Practitioner/u9");
        assert_eq!(c["sender"]["display"], "Dr. Ada Park");
        assert_eq!(c["payload"][1]["contentAttachment"]["url"], "Binary/f1");
        assert_eq!(c["recipient"][0]["reference"], "Patient/p1");
        assert_eq!(c["topic"]["text"], "Rash on my arm");
        assert_eq!(c["category"][0]["coding"][0]["code"], "medical");
        assert_eq!(
            c["payload"][0]["contentString"],
            "Please send another photo."
        );
        assert_eq!(
            c["payload"][1]["contentAttachment"]["contentType"],
            "image/png"
        );
        assert_eq!(c["inResponseTo"][0]["reference"], "Communication/m1");
        assert_eq!(c["received"], "2026-12-05T11:00:00Z");
    }

    #[test]
    fn an_unread_first_message_has_no_received_and_answers_nothing() {
        let mut m = message(Side::Patient);
        m.received = None;
        m.in_response_to = None;
        m.sender = Party::RelatedPerson("u3".into(), "Ana Martinez".into());
        m.files[0].url = None;
        m.recipient = Party::Pool("g1".into(), "Nurse line".into());
        let c = communication(&m);
        assert!(c.get("received").is_none());
        assert!(c.get("inResponseTo").is_none());
        assert_eq!(c["sender"]["reference"], "RelatedPerson/u3");
        assert_eq!(c["recipient"][0]["display"], "Nurse line");
        assert!(c["payload"][1]["contentAttachment"].get("url").is_none());
    }
}
