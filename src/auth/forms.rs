//! Form tokens for visitors without a session: signed and dated, so a form
//! can be posted before anything is stored for the visitor (GET /login
//! stores nothing) and a cached page can carry one.
//!
//! Such a token is not bound to a visitor: a page from the edge cache is the
//! same for everyone, and a visitor without a session has nothing a forged
//! request could ride on. Cross-site posts are refused before any handler by
//! `routes::cross_site`; the token makes a bare POST without a form from
//! this site fail too. A visitor with a session uses the session's own token.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use sha2::Sha256;

use crate::error::AppError;
use crate::models::_entities::app_secret;

/// A token is good for this long after the page was rendered.
pub const FORM_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Instances' clocks may disagree a little.
const CLOCK_SKEW_SECS: i64 = 300;
const PREFIX: &str = "s1";
const KEY_NAME: &str = "form_signing_key";

/// Tokens are issued per hour: every visitor without a session gets the
/// same one within an hour, so their pages stay byte-identical (one ETag,
/// one edge-cache object) and issuing costs a lock read, not a MAC.
const BUCKET_SECS: i64 = 3600;

/// Signs and checks session-less form tokens with a key every instance over
/// one database shares.
pub struct FormSigner {
    key: [u8; 32],
    /// The token of the current hour, made once.
    current: RwLock<(i64, Arc<str>)>,
}

impl std::fmt::Debug for FormSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormSigner(…)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

impl FormSigner {
    pub fn new(key: [u8; 32]) -> Self {
        FormSigner { key, current: RwLock::new((i64::MIN, Arc::from(""))) }
    }

    /// The database's key, created by the first instance that needs it (the
    /// insert is a no-op when another instance won the race).
    pub async fn load_or_create(db: &DatabaseConnection) -> Result<Self, AppError> {
        let fresh: [u8; 32] = rand::rng().random();
        app_secret::Entity::insert(app_secret::ActiveModel { name: Set(KEY_NAME.into()), value: Set(hex(&fresh)) })
            .on_conflict_do_nothing_on([app_secret::Column::Name])
            .exec(db)
            .await?;
        let stored = app_secret::Entity::find_by_id(KEY_NAME)
            .one(db)
            .await?
            .ok_or_else(|| AppError::Internal("form signing key missing after insert".into()))?;
        let key = unhex(&stored.value)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| AppError::Internal("form signing key is not 32 hex-encoded bytes".into()))?;
        Ok(FormSigner::new(key))
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(b"storefront form token\0");
        mac.update(body.as_bytes());
        mac
    }

    /// `s1.<issued unix seconds, on the hour>.<mac>`.
    pub fn issue(&self) -> Arc<str> {
        let now = Utc::now().timestamp();
        let bucket = now - now.rem_euclid(BUCKET_SECS);
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.0 == bucket {
                return current.1.clone();
            }
        }
        let token: Arc<str> = Arc::from(self.sign(bucket));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (bucket, token.clone());
        token
    }

    fn sign(&self, issued: i64) -> String {
        let body = format!("{PREFIX}.{issued}");
        let tag = hex(&self.mac(&body).finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// Whether this site issued `token` within its lifetime.
    pub fn verify(&self, token: &str) -> bool {
        self.verify_at(token, Utc::now().timestamp())
    }

    fn verify_at(&self, token: &str, now: i64) -> bool {
        let Some((body, tag)) = token.rsplit_once('.') else { return false };
        let Some((PREFIX, issued)) = body.split_once('.') else { return false };
        let Ok(issued) = issued.parse::<i64>() else { return false };
        // Checked: a crafted date must not overflow.
        let fresh = issued <= now.saturating_add(CLOCK_SKEW_SECS)
            && now.checked_sub(issued).is_some_and(|age| age <= FORM_TOKEN_LIFETIME.as_secs() as i64);
        // verify_slice compares in constant time.
        fresh && unhex(tag).is_some_and(|tag| self.mac(body).verify_slice(&tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_serves_every_visitor_for_the_hour() {
        let signer = FormSigner::new([7; 32]);
        let (a, b) = (signer.issue(), signer.issue());
        assert_eq!(a, b);
        assert!(signer.verify(&a));
        let issued: i64 = a.split('.').nth(1).unwrap().parse().unwrap();
        assert_eq!(issued % BUCKET_SECS, 0);
    }

    #[test]
    fn an_issued_token_verifies_until_it_expires() {
        let signer = FormSigner::new([7; 32]);
        let now = 1_800_000_000;
        let token = signer.sign(now);
        assert!(signer.verify_at(&token, now));
        assert!(signer.verify_at(&token, now + FORM_TOKEN_LIFETIME.as_secs() as i64));
        assert!(!signer.verify_at(&token, now + FORM_TOKEN_LIFETIME.as_secs() as i64 + 1));
        assert!(!signer.verify_at(&token, now - CLOCK_SKEW_SECS - 1), "issued in the future");
    }

    #[test]
    fn a_changed_or_foreign_token_does_not_verify() {
        let signer = FormSigner::new([7; 32]);
        let now = 1_800_000_000;
        let token = signer.sign(now);
        assert!(!FormSigner::new([8; 32]).verify_at(&token, now), "another key");
        let later = token.replacen(&now.to_string(), &(now + 60).to_string(), 1);
        assert!(!signer.verify_at(&later, now + 60), "a moved date");
        let extreme = format!("s1.{}.00", i64::MIN);
        for bad in ["", "s1", "s1.1.2", "s1.x.00", &extreme, &format!("{token}0"), &token.replace("s1.", "s2.")] {
            assert!(!signer.verify_at(bad, now), "{bad:?}");
        }
    }
}
