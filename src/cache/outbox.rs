//! The outbox of pending invalidations (see the migrations). Hooks call
//! [`record`] on the connection of the write, so the row commits or rolls
//! back with it. Every cache namespace reads the rows past its own cursor
//! ([`super::cursor`]) and applies them; no namespace deletes a row. Rows go
//! when they are older than the retention window ([`prune`]), and the
//! highest position deleted is kept, so a namespace that was away longer
//! can tell it missed rows and retire everything it holds.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use super::cursor::{Cursor, Row};
use super::tags::Tag;
use crate::models::_entities::{cache_cursor, cache_outbox};

/// The `cache_cursors` row holding the highest position retention deleted.
const PRUNED: &str = "pruned";

/// Notes that `tags` must be invalidated once the current transaction commits.
pub async fn record(db: &impl ConnectionTrait, tags: &[Tag]) -> Result<(), DbErr> {
    if tags.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tags.iter().map(Tag::name).collect();
    cache_outbox::ActiveModel { tags: Set(names.join(" ")), created_at: Set(chrono::Utc::now()), ..Default::default() }
        .insert(db)
        .await?;
    Ok(())
}

/// The column that orders rows by commit (see [`super::cursor`]).
fn position_column(db: &impl ConnectionTrait) -> cache_outbox::Column {
    match db.get_database_backend() {
        DbBackend::Postgres => cache_outbox::Column::Xact,
        _ => cache_outbox::Column::Id,
    }
}

#[derive(FromQueryResult)]
struct Position {
    position: Option<i64>,
}

async fn position_of(db: &impl ConnectionTrait, sql: &str) -> Result<i64, DbErr> {
    let found = Position::find_by_statement(Statement::from_string(db.get_database_backend(), sql)).one(db).await?;
    Ok(found.and_then(|p| p.position).unwrap_or(0))
}

/// The settled position: every row before it is committed or rolled back.
/// Read it before the rows, so they include every row before it.
pub async fn settled(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    match db.get_database_backend() {
        // The oldest transaction still running: every earlier one is over.
        DbBackend::Postgres => {
            position_of(db, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS position").await
        }
        // One writer at a time: a row written from now on gets a higher id.
        _ => position_of(db, "SELECT COALESCE(MAX(id), 0) + 1 AS position FROM cache_outbox").await,
    }
}

/// Rows at or after `from`, in position order, after `after` (the position
/// and id of the last row of the previous batch).
pub async fn rows_from(
    db: &impl ConnectionTrait,
    from: i64,
    after: Option<(i64, i64)>,
    limit: u64,
) -> Result<Vec<Row>, DbErr> {
    let column = position_column(db);
    let mut query = cache_outbox::Entity::find().filter(column.gte(from));
    if let Some((position, id)) = after {
        query = query.filter(
            Condition::any()
                .add(column.gt(position))
                .add(Condition::all().add(column.eq(position)).add(cache_outbox::Column::Id.gt(id))),
        );
    }
    let rows = query.order_by_asc(column).order_by_asc(cache_outbox::Column::Id).limit(limit).all(db).await?;
    Ok(rows.into_iter().map(|r| Row { id: r.id, position: r.xact.unwrap_or(r.id), tags: r.tags }).collect())
}

/// The highest position retention has deleted (0: none).
pub async fn pruned_through(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(cache_cursor::Entity::find_by_id(PRUNED).one(db).await?.map_or(0, |c| c.position))
}

/// Deletes rows older than `retention`, and raises the pruned position to
/// the highest one deleted. Returns how many rows went.
pub async fn prune(db: &DatabaseConnection, retention: std::time::Duration) -> Result<u64, DbErr> {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let column = position_column(db);
    let txn = db.begin().await?;
    let highest: Option<Option<i64>> = cache_outbox::Entity::find()
        .select_only()
        .column_as(column.max(), "position")
        .filter(cache_outbox::Column::CreatedAt.lt(cutoff))
        .into_tuple()
        .one(&txn)
        .await?;
    let Some(highest) = highest.flatten() else {
        return Ok(0);
    };
    let deleted =
        cache_outbox::Entity::delete_many().filter(cache_outbox::Column::CreatedAt.lt(cutoff)).exec(&txn).await?;
    // Only ever raised: two pruners at once leave the higher mark.
    cache_cursor::Entity::update_many()
        .col_expr(cache_cursor::Column::Position, Expr::value(highest))
        .col_expr(cache_cursor::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
        .filter(cache_cursor::Column::Name.eq(PRUNED))
        .filter(cache_cursor::Column::Position.lt(highest))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(deleted.rows_affected)
}

/// A cursor kept in the database (for caches that cannot keep their own);
/// `None` when there is none, or it cannot be read.
pub async fn load_cursor(db: &impl ConnectionTrait, name: &str) -> Result<Option<Cursor>, DbErr> {
    let found = cache_cursor::Entity::find_by_id(name).one(db).await?;
    Ok(found.and_then(|c| Cursor::from_parts(c.position, &c.applied)))
}

pub async fn save_cursor(db: &impl ConnectionTrait, name: &str, cursor: &Cursor) -> Result<(), DbErr> {
    let row = cache_cursor::ActiveModel {
        name: Set(name.to_owned()),
        position: Set(cursor.position),
        applied: Set(cursor.applied_list()),
        updated_at: Set(chrono::Utc::now()),
    };
    cache_cursor::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(cache_cursor::Column::Name)
                .update_columns([
                    cache_cursor::Column::Position,
                    cache_cursor::Column::Applied,
                    cache_cursor::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
