-- Earlier-time offers and appointment reminders. Times are Unix microseconds (UTC).

-- Patients holding a visit who asked to be offered an earlier time of the same kind.
CREATE TABLE waitlist (
    appointment_id TEXT PRIMARY KEY REFERENCES appointments(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    -- 1: with any clinician; 0: only with the visit's own clinician.
    any_clinician INTEGER NOT NULL,
    joined_at BIGINT NOT NULL
);
CREATE INDEX waitlist_joined ON waitlist(joined_at);

-- A freed time offered to a waitlisted visit: accepting moves the visit to it. Several patients
-- may be offered one time; the booking's units decide who gets it.
CREATE TABLE offers (
    id TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES appointments(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    clinician_id TEXT NOT NULL REFERENCES users(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    offered_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'taken', 'withdrawn')),
    decided_at BIGINT
);
CREATE INDEX offers_patient ON offers(patient_id, status, expires_at);
CREATE INDEX offers_time ON offers(clinician_id, starts_at, status);

-- Each reminder of a visit, claimed by the first process to insert it: sent once.
CREATE TABLE appointment_reminders (
    appointment_id TEXT NOT NULL REFERENCES appointments(id),
    lead_hours INTEGER NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (appointment_id, lead_hours)
);

-- Whether an account is sent appointment reminders by e-mail (1) or not (0).
ALTER TABLE users ADD COLUMN appointment_reminders INTEGER NOT NULL DEFAULT 1;
