//! The files under MEDIA_DIR: `{shard}/{hash}-{width}.{ext}`. A name holds
//! its content's hash, so a file, once there, never changes: writing one
//! that exists is skipped, and a write goes to a temporary file renamed into
//! place, so a reader never sees half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::name::{Format, ImageHash, MediaName};
use super::process::Prepared;

#[derive(Clone, Debug)]
pub struct MediaStore {
    root: PathBuf,
}

impl MediaStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        MediaStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &MediaName) -> PathBuf {
        self.root.join(name.shard()).join(name.to_string())
    }

    /// Writes every file of `prepared` that is not there yet (blocking).
    pub fn save(&self, prepared: &Prepared) -> std::io::Result<()> {
        for variant in &prepared.variants {
            for format in Format::ALL {
                let name = MediaName { hash: prepared.hash, width: variant.width, format };
                self.write_once(&name, variant.bytes(format))?;
            }
        }
        Ok(())
    }

    fn write_once(&self, name: &MediaName, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(name);
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().expect("a media path has a shard directory");
        std::fs::create_dir_all(dir)?;
        // Named apart from every other writer's: two uploads of one image
        // may race, and each renames a whole file over the same name.
        let temp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        let written = std::fs::File::create(&temp).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
        match written.and_then(|()| std::fs::rename(&temp, &path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// Whether every file of the image `hash`, `width` wide, is there.
    pub fn has_all(&self, hash: ImageHash, width: u32) -> bool {
        let names = super::process::widths_for(width)
            .into_iter()
            .flat_map(|width| Format::ALL.map(|format| MediaName { hash, width, format }));
        names.into_iter().all(|name| self.path(&name).exists())
    }

    /// Whether the file is there.
    pub async fn exists(&self, name: &MediaName) -> std::io::Result<bool> {
        tokio::fs::try_exists(self.path(name)).await
    }

    /// The file's bytes, or `None` when there is no such file.
    pub async fn read(&self, name: &MediaName) -> std::io::Result<Option<Bytes>> {
        match tokio::fs::read(self.path(name)).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}
