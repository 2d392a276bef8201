//! Email addresses and passwords, parsed at the edge.

use std::cell::RefCell;
use std::fmt;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// An email address in one canonical form, so one address is one account:
/// trimmed, NFKC-normalized (fullwidth `ｓ` is `s`, the Kelvin sign is `k`)
/// and lowercased. Characters that show as nothing or as a space are
/// refused rather than dropped: zero-width and bidi marks (format, Cf),
/// control, private-use and unassigned characters, and separators. An
/// address carrying one would look like another account's on screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

const INVALID_EMAIL: &str = "Enter a valid email address.";

impl Email {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let input = input.trim();
        // Normalizing can grow a string up to 18 times; anything this long
        // is refused before that work.
        if input.len() > 1024 {
            return Err(INVALID_EMAIL);
        }
        // NFKC again after lowercasing: a lowercase letter is not always in
        // normal form, and parsing an email already parsed must change nothing.
        let email: String = input.nfkc().collect::<String>().to_lowercase().nfkc().collect();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && email.chars().all(|c| {
                !c.is_whitespace()
                    && !matches!(
                        c.general_category_group(),
                        GeneralCategoryGroup::Other | GeneralCategoryGroup::Separator
                    )
            });
        if valid { Ok(Email(email)) } else { Err(INVALID_EMAIL) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed; never printed.
#[derive(Clone)]
pub struct Password(String);

pub const MIN_PASSWORD_CHARS: usize = 8;

impl Password {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        match input.chars().count() {
            n if n < MIN_PASSWORD_CHARS => Err("Use at least 8 characters."),
            n if n > 1024 => Err("Use at most 1024 characters."),
            _ => Ok(Password(input.to_owned())),
        }
    }

    /// An argon2id hash in PHC format. Slow on purpose: call it off the
    /// async threads (`auth::hashing`).
    pub fn hash(&self) -> String {
        self.try_hash().expect("argon2 with default parameters hashes any password")
    }

    fn try_hash(&self) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::default();
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf)?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        argon2_into(Algorithm::Argon2id, Version::V0x13, &params, self.0.as_bytes(), salt_bytes, &mut out)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out)?),
        };
        Ok(phc.to_string())
    }

    /// Whether this is the password behind `stored` (any argon2 PHC hash).
    pub fn verify(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else { return false };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
        let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
            return false;
        };
        let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
        let mut out = vec![0u8; expected.len()];
        argon2_into(algorithm, version, &params, self.0.as_bytes(), salt, &mut out).is_ok()
            // Output compares in constant time.
            && Output::new(&out).is_ok_and(|computed| computed == expected)
    }
}

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept by
    /// each thread that hashes. Allocated afresh for every hash, it
    /// fragmented the heap: the soak saw RSS climb 19 MiB at a time.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    // Argon2 writes every block before it reads it, so the memory need not
    // be cleared between hashes.
    BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < params.block_count() {
            blocks.resize(params.block_count(), Block::default());
        }
        Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
            password,
            salt,
            out,
            &mut blocks[..params.block_count()],
        )
    })
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "a@b@c.com", "ada@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn compatibility_forms_are_the_same_email() {
        let plain = Email::parse("s@x.test").unwrap();
        for same in ["\u{ff53}@x.test", "\u{ff33}@x.test", "s\u{ff20}x.test", "s@\u{ff58}.test", "S@X.TEST"] {
            assert_eq!(Email::parse(same).as_ref(), Ok(&plain), "{same:?}");
        }
        // The Kelvin sign and a mathematical capital fold to plain letters.
        assert_eq!(Email::parse("\u{212a}@x.test").unwrap().as_str(), "k@x.test");
        assert_eq!(Email::parse("\u{1d400}@x.test").unwrap().as_str(), "a@x.test");
        // Accents survive, in composed form.
        assert_eq!(Email::parse("Jose\u{301}@x.test").unwrap().as_str(), "jos\u{e9}@x.test");
        // What is stored parses back to itself.
        for input in ["\u{130}@x.test", "\u{1e9e}@x.test", "\u{fb01}@x.test", "\u{2160}@x.test", "\u{3392}@x.test"] {
            let once = Email::parse(input).unwrap();
            assert_eq!(Email::parse(once.as_str()).as_ref(), Ok(&once), "{input:?}");
        }
        assert!(Email::parse(&format!("{}@x.test", "\u{fdfa}".repeat(30))).is_err(), "too long once normalized");
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for c in [
            '\u{200b}',  // zero-width space
            '\u{200c}',  // zero-width non-joiner
            '\u{200d}',  // zero-width joiner
            '\u{2060}',  // word joiner
            '\u{feff}',  // byte-order mark
            '\u{00ad}',  // soft hyphen
            '\u{200e}',  // left-to-right mark
            '\u{202e}',  // right-to-left override
            '\u{2066}',  // left-to-right isolate
            '\u{e0041}', // tag letter A
            '\u{0000}',
            '\u{0007}',
            '\u{007f}',
            '\u{0085}',
            '\u{00a0}',   // no-break space
            '\u{3000}',   // ideographic space
            '\u{2028}',   // line separator
            '\u{e000}',   // private use
            '\u{10ffff}', // unassigned
        ] {
            for email in [format!("s{c}@x.test"), format!("s@x{c}.test"), format!("s@x.test{c}s")] {
                assert_eq!(Email::parse(&email), Err("Enter a valid email address."), "{email:?}");
            }
            if !c.is_whitespace() {
                assert!(Email::parse(&format!("{c}s@x.test")).is_err(), "{c:?} first");
                assert!(Email::parse(&format!("s@x.test{c}")).is_err(), "{c:?} last");
            }
        }
        // Spaces around the address are a typing slip, not part of it.
        assert_eq!(Email::parse(" s@x.test\t\u{a0}").unwrap().as_str(), "s@x.test");
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        assert!(Password::parse("short").is_err());
        let p = Password::parse("correct horse").unwrap();
        let hash = p.hash();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(p.verify(&hash));
        assert!(!Password::parse("wrong horse!").unwrap().verify(&hash));
        assert!(!p.verify("not a hash"));
        assert_eq!(format!("{p:?}"), "Password(…)");
    }

    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let p = Password::parse("correct horse").unwrap();
        // Twice on one thread: the second hash runs on memory the first left.
        for _ in 0..2 {
            let ours = p.hash();
            let parsed = PasswordHash::new(&ours).unwrap();
            assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
            assert!(Argon2::default().verify_password(b"wrong horse", &parsed).is_err());
        }
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(p.verify(&theirs));
        // Other parameters (a hash from an older configuration) still verify.
        let small = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 3, 1, None).unwrap());
        let older = small.hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(p.verify(&older));
        assert!(!Password::parse("wrong horse!").unwrap().verify(&older));
    }
}
