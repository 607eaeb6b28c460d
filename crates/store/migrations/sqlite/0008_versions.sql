-- What a record page shows is kept in memory between views (crates/app/src/record/cache.rs),
-- keyed by these numbers, which every change of what a page shows raises in the same
-- transaction: a record's own version (its imports, results released, results opened), and one
-- epoch for changes that reach every record (result holds, names of practitioners, places and
-- organizations). The policy's query reads both (store::access::record_facts).
ALTER TABLE patients ADD COLUMN data_version INTEGER NOT NULL DEFAULT 0;
CREATE TABLE record_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO record_epoch (id, epoch) VALUES (1, 0);
