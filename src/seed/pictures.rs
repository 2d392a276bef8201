//! Pictures for generated products, drawn here: nothing is downloaded. Each
//! theme has a few of its own (its colours, and shapes placed by a seeded
//! generator), so a catalog of any size holds only a few dozen distinct
//! images, each stored once by its hash; a product shows one of its
//! theme's, chosen by its id. The same theme and variant always draw the
//! same pixels, so the same files.

use image::{DynamicImage, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Pictures per theme.
pub const VARIANTS: usize = 2;
/// Wide enough for two of the served widths (320 and 640).
const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;

/// Picture `variant` of theme `theme`.
pub fn draw(theme: usize, variant: usize) -> DynamicImage {
    let mut rng = ChaCha8Rng::seed_from_u64(((theme as u64) << 8) | variant as u64);
    // Theme colours around the colour wheel, variants a little apart.
    let hue = (theme as f32 * 137.5 + variant as f32 * 25.0) % 360.0;
    let background = hsl(hue, 0.45, 0.86);
    let mut picture = RgbImage::from_pixel(WIDTH, HEIGHT, background);
    for i in 0..6 {
        let colour = hsl((hue + rng.random_range(-40.0..40.0)) % 360.0, 0.55, 0.35 + 0.07 * i as f32);
        let (cx, cy) = (rng.random_range(0..WIDTH) as i64, rng.random_range(0..HEIGHT) as i64);
        let size = rng.random_range(40..160) as i64;
        if rng.random_bool(0.5) {
            // A disc: each row's span is where the circle crosses it.
            fill(&mut picture, colour, cy - size..=cy + size, |y| {
                let half = (((size * size - (y - cy).pow(2)) as f64).sqrt()) as i64;
                (cx - half, cx + half)
            });
        } else {
            fill(&mut picture, colour, cy - size / 2..=cy + size / 2, |_| (cx - size, cx + size));
        }
    }
    DynamicImage::ImageRgb8(picture)
}

/// Paints, on each row of `rows`, the pixels from `span(row)`'s first to
/// its last, both clipped to the picture. Row by row over the raw buffer:
/// the seed draws every picture at each start, so this stays quick.
fn fill(
    picture: &mut RgbImage,
    colour: Rgb<u8>,
    rows: std::ops::RangeInclusive<i64>,
    span: impl Fn(i64) -> (i64, i64),
) {
    let (width, height) = (i64::from(picture.width()), i64::from(picture.height()));
    let buffer: &mut [u8] = picture;
    for y in (*rows.start()).max(0)..=(*rows.end()).min(height - 1) {
        let (x0, x1) = span(y);
        let (x0, x1) = (x0.max(0), x1.min(width - 1));
        if x0 > x1 {
            continue;
        }
        let row = (y * width) as usize * 3;
        for pixel in buffer[row + x0 as usize * 3..row + (x1 as usize + 1) * 3].chunks_exact_mut(3) {
            pixel.copy_from_slice(&colour.0);
        }
    }
}

fn hsl(hue: f32, saturation: f32, lightness: f32) -> Rgb<u8> {
    let chroma = (1.0 - (2.0 * lightness - 1.0).abs()) * saturation;
    let h = hue / 60.0;
    let x = chroma * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    let m = lightness - chroma / 2.0;
    let channel = |c: f32| ((c + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    Rgb([channel(r), channel(g), channel(b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_theme_and_variant_draw_the_same_picture() {
        assert_eq!(draw(3, 1).as_bytes(), draw(3, 1).as_bytes());
        assert_ne!(draw(3, 1).as_bytes(), draw(3, 0).as_bytes());
        assert_ne!(draw(3, 1).as_bytes(), draw(4, 1).as_bytes());
    }
}
