-- The clinic's side (issue 30): a patient's name in the form searches compare (lower case,
-- accents and punctuation dropped, as portal_domain::patient::search_key writes it; the portal
-- fills it for every existing record in this migration's transaction), so "Ramon" finds
-- "Ramón" on either database.
ALTER TABLE patients ADD COLUMN search_name TEXT NOT NULL DEFAULT '';
CREATE INDEX patients_birth_date ON patients(birth_date);

-- When each account last completed sign-in (both factors): the clinic's adoption figures and
-- the support console read it. Unknown for sign-ins before this migration.
ALTER TABLE users ADD COLUMN last_signed_in_at INTEGER;

-- The privacy officer permission, on top of the four roles (an admin or a clinician account):
-- needed to read the audit reports; privacy officers are told when break-glass is used.
ALTER TABLE users ADD COLUMN privacy_officer INTEGER NOT NULL DEFAULT 0;
