//! Keys, random tokens, hashing and encryption.
//!
//! Session ids, activation and reset codes, recovery codes and API tokens are stored only as
//! SHA-256 hashes; TOTP secrets are encrypted with AES-256-GCM under a key derived from the
//! portal's secret key.

use crate::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The portal's 32-byte secret key, from `PORTAL_SECRET_KEY` or a file in the data directory.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// Reads a key written as 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = hex::decode(text.trim())
            .map_err(|_| Error::Internal("the secret key must be 64 hex digits".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Internal("the secret key must be 64 hex digits".into()))?;
        Ok(Self(key))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// Reads `secret.key` from the data directory, creating it (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private(&path, &hex::encode(key.0))?;
                Ok(key)
            }
            Err(e) => Err(Error::Internal(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// A sub-key for one purpose, so no two uses share key material.
    pub fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"portal-key-v1:");
        mac.update(purpose);
        mac.finalize().into_bytes().into()
    }

    /// Encrypts `plain`, bound to `context` (e.g. the user id) so a ciphertext cannot be moved
    /// to another row. Output: hex of nonce || ciphertext.
    pub fn seal(&self, purpose: &[u8], context: &[u8], plain: &[u8]) -> Result<String> {
        let cipher = Aes256Gcm::new_from_slice(&self.derive(purpose))
            .map_err(|_| Error::Internal("bad key length".into()))?;
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| Error::Internal("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(hex::encode(out))
    }

    /// Decrypts what [`SecretKey::seal`] produced; `None` when it was altered or not ours.
    pub fn open(&self, purpose: &[u8], context: &[u8], sealed_hex: &str) -> Option<Vec<u8>> {
        let bytes = hex::decode(sealed_hex).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let cipher = Aes256Gcm::new_from_slice(&self.derive(purpose)).ok()?;
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context,
                },
            )
            .ok()
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))
}

/// A random token with 256 bits from the operating system's CSPRNG, URL-safe base32.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase()
}

/// Random bytes from the CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A random code of `len` characters from the unambiguous code alphabet.
pub fn random_code(len: usize) -> String {
    use rand::Rng;
    let alphabet = portal_domain::fields::CODE_ALPHABET;
    (0..len)
        .map(|_| char::from(alphabet[OsRng.gen_range(0..alphabet.len())]))
        .collect()
}

/// The SHA-256 of a secret, hex: what the database keeps instead of the secret.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The BLAKE3 hash of a resource's stored JSON, hex: how an import tells an unchanged resource
/// from a changed one. BLAKE3 is a cryptographic hash several times faster than SHA-256 here,
/// which matters when every imported byte is hashed.
pub fn content_hash(json: &str) -> String {
    blake3::hash(json.as_bytes()).to_hex().to_string()
}

/// Hashes a password with argon2id (OWASP parameters), on the calling thread.
pub fn hash_password_blocking(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Hashes a password off the async threads.
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

/// Checks a password against a stored hash off the async threads. A malformed hash never
/// matches.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_context() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"totp", b"user-1", b"secret").expect("seal");
        assert_eq!(
            key.open(b"totp", b"user-1", &sealed).as_deref(),
            Some(&b"secret"[..])
        );
        assert!(key.open(b"totp", b"user-2", &sealed).is_none());
        assert!(key.open(b"other", b"user-1", &sealed).is_none());
        assert!(
            SecretKey::generate()
                .open(b"totp", b"user-1", &sealed)
                .is_none()
        );
    }

    #[test]
    fn tokens_are_long_and_different() {
        let a = random_token();
        assert!(a.len() >= 52);
        assert_ne!(a, random_token());
    }

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        let code = random_code(16);
        assert_eq!(code.len(), 16);
        assert!(
            code.bytes()
                .all(|b| portal_domain::fields::CODE_ALPHABET.contains(&b))
        );
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("portal-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = SecretKey::load_or_create(&dir).expect("create");
        let b = SecretKey::load_or_create(&dir).expect("load");
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[tokio::test]
    async fn passwords_verify_exactly_as_typed() {
        let hash = hash_password("Correct Horse 🐎".into())
            .await
            .expect("hash");
        assert!(verify_password("Correct Horse 🐎".into(), hash.clone()).await);
        assert!(!verify_password("correct horse 🐎".into(), hash.clone()).await);
        assert!(!verify_password("Correct Horse".into(), hash).await);
        assert!(!verify_password("x".into(), "not a hash".into()).await);
    }
}
