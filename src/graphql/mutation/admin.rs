//! Operator mutations (admin scope): tenants and API keys.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use crate::{
    error::ApiResult,
    graphql::{
        context::ContextExt,
        types::{
            parse_id,
            tenant::{ApiKey, Tenant},
            StorableText,
        },
    },
    scope::Scope,
    service::{keys, tenant},
};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateTenantStatus {
    Created,
    NameTaken,
}

#[derive(SimpleObject)]
pub struct CreateTenantPayload {
    status: CreateTenantStatus,
    tenant: Option<Tenant>,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    tenant_id: ID,
    /// A label to recognize the key by.
    #[graphql(default, validator(custom = "StorableText"))]
    name: String,
    scope: Scope,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateApiKeyStatus {
    Created,
    TenantNotFound,
}

#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    status: CreateApiKeyStatus,
    /// The key, shown only in this response: only its hash is stored.
    key: Option<String>,
    api_key: Option<ApiKey>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeApiKeyStatus {
    Revoked,
    /// No such key, or already revoked.
    NotFound,
}

#[derive(SimpleObject)]
pub struct RevokeApiKeyPayload {
    status: RevokeApiKeyStatus,
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(custom = "StorableText"))] name: String,
    ) -> Result<CreateTenantPayload> {
        ctx.viewer(Scope::Admin).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        Ok(
            match tenant::create(&mut conn, &name, app.clock.now())
                .await
                .api()?
            {
                tenant::CreateOutcome::Created(created) => CreateTenantPayload {
                    status: CreateTenantStatus::Created,
                    tenant: Some(Tenant(created)),
                },
                tenant::CreateOutcome::NameTaken => CreateTenantPayload {
                    status: CreateTenantStatus::NameTaken,
                    tenant: None,
                },
            },
        )
    }

    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> Result<CreateApiKeyPayload> {
        ctx.viewer(Scope::Admin).api()?;
        let tenant_id = parse_id(&input.tenant_id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let now = app.clock.now();
        Ok(
            match keys::create(&mut conn, tenant_id, &input.name, input.scope, now)
                .await
                .api()?
            {
                keys::CreateOutcome::Created { key, record } => CreateApiKeyPayload {
                    status: CreateApiKeyStatus::Created,
                    key: Some(key.expose().to_owned()),
                    api_key: Some(record.into()),
                },
                keys::CreateOutcome::TenantNotFound => CreateApiKeyPayload {
                    status: CreateApiKeyStatus::TenantNotFound,
                    key: None,
                    api_key: None,
                },
            },
        )
    }

    /// Revokes a key: it stops working at once.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<RevokeApiKeyPayload> {
        ctx.viewer(Scope::Admin).api()?;
        let id = parse_id(&id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let revoked = keys::revoke(&mut conn, &app.events, id, app.clock.now())
            .await
            .api()?;
        Ok(RevokeApiKeyPayload {
            status: if revoked {
                RevokeApiKeyStatus::Revoked
            } else {
                RevokeApiKeyStatus::NotFound
            },
        })
    }
}
