//! The cache-invalidation outbox: write hooks add the tags a change affects in
//! the same transaction as the change; after commit they are applied to Redis
//! and deleted. Rows left behind (Redis down, a crash after commit) are
//! applied by the background flusher, so no invalidation is ever lost.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CacheOutbox {
    Table,
    Id,
    Tags,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CacheOutbox::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(CacheOutbox::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(CacheOutbox::Tags).text().not_null())
                    .col(ColumnDef::new(CacheOutbox::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CacheOutbox::Table).to_owned()).await
    }
}
