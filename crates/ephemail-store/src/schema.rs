// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        prefix -> Text,
        token_hash -> Bytea,
        scopes -> Array<Nullable<Text>>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    attachments (id, purge_at) {
        id -> Uuid,
        message_id -> Uuid,
        position -> Int4,
        filename -> Nullable<Text>,
        content_type -> Text,
        content_id -> Nullable<Text>,
        inline -> Bool,
        size -> Int4,
        purge_at -> Timestamptz,
    }
}

diesel::table! {
    bucket_moves (from_bucket, to_bucket) {
        from_bucket -> Timestamptz,
        to_bucket -> Timestamptz,
    }
}

diesel::table! {
    domains (name) {
        name -> Text,
        mode -> Text,
        created_at -> Timestamptz,
        tenant_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    inboxes (id) {
        id -> Uuid,
        local_part -> Text,
        domain -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        tags -> Array<Nullable<Text>>,
        tenant_id -> Uuid,
        purge_at -> Timestamptz,
        created_by_mail -> Bool,
        message_bound -> Int4,
    }
}

diesel::table! {
    messages (id, purge_at) {
        id -> Uuid,
        seq -> Int8,
        inbox_id -> Uuid,
        received_at -> Timestamptz,
        mail_from -> Nullable<Text>,
        rcpt_to -> Array<Nullable<Text>>,
        from_addr -> Jsonb,
        subject -> Nullable<Text>,
        size -> Int4,
        tags -> Array<Nullable<Text>>,
        seen -> Bool,
        has_attachments -> Bool,
        from_text -> Text,
        to_text -> Text,
        tenant_id -> Uuid,
        raw_sha256 -> Nullable<Bytea>,
        purge_at -> Timestamptz,
        waited_at -> Nullable<Timestamptz>,
        raw -> Nullable<Bytea>,
    }
}

diesel::table! {
    raw_sources (sha256, purge_at) {
        sha256 -> Bytea,
        encoding -> Text,
        content -> Bytea,
        purge_at -> Timestamptz,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tenant_usage (tenant_id) {
        tenant_id -> Uuid,
        mail_day -> Date,
        mails_today -> Int4,
        stored_bytes -> Int8,
        request_tokens -> Float8,
        tokens_updated_at -> Timestamptz,
        mail_inboxes -> Int4,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        max_inboxes -> Nullable<Int4>,
        max_mails_per_day -> Nullable<Int4>,
        max_requests_per_minute -> Nullable<Int4>,
        max_stored_bytes -> Nullable<Int8>,
        max_ttl_seconds -> Nullable<Int4>,
        max_message_size -> Nullable<Int4>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        webhook_id -> Uuid,
        event -> Text,
        inbox_id -> Nullable<Uuid>,
        message_id -> Nullable<Uuid>,
        data -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        log -> Jsonb,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        inbox_id -> Nullable<Uuid>,
        url -> Text,
        events -> Array<Nullable<Text>>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        failing_since -> Nullable<Timestamptz>,
        disabled_at -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(domains -> tenants (tenant_id));
diesel::joinable!(inboxes -> domains (domain));
diesel::joinable!(inboxes -> tenants (tenant_id));
diesel::joinable!(tenant_usage -> tenants (tenant_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhooks -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    attachments,
    bucket_moves,
    domains,
    inboxes,
    messages,
    raw_sources,
    server_secrets,
    tenant_usage,
    tenants,
    webhook_deliveries,
    webhooks,
);
