//! Every GraphQL operation counted, timed and traced (the series of [`ApiMetrics`]), on every
//! transport: `POST /graphql` passes through the `request` hook, WebSocket operations (both
//! protocols) through the `subscribe` hook, whose stream carries a query's or mutation's one
//! response, or a subscription's events.
//!
//! An operation is named by what it runs, never by the operation name its client chose: its
//! root field (`createInbox`, `waitForMessage`, `messageReceived`), `multiple` when it selects
//! several root fields, `introspection` when it selects only `__schema`, `__type` or
//! `__typename`, and `invalid` when the document was refused before running (syntax,
//! validation, limits, an unknown operation name). Only the fields of a validated document name
//! operations, so the names are the schema's root fields and those three.
//!
//! The outcome is `ok` or the `extensions.code` of the response's first error, and `cancelled`
//! for a query or mutation dropped before it answered (its client went away or stopped it). A
//! subscription counts once, when it ends: `ok` when its client stopped it, else the code of the
//! error that ended it (`NOT_FOUND` when its inbox was deleted, `UNAUTHENTICATED` when the
//! credential died); it is not timed, as it lasts as long as its client stays.

use std::{
    collections::{BTreeSet, HashMap},
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll},
    time::Instant,
};

use async_graphql::{
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
        NextRequest, NextSubscribe, NextValidation,
    },
    parser::types::{ExecutableDocument, FragmentDefinition, OperationType, SelectionSet},
    Name, Positioned, Request, Response, ServerError, ServerResult, ValidationResult, Variables,
};
use futures::{stream::BoxStream, Stream, StreamExt};
use tracing::{field, Instrument, Span};

use super::selection::{for_each_field, selected};
use crate::{
    error::ErrorCode,
    telemetry::{api::ApiMetrics, metrics::GaugeHold},
};

/// Registered first, so that it sees each operation whole: the other extensions' refusals and
/// deadlines included.
pub struct ObserveOperations(ApiMetrics);

impl ObserveOperations {
    pub fn new(metrics: ApiMetrics) -> Self {
        Self(metrics)
    }
}

impl ExtensionFactory for ObserveOperations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Observer {
            metrics: self.0.clone(),
            span: tracing::info_span!(
                "graphql.operation",
                operation = field::Empty,
                outcome = field::Empty,
                duration_ms = field::Empty,
            ),
            state: Arc::default(),
        })
    }
}

/// One request's operation (created per request by async-graphql).
struct Observer {
    metrics: ApiMetrics,
    span: Span,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// The operation name the request asked for.
    requested: Option<String>,
    /// What the document would run, once parsed.
    parsed: Option<Parsed>,
    /// The document passed validation.
    valid: bool,
}

struct Parsed {
    name: String,
    subscription: bool,
}

impl State {
    fn name(&self) -> &str {
        match &self.parsed {
            Some(parsed) if self.valid => &parsed.name,
            _ => "invalid",
        }
    }

    fn runs_subscription(&self) -> bool {
        self.valid
            && self
                .parsed
                .as_ref()
                .is_some_and(|parsed| parsed.subscription)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait::async_trait]
impl Extension for Observer {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut operation = self.operation();
        let response = next.run(ctx).instrument(self.span.clone()).await;
        operation.finish(outcome(&response));
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        Box::pin(Observed {
            inner: next.run(ctx, stream),
            operation: self.operation(),
        })
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        lock(&self.state).requested = request.operation_name.clone();
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
        let mut state = lock(&self.state);
        state.parsed = selected(&document, state.requested.as_deref()).map(|operation| Parsed {
            name: name_of(&document.fragments, &operation.node.selection_set.node),
            subscription: operation.node.ty == OperationType::Subscription,
        });
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if result.is_ok() {
            let mut state = lock(&self.state);
            state.valid = true;
            // Every line logged while it runs names the operation (`finish` names the others).
            self.span.record("operation", state.name());
        }
        result
    }
}

impl Observer {
    fn operation(&self) -> Operation {
        Operation {
            metrics: self.metrics.clone(),
            span: self.span.clone(),
            state: Arc::clone(&self.state),
            started: Instant::now(),
            running: None,
            last_outcome: "ok",
            done: false,
        }
    }
}

/// The operation's name from its root fields (see the module's documentation).
fn name_of(
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    selections: &SelectionSet,
) -> String {
    let mut fields = BTreeSet::new();
    for_each_field(fragments, selections, 0, &mut |field, _| {
        fields.insert(field.node.name.node.as_str());
    });
    let mut selected = fields.into_iter().filter(|field| !field.starts_with("__"));
    match (selected.next(), selected.next()) {
        (None, _) => "introspection".to_owned(),
        (Some(field), None) => field.to_owned(),
        _ => "multiple".to_owned(),
    }
}

/// `ok`, or the code of the response's first error.
fn outcome(response: &Response) -> &'static str {
    response
        .errors
        .first()
        .map_or("ok", |error| ErrorCode::of(error).as_str())
}

/// An operation under way; counted when it ends, or when it is dropped before.
struct Operation {
    metrics: ApiMetrics,
    span: Span,
    state: Arc<Mutex<State>>,
    started: Instant,
    /// Held while the operation runs as a subscription.
    running: Option<GaugeHold>,
    /// The outcome of the last event a subscription sent.
    last_outcome: &'static str,
    done: bool,
}

impl Operation {
    /// After each poll of a WebSocket operation's stream: a subscription is running once its
    /// document is validated, and a query or mutation ends with its one response.
    fn polled(&mut self, polled: &Poll<Option<Response>>) {
        if self.done {
            return;
        }
        if self.running.is_none() && lock(&self.state).runs_subscription() {
            self.running = Some(GaugeHold::new(&self.metrics.subscriptions));
        }
        match polled {
            Poll::Ready(Some(response)) if self.running.is_some() => {
                self.last_outcome = outcome(response);
            }
            Poll::Ready(Some(response)) => self.finish(outcome(response)),
            Poll::Ready(None) => self.finish(self.last_outcome),
            Poll::Pending => {}
        }
    }

    fn finish(&mut self, outcome: &'static str) {
        self.done = true;
        let duration = self.started.elapsed();
        // A subscription is not timed: it lasts as long as its client wants.
        let timed = self.running.take().is_none().then_some(duration);
        let state = lock(&self.state);
        let name = state.name();
        self.metrics.operation_done(name, outcome, timed);
        if !state.valid {
            self.span.record("operation", name);
        }
        self.span.record("outcome", outcome);
        // Milliseconds to the microsecond.
        let duration_ms = (duration.as_secs_f64() * 1e6).round() / 1e3;
        self.span.record("duration_ms", duration_ms);
        tracing::debug!(parent: &self.span, "graphql operation done");
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if !self.done {
            let outcome = if self.running.is_some() {
                self.last_outcome
            } else {
                "cancelled"
            };
            self.finish(outcome);
        }
    }
}

/// A WebSocket operation's responses, observed as they pass.
struct Observed<'s> {
    inner: BoxStream<'s, Response>,
    operation: Operation,
}

impl Stream for Observed<'_> {
    type Item = Response;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let this = &mut *self;
        let polled = {
            let _entered = this.operation.span.enter();
            this.inner.poll_next_unpin(cx)
        };
        this.operation.polled(&polled);
        polled
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn name(query: &str, requested: Option<&str>) -> Option<String> {
        let document = parse_query(query).unwrap();
        let operation = selected(&document, requested)?;
        Some(name_of(
            &document.fragments,
            &operation.node.selection_set.node,
        ))
    }

    #[test]
    fn operations_are_named_by_their_root_fields_through_aliases_and_fragments() {
        for (query, expected) in [
            ("{ a: domains { name } b: domains { name } }", "domains"),
            (
                "{ ...F } fragment F on Query { domains { name } }",
                "domains",
            ),
            (
                "{ ... on Query { domains { name } } viewer { scopes } }",
                "multiple",
            ),
            ("{ __typename domains { name } }", "domains"),
            ("{ __schema { types { name } } }", "introspection"),
            // A cycle, which validation refuses afterwards: the walk ends all the same.
            ("{ ...F } fragment F on Query { ...F }", "introspection"),
        ] {
            assert_eq!(name(query, None).as_deref(), Some(expected), "{query}");
        }
    }

    #[test]
    fn the_operation_run_is_the_one_the_request_names() {
        let document = "query A { domains { name } } query B { viewer { scopes } }";
        assert_eq!(name(document, Some("B")).as_deref(), Some("viewer"));
        assert_eq!(name(document, Some("C")), None);
        assert_eq!(name(document, None), None);
        assert_eq!(
            name("query A { domains { name } }", None).as_deref(),
            Some("domains")
        );
        assert_eq!(name("{ domains { name } }", Some("A")), None);
    }
}
