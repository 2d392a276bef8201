use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "carts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Unix milliseconds; past it the cart and its lines are gone.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::cart_line::Entity")]
    CartLine,
}

impl Related<super::cart_line::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CartLine.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
