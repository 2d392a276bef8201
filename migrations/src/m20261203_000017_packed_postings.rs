//! Each search posting also as one packed value, so a search reads its
//! postings as one aggregate of bytes.
//!
//! A search reads every posting of its words (thousands for a common one).
//! Aggregated column by column, as five arrays, each element costs the
//! server its own accumulation and send, and the reader its own decode,
//! and those were most of the statement. `entry` is what a posting carries,
//! in a fixed layout, computed by PostgreSQL from the typed columns (which
//! stay the truth, kept by the trigger of `m20261202_000016`), and the
//! primary key covers it in place of them, so the read stays index-only.
//!
//! Layout, 18 bytes, big-endian as the send functions write: `product_id`
//! (4), `category_id` (4), `price_cents` (8), `in_stock` (1), `in_name`
//! (1). `services::search_rows` reads it.

use sea_orm_migration::prelude::*;

use crate::statements::run_for;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE search_postings ADD COLUMN entry bytea NOT NULL GENERATED ALWAYS AS (\
       int4send(product_id) || int4send(category_id) || int8send(price_cents) \
       || boolsend(in_stock) || boolsend(in_name)) STORED",
    "ALTER TABLE search_postings DROP CONSTRAINT search_postings_pkey, \
     ADD CONSTRAINT search_postings_pkey PRIMARY KEY (lexeme, product_id) INCLUDE (entry)",
];

const POSTGRES_DOWN: &[&str] = &[
    "ALTER TABLE search_postings DROP CONSTRAINT search_postings_pkey, \
     ADD CONSTRAINT search_postings_pkey PRIMARY KEY (lexeme, product_id) \
     INCLUDE (in_name, category_id, price_cents, in_stock)",
    "ALTER TABLE search_postings DROP COLUMN entry",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_for(manager, POSTGRES_UP, &[]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_for(manager, POSTGRES_DOWN, &[]).await
    }
}
