//! The `storefront` binary as a user runs it: configuration errors, the demo
//! shop on a fresh SQLite file, `migrate` and `seed`.

use std::time::{Duration, Instant};

use crate::support::cli::{Served, serve, storefront};
use crate::support::store::{TestDatabase, postgres_admin_url, unique_name};

async fn json(url: &str) -> serde_json::Value {
    reqwest::get(url).await.expect("request").json().await.expect("json")
}

#[test]
fn bad_configuration_is_one_line_and_exit_code_2() {
    for (var, value) in [
        ("DATABASE_URL", "mysql://localhost/shop"),
        ("STOREFRONT_ADDR", "not-an-address"),
        ("DATABASE_MAX_CONNECTIONS", "lots"),
        ("STOREFRONT_PUBLIC_URL", "ftp://x"),
        ("METRICS_ADDR", "localhost"),
        ("SESSION_STORE", "sqlite"),
    ] {
        let out = storefront(&[(var, value)], &["migrate"]).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{var}={value}: {stderr}");
        assert!(lines[0].contains(var), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = storefront(&[], &["seed", "--products", "many"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "a bad flag is a usage error");
}

#[tokio::test]
async fn a_fresh_sqlite_shop_starts_with_the_demo_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/dir/shop.db", dir.path().display());
    let started = Instant::now();
    let served = serve(&[("DATABASE_URL", &url)], &[]);
    let body = json(&format!("{}/api/products/", served.address)).await;
    assert!(body["count"].as_u64().unwrap() > 100, "{body}");
    let html = reqwest::get(&served.address).await.unwrap().text().await.unwrap();
    assert!(html.contains("New arrivals"));
    assert!(started.elapsed() < Duration::from_secs(60));
    drop(served);
    // A restart keeps the same catalog and does not seed again.
    let served = serve(&[("DATABASE_URL", &url)], &["serve"]);
    let again = json(&format!("{}/api/products/", served.address)).await;
    assert_eq!(again["count"], body["count"]);
}

#[tokio::test]
async fn postgres_is_never_seeded_unless_asked() {
    let db = TestDatabase::create().await;
    let served = serve(&[("DATABASE_URL", &db.url)], &["serve"]);
    let body = json(&format!("{}/api/products/", served.address)).await;
    assert_eq!(body["count"], 0);
    drop(served);
    let served = serve(&[("DATABASE_URL", &db.url)], &["serve", "--demo"]);
    let body = json(&format!("{}/api/products/", served.address)).await;
    assert!(body["count"].as_u64().unwrap() > 100);
}

#[tokio::test]
async fn seed_is_deterministic_and_refuses_to_mix_catalogs() {
    let db = TestDatabase::create().await;
    // One prefix for every run here: a reseed must invalidate what the
    // server cached before it.
    let prefix = unique_name("sfseed");
    let env = [("DATABASE_URL", db.url.as_str()), ("CACHE_KEY_PREFIX", prefix.as_str())];
    let out = storefront(&env, &["migrate"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let seed = |extra: &[&str]| {
        let mut args = vec!["seed", "--categories", "20", "--products", "3000", "--seed", "7"];
        args.extend_from_slice(extra);
        storefront(&env, &args).output().unwrap()
    };
    let out = seed(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let served = serve(&env, &["serve"]);
    let listing = |served: &Served| {
        let url = format!("{}/api/products/?ordering=name&page_size=100", served.address);
        async move { json(&url).await }
    };
    let first = listing(&served).await;
    let total = json(&format!("{}/api/products/", served.address)).await["count"].as_u64().unwrap();
    let cats = json(&format!("{}/api/categories/", served.address)).await;
    assert_eq!(cats["count"], 20);
    // About 3% of products are inactive; the rest are listed.
    assert!((2800..3000).contains(&total), "{total}");
    let laptops = json(&format!("{}/api/products/?search=laptop", served.address)).await["count"].as_u64().unwrap();
    let share = laptops as f64 / total as f64;
    assert!((0.01..=0.05).contains(&share), "laptop share {share}");
    drop(served);

    let refused = seed(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--reset"));

    let out = seed(&["--reset"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let served = serve(&env, &["serve"]);
    let second = listing(&served).await;
    // New rows (new ids): the reseed invalidated what was cached before it.
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["results"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect()
    };
    assert_ne!(ids(&first), ids(&second), "served the cache of the old catalog");
    let names = |v: &serde_json::Value| -> Vec<(String, String, String)> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["description"].as_str().unwrap().to_owned(),
                    p["price"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(names(&first), names(&second), "same seed, same catalog");
}

#[test]
fn an_unreachable_database_is_one_clear_line() {
    let url = "postgres://postgres@127.0.0.1:1/nothing";
    let out = storefront(&[("DATABASE_URL", url)], &["migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot open database"), "{stderr}");
    let _ = postgres_admin_url();
}
