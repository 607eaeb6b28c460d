//! The account's sessions (signed in): listing them, refused sign-ins, signing out here or everywhere else,
//! and purging expired ones.

use super::*;
use crate::services::Accounts;

impl Accounts {
    /// Signs out: the session is deleted on the server, so a replayed cookie is refused.
    pub async fn sign_out(&self, current: &CurrentUser, context: &RequestContext) -> Result<()> {
        let mut tx = self.store().begin().await?;
        sessions::delete(&mut tx, &current.token_hash).await?;
        let actor = current.actor(context.clone());
        let mut event = self.event(&actor, AuditAction::SignOut, "Session", Outcome::Success);
        event.resource_id = Some(current.session.id.to_string());
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// The account's active sessions, newest first.
    pub async fn active_sessions(&self, current: &CurrentUser) -> Result<Vec<Session>> {
        let now = self.now();
        let idle = self.session_rules().await?.idle_timeout;
        let mut conn = self.conn().await?;
        Ok(sessions::list_for_user(&mut conn, current.id, now - idle, now).await?)
    }

    /// The account's refused sign-ins of the last 30 days (wrong passwords and codes, and
    /// the pauses they caused), newest first, for its holder to see.
    pub async fn refused_sign_ins(&self, current: &CurrentUser) -> Result<Vec<RefusedSignIn>> {
        let since = self.now() - SignedDuration::from_hours(30 * 24);
        let mut conn = self.conn().await?;
        let events =
            portal_store::audit::refused_sign_ins(&mut conn, &current.id.to_string(), since, 20)
                .await?;
        Ok(events
            .into_iter()
            .map(|e| RefusedSignIn {
                at: e.stored.event.at,
                what: e.stored.event.detail,
                client_addr: e.stored.event.context.client_addr,
            })
            .collect())
    }

    /// Ends every other session of the account; returns how many.
    pub async fn sign_out_everywhere_else(
        &self,
        current: &CurrentUser,
        context: &RequestContext,
    ) -> Result<u64> {
        let mut tx = self.store().begin().await?;
        let ended =
            sessions::delete_for_user(&mut tx, current.id, Some(current.session.id)).await?;
        let actor = current.actor(context.clone());
        let mut event = self.event(&actor, AuditAction::SignOut, "Session", Outcome::Success);
        event.detail = format!("signed out {ended} other session(s)");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(ended)
    }

    /// Deletes timed-out sessions (housekeeping).
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let now = self.now();
        let idle = self.session_rules().await?.idle_timeout;
        let mut conn = self.conn().await?;
        Ok(sessions::delete_expired(&mut conn, now - idle, now).await?)
    }
}
