//! Shopper search for the HTML pages: word forms, typos and best match.
//!
//! **PostgreSQL.** A stored `search_vector` generated from the name (weight
//! A) and the description (weight B) with the `english` configuration, so
//! `lamps` and `lamp` are one lexeme, under a GIN index; the weights tell a
//! name match from a description match. Beside it `search_words`, every
//! lower-cased word a product's name or description has held, under a
//! trigram index: the vocabulary a misspelt word is corrected from. A
//! trigger adds a written product's words; words are never removed (a
//! correction to a word no product holds any more finds nothing, which is
//! what the word itself found).
//!
//! **SQLite.** `product_fts`, an FTS5 index of the name and description with
//! the porter stemmer, and `product_words`, the same text unstemmed
//! (`detail=none`: terms and documents only) whose `fts5vocab` table
//! `product_words_vocab` is the vocabulary. Both are external-content
//! tables over `products`, kept in step by triggers (bulk inserts run no
//! model hooks), and rebuilt here from the existing rows.
//!
//! Diacritics are kept on both (`remove_diacritics 0`): PostgreSQL's
//! `english` configuration keeps them too, so `café` is not `cafe` on
//! either.

use sea_orm_migration::prelude::*;

use crate::statements::run_for;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (\
     setweight(to_tsvector('english'::regconfig, name), 'A') || \
     setweight(to_tsvector('english'::regconfig, description), 'B')) STORED",
    "CREATE INDEX idx_products_search_vector ON products USING gin (search_vector)",
    "CREATE TABLE search_words (word text PRIMARY KEY)",
    "CREATE INDEX idx_search_words_trgm ON search_words USING gin (word gin_trgm_ops)",
    // Words as the shop splits them: runs of letters and digits.
    r"CREATE FUNCTION products_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO search_words (word)
          SELECT DISTINCT w FROM regexp_split_to_table(lower(NEW.name || ' ' || NEW.description), '[^[:alnum:]]+') AS w
          WHERE w <> ''
        ON CONFLICT DO NOTHING;
        RETURN NULL;
      END $$",
    "CREATE TRIGGER products_search_words AFTER INSERT OR UPDATE OF name, description ON products \
     FOR EACH ROW EXECUTE FUNCTION products_search_words()",
    r"INSERT INTO search_words (word)
      SELECT DISTINCT w FROM products, regexp_split_to_table(lower(name || ' ' || description), '[^[:alnum:]]+') AS w
      WHERE w <> '' ON CONFLICT DO NOTHING",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS products_search_words ON products",
    "DROP FUNCTION IF EXISTS products_search_words()",
    "DROP TABLE IF EXISTS search_words",
    "DROP INDEX IF EXISTS idx_products_search_vector",
    "ALTER TABLE products DROP COLUMN IF EXISTS search_vector",
];

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE product_fts USING fts5(name, description, content='products', content_rowid='id', \
     tokenize='porter unicode61 remove_diacritics 0')",
    "CREATE VIRTUAL TABLE product_words USING fts5(name, description, content='products', content_rowid='id', \
     detail=none, tokenize='unicode61 remove_diacritics 0')",
    "CREATE VIRTUAL TABLE product_words_vocab USING fts5vocab(product_words, row)",
    "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
       INSERT INTO product_fts (rowid, name, description) VALUES (new.id, new.name, new.description);
       INSERT INTO product_words (rowid, name, description) VALUES (new.id, new.name, new.description);
     END",
    // An external-content index forgets a row by being told what it held.
    "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
       INSERT INTO product_fts (product_fts, rowid, name, description) VALUES ('delete', old.id, old.name, old.description);
       INSERT INTO product_words (product_words, rowid, name, description) VALUES ('delete', old.id, old.name, old.description);
     END",
    // Only a change of the text: stock changes (every order) cost nothing.
    "CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN
       INSERT INTO product_fts (product_fts, rowid, name, description) VALUES ('delete', old.id, old.name, old.description);
       INSERT INTO product_words (product_words, rowid, name, description) VALUES ('delete', old.id, old.name, old.description);
       INSERT INTO product_fts (rowid, name, description) VALUES (new.id, new.name, new.description);
       INSERT INTO product_words (rowid, name, description) VALUES (new.id, new.name, new.description);
     END",
    "INSERT INTO product_fts (product_fts) VALUES ('rebuild')",
    "INSERT INTO product_words (product_words) VALUES ('rebuild')",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS products_fts_update",
    "DROP TRIGGER IF EXISTS products_fts_delete",
    "DROP TRIGGER IF EXISTS products_fts_insert",
    "DROP TABLE IF EXISTS product_words_vocab",
    "DROP TABLE IF EXISTS product_words",
    "DROP TABLE IF EXISTS product_fts",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_for(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_for(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }
}
