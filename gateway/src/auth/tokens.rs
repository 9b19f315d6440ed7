//! Access tokens (JWT, HS256 only), refresh tokens and API keys (opaque random strings stored
//! as SHA-256 digests).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use troupe_runtime::accounts::Role;
use troupe_runtime::ids::UserId;
use uuid::Uuid;

/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "trr_";
/// Prefix of the one-time setup token.
pub const SETUP_PREFIX: &str = "trs_";
/// Prefix of API keys (how the gateway tells a key from a JWT).
pub const API_KEY_PREFIX: &str = "trk_";
/// Issuer and audience written into and required from every access token.
const ISSUER: &str = "troupe";

/// What an access token says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// The role when the token was issued.
    pub role: Role,
    /// The session family (login) the token belongs to.
    pub sid: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// Signs and checks access tokens with one HS256 secret.
#[derive(Clone)]
pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// How long an access token lives.
    pub ttl: Duration,
}

impl Jwt {
    /// Builds the signer; the secret is never kept in the clear beyond the keys.
    pub fn new(secret: &str, ttl: Duration) -> Self {
        // Only HS256 is accepted: `alg: none`, RS256 with a public key as HMAC secret, and any
        // other algorithm are refused before the signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl,
        }
    }

    /// Issues an access token.
    pub fn issue(&self, user: UserId, role: Role, family: Uuid) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            role,
            sid: family,
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            iss: ISSUER.into(),
            aud: ISSUER.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing succeeds")
    }

    /// Checks a token's algorithm, signature, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims)
    }
}

/// Returns `prefix` followed by 32 random bytes, base64url.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 digest (hex) under which a token is stored. The tokens carry 256 random bits,
/// so an unsalted fast hash is enough: there is nothing to guess.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt() -> Jwt {
        Jwt::new("0123456789abcdef0123456789abcdef", Duration::from_secs(900))
    }

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let jwt = jwt();
        let user = UserId::new();
        let token = jwt.issue(user, Role::User, Uuid::nil());
        let claims = jwt.verify(&token).unwrap();
        assert_eq!(claims.sub, user);
        assert_eq!(claims.exp - claims.iat, 900);
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(jwt.verify(&tampered).is_err());
        let other = Jwt::new("another secret of thirty-two bytes!", Duration::from_secs(900));
        assert!(other.verify(&token).is_err(), "a foreign secret's token is refused");
    }

    #[test]
    fn alg_none_and_expired_tokens_are_refused() {
        let jwt = jwt();
        let now = chrono::Utc::now().timestamp();
        let payload = serde_json::json!({
            "sub": UserId::new(), "role": "admin", "sid": Uuid::nil(), "iat": now, "exp": now + 60,
            "iss": ISSUER, "aud": ISSUER,
        });
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert!(jwt.verify(&format!("{header}.{body}.")).is_err());
        let expired = Claims {
            sub: UserId::new(),
            role: Role::User,
            sid: Uuid::nil(),
            iat: now - 120,
            exp: now - 60,
            iss: ISSUER.into(),
            aud: ISSUER.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &expired, &jwt.encoding).unwrap();
        assert_eq!(jwt.verify(&token).unwrap_err().kind(), &jsonwebtoken::errors::ErrorKind::ExpiredSignature);
    }

    #[test]
    fn random_tokens_differ_and_digests_are_stable() {
        let a = random_token(REFRESH_PREFIX);
        assert!(a.starts_with(REFRESH_PREFIX));
        assert_ne!(a, random_token(REFRESH_PREFIX));
        assert_eq!(digest(&a), digest(&a));
        assert_eq!(digest(&a).len(), 64);
    }
}
