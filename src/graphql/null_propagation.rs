//! Field errors placed as the GraphQL specification says ("Handling Field Errors"): a failing
//! nullable field is present as `null` with its error in `errors`, and a failing non-null
//! field makes its nearest nullable parent `null` (or `data` itself). async-graphql 7 instead
//! leaves the failing field's key out of its object, and makes an object whose every field
//! failed `null`: so a typed client finds neither the key it expects nor a `null`.
//!
//! The extension sees every field resolve. A nullable field that failed answers `null` and its
//! error is kept for the response. A non-null one that failed is remembered by path; the first
//! nullable field above it answers `null` instead of what it resolved, and the non-null fields
//! in between fail with a placeholder error that never reaches the client. Subscriptions are
//! left as async-graphql makes them.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
        ResolveInfo,
    },
    parser::types::ExecutableDocument,
    Response, ServerError, ServerResult, Value, Variables,
};

/// Stands for an error already reported further down; removed before the response leaves.
const PROPAGATED: &str = "ephemail: a non-null field below failed";

pub struct NullPropagation;

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Propagator::default())
    }
}

#[derive(Default)]
struct Propagator(Mutex<State>);

#[derive(Default)]
struct State {
    /// The operation is a query or a mutation (whose response passes through `execute`).
    active: bool,
    /// Errors of nullable fields that now answer `null`.
    errors: Vec<ServerError>,
    /// Paths of failed non-null fields whose failure no nullable parent has taken yet.
    failed: Vec<Vec<String>>,
}

impl State {
    /// Forgets the failures below `path`; whether there were any.
    fn take_failures_below(&mut self, path: &[String]) -> bool {
        let before = self.failed.len();
        self.failed
            .retain(|failed| !(failed.len() > path.len() && failed.starts_with(path)));
        self.failed.len() != before
    }
}

#[async_trait::async_trait]
impl Extension for Propagator {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.state().active = !super::limits::may_subscribe(&document);
        Ok(document)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !self.state().active {
            // A subscription's events: nothing to place, and no path to build for each field.
            return next.run(ctx, info).await;
        }
        let nullable = !info.return_type.ends_with('!');
        let path = info.path_node.to_string_vec();
        let resolved = next.run(ctx, info).await;
        let mut state = self.state();
        let child_failed = state.take_failures_below(&path);
        match resolved {
            Err(error) if nullable => {
                state.errors.push(error);
                Ok(Some(Value::Null))
            }
            Err(error) => {
                state.failed.push(path);
                Err(error)
            }
            Ok(_) if child_failed && nullable => Ok(Some(Value::Null)),
            Ok(_) if child_failed => {
                state.failed.push(path);
                Err(ServerError::new(PROPAGATED, None))
            }
            Ok(value) => Ok(value),
        }
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let state = std::mem::take(&mut *self.state());
        response.errors.retain(|error| error.message != PROPAGATED);
        response.errors.extend(state.errors);
        // A failed non-null root field: nothing above it can be null but `data`.
        if state.failed.iter().any(|path| path.len() == 1) {
            response.data = Value::Null;
        }
        response
    }
}

impl Propagator {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
    use serde_json::json;

    use super::*;

    #[derive(SimpleObject)]
    struct Child {
        ok: i32,
    }

    struct Parent;

    #[Object]
    impl Parent {
        async fn required(&self) -> async_graphql::Result<i32> {
            Err("required failed".into())
        }
        async fn fine(&self) -> i32 {
            1
        }
    }

    struct Query;

    #[Object]
    impl Query {
        async fn nullable(&self) -> async_graphql::Result<Option<i32>> {
            Err("nullable failed".into())
        }
        async fn other(&self) -> i32 {
            7
        }
        async fn parent(&self) -> Option<Parent> {
            Some(Parent)
        }
        async fn strict_parent(&self) -> Parent {
            Parent
        }
        async fn child(&self) -> Child {
            Child { ok: 2 }
        }
    }

    async fn run(query: &str) -> serde_json::Value {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(NullPropagation)
            .finish();
        serde_json::to_value(schema.execute(query).await).unwrap()
    }

    #[tokio::test]
    async fn a_failing_nullable_field_is_null_beside_the_others_and_alone() {
        let both = run("{ nullable other }").await;
        assert_eq!(both["data"], json!({ "nullable": null, "other": 7 }));
        assert_eq!(both["errors"][0]["path"], json!(["nullable"]));
        let alone = run("{ nullable }").await;
        assert_eq!(alone["data"], json!({ "nullable": null }));
        assert_eq!(alone["errors"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failing_non_null_field_nulls_its_nearest_nullable_parent() {
        let response = run("{ parent { fine required } other child { ok } }").await;
        assert_eq!(
            response["data"],
            json!({ "parent": null, "other": 7, "child": { "ok": 2 } })
        );
        let errors = response["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{response}");
        assert_eq!(errors[0]["path"], json!(["parent", "required"]));
        // With no nullable parent, `data` itself is null.
        let root = run("{ strictParent { required } other }").await;
        assert_eq!(root["data"], serde_json::Value::Null);
        assert_eq!(root["errors"].as_array().unwrap().len(), 1, "{root}");
    }
}
