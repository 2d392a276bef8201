//! Computes a digest of what shapes a cached body: the templates compiled
//! into the binary, the views that fill them and write the API's JSON
//! (`src/views`), and the static assets whose names the layout links. It
//! becomes part of every cache key and page ETag, so a deploy with changed
//! templates never serves fragments rendered by the old ones, nor one with
//! a changed wire type API bodies in the old shape.
//!
//! Also names each static asset by its content (`site.<hash>.css`), so a
//! browser may keep it for a year: new content is a new name.

use std::path::Path;

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            visit(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn main() {
    let mut files = Vec::new();
    for dir in ["templates", "src/views", "static"] {
        println!("cargo:rerun-if-changed={dir}");
        visit(Path::new(dir), &mut files);
    }
    files.sort();
    let mut bytes = Vec::new();
    for file in &files {
        bytes.extend_from_slice(file.to_string_lossy().as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&std::fs::read(file).unwrap_or_default());
        bytes.push(0);
    }
    let digest = xxhash_rust::xxh3::xxh3_64(&bytes);
    println!("cargo:rustc-env=STOREFRONT_TEMPLATES_DIGEST={digest:016x}");

    let css = std::fs::read("static/css/site.css").expect("static/css/site.css");
    let hash = xxhash_rust::xxh3::xxh3_64(&css);
    // 40 bits: a collision between two deploys' stylesheets is not a risk.
    println!("cargo:rustc-env=STOREFRONT_SITE_CSS_HASH={:010x}", hash >> 24);
}
