//! API tokens for system clients: created by an admin, shown once, stored hashed, checked on
//! every request to the FHIR API.

use crate::services::Accounts;
use crate::{Actor, Error, Result, commit, crypto};
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::fields::FieldErrors;
use portal_domain::ids::ClientId;
use portal_domain::{ApiScopes, Principal};
use portal_store::tokens::{self, TokenRow};

/// A token just created: the secret is shown once and never stored.
pub struct NewToken {
    /// The client id.
    pub id: ClientId,
    /// The bearer token.
    pub token: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Creates an API token for a system client (admins and the operator).
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        scopes: &str,
    ) -> Result<NewToken> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let mut errors = FieldErrors::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.add("name", "Name is required (at most 100 characters).");
        }
        let scopes = match ApiScopes::parse(scopes) {
            Ok(s) => Some(s),
            Err(message) => {
                errors.add("scope", message);
                None
            }
        };
        let Some(scopes) = scopes.filter(|_| errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let now = self.now();
        let id = ClientId::new_v7(now);
        let token = format!("ppt_{}", crypto::random_token());
        let mut tx = self.store().begin().await?;
        tokens::insert(
            &mut tx,
            &TokenRow {
                id,
                name: name.to_string(),
                scopes: scopes.as_text(),
            },
            &crypto::sha256_hex(&token),
            now,
        )
        .await?;
        let mut event = self.event(actor, AuditAction::Create, "ApiToken", Outcome::Success);
        event.resource_id = Some(id.to_string());
        event.detail = format!("scopes {}", scopes.as_text());
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(NewToken { id, token })
    }

    /// The system client behind a bearer token, or `None` for an unknown or revoked token.
    pub async fn authenticate_token(&self, bearer: &str) -> Result<Option<Principal>> {
        if bearer.is_empty() || bearer.len() > 200 {
            return Ok(None);
        }
        let mut conn = self.conn().await?;
        let Some(row) = tokens::find_active(&mut conn, &crypto::sha256_hex(bearer)).await? else {
            return Ok(None);
        };
        // Stored scopes were checked when the token was made; unknown text gives no access.
        let scopes = ApiScopes::parse(&row.scopes).unwrap_or(ApiScopes::NONE);
        Ok(Some(Principal::System {
            client: row.id,
            scopes,
        }))
    }
}

/// How many tokens the administration lists.
const TOKENS_LISTED: i64 = 500;

impl Accounts {
    /// The API tokens, active first (admins and the operator; never the tokens themselves).
    pub async fn api_tokens(&self, actor: &Actor) -> Result<Vec<tokens::TokenInfo>> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(tokens::list(&mut conn, TOKENS_LISTED).await?)
    }

    /// Revokes an API token at once: its next request is refused. Audited; an unknown or
    /// already revoked token is [`Error::NotFound`] and changes nothing.
    pub async fn revoke_api_token(&self, actor: &Actor, id: &str) -> Result<tokens::TokenRow> {
        authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let id: ClientId = id.trim().parse().map_err(|_| Error::NotFound)?;
        let mut tx = self.store().begin().await?;
        let found = tokens::find(&mut tx, id)
            .await?
            .filter(|t| t.revoked_at.is_none())
            .ok_or(Error::NotFound)?;
        if !tokens::revoke(&mut tx, id, self.now()).await? {
            return Err(Error::NotFound);
        }
        let mut event = self.event(actor, AuditAction::Delete, "ApiToken", Outcome::Success);
        event.resource_id = Some(id.to_string());
        event.detail = "revoked".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(found.row)
    }
}
