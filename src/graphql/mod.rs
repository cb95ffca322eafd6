//! The GraphQL API: [`query`], [`mutation`] and the object [`types`] they return.

pub mod mutation;
pub mod query;
pub mod types;

use async_graphql::{Context, EmptySubscription, SDLExportOptions, Schema, SchemaBuilder};

use crate::app::App;

pub type ApiSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

/// Deep or expensive queries are refused before they run.
const MAX_DEPTH: usize = 16;
const MAX_COMPLEXITY: usize = 2_000;

fn builder() -> SchemaBuilder<query::Query, mutation::Mutation, EmptySubscription> {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        EmptySubscription,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
}

pub fn schema(app: App) -> ApiSchema {
    builder().data(app).finish()
}

/// The SDL checked in as `schema.graphql`, sorted so that it diffs well.
pub fn sdl() -> String {
    builder().finish().sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}

/// Reaches the shared [`App`] from a resolver.
pub trait ContextExt {
    fn app(&self) -> &App;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &App {
        self.data_unchecked::<App>()
    }
}
