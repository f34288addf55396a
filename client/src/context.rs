//! Who a call runs as: the service role, or a signed-in user. Switched inside each call's own
//! transaction exactly as Supabase's API gateway does per request (`SET LOCAL ROLE` plus the
//! JWT claims), never by a startup option, which a transaction pooler drops or refuses.

use std::fmt;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::VaultError;

/// `set_config(..., true)` is `SET LOCAL`: the role is an identifier and travels as a bind
/// parameter, so nothing is spliced into SQL. The login role only needs to be a member of it.
const ENTER_SQL: &str =
    "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)";

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
pub(crate) async fn in_transaction_as<T>(
    pool: &PgPool,
    role: &str,
    claims: &str,
    call: impl AsyncFnOnce(&mut PgConnection) -> Result<T, VaultError>,
) -> Result<T, VaultError> {
    let mut transaction = pool.begin().await?;
    sqlx::query(ENTER_SQL)
        .bind(role)
        .bind(claims)
        .persistent(false)
        .execute(&mut *transaction)
        .await?;
    let answer = call(&mut *transaction).await?;
    transaction.commit().await?;
    Ok(answer)
}
