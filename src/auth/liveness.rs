//! Credentials die: an API key when it is revoked (in this process or another one on the same
//! database), an inbox token when its `exp` passes. A request checks its credential when it
//! starts; work that outlives that check (a held `waitForMessage`, a subscription, a WebSocket
//! connection) runs beside [`ended`] and stops when it resolves.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::Caller;
use ephemail_store::{
    clock::Clock,
    events::{EventBus, Revocation},
    models::api_key,
    Pool,
};

use crate::error::AppError;

/// How often a token's expiry is compared with the injected clock: a timer set from the clock
/// once would not notice a clock that moves otherwise (a manual clock in tests).
const EXPIRY_CHECK: Duration = Duration::from_millis(250);

/// Whether `caller`'s credential still works now.
pub async fn still_valid(
    pool: &Pool,
    clock: &dyn Clock,
    caller: &Caller,
) -> Result<bool, AppError> {
    Ok(match caller {
        Caller::Anonymous => true,
        Caller::Invalid => false,
        Caller::Key(holder) => key_is_active(pool, holder.key_id).await?,
        Caller::InboxToken(grant) => clock.now() < grant.valid_until,
    })
}

async fn key_is_active(pool: &Pool, key_id: Uuid) -> Result<bool, AppError> {
    let mut conn = pool.get().await?;
    Ok(api_key::is_active(&mut conn, key_id).await?)
}

/// Resolves with `UNAUTHENTICATED` once `caller`'s credential stops working; never for
/// anonymous callers. Revocations are heard from the moment this is called, so call it right
/// after the credential was checked.
pub fn ended(
    pool: &Pool,
    clock: &Arc<dyn Clock>,
    events: &EventBus,
    caller: Caller,
) -> impl Future<Output = AppError> + Send + 'static {
    let mut revocations = events.revocations();
    let (pool, clock) = (pool.clone(), clock.clone());
    async move {
        match caller {
            Caller::Anonymous => std::future::pending().await,
            Caller::Invalid => AppError::Unauthenticated,
            Caller::Key(holder) => loop {
                match revocations.recv().await {
                    Ok(Revocation::Key(id)) if id == holder.key_id => {
                        return AppError::Unauthenticated
                    }
                    Ok(Revocation::Key(_)) => {}
                    // Revocations may have been missed: ask the database. An error there keeps
                    // the key until the next revocation or resync checks again.
                    Ok(Revocation::Unknown) | Err(RecvError::Lagged(_)) => {
                        // Boxed: this future lives as long as the work it watches, and the
                        // rare check in the database would make it several times larger.
                        match Box::pin(key_is_active(&pool, holder.key_id)).await {
                            Ok(false) => return AppError::Unauthenticated,
                            Ok(true) => {}
                            Err(error) => tracing::warn!(%error, "could not check an API key"),
                        }
                    }
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            },
            Caller::InboxToken(grant) => loop {
                if clock.now() >= grant.valid_until {
                    return AppError::Unauthenticated;
                }
                tokio::time::sleep(EXPIRY_CHECK).await;
            },
        }
    }
}
