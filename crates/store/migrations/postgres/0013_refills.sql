-- Prescription refills: the clinic's pharmacy directory and each record's preferred pharmacy;
-- clinicians' NPIs (linking them to the prescribers records name) and pools' leads; patients'
-- requests, one item per medication with every step it went through; and the prescriptions the
-- clinic wrote on approving one, kept apart from imported resources so no import touches them.
-- Times are Unix microseconds (UTC); ids are UUID text.

CREATE TABLE pharmacies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    phone TEXT NOT NULL,
    offered INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    UNIQUE (name, address)
);

CREATE TABLE preferred_pharmacies (
    patient_id TEXT PRIMARY KEY REFERENCES patients(id),
    pharmacy_id TEXT NOT NULL REFERENCES pharmacies(id),
    updated_at BIGINT NOT NULL
);

ALTER TABLE users ADD COLUMN npi TEXT;
CREATE UNIQUE INDEX users_npi ON users(npi);

ALTER TABLE pools ADD COLUMN lead_user_id TEXT REFERENCES users(id);

-- Routed to the prescriber's account (if the prescriber has one) and visible to `pool_id`'s
-- clinicians; `stage` says who it waits for since `routed_at`: the prescriber, the pool, the
-- pool's lead.
CREATE TABLE refill_requests (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    requested_by TEXT NOT NULL REFERENCES users(id),
    pharmacy_id TEXT NOT NULL REFERENCES pharmacies(id),
    comment TEXT NOT NULL,
    prescriber_user_id TEXT REFERENCES users(id),
    pool_id TEXT REFERENCES pools(id),
    stage TEXT NOT NULL CHECK (stage IN ('prescriber', 'pool', 'lead')),
    routed_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    send_key TEXT NOT NULL UNIQUE
);
CREATE INDEX refill_requests_patient ON refill_requests(patient_id, created_at);
CREATE INDEX refill_requests_prescriber ON refill_requests(prescriber_user_id);
CREATE INDEX refill_requests_pool ON refill_requests(pool_id);

-- `medication_id` is the imported MedicationRequest's portal id (no foreign key: the request
-- outlives a later import that replaces the resource; `label` keeps what was asked for).
CREATE TABLE refill_items (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES refill_requests(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    medication_id TEXT NOT NULL,
    label TEXT NOT NULL,
    -- The medication's confidential category ('' for none): such an item is never shown to a
    -- proxy, and its e-mails go to the patient's own account only.
    sensitivity TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('sent', 'in-review', 'approved', 'denied', 'messaged', 'sent-to-pharmacy')),
    status_at BIGINT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    decided_by TEXT REFERENCES users(id)
);
CREATE INDEX refill_items_request ON refill_items(request_id, position);
-- At most one request for a medication waits for the clinic.
CREATE UNIQUE INDEX refill_items_pending ON refill_items(medication_id)
    WHERE status IN ('sent', 'in-review');
CREATE INDEX refill_items_waiting ON refill_items(status, request_id);

-- Every step of an item, in order: a new decision is a new row, never an edit.
CREATE TABLE refill_events (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL REFERENCES refill_items(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    status TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX refill_events_item ON refill_events(item_id, at);

CREATE TABLE issued_prescriptions (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL UNIQUE REFERENCES refill_items(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    prior_id TEXT NOT NULL,
    json TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX issued_prescriptions_patient ON issued_prescriptions(patient_id, created_at);
