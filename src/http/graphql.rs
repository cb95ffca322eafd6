use std::sync::Arc;

use async_graphql_poem::{GraphQLProtocol, GraphQLResponse};
use poem::{
    error::ReadBodyError,
    handler,
    http::{header, StatusCode},
    web::{websocket::WebSocket, Data},
    Body, IntoResponse, Request, Response,
};

use super::{rate_limit, websocket};
use crate::{
    api::Api,
    auth,
    error::{ensure_error_codes, AppError},
    graphql::{
        context::{BaseUrl, ClientIp},
        schema::ApiSchema,
    },
};

/// `GET /graphql`: a WebSocket upgrade starts a subscription session (graphql-transport-ws or
/// the legacy graphql-ws protocol); any other GET gets GraphiQL.
#[handler]
pub async fn get(
    request: &Request,
    schema: Data<&ApiSchema>,
    app: Data<&Api>,
    connections: Data<&Arc<websocket::Connections>>,
    websocket: Option<WebSocket>,
    protocol: Option<GraphQLProtocol>,
) -> Response {
    match (websocket, protocol) {
        (Some(websocket), Some(protocol)) => {
            let mut data = async_graphql::Data::default();
            data.insert(base_url(request, &app));
            websocket::upgrade(
                request,
                websocket,
                protocol,
                schema.clone(),
                app.clone(),
                connections.clone(),
                data,
            )
        }
        // Operations run over POST only, so a link or an `<img>` can never run a mutation.
        _ if request.uri().query().is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair.split('=').next() == Some("query"))
        }) =>
        {
            let error = AppError::BadUserInput(
                "GraphQL operations are sent with POST (application/json); GET serves GraphiQL \
                 and WebSocket subscriptions"
                    .to_owned(),
            );
            let mut response = error_response(&error);
            response.set_status(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            response
        }
        _ => super::web::graphiql(request),
    }
}

/// `POST /graphql`: one operation as `application/json`, authenticated, counted against the
/// tenant's request quota.
#[handler]
pub async fn post(
    request: &Request,
    body: Body,
    schema: Data<&ApiSchema>,
    app: Data<&Api>,
) -> Response {
    let client_ip = super::client_ip::client_ip(request, &app.config.http.trusted_proxies);
    // Counted first, so that every answer (to malformed requests too) carries the rate-limit
    // headers.
    let admitted = async {
        let caller = app
            .identify(auth::credential::from_headers(request.headers()))
            .await?;
        let rate = rate_limit::take(&app, &caller, client_ip).await?;
        Ok::<_, AppError>((caller, rate))
    };
    let (caller, rate) = match admitted.await {
        Ok(admitted) => admitted,
        Err(error) => return error_response(&error),
    };
    if let Some(decision) = rate.filter(|decision| !decision.allowed) {
        return rate_limit::too_many_requests(decision);
    }
    let graphql = match read_operation(request, body, &app).await {
        Ok(graphql) => graphql,
        Err((status, error)) => {
            let mut response = error_response(&error);
            response.set_status(status);
            return rate_limit::with_headers(response, rate);
        }
    };
    let mut graphql = graphql.data(base_url(request, &app)).data(caller);
    if let Some(ip) = client_ip {
        graphql = graphql.data(ClientIp(ip));
    }
    let mut response = schema.execute(graphql).await;
    ensure_error_codes(&mut response);
    rate_limit::with_headers(GraphQLResponse::from(response), rate)
}

/// The request body as one GraphQL operation. Only JSON is read: a browser sends a
/// cross-origin form (`text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`)
/// without asking first, so accepting those would open the API to cross-site request forgery.
async fn read_operation(
    request: &Request,
    body: Body,
    app: &Api,
) -> Result<async_graphql::Request, (StatusCode, AppError)> {
    let refused = |status, message: &str| (status, AppError::BadUserInput(message.to_owned()));
    let media_type = request
        .content_type()
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    if !matches!(
        media_type.as_deref(),
        Some("application/json" | "application/graphql-response+json")
    ) {
        return Err(refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send GraphQL operations as `Content-Type: application/json`",
        ));
    }
    let limit = usize::try_from(app.config.http.max_request_bytes).unwrap_or(usize::MAX);
    let bytes = body
        .into_bytes_limit(limit)
        .await
        .map_err(|error| match error {
            ReadBodyError::PayloadTooLarge => refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than {limit} bytes"),
            ),
            _ => refused(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ),
        })?;
    if bytes.trim_ascii_start().starts_with(b"[") {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "batched operations are not supported: send one operation per request",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|error| {
        refused(
            StatusCode::BAD_REQUEST,
            &format!("not a GraphQL request (`{{\"query\": ...}}`): {error}"),
        )
    })
}

fn error_response(error: &AppError) -> Response {
    let mut response = async_graphql::Response::from_errors(vec![error.server_error()]);
    ensure_error_codes(&mut response);
    GraphQLResponse::from(response).into_response()
}

/// `--public-url`, or `http://<Host header>`.
fn base_url(request: &Request, app: &Api) -> BaseUrl {
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
    BaseUrl(format!("{}://{host}", app.config.http.scheme()))
}
