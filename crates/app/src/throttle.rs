//! Brute-force protection: failed attempts are counted per account and per client address in the
//! database (so every portal process sees them), with a temporary lock that grows with each
//! further failure and never lasts for ever.

use crate::{App, Error, Result};
use jiff::{SignedDuration, Timestamp};
use portal_store::throttle::{self, ThrottleState};

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

/// The state after one more failure at `now`.
pub fn after_failure(
    limits: &Limits,
    prev: Option<ThrottleState>,
    now: Timestamp,
) -> ThrottleState {
    let failures = match prev {
        Some(p) if now.duration_since(p.last_failure_at) < limits.forget_after => p.failures + 1,
        _ => 1,
    };
    let locked_until = lock_for(limits, failures).map_or(now, |d| now + d);
    ThrottleState {
        failures,
        last_failure_at: now,
        locked_until,
    }
}

fn minutes_left(until: Timestamp, now: Timestamp) -> i64 {
    let secs = until.duration_since(now).as_secs();
    (secs + 59).div_euclid(60).max(1)
}

impl App {
    /// Refuses with [`Error::Throttled`] while any of `keys` is locked.
    pub(crate) async fn check_throttle(&self, keys: &[&str]) -> Result<()> {
        let now = self.now();
        let mut conn = self.conn().await?;
        for key in keys {
            if let Some(state) = throttle::get(&mut conn, key).await?
                && state.locked_until > now
            {
                self.metrics().throttled.inc();
                return Err(Error::Throttled {
                    minutes: minutes_left(state.locked_until, now),
                });
            }
        }
        Ok(())
    }

    /// Counts a failure against each key, in its own transaction so it holds even though the
    /// attempt itself changed nothing.
    pub(crate) async fn record_failures(&self, keys: &[(&str, Limits)]) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        for (key, limits) in keys {
            let prev = throttle::get(&mut tx, key).await?;
            throttle::put(&mut tx, key, &after_failure(limits, prev, now)).await?;
        }
        crate::commit(tx).await
    }

    /// Forgets the failures of `key` after a success.
    pub(crate) async fn clear_throttle(&self, key: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        throttle::clear(&mut conn, key).await?;
        Ok(())
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
    fn old_failures_are_forgotten() {
        let mut state = None;
        for i in 0..5 {
            state = Some(after_failure(&PER_ACCOUNT, state, t(i)));
        }
        let locked = state.expect("state");
        assert_eq!(locked.failures, 5);
        assert!(locked.locked_until > t(4));
        let later = after_failure(&PER_ACCOUNT, Some(locked), t(2 * 3600));
        assert_eq!(later.failures, 1);
        assert_eq!(later.locked_until, t(2 * 3600));
    }

    #[test]
    fn minutes_round_up() {
        assert_eq!(minutes_left(t(61), t(0)), 2);
        assert_eq!(minutes_left(t(1), t(0)), 1);
    }
}
