-- Resources' original JSON and clinical items' mapped details are stored packed (zstd with a
-- dictionary; see crates/store/src/packed.rs), as BLOB values. A TEXT column keeps a BLOB as it
-- is, so the tables stay as they are; values stored before this are text, which the reader
-- tells from a packed frame.
SELECT 1;
