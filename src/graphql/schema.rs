//! The schema: its root types, the limits every document is checked against, the extensions,
//! and the data resolvers find in their context; and its SDL, checked in as `schema.graphql`.

use std::time::Duration;

use async_graphql::{dataloader::DataLoader, SDLExportOptions, Schema, SchemaBuilder};

use super::{
    field_order, limits, loader, mutation, null_propagation, observe, query, subscription,
};
use crate::api::Api;

pub type ApiSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Deep, expensive or repetitive queries are refused before they run. Complexity counts every
/// field of a page once per message it may hold, and the fields that sanitize or decode mail as
/// [`types::mail::EXPENSIVE_FIELD`]s.
const MAX_DEPTH: usize = 16;
const MAX_COMPLEXITY: usize = 5_000;
const MAX_ALIASES: usize = 50;
const MAX_DIRECTIVES_PER_FIELD: usize = 4;

fn builder() -> SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_directives(MAX_DIRECTIVES_PER_FIELD)
}

/// How long a DataLoader waits for more keys before its query. async-graphql's default, 1 ms,
/// came on top of every read of a message's content or attachments (`waitForMessage { html }`
/// answered 3.7-4.0 ms after its mail's `250`, 2.0-2.3 with this; `bench/wait-read`). The keys
/// of a page are asked for within microseconds of each other: with no wait at all, a page of 30
/// messages took up to six queries for its contents, with this one, as before.
const LOADER_WINDOW: Duration = Duration::from_micros(200);

pub fn build(app: Api) -> ApiSchema {
    let http = &app.config.http;
    let mut builder = builder()
        .extension(observe::ObserveOperations::new(app.metrics.clone()))
        .extension(field_order::FieldOrder)
        .extension(null_propagation::NullPropagation)
        .extension(limits::OperationLimits {
            max_aliases: MAX_ALIASES,
            timeout: Duration::from_secs(http.operation_timeout.into()),
            max_wait: Duration::from_secs(http.max_wait.into()),
        });
    if !http.introspection() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    let attachments = DataLoader::new(loader::AttachmentLoader::new(app.clone()), tokio::spawn)
        .delay(LOADER_WINDOW);
    let contents =
        DataLoader::new(loader::ContentLoader::new(app.clone()), tokio::spawn).delay(LOADER_WINDOW);
    let read_work = app.contents.work().clone();
    builder
        .data(app)
        .data(attachments)
        .data(contents)
        .data(read_work)
        .finish()
}

/// The SDL checked in as `schema.graphql`, sorted so that it diffs well.
pub fn sdl() -> String {
    builder().finish().sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items()
            .include_specified_by(),
    )
}
