//! Image uploads as both the admin's form and the API send them: a
//! multipart body read into its text fields and its files, each file cut
//! off (and refused) once it passes the upload limit, then checked and
//! stored by `media`. A file that is refused is a message for its field,
//! never a 500; the body as a whole is bounded by `body_limit`.

use axum::extract::Multipart;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};

use crate::domain::FieldErrors;
use crate::error::AppError;
use crate::media::process::MAX_BYTES;
use crate::media::{Media, Rejection, Stored};
use crate::routes::body_limit::BodyLimit;

/// Files one request may carry.
pub const MAX_FILES: usize = 10;
/// The longest text field read (a CSRF token is far shorter).
const MAX_TEXT: usize = 4096;

/// A multipart body, read.
#[derive(Default)]
pub struct UploadBody {
    /// Text fields, by name, as sent.
    pub fields: Vec<(String, String)>,
    /// The files of the file field, in the order sent.
    pub files: Vec<UploadedFile>,
    /// Parts that are neither the file field nor a text field asked for.
    pub unknown: Vec<String>,
}

pub struct UploadedFile {
    /// The name the client gave it, for messages only.
    pub file_name: String,
    /// Its bytes, or why they were not read.
    pub bytes: Result<Bytes, Rejection>,
}

impl UploadBody {
    pub fn field(&self, name: &str) -> &str {
        self.fields.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }
}

fn multipart_error(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge(BodyLimit::Upload)
    } else {
        AppError::bad_param("body", e.body_text())
    }
}

impl From<MultipartRejection> for AppError {
    fn from(rejection: MultipartRejection) -> Self {
        AppError::bad_param("body", rejection.body_text())
    }
}

/// Reads `multipart`: parts named `file_field` are files (a browser's empty
/// one, sent when nothing was chosen, is left out), parts named in `text`
/// are text, anything else is noted in `unknown`.
pub async fn read(mut multipart: Multipart, file_field: &str, text: &[&str]) -> Result<UploadBody, AppError> {
    let mut body = UploadBody::default();
    while let Some(mut part) = multipart.next_field().await.map_err(multipart_error)? {
        let name = part.name().unwrap_or_default().to_owned();
        if name == file_field {
            let file_name = part.file_name().unwrap_or_default().to_owned();
            let mut bytes = BytesMut::new();
            let mut too_big = false;
            // Past the limit the rest is read and dropped: the body's own
            // limit bounds that.
            while let Some(chunk) = part.chunk().await.map_err(multipart_error)? {
                if !too_big && bytes.len() + chunk.len() <= MAX_BYTES {
                    bytes.extend_from_slice(&chunk);
                } else {
                    too_big = true;
                    bytes = BytesMut::new();
                }
            }
            if file_name.is_empty() && bytes.is_empty() && !too_big {
                continue;
            }
            let bytes = if too_big { Err(Rejection::TooBig) } else { Ok(bytes.freeze()) };
            body.files.push(UploadedFile { file_name, bytes });
        } else if text.contains(&name.as_str()) {
            let value = part.text().await.map_err(multipart_error)?;
            if value.len() > MAX_TEXT {
                return Err(AppError::bad_param(&name, "Too long."));
            }
            body.fields.push((name, value));
        } else {
            body.unknown.push(name);
        }
    }
    Ok(body)
}

/// Checks and stores every file; all of them, or a message per file that
/// is refused under `field` (then none is shown, whatever was stored).
pub async fn store_all(media: &Media, files: Vec<UploadedFile>, field: &str) -> Result<Vec<Stored>, AppError> {
    let mut errors = FieldErrors::default();
    if files.is_empty() {
        errors.add(field, "Choose one or more images.");
    } else if files.len() > MAX_FILES {
        errors.add(field, format!("At most {MAX_FILES} images at a time."));
    }
    if !errors.is_empty() {
        return Err(AppError::BadRequest(errors));
    }
    let mut stored = Vec::with_capacity(files.len());
    for file in files {
        let outcome = match file.bytes {
            Ok(bytes) => media.store_upload(bytes).await?,
            Err(rejection) => Err(rejection),
        };
        match outcome {
            Ok(image) => stored.push(image),
            Err(rejection) if file.file_name.is_empty() => errors.add(field, rejection.to_string()),
            Err(rejection) => errors.add(field, format!("{}: {rejection}", file.file_name)),
        }
    }
    if errors.is_empty() { Ok(stored) } else { Err(AppError::BadRequest(errors)) }
}
