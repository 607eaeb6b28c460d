-- The FHIR read API: what each resource's references resolved to when it was imported (kept
-- beside the original JSON, which stays as sent), and what searches find resources by.

-- One line per resolved reference: its key, a tab, and Type/portal-id (see
-- crates/fhir/src/serve.rs). NULL for a resource imported before this: the next import of it
-- fills it in.
ALTER TABLE fhir_resources ADD COLUMN refs TEXT;

-- A page of a search is read in id order (ids are UUIDv7, so resources added later come last
-- and a page's position stays right while data is added).
CREATE INDEX fhir_resources_page ON fhir_resources(patient_id, resource_type, id);
-- It serves everything the index it replaces did.
DROP INDEX fhir_resources_patient;
CREATE INDEX fhir_resources_type_page ON fhir_resources(resource_type, id);

-- Search terms: tokens (system and code), words (lower case, no system) and date spans
-- (inclusive Unix microseconds, UTC), each under a search parameter's name.
CREATE TABLE fhir_search (
    resource_id TEXT NOT NULL REFERENCES fhir_resources(id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    patient_id TEXT,
    param TEXT NOT NULL,
    system TEXT NOT NULL DEFAULT '',
    value TEXT NOT NULL DEFAULT '',
    low INTEGER,
    high INTEGER
);
CREATE INDEX fhir_search_token ON fhir_search(resource_type, param, value, patient_id)
    WHERE low IS NULL;
CREATE INDEX fhir_search_date ON fhir_search(patient_id, resource_type, param, low)
    WHERE low IS NOT NULL;
CREATE INDEX fhir_search_resource ON fhir_search(resource_id);
