-- E-check-in: what the patient's side confirms before a visit. Times are Unix microseconds (UTC).

-- A kind of visit's questions for check-in, one a line ('' for none).
ALTER TABLE visit_types ADD COLUMN questions TEXT NOT NULL DEFAULT '';

-- One check-in a visit (sent again, it replaces the first). contact, insurance, medications and
-- allergies are JSON as the form sent them; questionnaire_response is a FHIR R4
-- QuestionnaireResponse. The *_changed flags compare with the patient's check-in before.
CREATE TABLE checkins (
    id TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL UNIQUE REFERENCES appointments(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    submitted_by TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    contact TEXT NOT NULL,
    contact_changed INTEGER NOT NULL,
    insurance TEXT NOT NULL,
    insurance_changed INTEGER NOT NULL,
    medications TEXT NOT NULL,
    allergies TEXT NOT NULL,
    clinical_changed INTEGER NOT NULL,
    questionnaire_response TEXT NOT NULL
);
CREATE INDEX checkins_patient ON checkins(patient_id, submitted_at);

-- Photos of the insurance card, kept like message attachments.
CREATE TABLE checkin_files (
    id TEXT PRIMARY KEY,
    checkin_id TEXT NOT NULL REFERENCES checkins(id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    side TEXT NOT NULL CHECK (side IN ('front', 'back')),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    content BYTEA NOT NULL
);
CREATE INDEX checkin_files_checkin ON checkin_files(checkin_id);
