//! API tokens for system clients: created by an admin, shown once, stored hashed, checked on
//! every request to the FHIR API.

use crate::{Actor, App, Error, Result, commit, crypto};
use portal_domain::Principal;
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::fields::FieldErrors;
use portal_domain::ids::ClientId;
use portal_store::tokens::{self, TokenRow};

/// What a token may do, from its SMART system scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scopes {
    /// `system/*.read`
    pub read: bool,
    /// `system/*.write`
    pub write: bool,
}

impl Scopes {
    /// Parses space-separated scopes; only `system/*.read`, `system/*.write` and `system/*.*`
    /// are known, anything else is refused (no silent widening or narrowing).
    pub fn parse(raw: &str) -> Result<Self, FieldErrors> {
        let mut scopes = Scopes {
            read: false,
            write: false,
        };
        for scope in raw.split_whitespace() {
            match scope {
                "system/*.read" => scopes.read = true,
                "system/*.write" => scopes.write = true,
                "system/*.*" => {
                    scopes.read = true;
                    scopes.write = true;
                }
                other => {
                    return Err(FieldErrors::single(
                        "scope",
                        format!(
                            "Scope {other:?} is not known; use system/*.read, system/*.write or system/*.*."
                        ),
                    ));
                }
            }
        }
        if !scopes.read && !scopes.write {
            return Err(FieldErrors::single("scope", "Scope is required."));
        }
        Ok(scopes)
    }

    fn as_text(self) -> String {
        match (self.read, self.write) {
            (true, true) => "system/*.read system/*.write".into(),
            (true, false) => "system/*.read".into(),
            _ => "system/*.write".into(),
        }
    }
}

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

impl App {
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
        let scopes = match Scopes::parse(scopes) {
            Ok(s) => Some(s),
            Err(e) => {
                for (field, message) in e.iter() {
                    errors.add(field, message.clone());
                }
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
        let scopes = Scopes::parse(&row.scopes).unwrap_or(Scopes {
            read: false,
            write: false,
        });
        Ok(Some(Principal::System {
            client: row.id,
            can_read: scopes.read,
            can_write: scopes.write,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_read_write_or_both() {
        assert_eq!(
            Scopes::parse("system/*.write").expect("ok"),
            Scopes {
                read: false,
                write: true
            }
        );
        assert_eq!(
            Scopes::parse("system/*.read system/*.write").expect("ok"),
            Scopes {
                read: true,
                write: true
            }
        );
        assert!(Scopes::parse("").is_err());
        assert!(Scopes::parse("patient/*.read").is_err());
        assert!(Scopes::parse("system/*.write admin").is_err());
    }
}
