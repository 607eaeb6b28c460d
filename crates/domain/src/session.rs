//! A signed-in session as the portal knows it.

use crate::UserId;
use crate::ids::SessionId;
use jiff::Timestamp;

/// A signed-in session (its token is never held here, only its public id and CSRF token).
#[derive(Clone, Debug)]
pub struct Session {
    /// The public id (shown in the session list; never the token).
    pub id: SessionId,
    /// The account.
    pub user_id: UserId,
    /// How far sign-in got: "second-factor", "enrol" or "full".
    pub stage: String,
    /// The CSRF token bound to this session.
    pub csrf_token: String,
    /// When it started.
    pub created_at: Timestamp,
    /// When it was last used.
    pub last_seen_at: Timestamp,
    /// When it ends whatever happens.
    pub absolute_expires_at: Timestamp,
    /// Where it was opened from.
    pub client_addr: String,
    /// The browser that opened it.
    pub user_agent: String,
}
