//! The names of stored image files, `{hash}-{width}.{ext}`, parsed into
//! typed values: a name that parses can only point at one file inside the
//! media directory, so `/media/{file}` cannot be walked out of it.

use std::fmt;

/// Hex digits of an [`ImageHash`]: 128 bits of SHA-256.
const HASH_HEX: usize = 32;

/// The widest variant made.
pub const MAX_WIDTH: u32 = 1280;

/// The content hash an image is stored under: 32 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageHash([u8; HASH_HEX]);

impl ImageHash {
    pub fn parse(raw: &str) -> Option<Self> {
        let bytes: [u8; HASH_HEX] = raw.as_bytes().try_into().ok()?;
        bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')).then_some(ImageHash(bytes))
    }

    /// The hash of `digest`'s first 16 bytes.
    pub fn from_digest(digest: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; HASH_HEX];
        for (i, byte) in digest.iter().take(HASH_HEX / 2).enumerate() {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        ImageHash(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for ImageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The formats variants are written in: WebP, and JPEG for browsers
/// without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Webp,
    Jpeg,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Webp, Format::Jpeg];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Webp => "webp",
            Format::Jpeg => "jpg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Webp => "image/webp",
            Format::Jpeg => "image/jpeg",
        }
    }

    fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "webp" => Some(Format::Webp),
            "jpg" => Some(Format::Jpeg),
            _ => None,
        }
    }
}

/// One stored file: an image's variant at a width, in a format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MediaName {
    pub hash: ImageHash,
    pub width: u32,
    pub format: Format,
}

impl MediaName {
    /// Reads `{hash}-{width}.{ext}`, written exactly as [`fmt::Display`]
    /// writes it (no leading zeros, lowercase), so each file has one name
    /// and one ETag. Anything else (dots, slashes, `%2e`) is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (stem, ext) = raw.split_once('.')?;
        let (hash, width) = stem.split_once('-')?;
        let valid_width = !width.is_empty()
            && width.len() <= 4
            && !width.starts_with('0')
            && width.bytes().all(|b| b.is_ascii_digit());
        let width: u32 = if valid_width { width.parse().ok()? } else { return None };
        if width > MAX_WIDTH {
            return None;
        }
        Some(MediaName { hash: ImageHash::parse(hash)?, width, format: Format::from_extension(ext)? })
    }

    /// The directory under the media root that holds it: the hash's first
    /// two digits, so no directory grows too large.
    pub fn shard(&self) -> &str {
        &self.hash.as_str()[..2]
    }
}

impl fmt::Display for MediaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}.{}", self.hash, self.width, self.format.extension())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_name_reads_back_as_it_is_written() {
        for raw in [format!("{HASH}-320.webp"), format!("{HASH}-1280.jpg"), format!("{HASH}-7.jpg")] {
            let name = MediaName::parse(&raw).unwrap_or_else(|| panic!("{raw}"));
            assert_eq!(name.to_string(), raw);
        }
        let name = MediaName::parse(&format!("{HASH}-640.webp")).unwrap();
        assert_eq!((name.width, name.format, name.shard()), (640, Format::Webp, "01"));
    }

    #[test]
    fn anything_else_is_not_a_name() {
        for raw in [
            "".to_owned(),
            format!("{HASH}-320.png"),
            format!("{HASH}-0320.webp"),
            format!("{HASH}-0.webp"),
            format!("{HASH}-1281.webp"),
            format!("{HASH}-+32.webp"),
            format!("{HASH}-320.webp.jpg"),
            format!("{HASH}-320"),
            format!("{}-320.webp", HASH.to_uppercase()),
            format!("{}-320.webp", &HASH[1..]),
            format!("../{HASH}-320.webp"),
            format!("..%2f{HASH}-320.webp"),
            format!("{HASH}-320.webp/"),
            "..".to_owned(),
            "../../etc/passwd".to_owned(),
        ] {
            assert_eq!(MediaName::parse(&raw), None, "{raw}");
        }
    }

    #[test]
    fn a_digest_is_written_in_lowercase_hex() {
        let hash = ImageHash::from_digest(&[0xab; 32]);
        assert_eq!(hash.as_str(), "ab".repeat(16));
        assert_eq!(ImageHash::parse(hash.as_str()), Some(hash));
    }
}
