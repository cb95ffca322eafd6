use async_graphql::{
    http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS},
    ErrorExtensions,
};
use async_graphql_poem::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use poem::{
    handler,
    http::header,
    web::{websocket::WebSocket, Data, Html},
    IntoResponse, Request, Response,
};

use super::rate_limit;
use crate::{
    app::App,
    auth::{self, Scope},
    error::ensure_error_codes,
    error::AppError,
    graphql::{ApiSchema, BaseUrl, ClientIp},
};

/// `GET /graphql`: a WebSocket upgrade starts a subscription session (graphql-transport-ws or
/// the legacy graphql-ws protocol); any other GET gets GraphiQL.
#[handler]
pub async fn get(
    request: &Request,
    schema: Data<&ApiSchema>,
    app: Data<&App>,
    websocket: Option<WebSocket>,
    protocol: Option<GraphQLProtocol>,
) -> Response {
    match (websocket, protocol) {
        (Some(websocket), Some(protocol)) => {
            let schema = schema.clone();
            let mut data = async_graphql::Data::default();
            data.insert(base_url(request, &app));
            let app = app.clone();
            let header_credential = auth::credential(request.headers()).map(str::to_owned);
            websocket
                .protocols(ALL_WEBSOCKET_PROTOCOLS)
                .on_upgrade(move |stream| {
                    GraphQLWebSocket::new(stream, schema, protocol)
                        .with_data(data)
                        .on_connection_init(move |payload| {
                            authenticate_connection(app, payload, header_credential)
                        })
                        .serve()
                })
                .into_response()
        }
        _ => Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .finish(),
        )
        .into_response(),
    }
}

/// A WebSocket session's caller: the credential in the `connection_init` payload (`apiKey`,
/// or `Authorization: Bearer ...`), else the upgrade request's. A connection without valid
/// credentials is refused.
async fn authenticate_connection(
    app: App,
    payload: serde_json::Value,
    header_credential: Option<String>,
) -> async_graphql::Result<async_graphql::Data> {
    let from_payload = ["apiKey", "Authorization", "authorization"]
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
    let caller = auth::identify(&app, credential.as_deref())
        .await
        .map_err(|error| error.extend())?;
    caller
        .require(Scope::Read)
        .map_err(|error| error.extend())?;
    let mut data = async_graphql::Data::default();
    data.insert(caller);
    Ok(data)
}

/// `POST /graphql`: authenticated, counted against the tenant's request quota.
#[handler]
pub async fn post(
    request: &Request,
    schema: Data<&ApiSchema>,
    app: Data<&App>,
    graphql: GraphQLRequest,
) -> Response {
    let admitted = async {
        let caller = auth::identify(&app, auth::credential(request.headers())).await?;
        let rate = rate_limit::take(&app, &caller).await?;
        Ok::<_, AppError>((caller, rate))
    };
    let (caller, rate) = match admitted.await {
        Ok(admitted) => admitted,
        Err(error) => return error_response(&error),
    };
    if let Some(decision) = rate.filter(|decision| !decision.allowed) {
        return rate_limit::too_many_requests(decision);
    }
    let mut graphql = graphql.0.data(base_url(request, &app)).data(caller);
    if let Some(peer) = request.remote_addr().as_socket_addr() {
        graphql = graphql.data(ClientIp(peer.ip()));
    }
    let mut response = schema.execute(graphql).await;
    ensure_error_codes(&mut response);
    rate_limit::with_headers(GraphQLResponse::from(response), rate)
}

fn error_response(error: &AppError) -> Response {
    let mut response = async_graphql::Response::from_errors(vec![error
        .extend()
        .into_server_error(async_graphql::Pos::default())]);
    ensure_error_codes(&mut response);
    GraphQLResponse::from(response).into_response()
}

/// `--public-url`, or `http://<Host header>`.
fn base_url(request: &Request, app: &App) -> BaseUrl {
    if let Some(public) = &app.config.http.public_url {
        return BaseUrl(public.trim_end_matches('/').to_owned());
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| {
            host.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map_or_else(|| app.config.http.http_addr.to_string(), str::to_owned);
    BaseUrl(format!("http://{host}"))
}
