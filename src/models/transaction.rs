//! How a write's transaction begins, on either database.

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// A write's transaction. On SQLite the write lock is taken at BEGIN: a
/// transaction that reads first (a rule, the current row, the due mail) and
/// writes after could otherwise fail to upgrade when another writer got in
/// between. PostgreSQL ignores it.
pub async fn begin_immediate(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let immediate = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    db.begin_with_options(immediate).await
}
