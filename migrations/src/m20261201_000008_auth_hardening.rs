//! What a session may do follows the database: `users.auth_version` is
//! copied into a session at sign-in and must still match on every request,
//! so raising it (a password reset, a change of rights, "sign out
//! everywhere") ends every session of that user at once.
//!
//! `app_secrets` holds keys the instances sharing this database must agree
//! on, such as the one that signs the forms of visitors without a session;
//! the first instance to start creates them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    AuthVersion,
}

#[derive(DeriveIden)]
enum AppSecrets {
    Table,
    Name,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::AuthVersion).integer().not_null().default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AppSecrets::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(AppSecrets::Name).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(AppSecrets::Value).string_len(128).not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AppSecrets::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::AuthVersion).to_owned()).await
    }
}
