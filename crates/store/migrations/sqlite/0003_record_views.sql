-- What the record pages need beyond the projection of 0002: the names of the practitioners,
-- organizations and locations records point at; who and where each item is from; which report a
-- result belongs to; its abnormal flag; and when the patient may see it (result release).

CREATE TABLE directory_names (
    resource_id TEXT PRIMARY KEY REFERENCES fhir_resources(id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    name TEXT NOT NULL
);

ALTER TABLE clinical_items ADD COLUMN who_id TEXT;
ALTER TABLE clinical_items ADD COLUMN where_id TEXT;
ALTER TABLE clinical_items ADD COLUMN report_id TEXT;
-- The result's flag: '' (none sent or worked out), 'N', 'H', 'L', 'HH', 'LL', 'A', 'AA'.
ALTER TABLE clinical_items ADD COLUMN flag TEXT NOT NULL DEFAULT '';
-- When the patient may see the item (UTC microseconds); NULL: held until a clinician releases it.
ALTER TABLE clinical_items ADD COLUMN released_at INTEGER;
UPDATE clinical_items SET released_at = 0;
CREATE INDEX clinical_items_report ON clinical_items(report_id);
CREATE INDEX clinical_items_encounter ON clinical_items(encounter_id);

-- The clinic's result-release rule: results of these categories are held for `days` days after
-- they arrive, or (days NULL) until a clinician releases them. No row: released at once.
CREATE TABLE result_holds (
    category TEXT PRIMARY KEY,
    days INTEGER,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- Which results each account has opened, for "new" markers.
CREATE TABLE result_reads (
    user_id TEXT NOT NULL REFERENCES users(id),
    resource_id TEXT NOT NULL REFERENCES fhir_resources(id) ON DELETE CASCADE,
    read_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, resource_id)
);
