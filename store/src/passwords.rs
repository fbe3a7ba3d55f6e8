//! Argon2id password hashing. Hashing costs ~30 ms of CPU, so the async entry points
//! run it on tokio's blocking pool and never on the threads that serve requests.
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::{distributions::Alphanumeric, Rng};

/// OWASP's minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashing with valid parameters cannot fail")
        .to_string()
}

pub fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

pub async fn hash(password: String) -> String {
    slots().run(move || hash_blocking(&password)).await.expect("password hashing task panicked")
}

pub async fn verify(password: String, hash: String) -> bool {
    slots().run(move || verify_blocking(&password, &hash)).await.unwrap_or(false)
}

/// [`verify`] for sign-in, which anyone may send: `None` when more checks wait
/// already than [`MAX_WAITING`] per core, so a flood gets a quick "busy"
/// instead of a queue that grows without end (and memory with it).
pub async fn verify_bounded(password: String, hash: String) -> Option<bool> {
    let run = slots().run_bounded(move || verify_blocking(&password, &hash))?;
    Some(run.await.unwrap_or(false))
}

/// Checks that may wait for a hashing slot, per core, before sign-in answers "busy".
pub const MAX_WAITING: usize = 32;

/// Every hashing slot, held until the permit is dropped (tests: nothing else
/// hashes meanwhile).
#[cfg(test)]
pub(crate) async fn hold_every_slot() -> tokio::sync::SemaphorePermit<'static> {
    let slots = slots();
    slots.free.acquire_many(slots.at_once as u32).await.expect("the slots are never closed")
}

/// The async entry points hash one password per core at a time, the rest
/// waiting their turn: sign-in is open to anyone, and each hash holds 19 MiB
/// (a burst of a few hundred on tokio's 512 blocking threads was gigabytes).
fn slots() -> &'static Slots {
    static SLOTS: std::sync::OnceLock<Slots> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| Slots::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)))
}

struct Slots {
    free: tokio::sync::Semaphore,
    at_once: usize,
    /// Bounded callers waiting for a slot or hashing now.
    bounded: std::sync::atomic::AtomicUsize,
}

impl Slots {
    fn new(at_once: usize) -> Self {
        Self { free: tokio::sync::Semaphore::new(at_once), at_once, bounded: Default::default() }
    }

    /// `work` on a blocking thread once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let _slot = self.free.acquire().await.expect("the slots are never closed");
        tokio::task::spawn_blocking(work).await
    }

    /// [`Slots::run`], or `None` at once when [`MAX_WAITING`] callers per slot
    /// are in line already.
    fn run_bounded<T: Send + 'static>(
        &'static self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<impl std::future::Future<Output = Result<T, tokio::task::JoinError>>> {
        use std::sync::atomic::Ordering;
        let limit = MAX_WAITING * self.at_once;
        self.bounded.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < limit).then_some(n + 1)).ok()?;
        // Given back however the future ends: finished, or dropped with its request.
        struct InLine(&'static std::sync::atomic::AtomicUsize);
        impl Drop for InLine {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let in_line = InLine(&self.bounded);
        Some(async move {
            let _in_line = in_line;
            self.run(work).await
        })
    }
}

/// A random password for generated credentials: 20 letters and digits (~119 bits).
pub fn generate() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(20).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let hash = hash_blocking("correct horse");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_blocking("correct horse", &hash));
        assert!(!verify_blocking("correct horsE", &hash));
        assert!(!verify_blocking("correct horse", "not a hash"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_there_are_slots() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let slots = Arc::new(Slots::new(2));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (slots, now, most) = (slots.clone(), now.clone(), most.clone());
            all.spawn(async move {
                slots
                    .run(move || {
                        most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        now.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                    .unwrap()
            });
        }
        all.join_all().await;
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at a time, and both slots used");
    }

    #[test]
    fn sign_ins_waiting_for_a_hash_are_bounded_and_the_rest_told_busy() {
        let slots: &'static Slots = Box::leak(Box::new(Slots::new(1)));
        let mut waiting: Vec<_> =
            (0..MAX_WAITING).map(|_| slots.run_bounded(|| ()).expect("room in the line")).collect();
        assert!(slots.run_bounded(|| ()).is_none(), "the line is full: busy at once");
        // One leaves the line (answered, or its request dropped): room for one more.
        drop(waiting.pop());
        assert!(slots.run_bounded(|| ()).is_some());
    }

    #[test]
    fn generated_passwords_differ() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
