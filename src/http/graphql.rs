use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_poem::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use poem::{
    handler,
    http::header,
    web::{websocket::WebSocket, Data, Html},
    IntoResponse, Request, Response,
};

use crate::{
    app::App,
    error::ensure_error_codes,
    graphql::{ApiSchema, BaseUrl},
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
            websocket
                .protocols(ALL_WEBSOCKET_PROTOCOLS)
                .on_upgrade(move |stream| {
                    GraphQLWebSocket::new(stream, schema, protocol)
                        .with_data(data)
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

/// `POST /graphql`.
#[handler]
pub async fn post(
    request: &Request,
    schema: Data<&ApiSchema>,
    app: Data<&App>,
    graphql: GraphQLRequest,
) -> GraphQLResponse {
    let mut response = schema
        .execute(graphql.0.data(base_url(request, &app)))
        .await;
    ensure_error_codes(&mut response);
    response.into()
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
