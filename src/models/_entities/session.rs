use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// The session id, as the cookie carries it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The session's values, as JSON.
    #[sea_orm(column_type = "Text")]
    pub data: String,
    /// Unix milliseconds; past it the session is gone.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
