//! Catalog writes. Every write to categories and products goes through here,
//! so there is one place where changes happen (and, with the cache, one place
//! that knows what a change affects).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};

use crate::domain::{Money, Slug};
use crate::error::AppError;
use crate::models::{category, product};

#[derive(Clone, Debug)]
pub struct NewCategory {
    pub name: String,
    pub slug: Slug,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct NewProduct {
    pub category_id: i32,
    pub name: String,
    pub slug: Slug,
    pub description: String,
    pub price: Money,
    pub stock: u32,
    pub is_active: bool,
    /// Set for generated catalogs; `None` means now.
    pub created_at: Option<DateTime<Utc>>,
}

pub async fn create_category(
    db: &impl ConnectionTrait,
    new: NewCategory,
) -> Result<category::Model, AppError> {
    let model = category::ActiveModel {
        name: Set(new.name),
        slug: Set(new.slug.to_string()),
        description: Set(new.description),
        ..Default::default()
    };
    Ok(model.insert(db).await?)
}

pub(crate) fn product_active_model(new: NewProduct) -> product::ActiveModel {
    let stock = i32::try_from(new.stock).unwrap_or(i32::MAX);
    let mut model = product::ActiveModel {
        category_id: Set(new.category_id),
        name: Set(new.name),
        slug: Set(new.slug.to_string()),
        description: Set(new.description),
        price_cents: Set(new.price.cents()),
        stock: Set(stock),
        is_active: Set(new.is_active),
        ..Default::default()
    };
    if let Some(at) = new.created_at {
        model.created_at = Set(at);
        model.updated_at = Set(at);
    }
    model
}

pub async fn create_product(
    db: &impl ConnectionTrait,
    new: NewProduct,
) -> Result<product::Model, AppError> {
    Ok(product_active_model(new).insert(db).await?)
}
