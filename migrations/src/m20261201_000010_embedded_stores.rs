//! Sessions, carts and throttle counters in the shop's own database, for a
//! shop without Redis (`SESSION_STORE=database`, and the embedded default).
//!
//! Every row carries its end as Unix milliseconds (`expires_at`,
//! `window_ends`): readers treat a row past it as absent, and a periodic
//! sweep deletes such rows, indexed by that column, so no table grows
//! without end. A cart's lines go with their cart (`ON DELETE CASCADE`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    Data,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Carts {
    Table,
    Id,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum CartLines {
    Table,
    CartId,
    ProductId,
    Quantity,
}

#[derive(DeriveIden)]
enum CartClaims {
    Table,
    Owner,
    CartId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ThrottleCounters {
    Table,
    Key,
    Count,
    WindowEnds,
}

fn expiry_index(name: &str, table: impl IntoIden, column: impl IntoIden) -> IndexCreateStatement {
    Index::create().if_not_exists().name(name).table(table).col(column).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Sessions::Id).string_len(32).not_null().primary_key())
                    .col(ColumnDef::new(Sessions::Data).text().not_null())
                    .col(ColumnDef::new(Sessions::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager.create_index(expiry_index("idx_sessions_expires_at", Sessions::Table, Sessions::ExpiresAt)).await?;
        manager
            .create_table(
                Table::create()
                    .table(Carts::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Carts::Id).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(Carts::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager.create_index(expiry_index("idx_carts_expires_at", Carts::Table, Carts::ExpiresAt)).await?;
        manager
            .create_table(
                Table::create()
                    .table(CartLines::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(CartLines::CartId).string_len(64).not_null())
                    .col(ColumnDef::new(CartLines::ProductId).integer().not_null())
                    .col(ColumnDef::new(CartLines::Quantity).integer().not_null())
                    .primary_key(Index::create().col(CartLines::CartId).col(CartLines::ProductId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cart_lines_cart")
                            .from(CartLines::Table, CartLines::CartId)
                            .to(Carts::Table, Carts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CartClaims::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(CartClaims::Owner).string_len(32).not_null().primary_key())
                    .col(ColumnDef::new(CartClaims::CartId).string_len(64).not_null())
                    .col(ColumnDef::new(CartClaims::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(expiry_index("idx_cart_claims_expires_at", CartClaims::Table, CartClaims::ExpiresAt))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ThrottleCounters::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(ThrottleCounters::Key).string_len(128).not_null().primary_key())
                    .col(ColumnDef::new(ThrottleCounters::Count).integer().not_null())
                    .col(ColumnDef::new(ThrottleCounters::WindowEnds).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(expiry_index(
                "idx_throttle_counters_window_ends",
                ThrottleCounters::Table,
                ThrottleCounters::WindowEnds,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ThrottleCounters::Table.into_iden(),
            CartClaims::Table.into_iden(),
            CartLines::Table.into_iden(),
            Carts::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
