-- Health records that come in as FHIR R4: every resource as it came (its original JSON), the
-- identifiers it can be found by, and a projection of the clinical data the pages show.

ALTER TABLE patients ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
ALTER TABLE patients ADD COLUMN resource_id TEXT;

CREATE TABLE fhir_resources (
    id TEXT PRIMARY KEY,
    resource_type TEXT NOT NULL,
    source_id TEXT,
    patient_id TEXT REFERENCES patients(id),
    content_hash TEXT NOT NULL,
    json TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX fhir_resources_source ON fhir_resources(resource_type, source_id);
CREATE INDEX fhir_resources_patient ON fhir_resources(patient_id, resource_type);

CREATE TABLE fhir_identifiers (
    resource_type TEXT NOT NULL,
    system TEXT NOT NULL,
    value TEXT NOT NULL,
    resource_id TEXT NOT NULL REFERENCES fhir_resources(id) ON DELETE CASCADE,
    PRIMARY KEY (resource_type, system, value, resource_id)
);
CREATE INDEX fhir_identifiers_resource ON fhir_identifiers(resource_id);

-- One row per mapped clinical resource: what the record pages list and filter on, with the
-- mapped details as JSON.
CREATE TABLE clinical_items (
    resource_id TEXT PRIMARY KEY REFERENCES fhir_resources(id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT '',
    code_system TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    sort_at INTEGER,
    encounter_id TEXT,
    details TEXT NOT NULL
);
CREATE INDEX clinical_items_list ON clinical_items(patient_id, kind, sort_at);
CREATE INDEX clinical_items_code ON clinical_items(patient_id, kind, code, sort_at);

-- API tokens of system clients (EHRs sending records): stored only as SHA-256 hashes.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
