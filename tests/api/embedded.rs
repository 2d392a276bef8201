//! The shop as a newcomer meets it: the binary started in an empty folder
//! with no configuration, on a machine where nothing answers on localhost.
//! It must serve everything: cached pages, sign-up and sign-in, a cart, all
//! still there after a restart, and an admin's edit seen at once.
//!
//! "Nothing answers on localhost" is made real with a network namespace of
//! the test's own: the outer test runs this test binary again inside one
//! (`unshare -n`, loopback up) to run the inner test, which does the checks
//! against the shop it starts there. Inside, the shop gets the default
//! address, 127.0.0.1:3000, as a newcomer's would.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::support::Visitor;
use crate::support::visitor::{add_to_cart, cart_lines};

const BIN: &str = env!("CARGO_BIN_EXE_storefront");
const INNER: &str = "embedded::in_an_empty_folder_with_nothing_on_localhost_the_shop_serves_everything";
const SHOP: &str = "http://127.0.0.1:3000";

#[tokio::test]
async fn a_newcomer_gets_the_whole_shop_with_no_configuration_and_no_redis() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", r#"ip link set lo up && exec "$0" "$@""#])
        .arg(&exe)
        .args([INNER, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .expect("unshare runs (it is part of util-linux)");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        !stderr.contains("unshare failed") && !stderr.contains("Operation not permitted"),
        "cannot make a network namespace: run the tests as root, or where unprivileged user namespaces are \
         allowed\n{stderr}"
    );
    assert!(out.status.success(), "the shop in its own network failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the inner test did not run:\n{stdout}\n{stderr}");
}

/// A running `storefront` (no arguments: `serve`) in `folder`, with what
/// it has logged so far; killed when dropped.
struct Shop {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

/// The environment of a newcomer's shell: a path and a home, nothing else.
fn newcomer(cmd: &mut Command, folder: &std::path::Path) {
    cmd.current_dir(folder).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("HOME", folder);
}

impl Shop {
    fn start(folder: &std::path::Path) -> Shop {
        let mut cmd = Command::new(BIN);
        newcomer(&mut cmd, folder);
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("the shop starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on http://") {
                    let _ = tx.send(());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let mut shop = Shop { child, log };
        if rx.recv_timeout(Duration::from_secs(90)).is_err() {
            let _ = shop.child.kill();
            panic!("the shop did not start:\n{}", shop.log());
        }
        shop
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM, as a newcomer's Ctrl-C or a process manager stops it;
    /// returns once it has exited, cleanly.
    fn stop(mut self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                assert!(exit.success(), "the shop stopped with {exit}:\n{}", self.log());
                return;
            }
            assert!(Instant::now() < deadline, "the shop did not stop on SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the shop's log:\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET of `path` expecting 200; its `X-Cache`.
async fn x_cache(client: &reqwest::Client, path: &str) -> String {
    let r = client.get(format!("{SHOP}{path}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
}

/// A browser. It keeps no idle connection: one kept across the restart
/// would be to the stopped shop.
fn visitor() -> Visitor {
    let client = Visitor::client().pool_max_idle_per_host(0).build().unwrap();
    Visitor { client, base: SHOP.to_owned() }
}

/// The first product of the catalog that can be added to a cart: its page,
/// id and name.
async fn a_product_in_stock(v: &Visitor) -> (String, i32, String) {
    let listing = Html::parse_document(&v.page("/products").await);
    let links: Vec<String> = listing
        .select(&Selector::parse(".product-name").unwrap())
        .filter_map(|name| name.parent().and_then(scraper::ElementRef::wrap))
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    for page in links {
        let doc = Html::parse_document(&v.page(&page).await);
        let id = doc.select(&Selector::parse("form.add-to-cart input[name=product_id]").unwrap()).next();
        if let Some(id) = id.and_then(|e| e.value().attr("value")).and_then(|id| id.parse().ok()) {
            let name = doc.select(&Selector::parse(".product-detail h1").unwrap()).next().unwrap().text().collect();
            return (page, id, name);
        }
    }
    panic!("no product in stock on the first page of the demo catalog");
}

/// The admin's edit form for product `id`, as the browser would send it,
/// with the price changed to `price`.
async fn edit_form_with_price(admin: &Visitor, id: i32, price: &str) -> Vec<(String, String)> {
    let doc = Html::parse_document(&admin.page(&format!("/admin/products/{id}/edit")).await);
    let form = doc.select(&Selector::parse("form.admin-form").unwrap()).next().expect("the edit form");
    let mut fields = Vec::new();
    for input in form.select(&Selector::parse("input, textarea, select").unwrap()) {
        let Some(name) = input.value().attr("name") else { continue };
        let value = match input.value().name() {
            "textarea" => input.text().collect(),
            "select" => input
                .select(&Selector::parse("option[selected]").unwrap())
                .next()
                .and_then(|o| o.value().attr("value"))
                .unwrap_or_default()
                .to_owned(),
            _ if input.value().attr("type") == Some("checkbox") => {
                if input.value().attr("checked").is_none() {
                    continue;
                }
                input.value().attr("value").unwrap_or("on").to_owned()
            }
            _ => input.value().attr("value").unwrap_or_default().to_owned(),
        };
        fields.push((name.to_owned(), if name == "price" { price.to_owned() } else { value }));
    }
    fields
}

#[tokio::test]
#[ignore = "run inside its own network namespace by embedded::a_newcomer_gets_the_whole_shop_with_no_configuration_and_no_redis"]
async fn in_an_empty_folder_with_nothing_on_localhost_the_shop_serves_everything() {
    assert!(
        std::net::TcpStream::connect_timeout(&"127.0.0.1:6379".parse().unwrap(), Duration::from_millis(300)).is_err(),
        "something answers on 127.0.0.1:6379: this test must run in a network namespace of its own"
    );
    let folder = tempfile::tempdir().expect("an empty folder");
    let shop = Shop::start(folder.path());
    let log = shop.log();
    assert!(
        log.contains("cache: in this process; sessions, carts and throttles: in the database"),
        "the start says where the cache and the sessions live:\n{log}"
    );

    // A catalog page, twice: the second comes from the cache.
    let anonymous = reqwest::Client::new();
    x_cache(&anonymous, "/products").await;
    // Checked last, so that everything else is proven whatever it says.
    let second = x_cache(&anonymous, "/products").await;

    // Sign-up (register, then sign in) and a cart.
    let shopper = visitor();
    shopper.sign_up("newcomer@example.com", "newcomer password").await;
    assert_eq!(shopper.signed_in_as().await.as_deref(), Some("newcomer@example.com"));
    let (page, id, name) = a_product_in_stock(&shopper).await;
    let r = add_to_cart(&shopper, &page, id, "1").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "add to cart");
    assert_eq!(cart_lines(&shopper.page("/cart").await), [(name.clone(), "1".to_owned())]);

    // Stopped and started again in the same folder: still signed in, same cart.
    shop.stop();
    let shop = Shop::start(folder.path());
    assert_eq!(shopper.signed_in_as().await.as_deref(), Some("newcomer@example.com"), "signed in after a restart");
    assert_eq!(cart_lines(&shopper.page("/cart").await), [(name.clone(), "1".to_owned())], "the cart after a restart");

    // An admin made with the command line in the same folder edits the price.
    let mut cmd = Command::new(BIN);
    newcomer(&mut cmd, folder.path());
    let mut create = cmd
        .args(["user", "create", "--email", "owner@example.com", "--admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("user create runs");
    create.stdin.take().unwrap().write_all(b"owner password\n").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "user create: {}", String::from_utf8_lossy(&out.stderr));
    let admin = visitor();
    assert_eq!(admin.login("owner@example.com", "owner password").await.status(), StatusCode::SEE_OTHER);
    let before = shopper.page(&page).await;
    assert!(!before.contains("$1,234.56"), "the new price is new");
    let form = edit_form_with_price(&admin, id, "1234.56").await;
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = admin.post(&format!("/admin/products/{id}"), &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the edit is saved: {}", r.text().await.unwrap_or_default());
    for who in [&shopper, &visitor()] {
        assert!(who.page(&page).await.contains("$1,234.56"), "the product page shows the new price at once");
    }
    assert!(admin.page("/admin/products").await.contains("Saved “"), "the admin is told it is saved");
    shop.stop();

    assert_eq!(second, "HIT", "the second request for a catalog page is served from the cache");
}
