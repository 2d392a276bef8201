use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "throttle_counters")]
pub struct Model {
    /// What is counted, e.g. `register:192.0.2.7`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub count: i32,
    /// Unix milliseconds; past it the count starts again from 0.
    pub window_ends: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
