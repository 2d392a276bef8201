//! The route table (tests/api/support/route_table.rs) is checked against
//! the router itself, so a new route cannot be left out of it:
//! - its paths are exactly the paths the source routes (outside test
//!   modules): each `.route("...")`, and each `#[utoipa::path(path = "...")]`
//!   of a file that lists its handlers in `routes!`; under the prefix of the
//!   `.nest("/prefix", module::…)` (or, in a `mod.rs`, `.nest("/prefix", …)`)
//!   that mounts the file's folder; and each API path also without its
//!   trailing slash, which the router adds, and each resource path with
//!   `.json` in place of it (DRF's format suffix; its spelling with the
//!   slash is the same rewrite, not a row of its own). A router built any other way
//!   (`nest_service`, `route_service`, a path that is not a literal) fails
//!   the check until this scan learns it;
//! - on each path, every method the table does not list answers 405 (and
//!   so is not served).

use std::path::{Path, PathBuf};

use crate::support::route_table::{Listener, METHODS, ROUTES, app_serving_every_route, fill, origin, paths};
use crate::support::visitor::signed_in_with;

/// The string literal that `rest` starts with (after blanks).
fn literal(rest: &str) -> Option<String> {
    rest.trim_start().strip_prefix('"').and_then(|r| r.split_once('"')).map(|(s, _)| s.to_owned())
}

/// Every routed path under `src/` (outside `#[cfg(test)]` modules), with
/// the listener its file serves; an error names any router call this scan
/// cannot read.
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
    let mut sources = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("").to_owned();
        sources.push((file, code));
    }
    // Which folder each `.nest` mounts, under which prefix.
    let mut prefixes: Vec<(PathBuf, String)> = Vec::new();
    for (file, code) in &sources {
        let name = file.strip_prefix(&src).unwrap_or(file).display().to_string();
        for (at, _) in code.match_indices(".nest(") {
            let rest = &code[at + ".nest(".len()..];
            let prefix =
                literal(rest).ok_or_else(|| format!("src/{name}: a `.nest(` whose prefix is not a literal"))?;
            let mounted = rest.split_once(',').map(|(_, m)| m.trim_start()).unwrap_or("");
            let folder = match mounted.split_once("::") {
                Some((module, _)) if module.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    file.parent().unwrap().join(module)
                }
                _ if file.ends_with("mod.rs") => file.parent().unwrap().to_path_buf(),
                _ => return Err(format!("src/{name}: a `.nest(` this scan cannot follow")),
            };
            prefixes.push((folder, prefix));
        }
    }
    let mut found = Vec::new();
    for (file, code) in &sources {
        let name = file.strip_prefix(&src).unwrap_or(file).display().to_string();
        let on = if name == "metrics.rs" { Listener::Metrics } else { Listener::Shop };
        for unread in [".nest_service(", ".route_service("] {
            if code.contains(unread) {
                return Err(format!(
                    "src/{name} builds routes with `{unread}`: teach the route table's scan to read it"
                ));
            }
        }
        let prefix: String =
            prefixes.iter().filter(|(folder, _)| file.starts_with(folder)).map(|(_, p)| p.as_str()).collect();
        let mut paths = Vec::new();
        for (at, _) in code.match_indices(".route(") {
            let path = literal(&code[at + ".route(".len()..])
                .ok_or_else(|| format!("src/{name}: a `.route(` whose path is not a string literal"))?;
            paths.push(path);
        }
        if code.contains("routes!(") {
            for (at, _) in code.match_indices("#[utoipa::path(") {
                let attribute = &code[at..];
                let attribute = &attribute[..attribute.find(")]").unwrap_or(attribute.len())];
                let path = attribute
                    .split_once("path = ")
                    .and_then(|(_, rest)| literal(rest))
                    .ok_or_else(|| format!("src/{name}: a `#[utoipa::path(` without a literal path"))?;
                paths.push(path);
            }
        }
        for path in paths {
            let path = match (prefix.as_str(), path.as_str()) {
                ("", path) => path.to_owned(),
                (prefix, "/") => prefix.to_owned(),
                (prefix, path) => format!("{prefix}{path}"),
            };
            if let Some(rest) = path.strip_prefix("/api/") {
                match rest.strip_suffix('/') {
                    Some(bare) => {
                        found.push((on, format!("/api/{bare}")));
                        found.push((on, format!("/api/{bare}.json")));
                    }
                    None if rest.is_empty() => found.push((on, "/api".to_owned())),
                    None => {}
                }
            }
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
        let url = format!("{}{}", origin(&app, on), fill(path, (1, "x"), (1, "x"), "SF-0000000000"));
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
