//! Product images as files: the names they are served under (`name`), how
//! an upload becomes them (`process`), where they are kept (`store`) and
//! the threads that do the work (`work`). Which product shows which image
//! is the database's (`services::images`); nothing here knows products.

pub mod name;
pub mod process;
pub mod store;
pub mod work;

pub use name::{Format, ImageHash, MediaName};
pub use process::Rejection;
pub use store::MediaStore;
pub use work::MediaWork;

use crate::error::AppError;

/// An image as stored: its hash and its original's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub hash: ImageHash,
    pub width: u32,
    pub height: u32,
}

/// The files and the threads that make them: what uploads need.
#[derive(Clone, Debug)]
pub struct Media {
    pub store: MediaStore,
    pub work: MediaWork,
}

impl Media {
    pub fn new(store: MediaStore) -> Self {
        Media { store, work: MediaWork::default() }
    }

    /// Checks an upload and stores its variants, on the media threads. The
    /// outer error is the server's (busy, a disk that cannot be written);
    /// the inner one the upload's.
    #[tracing::instrument(name = "media.store_upload", skip_all, fields(bytes = bytes.len()))]
    pub async fn store_upload(&self, bytes: bytes::Bytes) -> Result<Result<Stored, Rejection>, AppError> {
        let store = self.store.clone();
        self.work
            .run(move || {
                let prepared = match process::prepare(&bytes) {
                    Ok(prepared) => prepared,
                    Err(rejection) => return Ok(Err(rejection)),
                };
                store.save(&prepared)?;
                Ok(Ok(Stored { hash: prepared.hash, width: prepared.width, height: prepared.height }))
            })
            .await?
            .map_err(|e: std::io::Error| AppError::Internal(format!("writing an image: {e}")))
    }

    /// Stores an image drawn in process (the seed's), on the calling
    /// thread. Drawn again (the seed draws the same pictures every time),
    /// it is only hashed: its files are there.
    pub fn store_drawn(&self, image: image::DynamicImage) -> std::io::Result<Stored> {
        let rgba = image.into_rgba8();
        let (hash, (width, height)) = (process::hash_of(&rgba), rgba.dimensions());
        if !self.store.has_all(hash, width) {
            self.store.save(&process::prepare_rgba(rgba, hash))?;
        }
        Ok(Stored { hash, width, height })
    }
}

/// What pages show of an image: its URLs at each width, and its size.
impl Stored {
    /// The widths its files were made at.
    pub fn widths(&self) -> Vec<u32> {
        process::widths_for(self.width)
    }

    pub fn url(&self, width: u32, format: Format) -> String {
        format!("/media/{}", MediaName { hash: self.hash, width, format })
    }

    fn srcset(&self, format: Format) -> String {
        let each = self.widths().into_iter().map(|w| format!("{} {w}w", self.url(w, format)));
        each.collect::<Vec<_>>().join(", ")
    }

    pub fn webp_srcset(&self) -> String {
        self.srcset(Format::Webp)
    }

    pub fn jpeg_srcset(&self) -> String {
        self.srcset(Format::Jpeg)
    }

    /// For browsers without `srcset`: the JPEG at 640 wide, or the widest
    /// there is below that.
    pub fn fallback_src(&self) -> String {
        let widths = self.widths();
        let width = widths.iter().copied().filter(|w| *w <= 640).max().unwrap_or(widths[0]);
        self.url(width, Format::Jpeg)
    }

    /// The size `<img>` reserves (its aspect ratio is what matters): the
    /// widest file's.
    pub fn shown_width(&self) -> u32 {
        self.widths().last().copied().unwrap_or(self.width)
    }

    pub fn shown_height(&self) -> u32 {
        process::scaled_height((self.width, self.height), self.shown_width())
    }
}
