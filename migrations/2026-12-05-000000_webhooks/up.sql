-- Webhooks: partner endpoints that receive events (see docs/webhooks.md), and their deliveries,
-- a transactional outbox: a delivery row is inserted by the statement that stores its message
-- (or deletes its expired inbox), so an event that happened always has its deliveries.

CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- One inbox's events only; null: every inbox of the tenant. No foreign key: the webhook
    -- outlives its inbox until its last deliveries (among them the inbox's expiry) are done.
    inbox_id uuid,
    url text NOT NULL,
    -- WebhookEvent names, such as 'MESSAGE_RECEIVED'.
    events text[] NOT NULL,
    -- The Standard Webhooks signing secret, 'whsec_' and base64.
    secret text NOT NULL,
    -- The secret before the last rotation: deliveries carry its signature too until then, so
    -- receivers switch over without refusing any.
    previous_secret text,
    previous_secret_until timestamptz,
    created_at timestamptz NOT NULL,
    -- Since when every attempt has failed (null: the last one succeeded).
    failing_since timestamptz,
    -- Set once it failed for --webhook-disable-after; its events are not recorded meanwhile.
    disabled_at timestamptz,
    disabled_reason text
);
CREATE INDEX webhooks_tenant_idx ON webhooks (tenant_id);

CREATE TABLE webhook_deliveries (
    -- Also the `webhook-id` header, the same on every attempt.
    id uuid PRIMARY KEY,
    webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event text NOT NULL,
    inbox_id uuid,
    -- MESSAGE_RECEIVED: the message, whose facts are read when it is sent.
    message_id uuid,
    -- The event's facts that cannot be read back when it is sent (an expired inbox's address).
    data jsonb,
    created_at timestamptz NOT NULL,
    -- 'pending', 'succeeded' or 'dead'.
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    -- Pending: when it is due; claimed, when the claim lapses (the claimer died).
    next_attempt_at timestamptz NOT NULL,
    finished_at timestamptz,
    -- One object per attempt: at, statusCode, latencyMs, error.
    log jsonb NOT NULL DEFAULT '[]'
);
-- What workers claim: due deliveries, per endpoint.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (webhook_id, next_attempt_at)
    WHERE state = 'pending';
-- The delivery log, newest first, and its pruning.
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, created_at DESC);
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (finished_at)
    WHERE state <> 'pending';
