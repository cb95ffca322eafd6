//! Entry points that change data. Expected business outcomes come back as a `status` in the
//! payload; GraphQL errors are for malformed input and faults.

mod admin;
mod inbox;
mod message;
mod webhook;

#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    inbox::InboxMutation,
    message::MessageMutation,
    admin::AdminMutation,
    webhook::WebhookMutation,
);
