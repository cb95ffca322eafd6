//! The streams: `messages` (page after page) and `subscribe` (graphql-ws, resuming after the
//! last delivered message when the connection drops).

use std::time::Duration;

use cynic::{GraphQlResponse, QueryBuilder, SubscriptionBuilder};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

use crate::{
    client::{Client, Message},
    error::{Error, ErrorCode, Result},
    generated::{self, InboxVariables, MessageReceivedVariables},
    options::{Filter, Subscribe, Target},
};

const PAGE_SIZE: i32 = 50;

/// The subscription as sent, owned (the connection outlives the variables' borrows), decoded
/// with the error extensions kept: they carry the `code`.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct MessageReceivedOperation(serde_json::Value);

impl graphql_ws_client::graphql::GraphqlOperation for MessageReceivedOperation {
    type Response = GraphQlResponse<generated::MessageReceived, serde_json::Value>;
    type Error = serde_json::Error;

    fn decode(&self, data: serde_json::Value) -> Result<Self::Response, Self::Error> {
        serde_json::from_value(data)
    }
}
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) fn pages(
    client: &Client,
    inbox_id: String,
    filter: Option<Filter>,
) -> impl Stream<Item = Result<Message>> + '_ {
    // State: the cursor of the next page (None before the first), or done.
    futures::stream::try_unfold(Some(None::<String>), move |next| {
        let (inbox_id, filter) = (inbox_id.clone(), filter.clone());
        async move {
            let Some(after) = next else {
                return Ok::<_, Error>(None);
            };
            let (page, next) = client
                .messages_page(&inbox_id, filter.as_ref(), after.as_deref(), PAGE_SIZE)
                .await?;
            let state = next.map(Some);
            Ok(Some((futures::stream::iter(page.into_iter().map(Ok)), state)))
        }
    })
    .try_flatten()
}

impl Client {
    /// Every message stored after [`Subscribe::after`], each exactly once, over a WebSocket that
    /// is reopened with backoff when it drops, resuming after the last delivered message.
    /// Without `after`: after the cursor the next wait would use (an inbox this client created:
    /// from its creation), else from the moment of the call. Dropping the stream closes it.
    pub fn subscribe(
        &self,
        options: Subscribe,
    ) -> impl Stream<Item = Result<Message>> + Send + 'static {
        let (sender, receiver) = mpsc::channel(16);
        tokio::spawn(follow(self.clone(), options, sender));
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
    }

    async fn latest_cursor(&self, target: &Target) -> Result<Option<String>> {
        let id = target.id();
        match self
            .run(generated::Inbox::build(InboxVariables {
                id: id.as_ref(),
                address: target.address(),
            }))
            .await
        {
            Ok(found) => Ok(found.inbox.map(|inbox| inbox.latest_cursor)),
            // A catch-all address before its first mail: the server starts with the next one.
            Err(error) if error.code == ErrorCode::NotFound && target.address().is_some() => {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}

/// Why one connection ended.
enum Ended {
    /// The caller dropped the stream, or the server sent an error: nothing more to do.
    Finished,
    /// The connection dropped: reconnect.
    Dropped(String),
}

async fn follow(client: Client, options: Subscribe, sender: mpsc::Sender<Result<Message>>) {
    let mut after = match &options.after {
        Some(after) => Some(after.clone()),
        None => match client.known_cursor(&options.target) {
            Some(known) => Some(known),
            None => match client.latest_cursor(&options.target).await {
                Ok(latest) => latest,
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                    return;
                }
            },
        },
    };
    let mut failures = 0;
    loop {
        match connect_once(&client, &options, &mut after, &mut failures, &sender).await {
            Ended::Finished => return,
            Ended::Dropped(reason) => {
                failures += 1;
                if failures > options.max_reconnects {
                    let message = format!(
                        "subscription lost after {} reconnects: {reason}",
                        options.max_reconnects
                    );
                    let _ = sender.send(Err(Error::new(ErrorCode::Internal, message))).await;
                    return;
                }
                let backoff = Duration::from_millis(250) * 2_u32.pow(failures - 1);
                tokio::time::sleep(backoff.min(MAX_BACKOFF)).await;
            }
        }
    }
}

async fn connect_once(
    client: &Client,
    options: &Subscribe,
    after: &mut Option<String>,
    failures: &mut u32,
    sender: &mpsc::Sender<Result<Message>>,
) -> Ended {
    let ws_url = format!("ws{}/graphql", client.inner.url.trim_start_matches("http"));
    let mut request = match ws_url.into_client_request() {
        Ok(request) => request,
        Err(error) => {
            return fail(sender, Error::new(ErrorCode::BadUserInput, error.to_string())).await
        }
    };
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(error) => return Ended::Dropped(error.to_string()),
    };
    let payload = serde_json::json!({ "apiKey": client.inner.api_key });
    let builder = match graphql_ws_client::Client::build(socket).payload(payload) {
        Ok(builder) => builder,
        Err(error) => {
            return fail(sender, Error::new(ErrorCode::Internal, error.to_string())).await
        }
    };
    let id = options.target.id();
    let filter = options.filter.as_ref().map(Filter::variables);
    let operation =
        serde_json::to_value(generated::MessageReceived::build(MessageReceivedVariables {
            inbox_id: id.as_ref(),
            address: options.target.address(),
            after: after.as_deref(),
            filter,
        }));
    let operation = match operation {
        Ok(operation) => MessageReceivedOperation(operation),
        Err(error) => {
            return fail(sender, Error::new(ErrorCode::Internal, error.to_string())).await
        }
    };
    let mut stream = match builder.subscribe(operation).await {
        Ok(stream) => stream,
        Err(graphql_ws_client::Error::Close(code, reason))
            if matches!(code, 4400 | 4401 | 4403) =>
        {
            let code = match code {
                4400 => ErrorCode::BadUserInput,
                4401 => ErrorCode::Unauthenticated,
                _ => ErrorCode::Forbidden,
            };
            return fail(sender, Error::new(code, format!("subscription refused: {reason}"))).await;
        }
        Err(error) => return Ended::Dropped(error.to_string()),
    };
    while let Some(item) = stream.next().await {
        let response = match item {
            Ok(response) => response,
            Err(error) => return Ended::Dropped(error.to_string()),
        };
        if let Some(error) = response.errors.as_ref().and_then(|errors| errors.first()) {
            return fail(sender, Error::from_graphql(error)).await;
        }
        if let Some(data) = response.data {
            let message = data.message_received;
            *failures = 0;
            *after = Some(message.cursor.clone());
            if sender.send(Ok(message)).await.is_err() {
                return Ended::Finished;
            }
        }
    }
    Ended::Dropped("the connection closed".to_owned())
}

async fn fail(sender: &mpsc::Sender<Result<Message>>, error: Error) -> Ended {
    let _ = sender.send(Err(error)).await;
    Ended::Finished
}
