//! Response fields in the order the query asked for them, as the GraphQL specification says
//! ("Serialized Map Ordering": `{ name age }` is answered `{"name": …, "age": …}`).
//! async-graphql 7 resolves an object's fields concurrently and writes each as it completes
//! (async-graphql issue 612), so a field read from a raw source (`text`, `to`) came after the
//! row's fields asked for after it, and the order changed from one response to the next.
//!
//! The extension keeps the operation's document and, once a response (or a subscription's
//! event) is made, puts every object's keys in the order of its selection set, fragments
//! expanded in place. It moves values; it copies none.

use std::sync::{Arc, Mutex, PoisonError};

use super::{
    limits::may_subscribe,
    selection::{for_each_field, selected},
};
use async_graphql::{
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
        NextPrepareRequest, NextSubscribe,
    },
    futures_util::stream::{BoxStream, StreamExt},
    indexmap::IndexMap,
    parser::types::{ExecutableDocument, SelectionSet},
    Request, Response, ServerResult, Value, Variables,
};

pub struct FieldOrder;

impl ExtensionFactory for FieldOrder {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Orderer::default())
    }
}

/// The request's operation, once parsed; shared with its subscription's event stream.
#[derive(Default)]
struct Orderer(Arc<Mutex<Operation>>);

#[derive(Default)]
struct Operation {
    name: Option<String>,
    document: Option<Arc<ExecutableDocument>>,
    /// Its events are ordered as they pass `subscribe`; a query's or mutation's one response
    /// is ordered in `execute`, and is not walked again when it passes `subscribe` too (over
    /// WebSocket).
    subscription: bool,
}

impl Operation {
    /// Puts `response`'s fields in the order of the operation that made it.
    fn order(&self, response: &mut Response) {
        let Some(document) = &self.document else {
            return;
        };
        let Some(operation) = selected(document, self.name.as_deref()) else {
            return;
        };
        order(
            &mut response.data,
            &[&operation.node.selection_set.node],
            document,
        );
    }
}

#[async_trait::async_trait]
impl Extension for Orderer {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.operation().name = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut operation = self.operation();
        operation.subscription = may_subscribe(&document);
        operation.document = Some(Arc::new(document.clone()));
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        self.operation().order(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let operation = Arc::clone(&self.0);
        next.run(ctx, stream)
            .map(move |mut response| {
                let operation = operation.lock().unwrap_or_else(PoisonError::into_inner);
                if operation.subscription {
                    operation.order(&mut response);
                }
                response
            })
            .boxed()
    }
}

impl Orderer {
    fn operation(&self) -> std::sync::MutexGuard<'_, Operation> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Orders the objects in `value` (through lists) by the selection sets that selected it.
fn order(value: &mut Value, selections: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                order(item, selections, document);
            }
        }
        Value::Object(object) => {
            // Each response key in order, with the selections below it: a key selected twice
            // (directly, or through fragments) is one field whose selections merge.
            let mut fields: IndexMap<&str, Vec<&SelectionSet>> = IndexMap::new();
            for selection in selections {
                for_each_field(&document.fragments, selection, 0, &mut |field, _| {
                    fields
                        .entry(field.node.response_key().node.as_str())
                        .or_default()
                        .push(&field.node.selection_set.node);
                });
            }
            let mut unordered = std::mem::take(object);
            for (key, selections) in fields {
                if let Some((name, mut field)) = unordered.swap_remove_entry(key) {
                    order(&mut field, &selections, document);
                    object.insert(name, field);
                }
            }
            // Nothing selected is left; kept rather than dropped should that ever change.
            object.extend(unordered);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_graphql::{EmptyMutation, Object, Schema, SimpleObject, Subscription};

    use super::*;

    #[derive(SimpleObject)]
    struct Leaf {
        a: i32,
        b: i32,
    }

    struct Node;

    #[Object]
    impl Node {
        /// Completes after the others: async-graphql alone writes it last.
        async fn slow(&self) -> i32 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            1
        }
        async fn fast(&self) -> i32 {
            2
        }
        async fn leaf(&self) -> Leaf {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Leaf { a: 3, b: 4 }
        }
        async fn list(&self) -> Vec<Node> {
            vec![Node, Node]
        }
    }

    struct Query;

    #[Object]
    impl Query {
        async fn node(&self) -> Node {
            Node
        }
        async fn fast(&self) -> i32 {
            5
        }
    }

    struct Events;

    #[Subscription]
    impl Events {
        async fn nodes(&self) -> impl futures::Stream<Item = Node> {
            futures::stream::iter([Node, Node])
        }
    }

    fn schema() -> Schema<Query, EmptyMutation, Events> {
        Schema::build(Query, EmptyMutation, Events)
            .extension(FieldOrder)
            .finish()
    }

    /// The response's text, where the order shows (JSON values compare without it).
    async fn text(request: impl Into<Request>) -> String {
        serde_json::to_string(&schema().execute(request).await).unwrap()
    }

    #[tokio::test]
    async fn fields_come_in_the_order_asked_through_lists_aliases_and_fragments() {
        let answer = text("{ node { slow leaf { b a } fast list { slow fast } } fast }").await;
        assert_eq!(
            answer,
            r#"{"data":{"node":{"slow":1,"leaf":{"b":4,"a":3},"fast":2,"list":[{"slow":1,"fast":2},{"slow":1,"fast":2}]},"fast":5}}"#
        );
        let answer = text(
            "query Named { node { first: slow ...Rest ... on Node { slow } } }
             fragment Rest on Node { fast leaf { a } leaf { b } }
             query Other { fast }",
        )
        .await;
        // Without an operation name the request fails; with one, it is that operation's order.
        assert!(answer.contains("errors"), "{answer}");
        let answer = text(
            Request::new(
                "query Named { node { first: slow ...Rest ... on Node { slow } } }
                 fragment Rest on Node { fast leaf { a } leaf { b } }
                 query Other { fast }",
            )
            .operation_name("Named"),
        )
        .await;
        assert_eq!(
            answer,
            r#"{"data":{"node":{"first":1,"fast":2,"leaf":{"a":3,"b":4},"slow":1}}}"#
        );
    }

    #[tokio::test]
    async fn subscription_events_come_in_the_order_asked() {
        let events: Vec<String> = schema()
            .execute_stream("subscription { nodes { slow fast leaf { b a } } }")
            .map(|event| serde_json::to_string(&event).unwrap())
            .collect()
            .await;
        let event = r#"{"data":{"nodes":{"slow":1,"fast":2,"leaf":{"b":4,"a":3}}}}"#;
        assert_eq!(events, [event, event]);
    }
}
