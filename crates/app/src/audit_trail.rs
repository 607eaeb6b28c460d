//! Reading and verifying the audit trail.

use crate::services::Clinic;
use crate::{Actor, Error, Result};
use portal_domain::checkpoint::{Checkpoint, KeptCheckpoint};
use portal_store::Conn;
use portal_store::audit::{self, Verdict};
use std::collections::HashSet;

impl Clinic {
    /// Walks the whole chain (privacy officers, and the operator's `portal audit verify`).
    pub async fn verify_audit_trail(&self, actor: &Actor) -> Result<Verdict> {
        if !matches!(actor.principal, portal_domain::Principal::Operator) {
            self.audit_review(actor).await?;
        }
        let mut conn = self.conn().await?;
        Ok(audit::verify(&mut conn, self.head_key()).await?)
    }
}

impl Clinic {
    /// The chain's head, to keep outside the database as a checkpoint.
    pub async fn audit_checkpoint(&self) -> Result<Checkpoint> {
        let mut conn = self.conn().await?;
        let (seq, hash) = audit::head(&mut conn)
            .await?
            .ok_or_else(|| Error::Internal("the audit trail has no head".into()))?;
        Ok(Checkpoint { seq, hash })
    }

    /// The chain's head with the current time: one line of a checkpoint file.
    pub async fn audit_checkpoint_to_keep(&self) -> Result<KeptCheckpoint> {
        let checkpoint = self.audit_checkpoint().await?;
        Ok(KeptCheckpoint::new(self.now(), checkpoint))
    }

    /// Whether a checkpoint taken earlier still matches the chain.
    pub async fn audit_matches_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool> {
        let mut conn = self.conn().await?;
        let head = head_seq(&mut conn).await?;
        still_holds(&mut conn, head, checkpoint).await
    }

    /// The first of `kept` (line number and checkpoint, in a file's order) that the chain no
    /// longer holds: its event is gone or has another hash, or the chain now ends before it.
    /// Meant after [`App::verify_audit_trail`] found the chain itself intact.
    pub async fn audit_first_lost_checkpoint<'a>(
        &self,
        kept: &'a [(usize, KeptCheckpoint)],
    ) -> Result<Option<&'a (usize, KeptCheckpoint)>> {
        let mut conn = self.conn().await?;
        let head = head_seq(&mut conn).await?;
        // Several processes keep the same head; each distinct checkpoint is asked once.
        let mut checked = HashSet::new();
        for entry in kept {
            let checkpoint = &entry.1.checkpoint;
            if checked.insert(checkpoint) && !still_holds(&mut conn, head, checkpoint).await? {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }
}

async fn head_seq(conn: &mut Conn) -> Result<i64> {
    let (seq, _) = audit::head(conn)
        .await?
        .ok_or_else(|| Error::Internal("the audit trail has no head".into()))?;
    Ok(seq)
}

async fn still_holds(conn: &mut Conn, head_seq: i64, checkpoint: &Checkpoint) -> Result<bool> {
    Ok(checkpoint.seq <= head_seq
        && audit::matches_checkpoint(conn, checkpoint.seq, &checkpoint.hash).await?)
}
