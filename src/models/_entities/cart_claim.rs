use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cart_claims")]
pub struct Model {
    /// A hash of the session id (never the id itself).
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner: String,
    /// The cart the session's first claim won.
    pub cart_id: String,
    /// Unix milliseconds; past it the claim is free again.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
