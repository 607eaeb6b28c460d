-- SMART on FHIR: the apps an admin registered, the authorization requests waiting for a
-- patient's sign-in and consent, what each patient granted each app, and the codes and tokens
-- issued for a grant. Codes and tokens are kept only as SHA-256 hashes. A code or refresh token
-- is used once; using one again revokes every token of its family (the tokens that grew from the
-- same code). Times are Unix microseconds (UTC); ids are UUID text.

CREATE TABLE smart_apps (
    -- The client id.
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- The redirect URIs, one per line, matched exactly.
    redirect_uris TEXT NOT NULL,
    -- A confidential client's secret (SHA-256); NULL for a public client.
    secret_hash TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE smart_requests (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES smart_apps(id),
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    -- The first signed-in account to open it; nobody else may answer it.
    user_id TEXT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    answered_at BIGINT
);

CREATE TABLE smart_grants (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES smart_apps(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Refresh tokens end then (stated on the consent page).
    refresh_until BIGINT,
    revoked_at BIGINT,
    last_read_at BIGINT
);
CREATE INDEX smart_grants_user ON smart_grants(user_id, created_at);
CREATE INDEX smart_grants_patient ON smart_grants(patient_id);

CREATE TABLE smart_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES smart_grants(id),
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE smart_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES smart_grants(id),
    -- 'access' or 'refresh'.
    kind TEXT NOT NULL,
    -- The hash of the code the family grew from.
    family TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX smart_tokens_family ON smart_tokens(family);
CREATE INDEX smart_tokens_grant ON smart_tokens(grant_id);

-- The key pairs that sign ID tokens (RS256), newest in use: the private key sealed with the
-- portal's secret key (AES-256-GCM), the public key as a JWK for the JWKS address.
CREATE TABLE smart_keys (
    kid TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- "Send my record": a copy of the record sent to an e-mail address. The e-mail carries only a
-- link (its token hashed here); the copy opens with a code shown to the sender (hashed too),
-- within five wrong tries and before it expires. The copy (the FHIR file and the summary to
-- print) is written when it is sent, under the sender's access, and kept sealed under the
-- portal's secret key.
CREATE TABLE record_shares (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    shared_by TEXT NOT NULL REFERENCES users(id),
    recipient TEXT NOT NULL,
    link_hash TEXT NOT NULL UNIQUE,
    code_hash TEXT NOT NULL,
    sealed_file TEXT NOT NULL,
    sealed_summary TEXT NOT NULL,
    file_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failed_tries INTEGER NOT NULL DEFAULT 0,
    opened_at BIGINT
);
CREATE INDEX record_shares_patient ON record_shares(patient_id, created_at);
