//! Search on PostgreSQL is answered from its indexes, not a scan: the API's
//! from the trigram index, the pages' from the text search index.

use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait};
use storefront::domain::{Dialect, ListingQuery, QueryPairs};
use storefront::services::listings;

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

/// The plan of the listing's filter for `raw` in `dialect`.
async fn plan_of(app: &TestApp, dialect: Dialect, raw: &str) -> String {
    let query = ListingQuery::parse(dialect, &QueryPairs::parse(Some(raw))).unwrap();
    // The exact statement the listing runs.
    let select = listings::filtered(DbBackend::Postgres, &query.filter);
    let stmt = select.build(DbBackend::Postgres);
    let explain = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("EXPLAIN {}", stmt.sql),
        stmt.values.map(|v| v.0).unwrap_or_default(),
    );
    // The fixture is tiny, so a scan would be cheaper; forbid it to see
    // whether the index can serve the query at all.
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
