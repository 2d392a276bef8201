//! Carts in the database: a `carts` row (its end) with one `cart_lines` row
//! per product, and a `cart_claims` row naming the cart each session's
//! first claim won. The same rules as the Redis scripts: an add refuses a
//! total over the limit and a new line in a cart of [`MAX_CART_LINES`]; a
//! change pushes the cart's end back by the TTL; a cart past its end is
//! empty, and the next change starts it afresh.

use std::collections::BTreeMap;
use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, RelationTrait, TransactionTrait,
};

use super::{after, now_ms};
use crate::models::_entities::{cart, cart_claim, cart_line};
use crate::services::cart::{LineChange, MAX_CART_LINES};

#[derive(Clone, Debug)]
pub struct DbCarts {
    db: DatabaseConnection,
    ttl: Duration,
}

impl DbCarts {
    pub fn new(db: DatabaseConnection, ttl: Duration) -> Self {
        DbCarts { db, ttl }
    }

    /// Opens the transaction of one change to `cart`, holding the cart's
    /// lock: its first statement writes the cart's row (creating it, or
    /// rewriting its end unchanged). A cart found past its end loses its
    /// old lines here.
    async fn begin(&self, cart: &str, now: i64) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.db.begin().await?;
        let row = cart::ActiveModel { id: Set(cart.to_owned()), expires_at: Set(after(now, self.ttl)) };
        cart::Entity::insert(row)
            .on_conflict(
                OnConflict::column(cart::Column::Id)
                    .value(cart::Column::ExpiresAt, Expr::col((cart::Entity, cart::Column::ExpiresAt)))
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let ends = cart::Entity::find_by_id(cart.to_owned()).one(&txn).await?.map_or(0, |c| c.expires_at);
        if ends <= now {
            cart_line::Entity::delete_many().filter(cart_line::Column::CartId.eq(cart)).exec(&txn).await?;
        }
        Ok(txn)
    }

    /// Opens the change of one line: the transaction and the line's
    /// quantity (0 without one), or `None`, with nothing changed, when the
    /// line would be new and the cart already holds all the lines it may.
    async fn open_line(&self, cart: &str, product: i32, now: i64) -> Result<Option<(DatabaseTransaction, u32)>, DbErr> {
        let txn = self.begin(cart, now).await?;
        let line = cart_line::Entity::find_by_id((cart.to_owned(), product)).one(&txn).await?;
        let lines = cart_line::Entity::find().filter(cart_line::Column::CartId.eq(cart)).count(&txn).await?;
        if line.is_none() && lines >= MAX_CART_LINES as u64 {
            txn.rollback().await?;
            return Ok(None);
        }
        Ok(Some((txn, line.map_or(0, |l| u32::try_from(l.quantity).unwrap_or(0)))))
    }

    /// Writes a line's quantity and pushes the cart's end back, then commits.
    async fn write_line(
        &self,
        txn: DatabaseTransaction,
        cart: &str,
        product: i32,
        quantity: u32,
        now: i64,
    ) -> Result<(), DbErr> {
        let quantity = i32::try_from(quantity).map_err(|_| DbErr::Custom(format!("quantity {quantity} too large")))?;
        let row =
            cart_line::ActiveModel { cart_id: Set(cart.to_owned()), product_id: Set(product), quantity: Set(quantity) };
        cart_line::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([cart_line::Column::CartId, cart_line::Column::ProductId])
                    .update_column(cart_line::Column::Quantity)
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        cart::Entity::update_many()
            .col_expr(cart::Column::ExpiresAt, Expr::value(after(now, self.ttl)))
            .filter(cart::Column::Id.eq(cart))
            .exec(&txn)
            .await?;
        txn.commit().await
    }

    pub async fn add(&self, cart: &str, product: i32, quantity: u32, limit: u32) -> Result<LineChange, DbErr> {
        let now = now_ms();
        let Some((txn, current)) = self.open_line(cart, product, now).await? else { return Ok(LineChange::CartFull) };
        if current.saturating_add(quantity) > limit {
            txn.rollback().await?;
            return Ok(LineChange::OverLimit(current));
        }
        self.write_line(txn, cart, product, current + quantity, now).await?;
        Ok(LineChange::Done(current + quantity))
    }

    pub async fn set(&self, cart: &str, product: i32, quantity: u32) -> Result<LineChange, DbErr> {
        if quantity == 0 {
            // As HDEL: the line goes, the cart's end stays.
            cart_line::Entity::delete_by_id((cart.to_owned(), product)).exec(&self.db).await?;
            return Ok(LineChange::Done(0));
        }
        let now = now_ms();
        let Some((txn, _)) = self.open_line(cart, product, now).await? else { return Ok(LineChange::CartFull) };
        self.write_line(txn, cart, product, quantity, now).await?;
        Ok(LineChange::Done(quantity))
    }

    /// The lines of a cart that has not ended, in one query.
    pub async fn lines(&self, cart: &str) -> Result<BTreeMap<i32, u32>, DbErr> {
        let rows = cart_line::Entity::find()
            .join(sea_orm::JoinType::InnerJoin, cart_line::Relation::Cart.def())
            .filter(cart_line::Column::CartId.eq(cart))
            .filter(cart::Column::ExpiresAt.gt(now_ms()))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|l| Some((l.product_id, u32::try_from(l.quantity).ok().filter(|q| *q > 0)?)))
            .collect())
    }

    /// Pushes a live cart's end back (an ended one stays ended, as EXPIRE
    /// on a missing key does nothing).
    pub async fn keep(&self, cart: &str) -> Result<(), DbErr> {
        let now = now_ms();
        cart::Entity::update_many()
            .col_expr(cart::Column::ExpiresAt, Expr::value(after(now, self.ttl)))
            .filter(cart::Column::Id.eq(cart))
            .filter(cart::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The cart id claimed for `owner`: `candidate` unless a live claim
    /// exists. The insert takes the claim or, on a live one, changes
    /// nothing (PostgreSQL makes a concurrent insert wait for the first to
    /// commit); the read then returns whichever claim won.
    pub async fn claim(&self, owner: &str, candidate: &str) -> Result<String, DbErr> {
        let now = now_ms();
        let row = cart_claim::ActiveModel {
            owner: Set(owner.to_owned()),
            cart_id: Set(candidate.to_owned()),
            expires_at: Set(after(now, self.ttl)),
        };
        cart_claim::Entity::insert(row)
            .on_conflict(
                OnConflict::column(cart_claim::Column::Owner)
                    .update_columns([cart_claim::Column::CartId, cart_claim::Column::ExpiresAt])
                    .action_and_where(Expr::col((cart_claim::Entity, cart_claim::Column::ExpiresAt)).lte(now))
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        let won = cart_claim::Entity::find_by_id(owner.to_owned()).one(&self.db).await?;
        Ok(won.map_or_else(|| candidate.to_owned(), |c| c.cart_id))
    }
}
