//! The outbox serves two sinks: Redis and the edge caches (Varnish). A row
//! is deleted once both have taken it; `redis_applied` records that Redis
//! has, so a retry for a Varnish that was down does not invalidate Redis
//! again (each retry would empty the cache for those tags).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CacheOutbox {
    Table,
    RedisApplied,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CacheOutbox::Table)
                    .add_column(ColumnDef::new(CacheOutbox::RedisApplied).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(CacheOutbox::Table).drop_column(CacheOutbox::RedisApplied).to_owned())
            .await
    }
}
