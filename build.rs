//! Computes a digest of what shapes a cached body: the templates compiled
//! into the binary and the views that fill them and write the API's JSON
//! (`src/views`). It becomes part of every cache key, so a deploy with
//! changed templates never serves fragments rendered by the old ones, nor
//! one with a changed wire type API bodies in the old shape.

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
    for dir in ["templates", "src/views"] {
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
}
