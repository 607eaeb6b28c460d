-- Resources' original JSON and clinical items' mapped details are stored packed (zstd with a
-- dictionary; see crates/store/src/packed.rs), as bytes. Values stored before this read back as
-- they were: their bytes are their UTF-8 text, which the reader tells from a packed frame.
ALTER TABLE fhir_resources ALTER COLUMN json TYPE BYTEA USING convert_to(json, 'UTF8');
ALTER TABLE clinical_items ALTER COLUMN details TYPE BYTEA USING convert_to(details, 'UTF8');

-- A record's access log, each of its filters read newest first by an index of its own: a
-- filter that matches few events (emergency access, refusals) must not read every event of a
-- record that has been opened a million times.
CREATE INDEX audit_events_patient_emergency ON audit_events(patient_id, seq) WHERE break_glass <> 0;
CREATE INDEX audit_events_patient_refused ON audit_events(patient_id, seq) WHERE outcome <> 'success';
CREATE INDEX audit_events_patient_clinic ON audit_events(patient_id, seq)
    WHERE actor_role IN ('clinician', 'staff', 'admin');
CREATE INDEX audit_events_patient_side ON audit_events(patient_id, seq)
    WHERE actor_role = 'patient' AND outcome = 'success';
