//! The GraphQL API: [`query`], [`mutation`], [`subscription`] and the object [`types`] they
//! return. [`feed`] is the lossless "next message after a cursor" reader shared by
//! subscriptions and `waitForMessage`.

pub mod feed;
pub mod limits;
pub mod loader;
pub mod mutation;
pub mod null_propagation;
pub mod query;
pub mod subscription;
pub mod types;

use std::time::Duration;

use async_graphql::{dataloader::DataLoader, Context, SDLExportOptions, Schema, SchemaBuilder};

use crate::{
    api::Api,
    auth::{Caller, Scope},
    error::AppError,
};
use ephemail_store::models::Viewer;

pub type ApiSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Deep, expensive or repetitive queries are refused before they run. Complexity counts every
/// field of a page once per message it may hold, and the fields that sanitize or decode mail as
/// [`types::message::EXPENSIVE_FIELD`]s.
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

pub fn schema(app: Api) -> ApiSchema {
    let http = &app.config.http;
    let mut builder = builder()
        .extension(null_propagation::NullPropagation)
        .extension(limits::OperationLimits {
            max_aliases: MAX_ALIASES,
            timeout: Duration::from_secs(http.operation_timeout.into()),
            max_wait: Duration::from_secs(http.max_wait.into()),
        });
    if !http.introspection() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    let attachments = DataLoader::new(loader::AttachmentLoader::new(app.clone()), tokio::spawn);
    let raw_sources = DataLoader::new(loader::RawSourceLoader::new(app.clone()), tokio::spawn);
    builder
        .data(app)
        .data(attachments)
        .data(raw_sources)
        .data(limits::ReadWork::default())
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

/// Where clients reach the HTTP server (`--public-url`, or from the request's Host header);
/// download URLs are built on it. Set per request by the HTTP layer.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

/// The client's IP address (the TCP peer), set per request by the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

/// Reaches shared state from a resolver.
pub trait ContextExt {
    fn app(&self) -> &Api;
    fn base_url(&self) -> &str;
    fn caller(&self) -> &Caller;
    /// The viewer to scope data by, if the caller holds `scope`.
    fn viewer(&self, scope: Scope) -> Result<Viewer, AppError> {
        self.caller().require(scope)
    }
    /// The viewer for changing one inbox or its messages ([`Caller::require_inbox_change`]).
    fn inbox_changer(&self) -> Result<Viewer, AppError> {
        self.caller().require_inbox_change()
    }
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &Api {
        self.data_unchecked::<Api>()
    }

    fn caller(&self) -> &Caller {
        const ANONYMOUS: &Caller = &Caller::Anonymous;
        self.data_opt::<Caller>().unwrap_or(ANONYMOUS)
    }

    fn base_url(&self) -> &str {
        self.data_opt::<BaseUrl>()
            .map_or("", |base| base.0.as_str())
    }
}
