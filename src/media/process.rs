//! From uploaded bytes to the files the shop serves: the upload is decoded
//! (its format read from its content, never its name), checked against the
//! limits before and while it is decoded, turned upright by its EXIF
//! orientation, and re-encoded at each width it can fill, as WebP and
//! JPEG. Re-encoding writes pixels only, so EXIF, GPS and comments are gone.
//!
//! Everything here is CPU-bound and blocking: it runs on the media threads
//! (see `work`), never on the async runtime.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage, RgbaImage};
use sha2::{Digest, Sha256};

use super::name::{Format, ImageHash, MAX_WIDTH};

/// The largest upload taken, in bytes.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// The most pixels an upload may have: a 24-megapixel camera's. A few KiB
/// of PNG can claim far more, and would take gigabytes to decode.
pub const MAX_PIXELS: u64 = 24_000_000;
/// The longest side taken, whatever the pixel count.
pub const MAX_SIDE: u32 = 12_000;
/// What a decoder may allocate: a 16-bit RGBA image at [`MAX_PIXELS`].
const MAX_ALLOC: u64 = MAX_PIXELS * 8;
/// The widths variants are made at (the widest no wider than the original).
pub const WIDTHS: [u32; 3] = [320, 640, MAX_WIDTH];
const JPEG_QUALITY: u8 = 82;

/// Why an upload is not taken; each reads as a message for its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("The file is empty.")]
    Empty,
    #[error("The file is larger than 10 MB.")]
    TooBig,
    #[error("The file is not an image.")]
    NotAnImage,
    #[error("{0} images are not accepted: upload a PNG, JPEG or WebP.")]
    Unsupported(&'static str),
    #[error("The image is damaged or incomplete.")]
    Damaged,
    #[error("The image is too large: at most 24 megapixels and 12000 pixels a side.")]
    TooManyPixels,
}

/// An image ready to store: its hash, its size, and its files.
pub struct Prepared {
    pub hash: ImageHash,
    pub width: u32,
    pub height: u32,
    pub variants: Vec<Variant>,
}

/// One width of an image, in both formats.
pub struct Variant {
    pub width: u32,
    pub webp: Vec<u8>,
    pub jpeg: Vec<u8>,
}

impl Variant {
    pub fn bytes(&self, format: Format) -> &[u8] {
        match format {
            Format::Webp => &self.webp,
            Format::Jpeg => &self.jpeg,
        }
    }
}

/// The widths an original `width` pixels wide is made at: each fixed
/// width it can fill, or, when it is narrower than all of them, its own.
pub fn widths_for(width: u32) -> Vec<u32> {
    let fitting: Vec<u32> = WIDTHS.into_iter().filter(|w| *w <= width).collect();
    if fitting.is_empty() { vec![width.max(1)] } else { fitting }
}

/// The height of a variant `width` wide of an original `original` in size.
pub fn scaled_height((original_width, original_height): (u32, u32), width: u32) -> u32 {
    let height = (u64::from(original_height) * u64::from(width) + u64::from(original_width) / 2)
        / u64::from(original_width.max(1));
    u32::try_from(height).unwrap_or(u32::MAX).max(1)
}

/// Decodes and checks an upload, then makes its variants.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, Rejection> {
    Ok(prepare_image(decode(bytes)?))
}

fn decode(bytes: &[u8]) -> Result<DynamicImage, Rejection> {
    if bytes.is_empty() {
        return Err(Rejection::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(Rejection::TooBig);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| Rejection::NotAnImage)?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP) => {}
        Some(other) => return Err(Rejection::Unsupported(format_name(other))),
        None => return Err(Rejection::NotAnImage),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    // The limits hold the decoder from its header on: a side past them is
    // refused as the header is read, a buffer past them before it is made.
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Rejection::Damaged);
    }
    // The header's claim, checked before a pixel is decoded.
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Rejection::TooManyPixels);
    }
    // Read before the pixels: the orientation is EXIF, which goes with them.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A decoder's error as the upload's fault: over a limit, or damaged.
fn refusal(error: image::ImageError) -> Rejection {
    match error {
        image::ImageError::Limits(_) => Rejection::TooManyPixels,
        _ => Rejection::Damaged,
    }
}

/// What the message calls a format that is refused.
fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Gif => "GIF",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::Ico => "ICO",
        ImageFormat::Avif => "AVIF",
        _ => "Such",
    }
}

/// The hash of an image's upright pixels, so the same picture is stored
/// once whatever container or metadata it came in.
pub fn hash_of(rgba: &RgbaImage) -> ImageHash {
    let mut digest = Sha256::new();
    digest.update(rgba.width().to_be_bytes());
    digest.update(rgba.height().to_be_bytes());
    digest.update(rgba.as_raw());
    ImageHash::from_digest(&digest.finalize())
}

/// Makes the variants of an image already decoded (an upload, or one the
/// seed drew).
pub fn prepare_image(image: DynamicImage) -> Prepared {
    let rgba = image.into_rgba8();
    let hash = hash_of(&rgba);
    prepare_rgba(rgba, hash)
}

/// Makes the variants of `rgba`, whose hash is `hash`.
pub fn prepare_rgba(rgba: RgbaImage, hash: ImageHash) -> Prepared {
    let (width, height) = rgba.dimensions();
    let opaque = rgba.pixels().all(|p| p[3] == u8::MAX);
    // Widest first: each narrower one is made from the one before, which is
    // quicker than from the original and looks the same.
    let mut source = rgba;
    let mut variants = Vec::new();
    for w in widths_for(width).into_iter().rev() {
        if w != source.width() {
            let h = scaled_height((width, height), w);
            source = image::imageops::resize(&source, w, h, FilterType::CatmullRom);
        }
        variants.push(Variant { width: w, webp: webp(&source, opaque), jpeg: jpeg(&source, opaque) });
    }
    variants.reverse();
    Prepared { hash, width, height, variants }
}

/// Lossless: the only WebP the `image` crate writes. An opaque image is
/// written without its alpha channel.
fn webp(image: &RgbaImage, opaque: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = WebPEncoder::new_lossless(&mut out);
    let written = if opaque {
        let rgb = DynamicImage::ImageRgba8(image.clone()).into_rgb8();
        encoder.encode(rgb.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)
    } else {
        encoder.encode(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgba8)
    };
    written.expect("encoding pixels in memory cannot fail");
    out
}

/// JPEG has no alpha: transparent parts are shown on white.
fn jpeg(image: &RgbaImage, opaque: bool) -> Vec<u8> {
    let rgb = if opaque {
        DynamicImage::ImageRgba8(image.clone()).into_rgb8()
    } else {
        RgbImage::from_fn(image.width(), image.height(), |x, y| {
            let [r, g, b, a] = image.get_pixel(x, y).0;
            let over_white = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
            image::Rgb([over_white(r), over_white(g), over_white(b)])
        })
    };
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode(rgb.as_raw(), rgb.width(), rgb.height(), ExtendedColorType::Rgb8)
        .expect("encoding pixels in memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbaImage::from_fn(width, height, |x, y| image::Rgba([x as u8, y as u8, 90, 255]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn an_original_is_never_made_wider() {
        assert_eq!(widths_for(4000), [320, 640, 1280]);
        assert_eq!(widths_for(1280), [320, 640, 1280]);
        assert_eq!(widths_for(700), [320, 640]);
        assert_eq!(widths_for(200), [200], "narrower than every width: its own");
        assert_eq!(scaled_height((1000, 500), 320), 160);
        assert_eq!(scaled_height((1000, 1), 320), 1, "never 0 high");
    }

    #[test]
    fn variants_are_made_at_each_width_it_fills() {
        let prepared = prepare(&png(700, 350)).unwrap();
        assert_eq!((prepared.width, prepared.height), (700, 350));
        let widths: Vec<u32> = prepared.variants.iter().map(|v| v.width).collect();
        assert_eq!(widths, [320, 640]);
        for v in &prepared.variants {
            let webp = image::load_from_memory_with_format(&v.webp, ImageFormat::WebP).unwrap();
            let jpeg = image::load_from_memory_with_format(&v.jpeg, ImageFormat::Jpeg).unwrap();
            assert_eq!((webp.width(), webp.height()), (v.width, v.width / 2));
            assert_eq!((jpeg.width(), jpeg.height()), (v.width, v.width / 2));
        }
    }

    #[test]
    fn the_same_pixels_have_the_same_hash() {
        let a = prepare(&png(50, 40)).unwrap().hash;
        assert_eq!(a, prepare(&png(50, 40)).unwrap().hash);
        assert_ne!(a, prepare(&png(40, 50)).unwrap().hash);
    }

    #[test]
    fn what_is_not_a_small_png_jpeg_or_webp_is_refused() {
        assert_eq!(prepare(b"").err(), Some(Rejection::Empty));
        assert_eq!(prepare(b"hello, world").err(), Some(Rejection::NotAnImage));
        assert_eq!(prepare(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").err(), Some(Rejection::Unsupported("GIF")));
        let whole = png(64, 64);
        assert_eq!(prepare(&whole[..whole.len() / 2]).err(), Some(Rejection::Damaged));
        assert_eq!(prepare(&vec![0u8; MAX_BYTES + 1]).err(), Some(Rejection::TooBig));
    }
}
