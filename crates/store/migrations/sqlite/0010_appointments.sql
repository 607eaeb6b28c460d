-- Appointments: the clinic's locations and kinds of visit, clinicians' weekly hours and
-- closures, and the visits booked. Times are Unix microseconds (UTC); weekly hours are minutes
-- after midnight on the clinic's wall clock; ids are UUID text.

CREATE TABLE locations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE visit_types (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    minutes INTEGER NOT NULL CHECK (minutes > 0 AND minutes % 5 = 0),
    video INTEGER NOT NULL DEFAULT 0,
    audience TEXT NOT NULL CHECK (audience IN ('anyone', 'new', 'established', 'clinic')),
    min_age INTEGER,
    max_age INTEGER,
    notice_minutes INTEGER NOT NULL,
    horizon_days INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

-- One weekly block of a clinician's schedule. visit_types: comma-separated visit-type ids
-- offered in it, '' for every type. Dates are YYYY-MM-DD on the clinic's calendar.
CREATE TABLE weekly_hours (
    id TEXT PRIMARY KEY,
    clinician_id TEXT NOT NULL REFERENCES users(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute INTEGER NOT NULL,
    end_minute INTEGER NOT NULL,
    visit_types TEXT NOT NULL DEFAULT '',
    from_date TEXT,
    until_date TEXT,
    created_at BIGINT NOT NULL,
    CHECK (0 <= start_minute AND start_minute < end_minute AND end_minute <= 1440)
);
CREATE INDEX weekly_hours_clinician ON weekly_hours(clinician_id);

-- A time a clinician (clinician_id NULL: the whole clinic) sees no one.
CREATE TABLE closures (
    id TEXT PRIMARY KEY,
    clinician_id TEXT REFERENCES users(id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX closures_ends ON closures(ends_at);

CREATE TABLE appointments (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    clinician_id TEXT NOT NULL REFERENCES users(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    visit_type_id TEXT NOT NULL REFERENCES visit_types(id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('booked', 'cancelled', 'moved')),
    reason TEXT NOT NULL,
    booked_by TEXT NOT NULL,
    booked_at BIGINT NOT NULL,
    changed_by TEXT,
    changed_at BIGINT,
    -- The appointment this one replaced (a move), and the one that replaced it.
    moved_from TEXT REFERENCES appointments(id),
    moved_to TEXT REFERENCES appointments(id),
    -- The form's one-time key: the same form sent twice books once.
    book_key TEXT NOT NULL UNIQUE,
    CHECK (starts_at < ends_at)
);
CREATE INDEX appointments_patient ON appointments(patient_id, starts_at);
CREATE INDEX appointments_clinician ON appointments(clinician_id, starts_at);
-- Open-time searches read the booked visits of a window across every clinician.
CREATE INDEX appointments_booked ON appointments(starts_at) WHERE status = 'booked';

-- Each 5-minute unit of a clinician's time a booked visit holds. The primary key refuses a unit
-- held twice, so two visits of one clinician never overlap, whatever their lengths and however
-- many portal processes book at once; cancelling or moving a visit deletes its units.
CREATE TABLE appointment_units (
    clinician_id TEXT NOT NULL REFERENCES users(id),
    unit_at BIGINT NOT NULL,
    appointment_id TEXT NOT NULL REFERENCES appointments(id),
    PRIMARY KEY (clinician_id, unit_at)
);
CREATE INDEX appointment_units_appointment ON appointment_units(appointment_id);

-- A file sent with an e-mail (a calendar entry), sealed like the body.
ALTER TABLE outbox ADD COLUMN attachment_name TEXT;
ALTER TABLE outbox ADD COLUMN attachment TEXT;
