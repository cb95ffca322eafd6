//! GraphQL subscriptions over WebSocket (`graphql-transport-ws` and the legacy `graphql-ws`).
//!
//! async-graphql runs the protocol; this module runs the connection around it, with the limits
//! `async_graphql_poem::GraphQLWebSocket` does not have: a deadline for `connection_init`,
//! subscriptions per connection, connections per credential and per client IP address, server
//! pings with an idle timeout, and a bound on how long one message may take to send, so that a
//! subscriber that stops reading is cut off instead of stalling its stream (it resumes with
//! `after`).

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use async_graphql::{
    http::{ClientMessage, WebSocket as ProtocolHandler, WsMessage, ALL_WEBSOCKET_PROTOCOLS},
    Data, ErrorExtensions,
};
use async_graphql_poem::GraphQLProtocol;
use futures::{channel::mpsc, FutureExt, SinkExt, StreamExt};
use poem::{
    http::StatusCode,
    web::websocket::{Message, WebSocket, WebSocketConfig, WebSocketStream},
    IntoResponse, Request, Response,
};
use tokio::sync::oneshot;
use tracing::Instrument;
use uuid::Uuid;

use super::rate_limit;
use crate::{
    api::Api,
    auth::{self, Caller},
    error::AppError,
    graphql::schema::ApiSchema,
    scope::Scope,
    telemetry::{api::RateLimit, metrics::GaugeHold},
};

/// WebSocket connections open at once, per client IP address and per credential.
#[derive(Default)]
pub struct Connections {
    per_ip: OpenCounts<IpAddr>,
    per_credential: OpenCounts<Uuid>,
}

/// How many of something are open per key; a [`Held`] place frees itself when dropped.
struct OpenCounts<K: Hash + Eq>(Arc<Mutex<HashMap<K, u32>>>);

impl<K: Hash + Eq> Default for OpenCounts<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> OpenCounts<K> {
    fn take(&self, key: K, max: u32) -> Option<Held> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key.clone()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        let counts = Arc::clone(&self.0);
        Some(Held(Box::new(move || {
            let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = counts.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&key);
                }
            }
        })))
    }
}

struct Held(Box<dyn FnMut() + Send + Sync>);

impl Drop for Held {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Accepts the upgrade of `request` into a subscription connection, unless its client IP
/// address already holds its share of connections (`429`).
pub fn upgrade(
    request: &Request,
    websocket: WebSocket,
    protocol: GraphQLProtocol,
    schema: ApiSchema,
    app: Api,
    connections: Arc<Connections>,
    data: Data,
) -> Response {
    let limits = &app.config.websocket;
    let client_ip = super::client_ip::client_ip(request, &app.config.http.trusted_proxies);
    let ip_place = match client_ip {
        Some(ip) => match connections
            .per_ip
            .take(ip, limits.ws_max_connections_per_ip)
        {
            Some(place) => Some(place),
            None => {
                app.metrics
                    .rate_limited(RateLimit::WebsocketConnectionsPerIp);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many WebSocket connections from your address",
                )
                    .into_response();
            }
        },
        None => None,
    };
    let header_credential = auth::credential::from_headers(request.headers()).map(str::to_owned);
    // The connection's log lines carry the upgrade request's id.
    let request_span = tracing::Span::current();
    let max_message = usize::try_from(app.config.http.max_request_bytes).unwrap_or(usize::MAX);
    websocket
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .config(protocol_config(max_message))
        .on_upgrade(move |socket| {
            let open = GaugeHold::new(&app.metrics.websocket_connections);
            let connection = Connection {
                app,
                connections,
                schema,
                protocol,
                data,
                header_credential,
                client_ip,
                _ip_place: ip_place,
            };
            async move {
                let _open = open;
                connection.serve(socket).await;
            }
            .instrument(request_span)
        })
        .into_response()
}

/// Bytes a connection's read buffer holds before it grows for a larger frame. Clients send
/// `connection_init`, `subscribe` and pongs, mostly under a kilobyte; a larger message takes a
/// few more reads.
const READ_BUFFER: usize = 1024;

/// The WebSocket protocol settings of a subscription connection. tungstenite's defaults suit a
/// few busy connections: its read buffer of 128 KiB, allocated and filled for every connection
/// at its first read, was most of the 175 KB each of 10,000 idle subscribers held
/// (`docs/performance.md`). Clients only send small operations, so a small buffer (that grows
/// for a larger frame) is enough; and a client's message may be as large as a request body
/// (`--max-request-bytes`), not 64 MiB.
fn protocol_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

struct Connection {
    app: Api,
    connections: Arc<Connections>,
    schema: ApiSchema,
    protocol: GraphQLProtocol,
    data: Data,
    header_credential: Option<String>,
    /// Whose request bucket a public mode's visitor takes from.
    client_ip: Option<IpAddr>,
    _ip_place: Option<Held>,
}

/// What the client side of a connection has done, as the send loop needs to know it.
struct ClientState {
    /// The authenticated caller, once `connection_init` was accepted.
    caller: Option<Caller>,
    client_ip: Option<IpAddr>,
    /// `connection_init` was refused: the protocol handler's close is a `4403 Forbidden`.
    init_refused: bool,
    last_seen: Instant,
    /// Ids of the subscriptions running.
    running: HashSet<String>,
    credential_place: Option<Held>,
}

/// What the receiving side asks the send loop to do.
enum Verdict {
    /// Answer operation `id` with this `error` message instead of running it.
    Refuse(String),
    /// Close the connection.
    Close(u16, &'static str),
}

/// The close code of graphql-transport-ws for a caller without (or no longer with) credentials.
const FORBIDDEN: u16 = 4403;

impl Connection {
    async fn serve(self, socket: WebSocketStream) {
        let Self {
            app,
            connections,
            schema,
            protocol,
            data,
            header_credential,
            client_ip,
            _ip_place,
        } = self;
        let limits = app.config.websocket.clone();
        let client = Arc::new(Mutex::new(ClientState {
            caller: None,
            client_ip,
            init_refused: false,
            last_seen: Instant::now(),
            running: HashSet::new(),
            credential_place: None,
        }));
        let (mut sink, stream) = socket.split();
        // A connection holds its channels as long as it lives: these two allocate little when
        // empty (tokio's mpsc allocates a block of 32 messages up front).
        let (verdicts, mut verdicts_out) = mpsc::unbounded::<Verdict>();
        let incoming = {
            let client = Arc::clone(&client);
            let app = app.clone();
            stream
                .take_while(|message| futures::future::ready(message.is_ok()))
                .filter_map(move |message| {
                    let (client, app, verdicts) =
                        (Arc::clone(&client), app.clone(), verdicts.clone());
                    async move {
                        let message = match message {
                            Ok(message @ (Message::Text(_) | Message::Binary(_))) => message,
                            // Pings and pongs only count as activity.
                            _ => {
                                lock(&client).last_seen = Instant::now();
                                return None;
                            }
                        };
                        lock(&client).last_seen = Instant::now();
                        let parsed = ClientMessage::from_bytes(message.into_bytes());
                        match &parsed {
                            Ok(ClientMessage::Start { id, .. }) => {
                                // Boxed: the stream holds this future as long as it runs, and
                                // only for so long.
                                if let Err(verdict) = Box::pin(admit(&app, &client, id)).await {
                                    let _ = verdicts.unbounded_send(verdict);
                                    return None;
                                }
                            }
                            Ok(ClientMessage::Stop { id }) => {
                                lock(&client).running.remove(id);
                            }
                            _ => {}
                        }
                        Some(parsed)
                    }
                })
                .boxed()
        };
        let (accepted, accepted_caller) = oneshot::channel::<Caller>();
        let mut accepted_caller = accepted_caller.fuse();
        let on_init = {
            let client = Arc::clone(&client);
            let app = app.clone();
            move |payload| async move {
                let accepted_caller = async {
                    let (data, caller, credential) =
                        authenticate(&app, payload, header_credential).await?;
                    let place = connections
                        .per_credential
                        .take(
                            credential,
                            app.config.websocket.ws_max_connections_per_credential,
                        )
                        .ok_or_else(|| {
                            app.metrics
                                .rate_limited(RateLimit::WebsocketConnectionsPerCredential);
                            AppError::QuotaExceeded {
                                what: "WebSocket connections per credential",
                                retry_after: 1,
                            }
                            .extend()
                        })?;
                    Ok::<_, async_graphql::Error>((data, caller, place))
                }
                .await;
                let mut client = lock(&client);
                match accepted_caller {
                    Ok((data, caller, place)) => {
                        client.credential_place = Some(place);
                        client.caller = Some(caller.clone());
                        let _ = accepted.send(caller);
                        Ok(data)
                    }
                    Err(error) => {
                        client.init_refused = true;
                        Err(error)
                    }
                }
            }
        };
        let mut graphql = ProtocolHandler::from_message_stream(schema, incoming, protocol.0)
            .connection_data(data)
            .on_connection_init(on_init);
        let init_deadline = tokio::time::sleep(limits.init_timeout());
        tokio::pin!(init_deadline);
        // Resolves when the connection's credential dies (revoked, expired).
        let mut credential_ended = std::future::pending().boxed();
        let mut pings = tokio::time::interval(limits.ping_interval());
        pings.tick().await;
        loop {
            let outgoing = tokio::select! {
                message = graphql.next() => match message {
                    Some(WsMessage::Text(text)) => {
                        if let Some(id) = ended_subscription(&text) {
                            lock(&client).running.remove(&id);
                        }
                        Message::Text(text)
                    }
                    Some(WsMessage::Close(_, reason)) if lock(&client).init_refused => {
                        Message::close_with(FORBIDDEN, reason)
                    }
                    Some(WsMessage::Close(code, reason)) => Message::close_with(code, reason),
                    None => break,
                },
                Ok(caller) = &mut accepted_caller => {
                    credential_ended = app.credential_ended(caller).boxed();
                    continue;
                }
                _ = &mut credential_ended => {
                    tracing::debug!("closing a WebSocket connection whose credential ended");
                    Message::close_with(FORBIDDEN, "Forbidden: the credential was revoked or has expired")
                }
                Some(verdict) = verdicts_out.next() => match verdict {
                    Verdict::Refuse(text) => Message::Text(text),
                    Verdict::Close(code, reason) => Message::close_with(code, reason),
                },
                () = &mut init_deadline, if lock(&client).caller.is_none() => {
                    Message::close_with(4408_u16, "Connection initialisation timeout")
                }
                _ = pings.tick() => {
                    if lock(&client).last_seen.elapsed() > 3 * limits.ping_interval() {
                        tracing::debug!("closing an idle WebSocket connection");
                        break;
                    }
                    Message::Ping(Vec::new())
                }
            };
            let closing = matches!(outgoing, Message::Close(_));
            match tokio::time::timeout(limits.send_timeout(), sink.send(outgoing)).await {
                Ok(Ok(())) if !closing => {}
                Ok(Ok(())) | Ok(Err(_)) => break,
                Err(_) => {
                    tracing::info!("cutting off a WebSocket subscriber that stopped reading");
                    break;
                }
            }
        }
    }
}

/// Lets operation `id` start, as every operation on any transport: only while the connection's
/// credential still works, counted against its tenant's request rate, and within the
/// subscriptions a connection may run. Before `connection_init` the protocol handler refuses it.
async fn admit(app: &Api, client: &Mutex<ClientState>, id: &str) -> Result<(), Verdict> {
    let (Some(caller), client_ip) = ({
        let client = lock(client);
        (client.caller.clone(), client.client_ip)
    }) else {
        return Ok(());
    };
    let refuse = |error: AppError, message: Option<String>| {
        Verdict::Refuse(operation_error(id, &error, message))
    };
    match app.still_valid(&caller).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(Verdict::Close(
                FORBIDDEN,
                "Forbidden: the credential was revoked or has expired",
            ))
        }
        Err(error) => return Err(refuse(error, None)),
    }
    match rate_limit::take(app, &caller, client_ip).await {
        Ok(Some(decision)) if !decision.allowed => {
            return Err(refuse(
                AppError::QuotaExceeded {
                    what: "API requests per minute",
                    retry_after: decision.retry_after,
                },
                None,
            ))
        }
        Ok(_) => {}
        Err(error) => return Err(refuse(error, None)),
    }
    let max = app.config.websocket.ws_max_subscriptions;
    let mut client = lock(client);
    if !client.running.contains(id) {
        if client.running.len() >= max as usize {
            app.metrics
                .rate_limited(RateLimit::SubscriptionsPerConnection);
            let error = AppError::QuotaExceeded {
                what: "subscriptions per connection",
                retry_after: 0,
            };
            let message = format!("at most {max} subscriptions may run on one connection");
            return Err(refuse(error, Some(message)));
        }
        client.running.insert(id.to_owned());
    }
    Ok(())
}

fn lock(client: &Mutex<ClientState>) -> std::sync::MutexGuard<'_, ClientState> {
    client.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The id of the subscription a server message ends (`complete`, or `error` which also ends
/// it); async-graphql writes `type` first.
fn ended_subscription(text: &str) -> Option<String> {
    if !(text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#)) {
        return None;
    }
    let message: serde_json::Value = serde_json::from_str(text).ok()?;
    message.get("id")?.as_str().map(str::to_owned)
}

/// The `error` message (the same shape in both protocols) refusing operation `id`, with
/// `message` instead of the error's own text if given.
fn operation_error(id: &str, error: &AppError, message: Option<String>) -> String {
    let error = error.server_error();
    let mut error = serde_json::to_value(error).unwrap_or_default();
    if let Some(message) = message {
        error["message"] = message.into();
    }
    serde_json::json!({ "type": "error", "id": id, "payload": [error] }).to_string()
}

/// The credential fields a `connection_init` payload may carry, as clients name them.
const PAYLOAD_CREDENTIALS: [&str; 6] = [
    "apiKey",
    "token",
    "Authorization",
    "authorization",
    "X-API-Key",
    "x-api-key",
];

/// A connection's caller: the credential in the `connection_init` payload (any of
/// [`PAYLOAD_CREDENTIALS`], with or without `Bearer `), else the upgrade request's. A connection
/// without valid credentials is refused. Returns the connection's data, its caller and the
/// credential's id.
async fn authenticate(
    app: &Api,
    payload: serde_json::Value,
    header_credential: Option<String>,
) -> async_graphql::Result<(Data, Caller, Uuid)> {
    let from_payload = PAYLOAD_CREDENTIALS
        .iter()
        .find_map(|field| payload.get(field).and_then(|value| value.as_str()))
        .map(|value| {
            value
                .strip_prefix("Bearer ")
                .unwrap_or(value)
                .trim()
                .to_owned()
        });
    let credential = from_payload.or(header_credential);
    let caller = app
        .identify(credential.as_deref())
        .await
        .map_err(|error| error.extend())?;
    caller
        .require(Scope::Read)
        .map_err(|error| error.extend())?;
    let credential_id = match &caller {
        Caller::Key(holder) => holder.key_id,
        Caller::InboxToken(grant) => grant.inbox_id,
        Caller::Anonymous | Caller::Invalid => return Err(AppError::Unauthenticated.extend()),
    };
    let mut data = Data::default();
    data.insert(caller.clone());
    Ok((data, caller, credential_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_reads_into_a_small_buffer_and_refuses_messages_larger_than_a_request() {
        let config = protocol_config(256 * 1024);
        assert!(config.read_buffer_size <= 1024, "{config:?}");
        assert_eq!(config.max_message_size, Some(256 * 1024));
        assert_eq!(config.max_frame_size, Some(256 * 1024));
    }
}
