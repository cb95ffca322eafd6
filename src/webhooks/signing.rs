//! Signatures as the Standard Webhooks specification defines them, so that receivers verify
//! them with its libraries in any language: `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `<webhook-id>.<webhook-timestamp>.<body>`, keyed by the secret's bytes (`whsec_<base64>`).

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::secret::Secret;

const PREFIX: &str = "whsec_";
/// 24 random bytes, as the specification's reference implementations generate.
const SECRET_BYTES: usize = 24;

/// A delivery's `webhook-id`: the same on every attempt, and what the delivery log shows.
pub fn webhook_id(delivery: uuid::Uuid) -> String {
    format!("msg_{}", delivery.simple())
}

/// A new signing secret, `whsec_` and base64.
pub fn generate_secret(rng: &mut impl RngCore) -> Secret {
    let mut key = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut key);
    Secret::from(format!("{PREFIX}{}", STANDARD.encode(key)))
}

/// The `webhook-signature` header's value for one attempt.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let key = STANDARD
        .decode(secret.strip_prefix(PREFIX).unwrap_or(secret))
        .map_err(|_| anyhow::anyhow!("a webhook's stored secret is not base64"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the specification's reference implementations (svix-webhooks' tests).
    #[test]
    fn signs_as_the_reference_implementations_do() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_secrets_have_the_prefix_and_24_bytes() {
        let secret = generate_secret(&mut rand::rng());
        let encoded = secret.expose().strip_prefix(PREFIX).unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), SECRET_BYTES);
    }
}
