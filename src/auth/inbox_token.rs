//! Inbox tokens: JWTs (HS256, the only algorithm accepted) that grant read access to one inbox
//! until it expires, so a browser page or a CI job can read an inbox without the API key.
//! `iss`, `aud`, `sub`, `exp` and `nbf` are required; `exp`/`nbf` are checked against the
//! injected clock with a small leeway.

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::Secret;
use ephemail_store::{
    models::{inbox::Inbox, server_secret},
    Pool,
};

pub const ISSUER: &str = "ephemail";
pub const AUDIENCE: &str = "ephemail:inbox";
/// Shortest signing secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: i64 = 5;
const SECRET_NAME: &str = "inbox_token_hs256";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    /// The inbox id.
    sub: Uuid,
    /// The inbox's tenant.
    tid: Uuid,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// What a valid token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub tenant_id: Uuid,
    pub inbox_id: Uuid,
    /// When the token stops being accepted (its `exp` plus the leeway).
    pub valid_until: DateTime<Utc>,
}

pub struct InboxTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl InboxTokens {
    pub fn new(secret: &[u8]) -> anyhow::Result<Self> {
        if secret.len() < MIN_SECRET_LEN {
            bail!("the inbox-token signing secret must be at least {MIN_SECRET_LEN} bytes");
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf"]);
        // Time is checked against the injected clock in `verify`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// From `--jwt-secret`, or from the secret this database's first ephemail generated.
    pub async fn load(
        pool: &Pool,
        configured: Option<&Secret>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Self> {
        if let Some(secret) = configured {
            return Self::new(secret.expose().as_bytes());
        }
        let mut candidate = [0u8; 32];
        rand::rng().fill_bytes(&mut candidate);
        let mut conn = pool.get().await.context("connecting to the database")?;
        let secret = server_secret::get_or_insert(&mut conn, SECRET_NAME, &candidate, now).await?;
        Self::new(&secret)
    }

    /// A token for `inbox`, valid until the inbox expires.
    pub fn issue(
        &self,
        inbox: &Inbox,
        now: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: inbox.id,
            tid: inbox.tenant_id,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: inbox.expires_at.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The grant of a valid, current token; `None` for anything else (tampered, expired, not
    /// yet valid, wrong issuer or audience, another algorithm, garbage).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Grant> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        let valid_until = DateTime::from_timestamp(claims.exp.checked_add(LEEWAY_SECONDS)?, 0)?;
        let current = claims.nbf <= now.timestamp() + LEEWAY_SECONDS && now < valid_until;
        current.then_some(Grant {
            tenant_id: claims.tid,
            inbox_id: claims.sub,
            valid_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use chrono::{Duration, TimeZone};

    use super::*;

    fn inbox(now: DateTime<Utc>) -> Inbox {
        Inbox {
            id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            local_part: "a".into(),
            domain: "x.test".into(),
            created_at: now,
            expires_at: now + Duration::minutes(10),
            tags: Vec::new(),
            purge_at: now + Duration::hours(1),
            message_bound: 0,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_token_grants_its_inbox_until_the_inbox_expires() {
        let tokens = InboxTokens::new(&[7; 32]).unwrap();
        let inbox = inbox(now());
        let token = tokens.issue(&inbox, now()).unwrap();
        let grant = tokens.verify(&token, now()).unwrap();
        assert_eq!(
            (grant.inbox_id, grant.tenant_id),
            (inbox.id, inbox.tenant_id)
        );
        assert!(
            tokens
                .verify(&token, now() + Duration::minutes(11))
                .is_none(),
            "expired"
        );
        assert!(
            tokens
                .verify(&token, now() - Duration::minutes(1))
                .is_none(),
            "not yet valid"
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let tokens = InboxTokens::new(&[7; 32]).unwrap();
        let token = tokens.issue(&inbox(now()), now()).unwrap();
        let other_key = InboxTokens::new(&[8; 32]).unwrap();
        assert!(
            other_key.verify(&token, now()).is_none(),
            "signed with another secret"
        );

        let (header_and_claims, _) = token.rsplit_once('.').unwrap();
        let (_, claims) = header_and_claims.split_once('.').unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            tokens
                .verify(&format!("{none_header}.{claims}."), now())
                .is_none(),
            "alg none"
        );

        let mut tampered = token.clone().into_bytes();
        let middle = tampered.len() / 2;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        assert!(tokens
            .verify(&String::from_utf8(tampered).unwrap(), now())
            .is_none());

        let wrong_audience = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "iss": ISSUER, "aud": "elsewhere", "sub": Uuid::nil(), "tid": Uuid::nil(),
                                 "iat": now().timestamp(), "nbf": now().timestamp(), "exp": now().timestamp() + 60 }),
            &EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert!(
            tokens.verify(&wrong_audience, now()).is_none(),
            "wrong audience"
        );
        let no_nbf = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": Uuid::nil(), "tid": Uuid::nil(),
                                 "exp": now().timestamp() + 60 }),
            &EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert!(tokens.verify(&no_nbf, now()).is_none(), "nbf is required");
        let no_issuer = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "aud": AUDIENCE, "sub": Uuid::nil(), "tid": Uuid::nil(),
                                 "nbf": now().timestamp(), "exp": now().timestamp() + 60 }),
            &EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert!(
            tokens.verify(&no_issuer, now()).is_none(),
            "iss is required"
        );
        assert!(tokens.verify("garbage", now()).is_none());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(InboxTokens::new(b"").is_err());
        assert!(InboxTokens::new(&[1; 31]).is_err());
    }
}
