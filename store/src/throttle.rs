//! Throttling of repeated sign-in failures, per account and per client address.
//!
//! Kept in the process's memory: with several server processes an attacker gets
//! the budget once per process, which still bounds guessing to a few attempts a
//! minute. Argon2's cost bounds it further.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct SignInThrottle {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self::new(5, Duration::from_secs(15 * 60))
    }
}

impl SignInThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self { max_failures, window, entries: Mutex::new(HashMap::new()) }
    }

    /// `Err(wait)` when any of the keys has failed too often within the window.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let entries = self.entries.lock().expect("throttle lock");
        self.wait(&entries, keys, Instant::now()).map_or(Ok(()), Err)
    }

    /// Counts an attempt against every key before its password is checked, or
    /// `Err(wait)` (counting nothing) when a key is out of attempts. Checked and
    /// counted under one lock: attempts sent side by side each see the ones
    /// before them, where a check now and a failure recorded after the ~30 ms
    /// hash let every attempt of a burst through. A success then gives the
    /// attempt back ([`SignInThrottle::record_success`], [`SignInThrottle::forgive`]).
    pub fn attempt(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("throttle lock");
        if let Some(wait) = self.wait(&entries, keys, now) {
            return Err(wait);
        }
        if entries.len() > 100_000 {
            let window = self.window;
            entries.retain(|_, (_, since)| now.duration_since(*since) < window);
        }
        for key in keys {
            let entry = entries.entry(key.clone()).or_insert((0, now));
            if now.duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
        Ok(())
    }

    /// Takes back one attempt counted by [`SignInThrottle::attempt`] (it succeeded).
    pub fn forgive(&self, keys: &[String]) {
        let mut entries = self.entries.lock().expect("throttle lock");
        for key in keys {
            if let Some(entry) = entries.get_mut(key) {
                entry.0 = entry.0.saturating_sub(1);
                if entry.0 == 0 {
                    entries.remove(key);
                }
            }
        }
    }

    fn wait(&self, entries: &HashMap<String, (u32, Instant)>, keys: &[String], now: Instant) -> Option<Duration> {
        keys.iter()
            .filter_map(|k| entries.get(k))
            .filter(|(count, since)| *count >= self.max_failures && now.duration_since(*since) < self.window)
            .map(|(_, since)| self.window - now.duration_since(*since))
            .max()
    }

    pub fn record_success(&self, keys: &[String]) {
        let mut entries = self.entries.lock().expect("throttle lock");
        for key in keys {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_success_clears() {
        let t = SignInThrottle::new(3, Duration::from_secs(60));
        let keys = vec!["acct:demo/admin".to_string()];
        for _ in 0..2 {
            t.attempt(&keys).unwrap();
            assert!(t.check(&keys).is_ok());
        }
        t.attempt(&keys).unwrap();
        let wait = t.check(&keys).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(t.check(&["acct:demo/other".to_string()]).is_ok());
        t.record_success(&keys);
        assert!(t.check(&keys).is_ok());
    }

    #[test]
    fn attempts_side_by_side_are_counted_before_any_fails() {
        // A burst: no attempt has failed yet (their hashes are still running),
        // yet only the budget's worth get through.
        let t = SignInThrottle::new(3, Duration::from_secs(60));
        let keys = vec!["acct:demo/admin".to_string()];
        let through = (0..10).filter(|_| t.attempt(&keys).is_ok()).count();
        assert_eq!(through, 3);
        assert!(t.check(&keys).is_err());
        // One of them succeeded: its attempt is given back, and one more may try.
        t.forgive(&keys);
        assert!(t.attempt(&keys).is_ok());
        assert!(t.attempt(&keys).is_err());
        t.forgive(&keys);
        t.forgive(&keys);
        t.forgive(&keys);
        t.forgive(&keys);
        assert!(t.entries.lock().unwrap().is_empty(), "an entry counted down to nothing is dropped");
    }

    #[test]
    fn the_window_expires() {
        let t = SignInThrottle::new(1, Duration::from_millis(30));
        let keys = vec!["ip:127.0.0.1".to_string()];
        t.attempt(&keys).unwrap();
        assert!(t.check(&keys).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(t.check(&keys).is_ok());
    }
}
