//! The mail outbox: a message to send is a row written in the transaction of
//! the change it reports (an order), so it exists exactly when the change
//! does. The deliverer sends due rows and marks them sent; rows are kept
//! after sending, since `dedupe_key` is what makes enqueuing the same mail
//! twice a no-op.
//!
//! The times the deliverer compares in its queries (`next_attempt_at`,
//! `claimed_until`) are Unix milliseconds, as in the embedded stores, so
//! both databases compare them as numbers; the others are timestamps for
//! people reading the table. `next_attempt_at` is NULL once a row needs no
//! more attempts: sent, or given up (then `last_error` says why).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    DedupeKey,
    Recipient,
    Subject,
    BodyText,
    BodyHtml,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    SentAt,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(MailOutbox::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(MailOutbox::DedupeKey).string_len(200).not_null().unique_key())
                    .col(ColumnDef::new(MailOutbox::Recipient).text().not_null())
                    .col(ColumnDef::new(MailOutbox::Subject).text().not_null())
                    .col(ColumnDef::new(MailOutbox::BodyText).text().not_null())
                    .col(ColumnDef::new(MailOutbox::BodyHtml).text().null())
                    .col(ColumnDef::new(MailOutbox::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(MailOutbox::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(MailOutbox::NextAttemptAt).big_integer().null())
                    .col(ColumnDef::new(MailOutbox::ClaimedUntil).big_integer().null())
                    .col(ColumnDef::new(MailOutbox::SentAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(MailOutbox::LastError).text().null())
                    .to_owned(),
            )
            .await?;
        // The deliverer's question, "which rows are due?", reads this index.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_mail_outbox_next_attempt_at")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(MailOutbox::Table).to_owned()).await
    }
}
