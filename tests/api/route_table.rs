//! The route table (tests/api/support/route_table.rs) is checked against
//! the router itself, so a new route cannot be left out of it:
//! - its paths are exactly the `.route("...")` paths in the source (outside
//!   test modules), and a router built any other way (`nest`,
//!   `route_service`, a path that is not a literal) fails the check until
//!   this scan learns it;
//! - on each path, every method the table does not list answers 405 (and
//!   so is not served).

use std::path::Path;

use crate::support::route_table::{Listener, METHODS, ROUTES, app_serving_every_route, fill, origin, paths};
use crate::support::visitor::signed_in_with;

/// Every `.route("...")` path under `src/` (outside `#[cfg(test)]`
/// modules), with the listener its file serves; an error names any router
/// call this scan cannot read.
fn routes_in_source() -> Result<Vec<(Listener, String)>, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let name = file.strip_prefix(&src).unwrap_or(&file).display().to_string();
        let on = if name == "metrics.rs" { Listener::Metrics } else { Listener::Shop };
        for unread in [".nest(", ".nest_service(", ".route_service("] {
            if code.contains(unread) {
                return Err(format!(
                    "src/{name} builds routes with `{unread}`: teach the route table's scan to read it"
                ));
            }
        }
        for (at, _) in code.match_indices(".route(") {
            let rest = code[at + ".route(".len()..].trim_start();
            let path = rest
                .strip_prefix('"')
                .and_then(|r| r.split_once('"'))
                .map(|(path, _)| path.to_owned())
                .ok_or_else(|| format!("src/{name}: a `.route(` whose path is not a string literal"))?;
            found.push((on, path));
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

#[test]
fn the_route_table_names_exactly_the_paths_the_source_routes() {
    let source = routes_in_source().unwrap_or_else(|e| panic!("{e}"));
    let table: Vec<(Listener, String)> = paths().into_iter().map(|(on, p)| (on, p.to_owned())).collect();
    let missing: Vec<_> = source.iter().filter(|p| !table.contains(p)).collect();
    let stale: Vec<_> = table.iter().filter(|p| !source.contains(p)).collect();
    assert!(missing.is_empty(), "routes missing from tests/api/support/route_table.rs: {missing:?}");
    assert!(stale.is_empty(), "rows of tests/api/support/route_table.rs that no router serves: {stale:?}");
}

#[tokio::test]
async fn every_method_the_route_table_does_not_name_is_refused_with_405() {
    let app = app_serving_every_route().await;
    // An admin, so that the admin guard lets every request reach its route.
    let admin = signed_in_with(&app, "table-admin@example.com", "route table password", true).await;
    let mut served = Vec::new();
    for (on, path) in paths() {
        let url = format!("{}{}", origin(&app, on), fill(path, (1, "x"), (1, "x")));
        for method in METHODS {
            let listed = ROUTES.iter().any(|r| r.on == on && r.path == path && r.method == method);
            if listed {
                continue;
            }
            let r = admin.client.request(method.parse().unwrap(), &url).send().await.unwrap();
            if r.status() != 405 {
                served.push(format!("{method} {path}: {}", r.status()));
            }
        }
    }
    assert!(served.is_empty(), "served but not in the route table: {served:?}");
}
