use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `SF-` and 10 random base32 characters: what the shopper sees.
    #[sea_orm(unique)]
    pub number: String,
    /// `pending`, `paid`, `shipped` or `cancelled` (see `domain::order`).
    pub status: String,
    pub email: String,
    pub user_id: Option<i32>,
    /// A hash of the placing session's owner key.
    pub owner_key: Option<String>,
    pub ship_name: String,
    pub ship_line1: String,
    pub ship_line2: String,
    pub ship_city: String,
    pub ship_postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub ship_country: String,
    pub total_cents: i64,
    pub idempotency_scope: Option<String>,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the canonical request, to tell a replay from a reuse.
    pub request_hash: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::order_line::Entity")]
    Lines,
}

impl Related<super::order_line::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Lines.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
