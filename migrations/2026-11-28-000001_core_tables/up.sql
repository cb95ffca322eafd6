-- Addresses are case-insensitive: the application stores them lower-cased and
-- these CHECKs make sure nothing else slips in, so plain b-tree equality works.

CREATE TABLE domains (
    name       TEXT PRIMARY KEY CHECK (name <> '' AND name = lower(name)),
    mode       TEXT NOT NULL CHECK (mode IN ('catch_all', 'registered')),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE inboxes (
    id         UUID PRIMARY KEY,
    local_part TEXT NOT NULL CHECK (local_part <> '' AND local_part = lower(local_part)),
    domain     TEXT NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT inboxes_address_key UNIQUE (domain, local_part)
);

CREATE TABLE messages (
    id          UUID PRIMARY KEY,
    -- Monotonic per database; the opaque pagination cursor is built from it.
    seq         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    inbox_id    UUID NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    received_at TIMESTAMPTZ NOT NULL,
    -- Envelope: NULL sender is the null reverse-path `<>` (bounces).
    mail_from   TEXT,
    rcpt_to     TEXT[] NOT NULL,
    -- Header fields as parsed; address lists are JSON arrays of {name, address}.
    from_addr   JSONB NOT NULL,
    to_addr     JSONB NOT NULL,
    cc_addr     JSONB NOT NULL,
    subject     TEXT,
    sent_at     TIMESTAMPTZ,
    message_id  TEXT,
    headers     JSONB NOT NULL,
    text_body   TEXT,
    html_body   TEXT,
    size        INTEGER NOT NULL CHECK (size >= 0),
    raw         BYTEA NOT NULL,
    parse_error TEXT
);

CREATE INDEX messages_inbox_seq_idx ON messages (inbox_id, seq DESC);

CREATE TABLE attachments (
    id           UUID PRIMARY KEY,
    message_id   UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    filename     TEXT,
    content_type TEXT NOT NULL,
    content_id   TEXT,
    inline       BOOLEAN NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    content      BYTEA NOT NULL,
    CONSTRAINT attachments_message_position_key UNIQUE (message_id, position)
);
