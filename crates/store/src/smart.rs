//! SMART on FHIR: registered apps, authorization requests, patients' grants, and the codes and
//! tokens issued for them (hashes only). A code or refresh token is taken once, atomically; a
//! second use is told apart from an unknown one so the caller can revoke what the first issued.

use crate::{Conn, Result, conflict_as, from_micros, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::access::{Action, ClinicAction, ClinicCapability, PatientAccess};
use portal_domain::ids::ClientId;
use portal_domain::{PatientId, UserId};
use sqlx::Row;

/// A registered app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmartApp {
    /// The client id.
    pub id: ClientId,
    /// Its name, as patients see it.
    pub name: String,
    /// Its redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// A confidential client's secret (SHA-256), or `None` for a public client.
    pub secret_hash: Option<String>,
    /// When it was registered.
    pub created_at: Timestamp,
}

fn app_of(row: &sqlx::any::AnyRow) -> Result<SmartApp> {
    let uris: String = row.try_get("redirect_uris")?;
    Ok(SmartApp {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        name: row.try_get("name")?,
        redirect_uris: uris.lines().map(str::to_string).collect(),
        secret_hash: row.try_get("secret_hash")?,
        created_at: from_micros(row.try_get("created_at")?)?,
    })
}

/// Registers an app (admins and the operator: `ManageUsers`).
pub async fn register(conn: &mut Conn, admin: &ClinicCapability, app: &SmartApp) -> Result<()> {
    crate::require(admin, ClinicAction::ManageUsers, "registering an app")?;
    sqlx::query(
        "INSERT INTO smart_apps (id, name, redirect_uris, secret_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(app.id.to_string())
    .bind(&app.name)
    .bind(app.redirect_uris.join("\n"))
    .bind(app.secret_hash.as_deref())
    .bind(to_micros(app.created_at))
    .execute(conn)
    .await
    .map_err(conflict_as("app"))?;
    Ok(())
}

/// The registered apps, newest first (for the admin page).
pub async fn apps(conn: &mut Conn, admin: &ClinicCapability) -> Result<Vec<SmartApp>> {
    crate::require(admin, ClinicAction::ManageUsers, "listing apps")?;
    let rows = sqlx::query(
        "SELECT id, name, redirect_uris, secret_hash, created_at FROM smart_apps \
         WHERE revoked_at IS NULL ORDER BY created_at DESC, id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter().map(app_of).collect()
}

/// A registered app still in service, by client id (what any authorization request names).
pub async fn app(conn: &mut Conn, id: &str) -> Result<Option<SmartApp>> {
    let row = sqlx::query(
        "SELECT id, name, redirect_uris, secret_hash, created_at FROM smart_apps \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(app_of).transpose()
}

/// An authorization request waiting for sign-in and consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequest {
    /// Its id (in the consent page's address).
    pub id: String,
    /// The app.
    pub app_id: ClientId,
    /// Where the answer goes (one of the app's URIs).
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scope: String,
    /// The app's `state`, returned unchanged.
    pub state: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The account it is bound to, once one opened it.
    pub user_id: Option<UserId>,
    /// When it stops being answerable.
    pub expires_at: Timestamp,
    /// When it was answered.
    pub answered_at: Option<Timestamp>,
}

/// Keeps a checked authorization request.
pub async fn add_request(conn: &mut Conn, r: &AuthRequest, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO smart_requests (id, app_id, redirect_uri, scope, state, code_challenge, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&r.id)
    .bind(r.app_id.to_string())
    .bind(&r.redirect_uri)
    .bind(&r.scope)
    .bind(&r.state)
    .bind(&r.code_challenge)
    .bind(to_micros(now))
    .bind(to_micros(r.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// An authorization request by id, bound to `user` (the first account to open it takes it; for
/// any other it is `None`, as for one that does not exist).
pub async fn request_for(conn: &mut Conn, id: &str, user: UserId) -> Result<Option<AuthRequest>> {
    sqlx::query("UPDATE smart_requests SET user_id = $2 WHERE id = $1 AND user_id IS NULL")
        .bind(id)
        .bind(user.to_string())
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(
        "SELECT id, app_id, redirect_uri, scope, state, code_challenge, user_id, expires_at, \
         answered_at FROM smart_requests WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user.to_string())
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let user: Option<String> = row.try_get("user_id")?;
    let answered: Option<i64> = row.try_get("answered_at")?;
    Ok(Some(AuthRequest {
        id: row.try_get("id")?,
        app_id: parse_id(&row.try_get::<String, _>("app_id")?)?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        state: row.try_get("state")?,
        code_challenge: row.try_get("code_challenge")?,
        user_id: user.map(|u| parse_id(&u)).transpose()?,
        expires_at: from_micros(row.try_get("expires_at")?)?,
        answered_at: answered.map(from_micros).transpose()?,
    }))
}

/// Marks a request answered, once: `false` if it was answered already.
pub async fn answer_request(conn: &mut Conn, id: &str, now: Timestamp) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE smart_requests SET answered_at = $2 WHERE id = $1 AND answered_at IS NULL",
    )
    .bind(id)
    .bind(to_micros(now))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// What a patient granted an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Its id.
    pub id: String,
    /// The app.
    pub app_id: ClientId,
    /// The app's name.
    pub app_name: String,
    /// Who granted it.
    pub user_id: UserId,
    /// The granting account's own record, if any.
    pub user_patient: Option<PatientId>,
    /// The record it reads.
    pub patient_id: PatientId,
    /// The scopes granted.
    pub scope: String,
    /// When it was granted.
    pub created_at: Timestamp,
    /// Until when refresh tokens work (`None`: no refresh tokens).
    pub refresh_until: Option<Timestamp>,
    /// When the app last read the record.
    pub last_read_at: Option<Timestamp>,
}

const GRANT_COLUMNS: &str = "g.id, g.app_id, a.name AS app_name, g.user_id, \
     u.patient_id AS user_patient, g.patient_id, g.scope, g.created_at, g.refresh_until, \
     g.last_read_at";
/// What a grant's row is read with: its app's name and the granting account's own record.
const GRANT_JOINS: &str = "JOIN smart_apps a ON a.id = g.app_id JOIN users u ON u.id = g.user_id";

fn grant_of(row: &sqlx::any::AnyRow) -> Result<Grant> {
    let user_patient: Option<String> = row.try_get("user_patient")?;
    let refresh: Option<i64> = row.try_get("refresh_until")?;
    let read: Option<i64> = row.try_get("last_read_at")?;
    Ok(Grant {
        id: row.try_get("id")?,
        app_id: parse_id(&row.try_get::<String, _>("app_id")?)?,
        app_name: row.try_get("app_name")?,
        user_id: parse_id(&row.try_get::<String, _>("user_id")?)?,
        user_patient: user_patient.map(|p| parse_id(&p)).transpose()?,
        patient_id: parse_id(&row.try_get::<String, _>("patient_id")?)?,
        scope: row.try_get("scope")?,
        created_at: from_micros(row.try_get("created_at")?)?,
        refresh_until: refresh.map(from_micros).transpose()?,
        last_read_at: read.map(from_micros).transpose()?,
    })
}

/// A grant to record.
#[derive(Clone, Debug)]
pub struct NewGrant<'a> {
    /// Its id.
    pub id: &'a str,
    /// The app.
    pub app: ClientId,
    /// Who grants it.
    pub user: UserId,
    /// The scopes granted.
    pub scope: &'a str,
    /// Until when refresh tokens work.
    pub refresh_until: Option<Timestamp>,
}

/// Records a grant, under the policy's leave for the granting person to connect apps to the
/// record (`Action::UseApi`).
pub async fn add_grant(
    conn: &mut Conn,
    access: &PatientAccess,
    grant: &NewGrant<'_>,
    now: Timestamp,
) -> Result<()> {
    if access.action() != Action::UseApi {
        return Err(crate::Error::Corrupt(
            "a grant needs the leave to connect apps".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO smart_grants (id, app_id, user_id, patient_id, scope, created_at, \
         refresh_until) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(grant.id)
    .bind(grant.app.to_string())
    .bind(grant.user.to_string())
    .bind(access.patient().to_string())
    .bind(grant.scope)
    .bind(to_micros(now))
    .bind(grant.refresh_until.map(to_micros))
    .execute(conn)
    .await?;
    Ok(())
}

/// The grants an account made that still stand, newest first (its Account page).
pub async fn grants_of(conn: &mut Conn, user: UserId) -> Result<Vec<Grant>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM smart_grants g {GRANT_JOINS} WHERE g.user_id = $1 \
         AND g.revoked_at IS NULL ORDER BY g.created_at DESC, g.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(grant_of).collect()
}

/// Ends a grant the account made, and every token issued under it, at once: `false` if there is
/// no such grant of this account still standing.
pub async fn revoke_grant(conn: &mut Conn, user: UserId, id: &str, now: Timestamp) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE smart_grants SET revoked_at = $3 WHERE id = $1 AND user_id = $2 \
         AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user.to_string())
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        sqlx::query(
            "UPDATE smart_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(to_micros(now))
        .execute(conn)
        .await?;
    }
    Ok(n == 1)
}

/// Notes that an app read the record under a grant (shown on the Account page).
pub async fn note_read(conn: &mut Conn, grant: &str, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE smart_grants SET last_read_at = $2 WHERE id = $1")
        .bind(grant)
        .bind(to_micros(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Keeps an authorization code (its hash) for a grant.
pub async fn add_code(
    conn: &mut Conn,
    code_hash: &str,
    grant: &str,
    redirect_uri: &str,
    code_challenge: &str,
    expires_at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO smart_codes (code_hash, grant_id, redirect_uri, code_challenge, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(code_hash)
    .bind(grant)
    .bind(redirect_uri)
    .bind(code_challenge)
    .bind(to_micros(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// A code taken for exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenCode {
    /// The grant it is for.
    pub grant: Grant,
    /// The redirect URI it was issued to.
    pub redirect_uri: String,
    /// The PKCE challenge it was issued with.
    pub code_challenge: String,
    /// When it stopped being usable.
    pub expires_at: Timestamp,
}

/// What taking a code or a refresh token found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken<T> {
    /// Taken now, for the first time.
    First(T),
    /// Taken before: a replay.
    Again,
    /// Not known.
    Unknown,
}

/// Takes a code, once (atomically: of two at once, one gets it).
pub async fn take_code(
    conn: &mut Conn,
    code_hash: &str,
    now: Timestamp,
) -> Result<Taken<TakenCode>> {
    let n =
        sqlx::query("UPDATE smart_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL")
            .bind(code_hash)
            .bind(to_micros(now))
            .execute(&mut *conn)
            .await?
            .rows_affected();
    let sql = format!(
        "SELECT {GRANT_COLUMNS}, c.redirect_uri, c.code_challenge, c.expires_at AS code_expires \
         FROM smart_codes c JOIN smart_grants g ON g.id = c.grant_id {GRANT_JOINS} \
         WHERE c.code_hash = $1 \
         AND g.revoked_at IS NULL"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code_hash)
        .fetch_optional(conn)
        .await?;
    Ok(match (n, row) {
        (1, Some(row)) => Taken::First(TakenCode {
            grant: grant_of(&row)?,
            redirect_uri: row.try_get("redirect_uri")?,
            code_challenge: row.try_get("code_challenge")?,
            expires_at: from_micros(row.try_get("code_expires")?)?,
        }),
        (_, Some(_)) => Taken::Again,
        (_, None) => Taken::Unknown,
    })
}

/// Keeps a token (its hash) of a grant's family.
pub async fn add_token(
    conn: &mut Conn,
    token_hash: &str,
    grant: &str,
    refresh: bool,
    family: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO smart_tokens (token_hash, grant_id, kind, family, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash)
    .bind(grant)
    .bind(if refresh { "refresh" } else { "access" })
    .bind(family)
    .bind(to_micros(now))
    .bind(to_micros(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// A token that is alive, with its grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveToken {
    /// The grant.
    pub grant: Grant,
    /// The family it belongs to.
    pub family: String,
    /// When it expires.
    pub expires_at: Timestamp,
    /// Whether it is a refresh token.
    pub refresh: bool,
}

/// A token of a standing grant of a registered app, unexpired and unrevoked at `now`.
pub async fn live_token(
    conn: &mut Conn,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<LiveToken>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS}, t.family, t.kind, t.expires_at AS token_expires \
         FROM smart_tokens t JOIN smart_grants g ON g.id = t.grant_id {GRANT_JOINS} \
         WHERE t.token_hash = $1 \
         AND t.revoked_at IS NULL AND t.used_at IS NULL AND t.expires_at > $2 \
         AND g.revoked_at IS NULL AND a.revoked_at IS NULL"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(to_micros(now))
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(LiveToken {
        grant: grant_of(&row)?,
        family: row.try_get("family")?,
        expires_at: from_micros(row.try_get("token_expires")?)?,
        refresh: row.try_get::<String, _>("kind")? == "refresh",
    }))
}

/// Takes a refresh token, once (atomically). A second use finds it taken.
pub async fn take_refresh(
    conn: &mut Conn,
    token_hash: &str,
    now: Timestamp,
) -> Result<Taken<LiveToken>> {
    let live = live_token(&mut *conn, token_hash, now).await?;
    let n = sqlx::query(
        "UPDATE smart_tokens SET used_at = $2 WHERE token_hash = $1 AND kind = 'refresh' \
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if let (1, Some(live)) = (n, live.filter(|l| l.refresh)) {
        return Ok(Taken::First(live));
    }
    let used = sqlx::query(
        "SELECT 1 AS one FROM smart_tokens WHERE token_hash = $1 AND kind = 'refresh' \
         AND used_at IS NOT NULL",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    Ok(if used.is_some() {
        Taken::Again
    } else {
        Taken::Unknown
    })
}

/// The family a token (or a code) belongs to, whatever its state.
pub async fn family_of(conn: &mut Conn, hash: &str) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT family FROM smart_tokens WHERE token_hash = $1 \
         UNION ALL SELECT code_hash AS family FROM smart_codes WHERE code_hash = $1",
    )
    .bind(hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get("family"))
        .transpose()
        .map_err(Into::into)
}

/// Revokes every token of a family: `n` revoked.
pub async fn revoke_family(conn: &mut Conn, family: &str, now: Timestamp) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE smart_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(to_micros(now))
    .execute(conn)
    .await?
    .rows_affected())
}

/// Revokes one token of an app (RFC 7009): a refresh token takes its family with it.
pub async fn revoke_token(
    conn: &mut Conn,
    app: ClientId,
    token_hash: &str,
    now: Timestamp,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT t.kind, t.family FROM smart_tokens t JOIN smart_grants g ON g.id = t.grant_id \
         WHERE t.token_hash = $1 AND g.app_id = $2",
    )
    .bind(token_hash)
    .bind(app.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(());
    };
    if row.try_get::<String, _>("kind")? == "refresh" {
        revoke_family(conn, &row.try_get::<String, _>("family")?, now).await?;
    } else {
        sqlx::query(
            "UPDATE smart_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(to_micros(now))
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// A key pair that signs ID tokens: its id, the private key sealed, the public key as a JWK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    /// The key id (`kid`).
    pub kid: String,
    /// The private key, sealed with the portal's secret key.
    pub sealed: String,
    /// The public key, as a JWK (JSON).
    pub public_jwk: String,
}

/// The newest signing key, if one was made.
pub async fn current_key(conn: &mut Conn) -> Result<Option<SigningKey>> {
    let row = sqlx::query(
        "SELECT kid, sealed, public_jwk FROM smart_keys ORDER BY created_at DESC, kid DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(SigningKey {
            kid: r.try_get("kid")?,
            sealed: r.try_get("sealed")?,
            public_jwk: r.try_get("public_jwk")?,
        })
    })
    .transpose()
}

/// Keeps a new signing key. Two processes making one at once both keep theirs; the newest is
/// used and both are published.
pub async fn add_key(conn: &mut Conn, key: &SigningKey, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO smart_keys (kid, sealed, public_jwk, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&key.kid)
    .bind(&key.sealed)
    .bind(&key.public_jwk)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Every public key (JWK JSON), for the JWKS address.
pub async fn public_keys(conn: &mut Conn) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT public_jwk FROM smart_keys ORDER BY created_at, kid")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get("public_jwk").map_err(Into::into))
        .collect()
}
