//! Per-operation limits that the schema builder's depth and complexity limits leave out: how
//! many aliases a document may use, and how long an operation may run.

use std::{sync::Arc, sync::Mutex, time::Duration};

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery},
    parser::types::{ExecutableDocument, Selection, SelectionSet},
    ErrorExtensions, Pos, Response, ServerResult, Variables,
};

use crate::error::AppError;

/// The field whose long poll may hold an operation past the usual deadline.
const WAIT_FIELD: &str = "waitForMessage";

#[derive(Debug, Clone, Copy)]
pub struct OperationLimits {
    /// Aliased fields per document (alias bombs repeat one costly field under many names).
    pub max_aliases: usize,
    /// How long a query or mutation may run.
    pub timeout: Duration,
    /// Added to `timeout` when the document waits for a message (`--max-wait`).
    pub max_wait: Duration,
}

impl ExtensionFactory for OperationLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Enforcer {
            limits: *self,
            deadline: Mutex::new(self.timeout),
        })
    }
}

/// One request's enforcement: parsing sets the deadline that execution then keeps.
struct Enforcer {
    limits: OperationLimits,
    deadline: Mutex<Duration>,
}

#[async_trait::async_trait]
impl Extension for Enforcer {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut census = Census::default();
        for (_, operation) in document.operations.iter() {
            census.visit(&operation.node.selection_set.node);
        }
        for fragment in document.fragments.values() {
            census.visit(&fragment.node.selection_set.node);
        }
        if census.aliases > self.limits.max_aliases {
            let error = AppError::BadUserInput(format!(
                "the document uses {} aliases; at most {} are allowed",
                census.aliases, self.limits.max_aliases
            ));
            return Err(error.extend().into_server_error(Pos::default()));
        }
        if census.waits {
            *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) += self.limits.max_wait;
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let deadline = *self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        match tokio::time::timeout(deadline, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => {
                let error = AppError::OperationTimeout(deadline.as_secs());
                Response::from_errors(vec![error.extend().into_server_error(Pos::default())])
            }
        }
    }
}

#[derive(Default)]
struct Census {
    aliases: usize,
    waits: bool,
}

impl Census {
    /// The parser bounds how deeply selections nest, so recursion is safe here.
    fn visit(&mut self, selections: &SelectionSet) {
        for selection in &selections.items {
            match &selection.node {
                Selection::Field(field) => {
                    self.aliases += usize::from(field.node.alias.is_some());
                    self.waits |= field.node.name.node == WAIT_FIELD;
                    self.visit(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    self.visit(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Slow;

    #[Object]
    impl Slow {
        async fn slow(&self) -> bool {
            sleep().await
        }

        async fn wait_for_message(&self) -> bool {
            sleep().await
        }
    }

    async fn sleep() -> bool {
        tokio::time::sleep(Duration::from_millis(500)).await;
        true
    }

    fn schema() -> Schema<Slow, EmptyMutation, EmptySubscription> {
        Schema::build(Slow, EmptyMutation, EmptySubscription)
            .extension(OperationLimits {
                max_aliases: 2,
                timeout: Duration::from_millis(100),
                max_wait: Duration::from_secs(5),
            })
            .finish()
    }

    #[tokio::test]
    async fn operations_past_the_deadline_fail_with_timeout() {
        let response = schema().execute("{ slow }").await;
        let error = &response.errors[0];
        assert_eq!(
            error.extensions.as_ref().and_then(|e| e.get("code")),
            Some(&async_graphql::Value::from("TIMEOUT")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn waits_get_the_longest_wait_on_top() {
        let response = schema().execute("{ waitForMessage }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
    }

    #[tokio::test]
    async fn aliases_are_counted_in_operations_and_fragments() {
        let response = schema()
            .execute("{ a: slow ...F } fragment F on Slow { b: slow c: slow }")
            .await;
        assert!(
            response.errors[0].message.contains("3 aliases"),
            "{:?}",
            response.errors
        );
    }
}
