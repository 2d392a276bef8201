//! Sessions in the database: one row per session, its values as JSON.
//! As with Redis, a session is saved only while it exists, so a session
//! deleted while a request ran (a logout in another tab) is not brought
//! back by that request's save.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::now_ms;
use crate::models::_entities::session;

#[derive(Clone, Debug)]
pub struct DbSessions {
    db: DatabaseConnection,
}

fn failure(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn to_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

impl DbSessions {
    pub fn new(db: DatabaseConnection) -> Self {
        DbSessions { db }
    }
}

#[async_trait::async_trait]
impl SessionStore for DbSessions {
    /// Inserts under a fresh id, drawing another on the (unlikely) clash.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        loop {
            let row = session::ActiveModel {
                id: Set(record.id.to_string()),
                data: Set(data.clone()),
                expires_at: Set(to_ms(record.expiry_date)),
            };
            let inserted = session::Entity::insert(row)
                .on_conflict_do_nothing()
                .exec_without_returning(&self.db)
                .await
                .map_err(failure)?;
            if matches!(inserted, sea_orm::TryInsertResult::Inserted(1)) {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let saved = session::Entity::update_many()
            .col_expr(session::Column::Data, Expr::value(encode(record)?))
            .col_expr(session::Column::ExpiresAt, Expr::value(to_ms(record.expiry_date)))
            .filter(session::Column::Id.eq(record.id.to_string()))
            .filter(session::Column::ExpiresAt.gt(now_ms()))
            .exec(&self.db)
            .await
            .map_err(failure)?;
        if saved.rows_affected == 0 {
            tracing::debug!("session deleted while the request ran: not saved again");
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(row) = session::Entity::find_by_id(id.to_string())
            .filter(session::Column::ExpiresAt.gt(now_ms()))
            .one(&self.db)
            .await
            .map_err(failure)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_str(&row.data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(i128::from(row.expires_at) * 1_000_000)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        session::Entity::delete_by_id(id.to_string()).exec(&self.db).await.map_err(failure)?;
        Ok(())
    }
}
