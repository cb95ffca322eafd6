use async_graphql::http::GraphiQLSource;
use async_graphql_poem::{GraphQLRequest, GraphQLResponse};
use poem::{
    handler,
    web::{Data, Html},
};

use crate::{error::ensure_error_codes, graphql::ApiSchema};

#[handler]
pub async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

#[handler]
pub async fn execute(schema: Data<&ApiSchema>, request: GraphQLRequest) -> GraphQLResponse {
    let mut response = schema.execute(request.0).await;
    ensure_error_codes(&mut response);
    response.into()
}
