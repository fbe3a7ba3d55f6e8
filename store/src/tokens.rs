//! Secrets handed to a browser or a person (session cookies, invitation links, API
//! tokens): 32 random bytes, shown once; only their SHA-256 is stored.
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A digest of several texts, told apart by their lengths (`("ab", "c")` and
/// `("a", "bc")` are two digests): keys kept instead of what was typed.
pub fn digest_of_parts<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_digests_stable() {
        let a = super::generate();
        assert_eq!(a.len(), 64);
        assert_ne!(a, super::generate());
        assert_eq!(super::digest(&a), super::digest(&a));
        assert_ne!(super::digest(&a), a);
    }
}
