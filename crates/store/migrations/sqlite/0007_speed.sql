-- Resources' original JSON and clinical items' mapped details are stored packed (zstd with a
-- dictionary; see crates/store/src/packed.rs), as BLOB values. A TEXT column keeps a BLOB as it
-- is, so the tables stay as they are; values stored before this are text, which the reader
-- tells from a packed frame.

-- A record's access log, each of its filters read newest first by an index of its own: a
-- filter that matches few events (emergency access, refusals) must not read every event of a
-- record that has been opened a million times.
CREATE INDEX audit_events_patient_emergency ON audit_events(patient_id, seq) WHERE break_glass <> 0;
CREATE INDEX audit_events_patient_refused ON audit_events(patient_id, seq) WHERE outcome <> 'success';
CREATE INDEX audit_events_patient_clinic ON audit_events(patient_id, seq)
    WHERE actor_role IN ('clinician', 'staff', 'admin');
CREATE INDEX audit_events_patient_side ON audit_events(patient_id, seq)
    WHERE actor_role = 'patient' AND outcome = 'success';
