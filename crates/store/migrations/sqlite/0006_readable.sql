-- When the patient died, as the record sends it: NULL when the record does not say the patient
-- died, '' when it says so without a date, else the FHIR dateTime.
ALTER TABLE patients ADD COLUMN deceased TEXT;
UPDATE patients SET deceased = CASE
    WHEN json_extract(details, '$.deceased.At') IS NOT NULL THEN json_extract(details, '$.deceased.At')
    WHEN json_extract(details, '$.deceased.Flag') = 1 THEN ''
    ELSE NULL END
WHERE json_valid(details);

-- A results filter someone applied, kept so the filtered list has an address without the test
-- name in it (POST, then a redirect to ?filter=ID). Bound to the session and the record; it
-- goes when the session goes.
CREATE TABLE result_filters (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL,
    name TEXT NOT NULL,
    from_day TEXT NOT NULL,
    to_day TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX result_filters_session ON result_filters (session_id);
