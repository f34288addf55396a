//! Who a call runs as: the service role, or a signed-in user. Switched inside each call's own
//! transaction exactly as Supabase's API gateway does per request (`SET LOCAL ROLE` plus the
//! JWT claims), never by a startup option, which a transaction pooler drops or refuses.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::VaultError;

/// `set_config(..., true)` is `SET LOCAL`: the role is an identifier and travels as a bind
/// parameter, so nothing is spliced into SQL. The login role only needs to be a member of it.
/// The statement timeout (milliseconds) is what is left of the call's deadline: the server stops
/// the call's statement then, and being local to the transaction it works behind a transaction
/// pooler too.
const ENTER_SQL: &str = "select set_config('role', $1, true), \
     set_config('request.jwt.claims', $2, true), set_config('statement_timeout', $3, true)";

/// How long past its deadline a call waits for the server's own answer (the statement timeout's
/// error, or the commit's) before giving up on a server that does not answer at all.
const GRACE: Duration = Duration::from_secs(1);

/// PostgreSQL's `query_canceled`: a statement timeout, or a cancel request.
const QUERY_CANCELED: &str = "57014";

/// A signed-in user's JWT claims, for a handle that acts for that user (role `authenticated`,
/// `auth.uid()` = `sub`). Build it only from claims the application has verified (the JWT's
/// signature and expiry): the database trusts them as the API gateway's.
///
/// Its `Debug` shows the user id only.
///
/// ```
/// use credential_vault_client::UserClaims;
///
/// let claims = serde_json::json!({
///     "sub": "7e0b9a8c-3d2f-4c1b-9e8d-6f5a4b3c2d1e",
///     "role": "authenticated",
///     "email": "admin@example.com",
/// });
/// let user = UserClaims::from_claims(&claims)?;
/// assert_eq!(user.user_id().to_string(), "7e0b9a8c-3d2f-4c1b-9e8d-6f5a4b3c2d1e");
///
/// // A user handle never acts as another role.
/// let service = serde_json::json!({"sub": "7e0b9a8c-3d2f-4c1b-9e8d-6f5a4b3c2d1e", "role": "service_role"});
/// assert!(UserClaims::from_claims(&service).is_err());
/// # Ok::<(), credential_vault_client::VaultError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct UserClaims {
    user_id: Uuid,
    /// The claims object as JSON text, with `role` = `authenticated`.
    json: String,
}

impl UserClaims {
    /// The role every user-context call runs as.
    pub const ROLE: &'static str = "authenticated";

    /// The minimal claims of a signed-in user: `{"sub": user_id, "role": "authenticated"}`.
    pub fn authenticated(user_id: Uuid) -> Self {
        let json = serde_json::json!({"sub": user_id, "role": Self::ROLE}).to_string();
        Self { user_id, json }
    }

    /// The verified claims of a user's JWT, passed on whole (so `auth.jwt()` sees them all).
    ///
    /// # Errors
    ///
    /// [`VaultError::InvalidClaims`] unless `claims` is an object whose `sub` is a UUID and
    /// whose `role`, if present, is `authenticated`.
    pub fn from_claims(claims: &serde_json::Value) -> Result<Self, VaultError> {
        let invalid = VaultError::InvalidClaims;
        let mut object = claims.as_object().ok_or(invalid.clone())?.clone();
        let user_id = object
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .and_then(|sub| Uuid::parse_str(sub).ok())
            .ok_or(invalid.clone())?;
        match object.get("role") {
            None => {
                object.insert("role".into(), Self::ROLE.into());
            }
            Some(role) if role == Self::ROLE => {}
            Some(_) => return Err(invalid),
        }
        let json = serde_json::Value::Object(object).to_string();
        Ok(Self { user_id, json })
    }

    /// The user's id, the `sub` claim (what `auth.uid()` returns).
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// The claims as the JSON text the database reads as `request.jwt.claims`.
    pub(crate) fn json(&self) -> &str {
        &self.json
    }
}

impl fmt::Debug for UserClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserClaims")
            .field("sub", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// The role of background sync services, and the claims Supabase's API gateway sets for the
/// service key.
pub(crate) const SERVICE_ROLE: &str = "service_role";
pub(crate) const SERVICE_ROLE_CLAIMS: &str = r#"{"role":"service_role"}"#;

/// Runs `call` in a transaction of its own on one connection of `pool`, switched inside it to
/// `role` with `claims`, and commits it if the call succeeded (dropped, it is rolled back): one
/// call, one transaction, as a transaction pooler needs it.
///
/// `deadline` bounds the work, not only the wait: getting a connection within it, and the call's
/// statement under a `statement_timeout` of what is left of it, so that the server stops the
/// statement at the deadline and the transaction is rolled back. [`VaultError::Timeout`] is
/// reported only when no commit was sent, so such a call never takes effect. A server that
/// answers nothing is given up on [`GRACE`] after the deadline: as `Timeout` before the commit
/// was sent, as [`VaultError::Unavailable`] (which may have committed) after.
pub(crate) async fn in_transaction_as<T>(
    pool: &PgPool,
    role: &str,
    claims: &str,
    deadline: Duration,
    call: impl AsyncFnOnce(&mut PgConnection) -> Result<T, VaultError>,
) -> Result<T, VaultError> {
    let started = Instant::now();
    let timed_out = VaultError::Timeout { after: deadline };
    let commit_sent = AtomicBool::new(false);
    let work = async {
        let mut transaction = tokio::time::timeout(deadline, pool.begin())
            .await
            .map_err(|_| timed_out.clone())??;
        let left = deadline.saturating_sub(started.elapsed());
        // Rounded up, and never 0, which would mean no timeout at all.
        let left_ms = left.as_micros().div_ceil(1000).max(1).to_string();
        sqlx::query(ENTER_SQL)
            .bind(role)
            .bind(claims)
            .bind(left_ms)
            .persistent(false)
            .execute(&mut *transaction)
            .await?;
        let answer = match call(&mut *transaction).await {
            // The statement timeout set above, not someone's cancel request.
            Err(VaultError::Database {
                sqlstate: Some(code),
            }) if code == QUERY_CANCELED && started.elapsed() >= deadline => {
                return Err(timed_out.clone());
            }
            answer => answer?,
        };
        commit_sent.store(true, Ordering::Relaxed);
        transaction.commit().await?;
        Ok(answer)
    };
    match tokio::time::timeout(deadline + GRACE, work).await {
        Ok(answer) => answer,
        Err(_) if commit_sent.load(Ordering::Relaxed) => Err(VaultError::Unavailable),
        Err(_) => Err(timed_out),
    }
}
