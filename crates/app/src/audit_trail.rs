//! Reading and verifying the audit trail.

use crate::{Actor, App, Error, Result};
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_store::audit::{self, NamedEvent, Verdict};

/// Filters of the admin's audit page.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only events about this patient id.
    pub patient: Option<String>,
    /// Only events by this actor id.
    pub actor: Option<String>,
    /// Only events before this position (paging).
    pub before: Option<i64>,
}

impl App {
    /// The newest audit events matching `filter` (admins only).
    pub async fn audit_events(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
    ) -> Result<Vec<NamedEvent>> {
        authorize_clinic(&actor.principal, ClinicAction::ReadAuditTrail)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(audit::recent(
            &mut conn,
            filter.patient.as_deref(),
            filter.actor.as_deref(),
            filter.before,
            100,
        )
        .await?)
    }

    /// Walks the whole chain (admins, and the operator's `portal audit verify`).
    pub async fn verify_audit_trail(&self, actor: &Actor) -> Result<Verdict> {
        if !matches!(actor.principal, portal_domain::Principal::Operator) {
            authorize_clinic(&actor.principal, ClinicAction::ReadAuditTrail)
                .map_err(|_| Error::Forbidden)?;
        }
        let mut conn = self.conn().await?;
        Ok(audit::verify(&mut conn, self.head_key()).await?)
    }
}

impl App {
    /// The chain's head as `SEQ:HASH`, to keep outside the database as a checkpoint.
    pub async fn audit_checkpoint(&self) -> Result<String> {
        let mut conn = self.conn().await?;
        let (seq, hash) = audit::head(&mut conn)
            .await?
            .ok_or_else(|| Error::Internal("the audit trail has no head".into()))?;
        Ok(format!("{seq}:{hash}"))
    }

    /// Whether a checkpoint taken earlier (`SEQ:HASH`) still matches the chain.
    pub async fn audit_matches_checkpoint(&self, checkpoint: &str) -> Result<bool> {
        let (seq, hash) = checkpoint
            .split_once(':')
            .and_then(|(s, h)| Some((s.parse::<i64>().ok()?, h)))
            .ok_or_else(|| Error::field("checkpoint", "Checkpoint must look like SEQ:HASH."))?;
        let mut conn = self.conn().await?;
        Ok(audit::matches_checkpoint(&mut conn, seq, hash).await?)
    }
}
