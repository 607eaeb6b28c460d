-- Secure messaging: clinic settings, pools, conversations, their messages, attachments,
-- internal notes and drafts. Times are Unix microseconds (UTC); ids are UUID text.

-- Settings the clinic edits on the admin page; flags and environment give only the defaults.
CREATE TABLE clinic_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- Groups of clinic users that share the conversations sent to them (Front desk, Nurse line …).
CREATE TABLE pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    offered INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

CREATE TABLE pool_members (
    pool_id TEXT NOT NULL REFERENCES pools(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (pool_id, user_id)
);
CREATE INDEX pool_members_user ON pool_members(user_id);

-- A conversation is routed to exactly one clinician or one pool.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    topic TEXT NOT NULL,
    subject TEXT NOT NULL,
    assigned_user_id TEXT REFERENCES users(id),
    assigned_pool_id TEXT REFERENCES pools(id),
    status TEXT NOT NULL,
    started_by TEXT NOT NULL REFERENCES users(id),
    started_at BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL,
    -- The first message from the patient's side the clinic has not answered, for the
    -- response-time rule (NULL: nothing waits).
    waiting_since BIGINT,
    follows_id TEXT REFERENCES conversations(id),
    CHECK ((assigned_user_id IS NULL) <> (assigned_pool_id IS NULL))
);
CREATE INDEX conversations_patient ON conversations(patient_id, last_message_at);
CREATE INDEX conversations_user ON conversations(assigned_user_id, status, last_message_at);
CREATE INDEX conversations_pool ON conversations(assigned_pool_id, status, last_message_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    author_id TEXT NOT NULL REFERENCES users(id),
    side TEXT NOT NULL CHECK (side IN ('patient', 'clinic')),
    body TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    -- When the other side first opened it.
    read_at BIGINT,
    -- The form's one-time key: the same form sent twice stores one message.
    send_key TEXT NOT NULL UNIQUE
);
CREATE INDEX messages_conversation ON messages(conversation_id, sent_at);
CREATE INDEX messages_unread ON messages(patient_id, side, read_at);

CREATE TABLE message_attachments (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    file_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    content BYTEA NOT NULL
);
CREATE INDEX message_attachments_message ON message_attachments(message_id);

-- Notes the clinic writes on a conversation; never shown to the patient's side.
CREATE TABLE conversation_notes (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    author_id TEXT NOT NULL REFERENCES users(id),
    body TEXT NOT NULL,
    written_at BIGINT NOT NULL
);
CREATE INDEX conversation_notes_conversation ON conversation_notes(conversation_id, written_at);

-- Who moved a conversation where, and when.
CREATE TABLE conversation_events (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    actor_id TEXT NOT NULL REFERENCES users(id),
    what TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX conversation_events_conversation ON conversation_events(conversation_id, at);

-- One draft per writer, record and conversation ('' for a new conversation).
CREATE TABLE message_drafts (
    user_id TEXT NOT NULL REFERENCES users(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    conversation_key TEXT NOT NULL,
    recipient TEXT NOT NULL,
    topic TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    saved_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, patient_id, conversation_key)
);

-- Background work that must run once a period whatever the number of portal processes: the
-- first to insert the period's row runs it.
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    period TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (job, period)
);
