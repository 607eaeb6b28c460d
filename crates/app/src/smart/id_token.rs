//! OpenID Connect ID tokens for apps granted `openid fhirUser`: a JWT signed RS256 with the
//! portal's key pair, its `kid` in the header. The pair is made once (on the first ID token),
//! kept in the database with the private key sealed under the portal's secret key, and its
//! public half is published at the JWKS address.

use crate::services::Smart;
use crate::{Error, Result};
use data_encoding::BASE64URL_NOPAD;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use sha2::Sha256;

/// The purpose the private key is sealed under.
const SEAL_PURPOSE: &[u8] = b"smart-id-token-key";
/// The size of the key pair.
const KEY_BITS: usize = 2048;

/// The claims of one ID token.
#[derive(Clone, Debug)]
pub struct Claims<'a> {
    /// The issuer: the FHIR base.
    pub issuer: &'a str,
    /// The user's id (`sub`).
    pub subject: &'a str,
    /// The app's client id (`aud`).
    pub audience: &'a str,
    /// The user as a FHIR resource URL (`fhirUser`), when the user has one.
    pub fhir_user: Option<String>,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// The JWK of a public key.
fn public_jwk(key: &RsaPrivateKey, kid: &str) -> serde_json::Value {
    let public = key.to_public_key();
    serde_json::json!({
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "n": BASE64URL_NOPAD.encode(&public.n().to_bytes_be()),
        "e": BASE64URL_NOPAD.encode(&public.e().to_bytes_be()),
    })
}

/// Signs `claims` as a compact JWT.
fn sign(key: &RsaPrivateKey, kid: &str, claims: &Claims<'_>) -> String {
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
    let mut payload = serde_json::json!({
        "iss": claims.issuer,
        "sub": claims.subject,
        "aud": claims.audience,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
    });
    if let (Some(user), Some(obj)) = (&claims.fhir_user, payload.as_object_mut()) {
        obj.insert("fhirUser".into(), serde_json::json!(user));
    }
    let signing_input = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(payload.to_string().as_bytes())
    );
    let signer = SigningKey::<Sha256>::new(key.clone());
    let signature = signer.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        BASE64URL_NOPAD.encode(&signature.to_bytes())
    )
}

impl Smart {
    /// The key pair in use, made (off the async threads) and kept the first time.
    async fn signing_key(&self) -> Result<(String, RsaPrivateKey)> {
        let mut conn = self.conn().await?;
        if let Some(stored) = portal_store::smart::current_key(&mut conn).await? {
            let der = self
                .key()
                .open(SEAL_PURPOSE, stored.kid.as_bytes(), &stored.sealed)
                .ok_or_else(|| Error::Internal("the ID token key cannot be opened".into()))?;
            let key = RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|e| Error::Internal(format!("the ID token key is unreadable: {e}")))?;
            return Ok((stored.kid, key));
        }
        drop(conn);
        let key =
            tokio::task::spawn_blocking(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS))
                .await
                .map_err(|e| Error::Internal(format!("key generation stopped: {e}")))?
                .map_err(|e| Error::Internal(format!("key generation failed: {e}")))?;
        let kid = uuid::Uuid::now_v7().simple().to_string();
        let der = key
            .to_pkcs8_der()
            .map_err(|e| Error::Internal(format!("the ID token key cannot be kept: {e}")))?;
        let sealed = self
            .key()
            .seal(SEAL_PURPOSE, kid.as_bytes(), der.as_bytes())?;
        let mut conn = self.conn().await?;
        portal_store::smart::add_key(
            &mut conn,
            &portal_store::smart::SigningKey {
                kid: kid.clone(),
                sealed,
                public_jwk: public_jwk(&key, &kid).to_string(),
            },
            self.now(),
        )
        .await?;
        Ok((kid, key))
    }

    /// An ID token with these claims.
    pub(crate) async fn id_token(&self, claims: &Claims<'_>) -> Result<String> {
        let (kid, key) = self.signing_key().await?;
        Ok(sign(&key, &kid, claims))
    }

    /// The JWK Set of the keys that sign ID tokens.
    pub async fn jwks(&self) -> Result<serde_json::Value> {
        let mut conn = self.conn().await?;
        let keys: Vec<serde_json::Value> = portal_store::smart::public_keys(&mut conn)
            .await?
            .iter()
            .filter_map(|k| serde_json::from_str(k).ok())
            .collect();
        Ok(serde_json::json!({ "keys": keys }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    #[test]
    fn an_id_token_verifies_with_the_published_key() {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).expect("key");
        let token = sign(
            &key,
            "k1",
            &Claims {
                issuer: "https://portal.example/fhir",
                subject: "u1",
                audience: "app1",
                fhir_user: Some("https://portal.example/fhir/Patient/p1".into()),
                issued_at: 10,
                expires_at: 20,
            },
        );
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[0].as_bytes()).expect("b64"))
                .expect("json");
        assert_eq!(
            (header["alg"].as_str(), header["kid"].as_str()),
            (Some("RS256"), Some("k1"))
        );
        let claims: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).expect("b64"))
                .expect("json");
        assert_eq!(claims["fhirUser"], "https://portal.example/fhir/Patient/p1");
        assert_eq!(claims["aud"], "app1");
        // Verified with the public key as the JWK gives it.
        let jwk = public_jwk(&key, "k1");
        let n = rsa::BigUint::from_bytes_be(
            &BASE64URL_NOPAD
                .decode(jwk["n"].as_str().expect("n").as_bytes())
                .expect("n"),
        );
        let e = rsa::BigUint::from_bytes_be(
            &BASE64URL_NOPAD
                .decode(jwk["e"].as_str().expect("e").as_bytes())
                .expect("e"),
        );
        let public = rsa::RsaPublicKey::new(n, e).expect("public key");
        let signature = Signature::try_from(
            BASE64URL_NOPAD
                .decode(parts[2].as_bytes())
                .expect("b64")
                .as_slice(),
        )
        .expect("signature");
        let verifier = VerifyingKey::<Sha256>::new(public);
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(verifier.verify(input.as_bytes(), &signature).is_ok());
        assert!(verifier.verify(b"tampered", &signature).is_err());
    }
}
