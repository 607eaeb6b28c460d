-- Resources' original JSON and clinical items' mapped details are stored packed (zstd with a
-- dictionary; see crates/store/src/packed.rs), as bytes. Values stored before this read back as
-- they were: their bytes are their UTF-8 text, which the reader tells from a packed frame.
ALTER TABLE fhir_resources ALTER COLUMN json TYPE BYTEA USING convert_to(json, 'UTF8');
ALTER TABLE clinical_items ALTER COLUMN details TYPE BYTEA USING convert_to(details, 'UTF8');
