//! API keys: `ek_` followed by 32 random bytes (base64url), shown once, stored only as a
//! SHA-256 hash. A fast hash is right here: the keys carry 256 bits of entropy, so there is
//! nothing to brute-force, and every request must look one up.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Caller, KeyHolder};
use crate::scope::Scope;
use crate::secret::Secret;
use ephemail_store::models::{
    api_key::{self, ApiKey},
    tenant,
};

pub const PREFIX: &str = "ek_";
/// Characters of a key kept in clear in listings, to recognize it.
const SHOWN_CHARS: usize = PREFIX.len() + 6;

pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Characters after the prefix: 32 random bytes in base64url without padding.
const RANDOM_CHARS: usize = 43;

/// Whether `key` has the shape of the keys [`create`] makes.
pub fn is_well_formed(key: &str) -> bool {
    key.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == RANDOM_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Creates a key for the tenant; returns the key (to show once) and the stored record.
pub async fn create(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    name: &str,
    scope: Scope,
    now: DateTime<Utc>,
) -> QueryResult<(Secret, ApiKey)> {
    let mut random = [0u8; 32];
    rand::rng().fill_bytes(&mut random);
    let key = Secret::from(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random)));
    store(conn, tenant_id, name, scope, key, now).await
}

/// Stores `key` (well formed) for the tenant.
async fn store(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    name: &str,
    scope: Scope,
    key: Secret,
    now: DateTime<Utc>,
) -> QueryResult<(Secret, ApiKey)> {
    let record = ApiKey {
        id: Uuid::new_v4(),
        tenant_id,
        name: name.to_owned(),
        prefix: key.expose()[..SHOWN_CHARS].to_owned(),
        token_hash: hash(key.expose()),
        scopes: vec![Some(scope.as_str().to_owned())],
        created_at: now,
        revoked_at: None,
    };
    api_key::insert(conn, &record).await?;
    Ok((key, record))
}

/// On a database without any key: creates the tenant `tenant_name` (if needed) and an admin
/// key for it, `chosen` (well formed, see [`is_well_formed`]) or a random one, and returns the
/// key. Returns `None` once any key exists.
pub async fn create_first(
    conn: &mut AsyncPgConnection,
    tenant_name: &str,
    chosen: Option<&Secret>,
    now: DateTime<Utc>,
) -> QueryResult<Option<Secret>> {
    conn.transaction(async |conn| {
        api_key::lock_first_key(conn).await?;
        if api_key::any(conn).await? {
            return Ok(None);
        }
        let tenant = tenant::find_or_create(conn, tenant_name, now).await?;
        let (key, _) = match chosen {
            Some(key) => {
                let key = Secret::from(key.expose().to_owned());
                let name = "bootstrap admin key";
                store(conn, tenant.id, name, Scope::Admin, key, now).await?
            }
            None => create(conn, tenant.id, "first admin key", Scope::Admin, now).await?,
        };
        Ok(Some(key))
    })
    .await
}

/// The highest scope a stored key grants.
pub fn scope_of(record: &ApiKey) -> Option<Scope> {
    record
        .scopes
        .iter()
        .flatten()
        .filter_map(|scope| scope.parse().ok())
        .max()
}

/// The holder of API key `credential`; never logs the credential itself.
pub async fn authenticate(conn: &mut AsyncPgConnection, credential: &str) -> QueryResult<Caller> {
    let Some(record) = api_key::find_active(conn, &hash(credential)).await? else {
        return Ok(Caller::Invalid);
    };
    Ok(match scope_of(&record) {
        Some(scope) => Caller::Key(KeyHolder {
            key_id: record.id,
            tenant_id: record.tenant_id,
            scope,
        }),
        None => Caller::Invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_of_the_made_shape_are_well_formed() {
        let made = format!("{PREFIX}{}", "a".repeat(RANDOM_CHARS));
        assert!(is_well_formed(&made));
        assert!(is_well_formed(&format!(
            "{PREFIX}{}",
            "-_9Z".repeat(10) + "abc"
        )));
        assert!(!is_well_formed(&made[1..]));
        assert!(!is_well_formed(&format!("{made}x")));
        assert!(!is_well_formed(&format!(
            "{PREFIX}{}",
            "a=".repeat(21) + "a"
        )));
        assert!(!is_well_formed("ek_"));
    }

    #[test]
    fn hashes_are_stable_and_distinct() {
        assert_eq!(hash("ek_a"), hash("ek_a"));
        assert_ne!(hash("ek_a"), hash("ek_b"));
        assert_eq!(hash("ek_a").len(), 32);
    }
}
