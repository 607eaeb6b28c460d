-- The clinic's side (issue 30): a patient's name in the form searches compare (lower case,
-- accents and punctuation dropped, as portal_domain::patient::search_key writes it; the portal
-- fills it for every existing record in this migration's transaction), so "Ramon" finds
-- "Ramón" on either database.
ALTER TABLE patients ADD COLUMN search_name TEXT NOT NULL DEFAULT '';
CREATE INDEX patients_birth_date ON patients(birth_date);
