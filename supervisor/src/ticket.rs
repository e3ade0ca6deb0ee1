//! SPICE ticket authentication: a fresh RSA-1024 key for every link (as the
//! reference server does), the ticket decrypted with RSA-OAEP/SHA-1, and the
//! password compared in constant time.
//!
//! Each key decrypts exactly one ticket, so a recorded ticket cannot be
//! replayed and a timing oracle gets one query per key. Keys are generated
//! ahead of time on a blocking thread so that a link does not wait for one.

use std::sync::Arc;

use rsa::pkcs8::EncodePublicKey;
use rsa::PrivateKey;
use tokio::sync::{mpsc, Mutex};

/// How many keys wait ready. Key generation takes tens of milliseconds; a
/// few in reserve absorb a client opening all its channels at once.
const POOL_SIZE: usize = 4;

/// RSA modulus size fixed by the SPICE protocol (128-byte tickets).
const KEY_BITS: usize = 1024;

/// One link's key pair.
pub struct LinkKey {
    private: PrivateKey,
    /// DER SubjectPublicKeyInfo, as sent in the link reply.
    pub public_der: Vec<u8>,
}

/// Errors from key generation or ticket checks.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("rsa key generation failed: {0}")]
    KeyGen(String),
    #[error("ticket does not decrypt")]
    Undecryptable,
    #[error("wrong password")]
    WrongPassword,
}

impl LinkKey {
    fn generate() -> Result<Self, TicketError> {
        let private = PrivateKey::new(&mut rand::rngs::SysRng, KEY_BITS)
            .map_err(|e| TicketError::KeyGen(e.to_string()))?;
        let public_der = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| TicketError::KeyGen(e.to_string()))?
            .as_bytes()
            .to_vec();
        Ok(Self {
            private,
            public_der,
        })
    }

    /// Decrypts a 128-byte ticket; returns the password bytes up to the
    /// first NUL.
    pub fn decrypt(self, ticket: &[u8]) -> Result<Vec<u8>, TicketError> {
        let mut plain = self
            .private
            .oaep_decrypt::<sha1::Sha1>(ticket)
            .map_err(|_| TicketError::Undecryptable)?;
        if let Some(nul) = plain.iter().position(|b| *b == 0) {
            plain.truncate(nul);
        }
        Ok(plain)
    }
}

/// Compares two passwords in time that depends only on their lengths.
pub fn password_matches(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != given.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// A pool of ready keys, refilled in the background.
#[derive(Clone)]
pub struct KeyPool {
    ready: Arc<Mutex<mpsc::Receiver<LinkKey>>>,
}

impl KeyPool {
    /// Starts the background generator.
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel(POOL_SIZE);
        tokio::task::spawn_blocking(move || loop {
            match LinkKey::generate() {
                Ok(key) => {
                    if tx.blocking_send(key).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "link key generation failed");
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
        });
        Self {
            ready: Arc::new(Mutex::new(rx)),
        }
    }

    /// Takes a fresh key (waits if the pool is momentarily empty).
    pub async fn take(&self) -> Result<LinkKey, TicketError> {
        self.ready
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| TicketError::KeyGen("key generator stopped".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(password_matches(b"secret", b"secret"));
        assert!(!password_matches(b"secret", b"secreT"));
        assert!(!password_matches(b"secret", b"secret2"));
        assert!(!password_matches(b"secret", b""));
        assert!(password_matches(b"", b""));
    }

    #[test]
    fn ticket_round_trip() {
        let key = LinkKey::generate().expect("keygen");
        assert!(
            key.public_der.len() <= 162,
            "spki {} bytes",
            key.public_der.len()
        );
        let public = key.private.to_public_key();
        let ticket = public
            .oaep_encrypt::<sha1::Sha1>(b"secret\0")
            .expect("encrypt");
        assert_eq!(ticket.len(), 128);
        assert_eq!(key.decrypt(&ticket).expect("decrypt"), b"secret");
    }

    #[test]
    fn garbage_ticket_is_refused() {
        let key = LinkKey::generate().expect("keygen");
        assert!(matches!(
            key.decrypt(&[0x55; 128]),
            Err(TicketError::Undecryptable)
        ));
    }
}
