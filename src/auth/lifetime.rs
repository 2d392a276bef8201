//! How long a session lives, by what it holds: a few hours for a visitor
//! with nothing worth keeping, the inactivity timeout once the cart holds
//! something, and for a sign-in also never beyond the absolute lifetime
//! counted from the sign-in.

use std::time::Duration;

use chrono::Utc;
use tower_sessions::Expiry;
use tower_sessions::cookie::time::{Duration as CookieDuration, OffsetDateTime};

use crate::config::SessionSettings;

/// How long sessions live (from [`SessionSettings`]).
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub anonymous: Duration,
    pub inactivity: Duration,
    pub max_age: Duration,
}

impl From<&SessionSettings> for SessionPolicy {
    fn from(s: &SessionSettings) -> Self {
        SessionPolicy { anonymous: s.anonymous_lifetime, inactivity: s.inactivity, max_age: s.max_age }
    }
}

impl SessionPolicy {
    /// The expiry of a session signed in at `signed_in_at` (Unix seconds),
    /// or of a visitor's, with or without a kept cart.
    pub fn expiry(&self, signed_in_at: Option<i64>, has_cart: bool) -> Expiry {
        match signed_in_at {
            Some(at) => {
                let by_inactivity = Utc::now().timestamp() + self.inactivity.as_secs() as i64;
                let by_age = at + self.max_age.as_secs() as i64;
                Expiry::AtDateTime(unix_to_offset(by_inactivity.min(by_age)))
            }
            None if has_cart => Expiry::OnInactivity(cookie_duration(self.inactivity)),
            None => Expiry::OnInactivity(cookie_duration(self.anonymous)),
        }
    }

    /// Pushing a session's expiry back is a session write: at most once a
    /// day, and twice per inactivity timeout when that is shorter, so a
    /// visitor who keeps coming back never meets it. In seconds.
    pub fn touch_every(&self) -> i64 {
        (self.inactivity.as_secs() as i64 / 2).clamp(1, 24 * 3600)
    }
}

fn unix_to_offset(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn cookie_duration(d: Duration) -> CookieDuration {
    CookieDuration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
