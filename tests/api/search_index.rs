//! Search on PostgreSQL is answered from its indexes, not a scan: the API's
//! from the trigram index, the pages' from the text search index and their
//! postings.

use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait};
use storefront::domain::{Dialect, ListingQuery, QueryPairs};
use storefront::services::{listings, search_rows};

use crate::support::{Backend, TestApp};

#[tokio::test]
async fn postgres_search_uses_the_trigram_index() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let plan = plan_of(&app, Dialect::Api, "search=laptop+steel").await;
    assert!(plan.contains("idx_products_search_trgm"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}

#[tokio::test]
async fn postgres_shopper_search_uses_the_text_search_index() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let plan = plan_of(&app, Dialect::Html, "q=laptops+steel").await;
    assert!(plan.contains("idx_products_search_vector"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}

#[tokio::test]
async fn postgres_shopper_search_reads_its_postings_from_the_index_alone() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let words = ["laptops".to_owned(), "desk".to_owned()];
    let stmt = search_rows::postings_statement(&words);
    // Visible to an index-only scan without visiting the heap.
    app.db.execute_unprepared("VACUUM ANALYZE search_postings").await.unwrap();
    let plan = explain(&app, stmt, "ANALYZE").await;
    assert!(plan.contains("Index Only Scan using search_postings_pkey"), "{plan}");
    assert!(plan.contains("Heap Fetches: 0"), "{plan}");
    assert!(!plan.contains("Seq Scan on search_postings"), "{plan}");
}

/// The plan of the listing's filter for `raw` in `dialect`.
async fn plan_of(app: &TestApp, dialect: Dialect, raw: &str) -> String {
    let query = ListingQuery::parse(dialect, &QueryPairs::parse(Some(raw))).unwrap();
    // The exact statement the listing runs.
    let select = listings::filtered(DbBackend::Postgres, &query.filter);
    explain(app, select.build(DbBackend::Postgres), "").await
}

/// `EXPLAIN` (with `options`) of `stmt`, with sequential scans off: the
/// fixture is tiny, so a scan would be cheaper; forbidding it shows whether
/// the index can serve the query at all.
async fn explain(app: &TestApp, stmt: Statement, options: &str) -> String {
    let explain = Statement { sql: format!("EXPLAIN {options} {}", stmt.sql), ..stmt };
    let txn = app.db.begin().await.unwrap();
    txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
    let plan: Vec<String> = txn
        .query_all_raw(explain)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    txn.rollback().await.unwrap();
    plan.join("\n")
}
