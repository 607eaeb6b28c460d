//! Brute-force protection: failed attempts are counted per account and per client address in the
//! database (so every portal process sees them), with a temporary lock that grows with each
//! further failure and never lasts for ever.

use crate::{App, Error, Result};
use jiff::{SignedDuration, Timestamp};
use portal_store::throttle::{self, Reservation};

/// How many failures a key may have before it locks, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Failures allowed before the first lock.
    pub free_failures: i64,
    /// The first lock; each further failure doubles it.
    pub first_lock: SignedDuration,
    /// The longest lock.
    pub max_lock: SignedDuration,
    /// Failures older than this are forgotten.
    pub forget_after: SignedDuration,
}

/// Per account (sign-in, second factor).
pub const PER_ACCOUNT: Limits = Limits {
    free_failures: 5,
    first_lock: SignedDuration::from_secs(30),
    max_lock: SignedDuration::from_mins(15),
    forget_after: SignedDuration::from_hours(1),
};

/// Per client address, across accounts (password spraying, code guessing).
pub const PER_ADDRESS: Limits = Limits {
    free_failures: 20,
    first_lock: SignedDuration::from_secs(30),
    max_lock: SignedDuration::from_mins(15),
    forget_after: SignedDuration::from_hours(1),
};

/// The lock after `failures` failures, or none.
pub fn lock_for(limits: &Limits, failures: i64) -> Option<SignedDuration> {
    let over = failures - limits.free_failures;
    if over < 0 {
        return None;
    }
    let factor = 1_i64 << over.min(20);
    let secs = limits.first_lock.as_secs().saturating_mul(factor);
    Some(SignedDuration::from_secs(
        secs.min(limits.max_lock.as_secs()),
    ))
}

fn minutes_left(until: Timestamp, now: Timestamp) -> i64 {
    let secs = until.duration_since(now).as_secs();
    (secs + 59).div_euclid(60).max(1)
}

/// An attempt taken on throttle keys before it is evaluated (see [`App::take_attempt`]). Each
/// key already counts it as a failure; [`App::attempt_succeeded`] gives it back.
#[derive(Debug)]
#[must_use = "an attempt is given back when it succeeds"]
pub(crate) struct Attempt {
    taken: Vec<(String, Limits, i64)>,
}

impl Attempt {
    /// Whether this attempt, if it fails, is the one that first locked `key`.
    pub(crate) fn locks(&self, key: &str) -> bool {
        self.taken
            .iter()
            .any(|(k, limits, failures)| k == key && *failures == limits.free_failures)
    }
}

/// What [`App::try_take_attempt`] found.
#[derive(Debug)]
pub(crate) enum Taken {
    /// The attempt may be evaluated.
    Yes(Attempt),
    /// `keys[index]` is locked for this many more minutes; nothing was counted.
    Locked { index: usize, minutes: i64 },
}

impl App {
    /// Takes an attempt on every key at once, or on none: refuses with [`Error::Throttled`]
    /// while any key is locked. However many attempts arrive together, at most
    /// `free_failures` of them are ever evaluated before the lock.
    pub(crate) async fn take_attempt(&self, keys: &[(&str, Limits)]) -> Result<Attempt> {
        match self.try_take_attempt(keys).await? {
            Taken::Yes(attempt) => Ok(attempt),
            Taken::Locked { minutes, .. } => {
                self.metrics().throttled.inc();
                Err(Error::Throttled { minutes })
            }
        }
    }

    /// [`App::take_attempt`], saying which key was locked.
    pub(crate) async fn try_take_attempt(&self, keys: &[(&str, Limits)]) -> Result<Taken> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let mut taken = Vec::with_capacity(keys.len());
        for (index, (key, limits)) in keys.iter().enumerate() {
            let forget_before = now - limits.forget_after;
            match throttle::reserve(&mut tx, key, now, forget_before).await? {
                Reservation::Taken(failures) => {
                    if let Some(lock) = lock_for(limits, failures) {
                        throttle::lock(&mut tx, key, now + lock).await?;
                    }
                    taken.push(((*key).to_string(), *limits, failures));
                }
                Reservation::Locked(until) => {
                    drop(tx);
                    return Ok(Taken::Locked {
                        index,
                        minutes: minutes_left(until, now),
                    });
                }
            }
        }
        crate::commit(tx).await?;
        Ok(Taken::Yes(Attempt { taken }))
    }

    /// An attempt succeeded: the keys in `forget` lose all their failures (the account's own
    /// counters), the others get this attempt back (a shared address's count).
    pub(crate) async fn attempt_succeeded(&self, attempt: Attempt, forget: &[&str]) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        for (key, limits, _) in &attempt.taken {
            if forget.contains(&key.as_str()) {
                throttle::clear(&mut tx, key).await?;
            } else {
                throttle::give_back(&mut tx, key, limits.free_failures, now).await?;
            }
        }
        crate::commit(tx).await
    }
}

/// The throttle key of a sign-in e-mail (hashed: the table holds no addresses).
pub fn account_key(kind: &str, email: &str) -> String {
    format!("{kind}-account:{}", crate::crypto::sha256_hex(email))
}

/// The throttle key of a client address.
pub fn address_key(kind: &str, addr: &str) -> String {
    format!("{kind}-address:{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    #[test]
    fn locks_grow_after_the_free_failures_and_are_capped() {
        assert_eq!(lock_for(&PER_ACCOUNT, 4), None);
        assert_eq!(
            lock_for(&PER_ACCOUNT, 5),
            Some(SignedDuration::from_secs(30))
        );
        assert_eq!(
            lock_for(&PER_ACCOUNT, 6),
            Some(SignedDuration::from_secs(60))
        );
        assert_eq!(
            lock_for(&PER_ACCOUNT, 7),
            Some(SignedDuration::from_secs(120))
        );
        assert_eq!(
            lock_for(&PER_ACCOUNT, 60),
            Some(SignedDuration::from_mins(15))
        );
    }

    #[test]
    fn minutes_round_up() {
        assert_eq!(minutes_left(t(61), t(0)), 2);
        assert_eq!(minutes_left(t(1), t(0)), 1);
    }
}
