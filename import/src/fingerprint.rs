//! 64-bit fingerprints of normalised keys, so that the rules between rows can
//! remember a million keys without a million strings. Normalisation is the one
//! of [`crate::normalize_key`]: trimmed, lower-cased character by character.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// 64 bits: two different keys among a million share one with a chance of about
/// 1 in 30 million, and the cost of that would be a visible false "duplicate"
/// message, never a lost or merged row.
pub type Fingerprint = u64;

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;
const ONES: u64 = 0x0101_0101_0101_0101;

/// The normalised key's UTF-8 hashed eight bytes at a time. ASCII keys (nearly
/// all: userIds are ASCII by rule) are lower-cased eight bytes at a time too,
/// without allocating; others go through [`crate::normalize_key`].
pub fn fingerprint(value: &str) -> Fingerprint {
    let value = crate::fields::trim(value);
    if value.is_ascii() {
        hash_words(value.as_bytes(), lower_ascii)
    } else {
        hash_words(crate::normalize_key(value).as_bytes(), |word| word)
    }
}

/// `A`–`Z` to `a`–`z` in eight ASCII bytes at once: a byte's top bit is set
/// where it is at least `A`, and again where it is above `Z`; no carry crosses
/// bytes because ASCII bytes are below 0x80.
fn lower_ascii(word: u64) -> u64 {
    let at_least_a = word + ONES * (0x80 - u64::from(b'A'));
    let above_z = word + ONES * (0x7f - u64::from(b'Z'));
    let upper = at_least_a & !above_z & (ONES * 0x80);
    word | (upper >> 2)
}

fn hash_words(bytes: &[u8], lower: impl Fn(u64) -> u64) -> Fingerprint {
    let mut hash = (bytes.len() as u64).wrapping_mul(MULTIPLIER);
    let mut chunks = bytes.chunks_exact(8);
    let mut mix = |word: u64| {
        hash = (hash ^ lower(word)).wrapping_mul(MULTIPLIER);
        hash ^= hash >> 29;
    };
    for chunk in &mut chunks {
        mix(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
    }
    // The last bytes as one word padded with zeros, built in registers: copying
    // them to a buffer first stalled every key on the store to load.
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let word = match bytes.len().checked_sub(8) {
            Some(from) => {
                let tail = u64::from_le_bytes(bytes[from..].try_into().expect("eight bytes"));
                tail >> (8 * (8 - rest.len()))
            }
            None => rest.iter().rev().fold(0, |word, &b| (word << 8) | u64::from(b)),
        };
        mix(word);
    }
    // MurmurHash3's finaliser: every bit of the result depends on every bit of the state.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
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
        // Fingerprints are finalised: every bit is mixed already.
        self.0 = value;
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
        // Across the eight-byte steps and the letters next to A and Z.
        assert_eq!(fingerprint("@AZ[`az{Pat.JONES_1@Example.ORG"), fingerprint("@az[`az{pat.jones_1@example.org"));
        assert_ne!(fingerprint("a"), fingerprint("a\u{0}"));
    }

    #[test]
    fn keys_like_real_ones_do_not_collide() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..200_000 {
            for key in [format!("u{i}"), format!("u{i}@example.org"), format!("EMP{i:07}"), format!("{i}")] {
                assert!(seen.insert(fingerprint(&key)), "{key}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn a_fingerprint_is_that_of_the_normalised_key(key in "\\PC{0,40}") {
            proptest::prop_assert_eq!(fingerprint(&key), fingerprint(&crate::normalize_key(&key)));
        }
    }
}
