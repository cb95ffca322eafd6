// @generated automatically by Diesel CLI.

diesel::table! {
    attachments (id) {
        id -> Uuid,
        message_id -> Uuid,
        position -> Int4,
        filename -> Nullable<Text>,
        content_type -> Text,
        content_id -> Nullable<Text>,
        inline -> Bool,
        size -> Int4,
        content -> Bytea,
    }
}

diesel::table! {
    domains (name) {
        name -> Text,
        mode -> Text,
        created_at -> Timestamptz,
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
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        seq -> Int8,
        inbox_id -> Uuid,
        received_at -> Timestamptz,
        mail_from -> Nullable<Text>,
        rcpt_to -> Array<Nullable<Text>>,
        from_addr -> Jsonb,
        to_addr -> Jsonb,
        cc_addr -> Jsonb,
        subject -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        message_id -> Nullable<Text>,
        headers -> Jsonb,
        text_body -> Nullable<Text>,
        html_body -> Nullable<Text>,
        size -> Int4,
        raw -> Bytea,
        parse_error -> Nullable<Text>,
        tags -> Array<Nullable<Text>>,
        seen -> Bool,
        has_attachments -> Bool,
        in_reply_to -> Nullable<Text>,
        from_text -> Text,
        to_text -> Text,
    }
}

diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(inboxes -> domains (domain));
diesel::joinable!(messages -> inboxes (inbox_id));

diesel::allow_tables_to_appear_in_same_query!(attachments, domains, inboxes, messages,);
