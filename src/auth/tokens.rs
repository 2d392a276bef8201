//! API tokens for admin clients: random, shown once, stored as a SHA-256,
//! revocable.

use chrono::Utc;
use rand::Rng;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::models::_entities::{api_token, user};

/// Tokens start with this, so they are recognisable in logs and scanners.
const TOKEN_PREFIX: &str = "sft_";

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates a token for `user_id`; returns its id and the token, which is not
/// stored anywhere.
pub async fn create(db: &DatabaseConnection, user_id: i32) -> Result<(i32, String), AppError> {
    let bytes: [u8; 32] = rand::rng().random();
    let token = format!("{TOKEN_PREFIX}{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let model = api_token::ActiveModel {
        user_id: Set(user_id),
        token_hash: Set(digest(&token)),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((model.id, token))
}

/// Returns false when no live token has this id.
pub async fn revoke(db: &DatabaseConnection, id: i32) -> Result<bool, AppError> {
    let Some(token) = api_token::Entity::find_by_id(id).one(db).await? else { return Ok(false) };
    if token.revoked_at.is_some() {
        return Ok(false);
    }
    let mut model: api_token::ActiveModel = token.into();
    model.revoked_at = Set(Some(Utc::now()));
    model.update(db).await?;
    Ok(true)
}

/// The user a live token belongs to.
pub async fn user_for(db: &DatabaseConnection, token: &str) -> Result<Option<user::Model>, AppError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some(found) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(digest(token)))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(user::Entity::find_by_id(found.user_id).one(db).await?)
}
