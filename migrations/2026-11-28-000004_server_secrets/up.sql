-- Secrets the server generates for itself on first start (e.g. the inbox-token signing key),
-- shared by every ephemail process on this database.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL CHECK (length(value) >= 32),
    created_at TIMESTAMPTZ NOT NULL
);
