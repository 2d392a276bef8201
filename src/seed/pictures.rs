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
            fill(&mut picture, colour, (cx - size, cy - size, cx + size, cy + size), |x, y| {
                (x - cx).pow(2) + (y - cy).pow(2) <= size.pow(2)
            });
        } else {
            let half = size / 2;
            fill(&mut picture, colour, (cx - size, cy - half, cx + size, cy + half), |_, _| true);
        }
    }
    DynamicImage::ImageRgb8(picture)
}

/// Paints the pixels inside `bounds` (clipped to the picture) for which
/// `inside` holds.
fn fill(picture: &mut RgbImage, colour: Rgb<u8>, bounds: (i64, i64, i64, i64), inside: impl Fn(i64, i64) -> bool) {
    let (x0, y0) = (bounds.0.max(0), bounds.1.max(0));
    let (x1, y1) = (bounds.2.min(i64::from(picture.width()) - 1), bounds.3.min(i64::from(picture.height()) - 1));
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside(x, y) {
                picture.put_pixel(x as u32, y as u32, colour);
            }
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
