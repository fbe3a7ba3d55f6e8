//! 64-bit fingerprints of normalised keys, so that the rules between rows can
//! remember a million keys without a million strings. Normalisation is the one
//! of [`crate::normalize_key`]: trimmed, lower-cased character by character.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// 64 bits: two different keys among a million share one with a chance of about
/// 1 in 30 million, and the cost of that would be a visible false "duplicate"
/// message, never a lost or merged row.
pub type Fingerprint = u64;

const FNV_OFFSET: u64 = 0xcbf29ce484222325;
const FNV_PRIME: u64 = 0x100000001b3;

/// FNV-1a (64 bit) over the normalised key's UTF-8, computed without allocating.
pub fn fingerprint(value: &str) -> Fingerprint {
    let mut hash = FNV_OFFSET;
    let mut feed = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    };
    for c in value.trim().chars() {
        if c.is_ascii() {
            feed(c.to_ascii_lowercase() as u8);
        } else {
            let mut buf = [0u8; 4];
            for lower in c.to_lowercase() {
                lower.encode_utf8(&mut buf).bytes().for_each(&mut feed);
            }
        }
    }
    hash
}

/// Fingerprints are already uniform: the map uses their low bits as the hash.
#[derive(Default)]
pub struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        // FNV's low bits are its best mixed; fold the high ones in anyway.
        self.0 = value ^ (value >> 32);
    }
}

pub type FingerprintMap<V> = HashMap<Fingerprint, V, BuildHasherDefault<FoldHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_have_equal_fingerprints() {
        assert_eq!(fingerprint(" Pat.Jones@NHS.net "), fingerprint("pat.jones@nhs.net"));
        assert_eq!(fingerprint("ZOË"), fingerprint("zoë"));
        assert_ne!(fingerprint("pat"), fingerprint("pat2"));
        for tricky in ["İstanbul", "ΟΔΟΣ", " Ǆemal ", "straße"] {
            assert_eq!(fingerprint(tricky), fingerprint(&crate::normalize_key(tricky)), "{tricky}");
        }
    }
}
