//! Check-in answers as a FHIR R4 `QuestionnaireResponse`: the kind of visit's questions, each
//! with the patient's side's answer, about the patient, written by the patient or a proxy.

use crate::communication::Party;
use serde_json::{Value, json};

/// The canonical URL of a kind of visit's check-in questionnaire (`{base}{visit type id}`).
pub const QUESTIONNAIRE_BASE: &str =
    "https://patient-portal.example/fhir/Questionnaire/visit-type-";

/// The answers to a check-in questionnaire, ready to map.
#[derive(Clone, Debug)]
pub struct CheckinAnswers<'a> {
    /// The response's id.
    pub id: &'a str,
    /// The patient's id.
    pub patient: &'a str,
    /// Who answered.
    pub author: Party,
    /// The kind of visit's id (names the questionnaire).
    pub visit_type: &'a str,
    /// When, as a FHIR dateTime.
    pub authored: &'a str,
    /// Each question with its answer ("" for none given).
    pub answers: &'a [(String, String)],
}

/// The `QuestionnaireResponse` of a check-in. Unanswered questions are items without an answer
/// (FHIR allows no empty `answer` list).
pub fn questionnaire_response(a: &CheckinAnswers<'_>) -> Value {
    let items: Vec<Value> = a
        .answers
        .iter()
        .enumerate()
        .map(|(n, (question, answer))| {
            let mut item = json!({ "linkId": format!("q{}", n + 1), "text": question });
            if !answer.trim().is_empty() {
                item["answer"] = json!([{ "valueString": answer }]);
            }
            item
        })
        .collect();
    let mut response = json!({
        "resourceType": "QuestionnaireResponse",
        "id": a.id,
        "questionnaire": format!("{QUESTIONNAIRE_BASE}{}", a.visit_type),
        "status": "completed",
        "subject": { "reference": format!("Patient/{}", a.patient) },
        "authored": a.authored,
        "author": a.author.reference(),
    });
    if !items.is_empty() {
        response["item"] = Value::Array(items);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_items_and_a_blank_answer_none() {
        let answers = vec![
            ("Where will you be?".to_string(), "At home".to_string()),
            ("Anything else?".to_string(), "  ".to_string()),
        ];
        let r = questionnaire_response(&CheckinAnswers {
            id: "qr1",
            patient: "p1",
            author: Party::RelatedPerson("u1".into(), String::new()),
            visit_type: "vt1",
            authored: "2027-01-15T08:00:00Z",
            answers: &answers,
        });
        assert_eq!(r["resourceType"], "QuestionnaireResponse");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["subject"]["reference"], "Patient/p1");
        assert_eq!(r["author"]["reference"], "RelatedPerson/u1");
        assert_eq!(r["questionnaire"], format!("{QUESTIONNAIRE_BASE}vt1"));
        assert_eq!(r["item"][0]["linkId"], "q1");
        assert_eq!(r["item"][0]["answer"][0]["valueString"], "At home");
        assert!(r["item"][1].get("answer").is_none());
    }

    #[test]
    fn no_questions_no_items() {
        let r = questionnaire_response(&CheckinAnswers {
            id: "qr2",
            patient: "p1",
            author: Party::Patient("p1".into()),
            visit_type: "vt1",
            authored: "2027-01-15T08:00:00Z",
            answers: &[],
        });
        assert!(r.get("item").is_none());
    }
}
