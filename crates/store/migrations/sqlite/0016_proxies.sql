-- Proxy and caregiver access (issue 29): who made each grant and whether the patient chose it
-- themselves, the confidential categories a patient shares with one proxy, a patient's request
-- that the clinic remove a proxy; invitations to become a proxy; the age rules each
-- jurisdiction's parents' access follows. Times are Unix microseconds (UTC); ids are UUID text.

-- Who made the grant: an account id, or 'operator' for the command line.
ALTER TABLE proxy_grants ADD COLUMN granted_by TEXT NOT NULL DEFAULT '';
-- When the patient chose this grant's reach themselves (an adult's invitation, a teen giving a
-- parent full access); a choice counts only in the age band it was made in.
ALTER TABLE proxy_grants ADD COLUMN patient_chose_at INTEGER;
-- Confidential categories the patient shares with this proxy, comma-separated.
ALTER TABLE proxy_grants ADD COLUMN shared TEXT NOT NULL DEFAULT '';
-- The identity document staff checked before granting (its kind, never its number).
ALTER TABLE proxy_grants ADD COLUMN document_checked TEXT NOT NULL DEFAULT '';
-- When the patient asked the clinic to remove this proxy.
ALTER TABLE proxy_grants ADD COLUMN removal_requested_at INTEGER;
ALTER TABLE proxy_grants ADD COLUMN revoked_by TEXT;
CREATE INDEX proxy_grants_patient ON proxy_grants(patient_id);
-- Grants made before the age rules: a caregiver's stands as the patient's own choice; a parent's
-- follows the rules like any the clinic makes.
UPDATE proxy_grants SET patient_chose_at = created_at WHERE relationship <> 'parent';

-- An invitation to become a proxy, sent by e-mail; the link's token is kept as a hash.
CREATE TABLE proxy_invitations (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    email TEXT NOT NULL,
    relationship TEXT NOT NULL,
    scope TEXT NOT NULL,
    ends_at INTEGER,
    -- Whether the patient made it (else the clinic, after checking the proxy's identity).
    by_patient INTEGER NOT NULL,
    invited_by TEXT NOT NULL,
    document_checked TEXT NOT NULL DEFAULT '',
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by TEXT REFERENCES users(id),
    cancelled_at INTEGER
);
CREATE INDEX proxy_invitations_patient ON proxy_invitations(patient_id);

-- Each jurisdiction's age bands: what a parent's grant reaches from `from_age` until
-- `until_age` (NULL: for life), and whether the patient may widen it. The clinic's setting
-- 'proxy.jurisdiction' names the rules in force.
CREATE TABLE age_rules (
    jurisdiction TEXT NOT NULL,
    from_age INTEGER NOT NULL,
    until_age INTEGER,
    parent_reach TEXT NOT NULL CHECK (parent_reach IN ('full', 'limited', 'ended')),
    patient_may_widen INTEGER NOT NULL,
    PRIMARY KEY (jurisdiction, from_age)
);
INSERT INTO age_rules VALUES ('US common practice (confidential care from 12)', 0, 12, 'full', 0);
INSERT INTO age_rules VALUES ('US common practice (confidential care from 12)', 12, 18, 'limited', 1);
INSERT INTO age_rules VALUES ('US common practice (confidential care from 12)', 18, NULL, 'ended', 1);
INSERT INTO age_rules VALUES ('US states with confidential care from 13', 0, 13, 'full', 0);
INSERT INTO age_rules VALUES ('US states with confidential care from 13', 13, 18, 'limited', 1);
INSERT INTO age_rules VALUES ('US states with confidential care from 13', 18, NULL, 'ended', 1);
