//! Orders and their lines. A line snapshots the product's name and price at
//! the moment of the order, so a later edit (or the product's deletion)
//! never changes a placed order; its product id is kept only as a link.
//!
//! An order remembers who may see it: the signed-in user who placed it,
//! and a hash of the placing session's owner key (a guest's only claim).
//! A client's `Idempotency-Key` is unique within its scope (the user, the
//! session, or all guests), with a hash of the request it came with, so a
//! replay finds the order instead of placing another.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    Number,
    Status,
    Email,
    UserId,
    OwnerKey,
    ShipName,
    ShipLine1,
    ShipLine2,
    ShipCity,
    ShipPostalCode,
    ShipCountry,
    TotalCents,
    IdempotencyScope,
    IdempotencyKey,
    RequestHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderLines {
    Table,
    Id,
    OrderId,
    ProductId,
    Name,
    UnitPriceCents,
    Quantity,
    LineTotalCents,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
}

fn index(name: &str, table: impl IntoIden, columns: &[Orders]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.if_not_exists().name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Orders::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Orders::Number).string_len(16).not_null().unique_key())
                    .col(ColumnDef::new(Orders::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Orders::Email).string_len(254).not_null())
                    .col(ColumnDef::new(Orders::UserId).integer().null())
                    .col(ColumnDef::new(Orders::OwnerKey).string_len(64).null())
                    .col(ColumnDef::new(Orders::ShipName).string_len(200).not_null())
                    .col(ColumnDef::new(Orders::ShipLine1).string_len(200).not_null())
                    .col(ColumnDef::new(Orders::ShipLine2).string_len(200).not_null().default(""))
                    .col(ColumnDef::new(Orders::ShipCity).string_len(100).not_null())
                    .col(ColumnDef::new(Orders::ShipPostalCode).string_len(20).not_null())
                    .col(ColumnDef::new(Orders::ShipCountry).string_len(2).not_null())
                    .col(
                        ColumnDef::new(Orders::TotalCents)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Orders::TotalCents).gte(0)),
                    )
                    .col(ColumnDef::new(Orders::IdempotencyScope).string_len(80).null())
                    .col(ColumnDef::new(Orders::IdempotencyKey).string_len(255).null())
                    .col(ColumnDef::new(Orders::RequestHash).string_len(64).null())
                    .col(ColumnDef::new(Orders::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Orders::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orders_user")
                            .from(Orders::Table, Orders::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in a unique index on both backends: orders
        // placed without a key never collide.
        manager
            .create_index(
                index("idx_orders_idempotency", Orders::Table, &[Orders::IdempotencyScope, Orders::IdempotencyKey])
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_orders_status", Orders::Table, &[Orders::Status, Orders::CreatedAt])).await?;
        manager.create_index(index("idx_orders_created_at", Orders::Table, &[Orders::CreatedAt])).await?;
        manager.create_index(index("idx_orders_user", Orders::Table, &[Orders::UserId])).await?;
        manager.create_index(index("idx_orders_owner", Orders::Table, &[Orders::OwnerKey])).await?;
        manager.create_index(index("idx_orders_email", Orders::Table, &[Orders::Email])).await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderLines::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(OrderLines::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(OrderLines::OrderId).integer().not_null())
                    .col(ColumnDef::new(OrderLines::ProductId).integer().null())
                    .col(ColumnDef::new(OrderLines::Name).string_len(200).not_null())
                    .col(ColumnDef::new(OrderLines::UnitPriceCents).big_integer().not_null())
                    .col(
                        ColumnDef::new(OrderLines::Quantity)
                            .integer()
                            .not_null()
                            .check(Expr::col(OrderLines::Quantity).gt(0)),
                    )
                    .col(ColumnDef::new(OrderLines::LineTotalCents).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_lines_order")
                            .from(OrderLines::Table, OrderLines::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_lines_product")
                            .from(OrderLines::Table, OrderLines::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_order_lines_order")
                    .table(OrderLines::Table)
                    .col(OrderLines::OrderId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OrderLines::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Orders::Table).to_owned()).await
    }
}
