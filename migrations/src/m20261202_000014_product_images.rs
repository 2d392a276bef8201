//! Product images. A row says which stored image (by content hash, see
//! `media` in the shop) a product shows, and where in its gallery; the
//! original's size is kept because it decides which widths were made. The
//! files themselves live under MEDIA_DIR, shared by every row that names
//! the same hash, so deleting a row never deletes a file.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProductImage {
    Table,
    Id,
    ProductId,
    Hash,
    Width,
    Height,
    Position,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProductImage::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(ProductImage::Id).integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(ProductImage::ProductId).integer().not_null())
                    .col(ColumnDef::new(ProductImage::Hash).string_len(32).not_null())
                    .col(ColumnDef::new(ProductImage::Width).integer().not_null())
                    .col(ColumnDef::new(ProductImage::Height).integer().not_null())
                    .col(ColumnDef::new(ProductImage::Position).integer().not_null())
                    .col(ColumnDef::new(ProductImage::CreatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_product_image_product")
                            .from(ProductImage::Table, ProductImage::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Every read asks for one product's (or a page's) images in order.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_product_image_product_position")
                    .table(ProductImage::Table)
                    .col(ProductImage::ProductId)
                    .col(ProductImage::Position)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ProductImage::Table).to_owned()).await
    }
}
