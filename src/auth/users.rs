//! Users: registration and authentication.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr};

use super::credentials::{Email, Password};
use super::hashing::{self, Hasher};
use crate::error::AppError;
use crate::models::_entities::user;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("An account with this email already exists.")]
    EmailTaken,
    #[error(transparent)]
    Other(#[from] AppError),
}

/// Hashes off the async threads: argon2 is slow on purpose.
async fn hash(hasher: &Hasher, password: Password) -> Result<String, AppError> {
    hashing::run(hasher, move || password.hash()).await
}

pub async fn register(
    db: &DatabaseConnection,
    hasher: &Hasher,
    email: Email,
    password: Password,
    is_admin: bool,
) -> Result<user::Model, RegisterError> {
    let password_hash = hash(hasher, password).await?;
    let model = user::ActiveModel {
        email: Set(email.to_string()),
        password_hash: Set(password_hash),
        is_admin: Set(is_admin),
        auth_version: Set(1),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    match model.insert(db).await {
        Ok(user) => Ok(user),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Err(RegisterError::EmailTaken),
        Err(e) => Err(RegisterError::Other(e.into())),
    }
}

/// The user with this email and password. An unknown email costs the same
/// hashing work as a wrong password, so timing does not reveal accounts.
pub async fn authenticate(
    db: &DatabaseConnection,
    hasher: &Hasher,
    email: &Email,
    password: Password,
) -> Result<Option<user::Model>, AppError> {
    let found = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(db).await?;
    let stored = found.as_ref().map(|u| u.password_hash.clone());
    let ok = hashing::run(hasher, move || match stored {
        Some(hash) => password.verify(&hash),
        None => {
            let _ = password.hash();
            false
        }
    })
    .await?;
    Ok(found.filter(|_| ok))
}

pub async fn find_by_email(db: &DatabaseConnection, email: &Email) -> Result<Option<user::Model>, AppError> {
    Ok(user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(db).await?)
}

pub async fn find(db: &DatabaseConnection, id: i32) -> Result<Option<user::Model>, AppError> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

/// Ends every session of this user ("sign out everywhere"): each holds
/// the old `auth_version` and stops counting on its next request.
#[tracing::instrument(skip(db))]
pub async fn end_sessions(db: &DatabaseConnection, user_id: i32) -> Result<(), AppError> {
    user::Entity::update_many()
        .col_expr(user::Column::AuthVersion, Expr::col(user::Column::AuthVersion).add(1))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Creates or promotes an account (the `user create` command).
pub async fn create_or_update(
    db: &DatabaseConnection,
    hasher: &Hasher,
    email: Email,
    password: Password,
    is_admin: bool,
) -> Result<user::Model, AppError> {
    match user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(db).await? {
        Some(existing) => {
            // A new password or new rights end every session signed in
            // under the old ones.
            let password_hash = hash(hasher, password).await?;
            user::Entity::update_many()
                .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
                .col_expr(user::Column::IsAdmin, Expr::value(is_admin))
                .col_expr(user::Column::AuthVersion, Expr::col(user::Column::AuthVersion).add(1))
                .filter(user::Column::Id.eq(existing.id))
                .exec(db)
                .await?;
            find(db, existing.id).await?.ok_or_else(|| AppError::Internal("user deleted concurrently".into()))
        }
        None => register(db, hasher, email, password, is_admin).await.map_err(|e| match e {
            RegisterError::EmailTaken => AppError::Internal("email taken concurrently".into()),
            RegisterError::Other(e) => e,
        }),
    }
}
