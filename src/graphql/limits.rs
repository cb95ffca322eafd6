//! Per-operation limits that the schema builder's depth and complexity limits leave out: how
//! many aliases a document may use (fragment spreads counted as executed), how long an
//! operation may run, and how much message content one response may carry
//! ([`ContentBudget`]). How much CPU work on message content runs at once is
//! [`crate::content::ReadWork`]'s.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_graphql::{
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
        NextPrepareRequest,
    },
    parser::types::{ExecutableDocument, FragmentDefinition, OperationType, SelectionSet},
    Name, Positioned, Request, Response, ServerResult, Variables,
};

use super::selection::for_each_field;
use crate::error::AppError;

/// Bytes of message content (bodies and header fields) one query or mutation may return: the
/// complexity limit cannot see how large each message is.
pub const MAX_RESPONSE_CONTENT_BYTES: usize = 32 << 20;

/// What one request may still return of message content; shared by the request's resolvers.
#[derive(Clone)]
pub struct ContentBudget(Arc<AtomicUsize>);

impl ContentBudget {
    fn new(bytes: usize) -> Self {
        Self(Arc::new(AtomicUsize::new(bytes)))
    }

    /// Takes `bytes` from the budget, or refuses the field that wanted them.
    pub fn charge(&self, bytes: usize) -> Result<(), AppError> {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .map(drop)
            .map_err(|_| {
                AppError::BadUserInput(format!(
                    "the response would carry more than {} MiB of message content; ask for \
                     fewer messages (`first`) or fields",
                    MAX_RESPONSE_CONTENT_BYTES >> 20
                ))
            })
    }

    /// Each event of a subscription is its own response: only complexity bounds it.
    fn unlimited(&self) {
        self.0.store(usize::MAX, Ordering::Relaxed);
    }
}

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
            budget: ContentBudget::new(MAX_RESPONSE_CONTENT_BYTES),
        })
    }
}

/// One request's enforcement: parsing sets the deadline that execution then keeps.
struct Enforcer {
    limits: OperationLimits,
    deadline: Mutex<Duration>,
    budget: ContentBudget,
}

#[async_trait::async_trait]
impl Extension for Enforcer {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(ctx, request.data(self.budget.clone())).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut census = Census {
            fragments: &document.fragments,
            aliases: 0,
            waits: false,
        };
        for (_, operation) in document.operations.iter() {
            census.visit(&operation.node.selection_set.node, 0);
        }
        if may_subscribe(&document) {
            self.budget.unlimited();
        }
        if census.aliases > self.limits.max_aliases {
            let error = AppError::BadUserInput(format!(
                "the document uses {} aliases; at most {} are allowed",
                census.aliases, self.limits.max_aliases
            ));
            return Err(error.server_error());
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
                Response::from_errors(vec![error.server_error()])
            }
        }
    }
}

/// Whether the document has a subscription: its events are responses of their own, which do not
/// pass through the hooks that wrap one execution.
pub(super) fn may_subscribe(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .any(|(_, operation)| operation.node.ty == OperationType::Subscription)
}

/// Counts what a document does as it would execute: every fragment spread counts its
/// fragment's aliases again.
struct Census<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    aliases: usize,
    waits: bool,
}

impl<'a> Census<'a> {
    /// The parser bounds how deeply selections nest, and spreads are followed to a bounded
    /// depth ([`for_each_field`]), so recursion is safe here.
    fn visit(&mut self, selections: &'a SelectionSet, spread_depth: usize) {
        for_each_field(
            self.fragments,
            selections,
            spread_depth,
            &mut |field, depth| {
                self.aliases += usize::from(field.node.alias.is_some());
                self.waits |= field.node.name.node == WAIT_FIELD;
                self.visit(&field.node.selection_set.node, depth);
            },
        );
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

    #[tokio::test]
    async fn a_fragment_s_aliases_count_each_time_it_is_spread() {
        let response = schema()
            .execute(
                "{ ...F ...F ...G } fragment F on Slow { a: slow } fragment G on Slow { ...F }",
            )
            .await;
        assert!(
            response.errors[0].message.contains("3 aliases"),
            "{:?}",
            response.errors
        );
        // A cycle (which validation refuses) does not send the census round forever.
        let response = schema()
            .execute("{ ...F } fragment F on Slow { a: slow ...F }")
            .await;
        assert!(!response.errors.is_empty());
    }

    #[test]
    fn the_content_budget_refuses_what_it_cannot_cover() {
        let budget = ContentBudget::new(10);
        assert!(budget.charge(6).is_ok());
        assert!(budget.charge(6).is_err());
        assert!(budget.charge(4).is_ok());
        budget.unlimited();
        assert!(budget.charge(1 << 40).is_ok());
    }
}
