//! The shop on a Redis Cluster of the test's own (loopback ports, started
//! with `redis-server --cluster-enabled yes` and joined by
//! `redis-cli --cluster create`): cache, invalidation and sessions work on
//! it, entries spread over the masters while tags share one slot, a killed
//! master costs anonymous browsing no error, and with replicas a failover
//! serves nothing stale.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::api::{set_price, token_for};
use crate::support::cache::page_price;
use crate::support::redis_server::RedisServer;
use crate::support::visitor::{add_to_cart, cart_lines};
use crate::support::{Backend, TestApp, Visitor};

pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// `masters` masters, each with `replicas` replicas, all slots assigned
    /// and every replica in sync.
    pub fn start(masters: usize, replicas: usize) -> RedisCluster {
        let args =
            ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"];
        let nodes: Vec<RedisServer> = (0..masters * (1 + replicas)).map(|_| RedisServer::start_with(&args)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli is installed (apt-get install redis-server)");
        assert!(out.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&out.stdout));
        let cluster = RedisCluster { nodes };
        cluster.wait_until(Duration::from_secs(20), "the cluster to form", |c| {
            c.nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                && c.masters().len() == masters
                && c.masters()
                    .iter()
                    .all(|&m| c.nodes[m].cli(&["INFO", "replication"]).matches("state=online").count() == replicas)
        });
        cluster
    }

    /// Every node, as REDIS_URL lists a cluster.
    pub fn url(&self) -> String {
        self.nodes.iter().map(|n| n.url()).collect::<Vec<_>>().join(",")
    }

    fn live(&self) -> impl Iterator<Item = (usize, &RedisServer)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.ping())
    }

    /// The indexes of the nodes that are masters now, as a live node sees it.
    pub fn masters(&self) -> Vec<usize> {
        let Some((_, node)) = self.live().next() else { return vec![] };
        node.cli(&["CLUSTER", "NODES"])
            .lines()
            .filter(|line| {
                let flags = line.split(' ').nth(2).unwrap_or("");
                flags.contains("master") && !flags.contains("fail")
            })
            .filter_map(|line| self.index_of(line.split(' ').nth(1)?))
            .collect()
    }

    fn index_of(&self, address: &str) -> Option<usize> {
        let port: u16 = address.split('@').next()?.rsplit(':').next()?.parse().ok()?;
        self.nodes.iter().position(|n| n.port == port)
    }

    /// The index of the live master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> Option<usize> {
        let (_, node) = self.live().next()?;
        let slot: u16 = node.cli(&["CLUSTER", "KEYSLOT", key]).parse().ok()?;
        node.cli(&["CLUSTER", "NODES"]).lines().find_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let serves = fields.iter().skip(8).any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                from.parse::<u16>().is_ok_and(|f| f <= slot) && to.parse::<u16>().is_ok_and(|t| slot <= t)
            });
            let healthy = fields.get(2).is_some_and(|f| f.contains("master") && !f.contains("fail"));
            (serves && healthy).then(|| self.index_of(fields[1])).flatten().filter(|&i| self.nodes[i].ping())
        })
    }

    /// This app's keys on node `index`.
    pub fn keys_on(&self, index: usize, prefix: &str) -> Vec<String> {
        let listed = self.nodes[index].cli(&["--scan", "--pattern", &format!("{prefix}:*")]);
        listed.lines().map(str::to_owned).filter(|k| !k.is_empty()).collect()
    }

    pub fn wait_until(&self, limit: Duration, what: &str, done: impl Fn(&RedisCluster) -> bool) {
        let started = Instant::now();
        while !done(self) {
            assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// An app whose cache and sessions are on `cluster`.
async fn app_on(cluster: &RedisCluster, configure: impl FnOnce(&mut storefront::config::Settings)) -> TestApp {
    let url = cluster.url();
    TestApp::spawn_configured(Backend::Postgres, |s| {
        s.cache.redis_url = url.clone();
        s.sessions.redis_url = url;
        s.cache.outbox_interval = Duration::from_millis(100);
        s.cache.breaker_cooldown = Duration::from_millis(300);
        configure(s);
    })
    .await
}

fn x_cache(r: &reqwest::Response) -> String {
    r.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
}

/// Every anonymous catalog URL of the fixture, pages and API.
fn catalog_urls(app: &TestApp) -> Vec<String> {
    let mut urls: Vec<String> = ["/", "/categories", "/products?q=laptop", "/api/products/", "/api/categories/"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for p in app.fixture.active() {
        urls.push(format!("/products/{}", p.slug));
        urls.push(format!("/api/products/{}/", p.id));
    }
    urls
}

async fn local_layer_live(app: &TestApp) {
    let started = Instant::now();
    while !app.cache().local_live() {
        assert!(started.elapsed() < Duration::from_secs(10), "the tracking connection never found the tags' node");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn catalog_cache_invalidation_and_sessions_work_on_a_cluster() {
    let cluster = RedisCluster::start(3, 0);
    let app = app_on(&cluster, |_| {}).await;
    let urls = catalog_urls(&app);
    for url in &urls {
        let first = app.get(url).await;
        assert_eq!(first.status(), 200, "{url}");
    }
    for url in &urls {
        assert_eq!(x_cache(&app.get(url).await), "HIT", "{url} is cached on the cluster");
    }

    // Entries spread over the masters; every tag sits in one slot.
    let prefix = app.cache().keys().prefix().to_owned();
    let keys: Vec<(usize, Vec<String>)> =
        cluster.masters().into_iter().map(|m| (m, cluster.keys_on(m, &prefix))).collect();
    let holding_entries = keys.iter().filter(|(_, k)| k.iter().any(|k| !app.cache().keys().is_tag(k))).count();
    assert!(holding_entries >= 2, "entries on {holding_entries} of 3 masters: {keys:?}");
    let holding_tags: Vec<usize> =
        keys.iter().filter(|(_, k)| k.iter().any(|k| app.cache().keys().is_tag(k))).map(|(m, _)| *m).collect();
    assert_eq!(holding_tags.len(), 1, "tags on one master: {keys:?}");

    // The in-process layer tracks the tags' node; a second instance's edit
    // reaches it.
    let other = app.second_instance().await;
    local_layer_live(&app).await;
    local_layer_live(&other).await;
    let (edited, untouched) =
        (app.fixture.product("Steel Laptop 13").clone(), app.fixture.product("Mechanical Keyboard"));
    let page = app.url(&format!("/products/{}", edited.slug));
    let before = page_price(&app.client, &page).await.1;
    let token = token_for(&app, "cluster-admin@example.com", true).await;
    set_price(&other, &token, edited.id, "777.25").await;
    assert_ne!(before, "$777.25");
    assert_eq!(page_price(&app.client, &page).await.1, "$777.25", "the edit shows on the other instance");
    let api: serde_json::Value = app.get_product_json(edited.id, 200).await;
    assert_eq!(api["price"], "777.25");
    let r = app.get(&format!("/products/{}", untouched.slug)).await;
    assert_eq!(x_cache(&r), "HIT", "another product's page stays cached");

    // A session and its cart live in the cluster: another instance sees
    // them, and logging out there ends the session everywhere.
    Visitor::new(&app).register("cluster@example.com", "cluster password").await;
    let here = Visitor::new(&app);
    here.login("cluster@example.com", "cluster password").await;
    add_to_cart(&here, &format!("/products/{}", untouched.slug), untouched.id, "3").await;
    let there = Visitor { client: here.client.clone(), base: other.address.clone() };
    assert_eq!(there.signed_in_as().await.as_deref(), Some("cluster@example.com"));
    assert_eq!(cart_lines(&there.page("/cart").await), [(untouched.name.clone(), "3".to_owned())]);
    let token = there.csrf("/").await;
    let out = there.post("/logout", &[("csrf", &token)]).await;
    assert!(out.status().is_redirection(), "logout: {}", out.status());
    assert_eq!(here.signed_in_as().await, None, "signed out on the first instance too");
}

#[tokio::test]
async fn a_killed_master_costs_anonymous_browsing_no_error() {
    let mut cluster = RedisCluster::start(3, 0);
    let app = app_on(&cluster, |_| {}).await;
    let urls = catalog_urls(&app);
    for url in urls.iter().chain(&urls) {
        assert_eq!(app.get(url).await.status(), 200, "{url}");
    }
    // The worst master to lose: the one every lookup reads tags from.
    let tags = cluster.master_of(&app.cache().keys().tag(&storefront::cache::Tag::All)).expect("the tags' master");
    cluster.nodes[tags].kill();
    for round in 0..3 {
        for url in &urls {
            let r = app.get(url).await;
            assert_eq!(r.status(), 200, "{url} (round {round}) with a master down");
        }
    }
    // A shopper still signs in when the sessions' slot survives, and gets a
    // clear page otherwise: never a 5xx other than 503.
    let r = Visitor::new(&app).get("/register").await;
    assert!(r.status() == 200 || r.status() == 503, "the sign-up page: {}", r.status());
}

#[tokio::test]
async fn a_failover_with_replicas_serves_nothing_stale() {
    let mut cluster = RedisCluster::start(3, 1);
    let app = app_on(&cluster, |s| s.cache.wait_replicas = 1).await;
    let token = token_for(&app, "failover-admin@example.com", true).await;
    let product = app.fixture.product("Steel Laptop 13").clone();
    let page = app.url(&format!("/products/{}", product.slug));
    let first = app.get(&format!("/products/{}", product.slug)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(x_cache(&app.get(&format!("/products/{}", product.slug)).await), "HIT", "cached before the edit");

    // An acknowledged edit is on a replica before the write answers.
    let tags = cluster.master_of(&app.cache().keys().tag(&storefront::cache::Tag::All)).expect("the tags' master");
    set_price(&app, &token, product.id, "101.00").await;
    assert!(cluster.nodes[tags].calls("WAIT") > 0, "invalidations wait for a replica");
    assert_eq!(page_price(&app.client, &page).await.1, "$101.00");
    assert_eq!(page_price(&app.client, &page).await.1, "$101.00");

    // The master holding the tags dies; its replica takes over. Whatever is
    // served meanwhile is the latest acknowledged price, and edits go on.
    cluster.nodes[tags].kill();
    let mut latest = "$101.00".to_owned();
    let started = Instant::now();
    let mut edits = 0;
    let mut hit_after_failover = false;
    // What the page answered, and whether the slot had a master, at each change.
    let mut seen: Vec<(u128, String, bool)> = Vec::new();
    while started.elapsed() < Duration::from_secs(20) {
        let r = app.client.get(&page).send().await.unwrap();
        assert_eq!(r.status(), 200, "the page during the failover");
        let status = x_cache(&r);
        let html = r.text().await.unwrap();
        let shown = html.split("<p class=\"price\">").nth(1).and_then(|s| s.split('<').next()).unwrap_or("");
        assert_eq!(shown, latest, "stale after {:?} ({status})", started.elapsed());
        let promoted = cluster.master_of(&app.cache().keys().tag(&storefront::cache::Tag::All)).is_some();
        if seen.last().is_none_or(|(_, s, p)| *s != status || *p != promoted) {
            seen.push((started.elapsed().as_millis(), status.clone(), promoted));
        }
        if promoted && status == "HIT" {
            hit_after_failover = true;
            if edits >= 2 {
                break;
            }
        }
        if started.elapsed() > Duration::from_millis(500 * (edits + 1) as u64) && edits < 2 {
            edits += 1;
            let price = format!("{}.00", 101 + edits);
            set_price(&app, &token, product.id, &price).await;
            latest = format!("${price}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(edits, 2, "edits were made during the failover");
    assert!(hit_after_failover, "caching resumed on the promoted replica; (ms, X-Cache, promoted): {seen:?}");
    assert_eq!(page_price(&app.client, &page).await.1, latest);
}

#[tokio::test]
async fn a_shop_started_while_the_cluster_is_down_caches_once_it_is_up() {
    let mut cluster = RedisCluster::start(3, 0);
    let first = app_on(&cluster, |_| {}).await;
    for node in &mut cluster.nodes {
        node.kill();
    }
    let mut app = TestApp::start(None, (*first.state.settings).clone()).await;
    app.fixture = first.fixture.clone();
    let path = format!("/products/{}", app.fixture.product("Mechanical Keyboard").slug);
    let r = app.get(&path).await;
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "BYPASS".to_owned()), "served from the database");
    // The same nodes come back, each with its saved cluster configuration.
    for node in &mut cluster.nodes {
        node.restart();
    }
    cluster.wait_until(Duration::from_secs(20), "the cluster to come back", |c| {
        c.nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    });
    let started = Instant::now();
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 200);
        if x_cache(&r) == "HIT" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "caching never started on the cluster");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
