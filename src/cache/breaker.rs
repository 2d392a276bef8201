//! A circuit breaker in front of Redis. After a failure (error or timeout) it
//! opens: for a cool-down period nobody calls Redis and requests go straight
//! to the database. Then one caller probes; success closes it again. It logs
//! once per state change, never per request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open {
        until: Instant,
    },
    /// One probe is in flight.
    HalfOpen,
}

pub struct Breaker {
    state: Mutex<BreakerState>,
    cooldown: Duration,
}

/// May this call go to Redis?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    Call,
    /// This call is the probe after a cool-down.
    Probe,
    Skip,
}

impl Breaker {
    pub fn new(cooldown: Duration) -> Self {
        Breaker { state: Mutex::new(BreakerState::Closed), cooldown }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn permit(&self) -> Permit {
        let mut state = self.lock();
        match *state {
            BreakerState::Closed => Permit::Call,
            BreakerState::HalfOpen => Permit::Skip,
            BreakerState::Open { until } if Instant::now() >= until => {
                *state = BreakerState::HalfOpen;
                Permit::Probe
            }
            BreakerState::Open { .. } => Permit::Skip,
        }
    }

    /// Returns true when this success closed an open breaker.
    pub fn success(&self) -> bool {
        let mut state = self.lock();
        let was_open = *state != BreakerState::Closed;
        *state = BreakerState::Closed;
        if was_open {
            tracing::warn!("redis cache is reachable again: caching resumed");
        }
        was_open
    }

    pub fn failure(&self, error: &str) {
        let mut state = self.lock();
        if *state == BreakerState::Closed {
            tracing::warn!(
                error,
                cooldown_ms = self.cooldown.as_millis() as u64,
                "redis cache unavailable: serving from the database"
            );
        }
        *state = BreakerState::Open { until: Instant::now() + self.cooldown };
    }

    pub fn is_closed(&self) -> bool {
        *self.lock() == BreakerState::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_failure_and_probes_after_the_cooldown() {
        let b = Breaker::new(Duration::from_millis(30));
        assert_eq!(b.permit(), Permit::Call);
        b.failure("down");
        assert_eq!(b.permit(), Permit::Skip);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.permit(), Permit::Probe);
        assert_eq!(b.permit(), Permit::Skip, "only one probe at a time");
        b.failure("still down");
        assert_eq!(b.permit(), Permit::Skip);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.permit(), Permit::Probe);
        assert!(b.success());
        assert_eq!(b.permit(), Permit::Call);
        assert!(!b.success());
    }
}
