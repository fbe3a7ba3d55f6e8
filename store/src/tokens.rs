//! Secrets handed to a browser or a person (session cookies, invitation links, API
//! tokens): 32 random bytes, shown once; only their SHA-256 is stored.
use rand::RngCore;
use sha2::{Digest, Sha256};

/// From the thread's generator (ChaCha, seeded from the OS and reseeded as it
/// goes), as generated passwords are: a system call per token was a cost a
/// load of a million invitations felt.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A secret for a link that the database finds by an index (an invitation):
/// 16 hex digits of the time it was made (microseconds since 1970), then
/// [`generate`]'s 64. What is stored, [`link_key`], starts with the same time,
/// so that the links one load makes go into the index one after another:
/// digests alone put each on a page of its own, and at a million users that
/// index was most of what a batch wrote (SQLite's load: 6.4k rows/s with it,
/// 12.0k without it; docs/performance.md). The time is no secret: the link's
/// mail says as much.
pub fn generate_link() -> String {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    format!("{:016x}{}", micros as u64, generate())
}

/// What is stored and looked up for a link's token: its 16 digits of time, then
/// 48 hex digits (192 bits) of its SHA-256, 64 characters as the column holds.
/// A token of another shape (a link made before links carried their time) is
/// its whole digest, as it was stored then.
pub fn link_key(token: &str) -> String {
    let token = token.trim();
    match token.get(..LINK_TIME) {
        Some(time) if token.len() == LINK_TIME + 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            format!("{time}{}", &digest(token)[..64 - LINK_TIME])
        }
        _ => digest(token),
    }
}

/// Hex digits of time before a link's secret.
const LINK_TIME: usize = 16;

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

    #[test]
    fn link_keys_are_in_the_order_links_were_made_and_old_links_keep_theirs() {
        let first = super::generate_link();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = super::generate_link();
        assert_eq!(first.len(), 80);
        assert_ne!(first[16..], second[16..], "the secrets are random");
        let (a, b) = (super::link_key(&first), super::link_key(&second));
        assert_eq!(a.len(), 64, "the column holds 64 characters");
        assert!(a < b, "made later, stored later in the index: {a} {b}");
        assert_eq!(a[..16], first[..16]);
        assert_eq!(a, super::link_key(&format!(" {first}\n")), "a pasted link with spaces around it");
        let other = if &first[16..17] == "0" { '1' } else { '0' };
        let changed = format!("{}{other}{}", &first[..16], &first[17..]);
        assert_ne!(a, super::link_key(&changed), "one digit of the secret changed");
        // A link of before: its whole digest, as it was stored.
        let old = super::generate();
        assert_eq!(super::link_key(&old), super::digest(&old));
        assert_eq!(super::link_key("not-a-link"), super::digest("not-a-link"));
    }
}
