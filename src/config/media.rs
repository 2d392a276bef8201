//! Media settings: where product images are stored (MEDIA_DIR).

use std::path::PathBuf;

use super::ConfigError;
use super::env::Env;

/// Beside the default SQLite database, `data/storefront.db`.
pub const DEFAULT_MEDIA_DIR: &str = "data/media";

/// MEDIA_DIR, or the default. Created at start if missing; a path that is
/// there and is not a directory is refused now rather than at the first
/// upload.
pub(super) fn dir(env: &Env) -> Result<PathBuf, ConfigError> {
    let dir = env.read("MEDIA_DIR", |raw| {
        let path = PathBuf::from(raw.trim());
        if raw.chars().any(char::is_control) {
            return Err(format!("{raw:?} is not a directory path"));
        }
        if path.exists() && !path.is_dir() {
            return Err(format!("{raw:?} is a file, not a directory"));
        }
        Ok(path)
    })?;
    Ok(dir.unwrap_or_else(|| PathBuf::from(DEFAULT_MEDIA_DIR)))
}
