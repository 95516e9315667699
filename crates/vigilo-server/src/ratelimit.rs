//! Token buckets for public intake (incident reports from anonymous visitors): one per
//! client address and one for everybody, so a flood from one address is refused at once
//! and a flood from many addresses cannot starve the database. Accounts with a session
//! or token are accountable and are not limited here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bucket's size and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

impl Rate {
    /// `burst` requests at once, then one every `every`.
    pub fn new(burst: u32, every: Duration) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: 1.0 / every.as_secs_f64().max(1e-6),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - self.tokens) / rate.per_second).max(1.0),
            ))
        }
    }
}

/// Limits per address and overall. Addresses whose buckets are full are forgotten, so
/// memory stays bounded by the addresses active in the last refill period.
pub struct RateLimiter {
    per_client: Rate,
    overall: Rate,
    state: Mutex<(Bucket, HashMap<IpAddr, Bucket>)>,
}

/// Most addresses tracked at once; past this the oldest full buckets are dropped.
const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    pub fn new(per_client: Rate, overall: Rate) -> Self {
        let now = Instant::now();
        Self {
            per_client,
            overall,
            state: Mutex::new((
                Bucket {
                    tokens: overall.burst,
                    at: now,
                },
                HashMap::new(),
            )),
        }
    }

    /// Takes one request's token, or says how long to wait.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (overall, clients) = &mut *guard;
        if clients.len() >= MAX_TRACKED {
            let rate = self.per_client;
            clients.retain(|_, b| {
                let refilled =
                    b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate.per_second;
                refilled < rate.burst
            });
        }
        let bucket = clients.entry(client).or_insert(Bucket {
            tokens: self.per_client.burst,
            at: now,
        });
        // Check the client's own bucket first, so one flooding address does not use up
        // the overall allowance that other stations need.
        let mut trial = *bucket;
        trial.take(self.per_client, now)?;
        overall.take(self.overall, now)?;
        *bucket = trial;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_for_refill() {
        let limiter = RateLimiter::new(
            Rate::new(3, Duration::from_secs(10)),
            Rate::new(100, Duration::from_millis(10)),
        );
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(a, t0).is_ok());
        }
        let wait = limiter.check_at(a, t0).unwrap_err();
        assert!(wait >= Duration::from_secs(9), "{wait:?}");
        // Another address is not affected.
        assert!(limiter.check_at(b, t0).is_ok());
        // Ten seconds later one more request fits.
        let t1 = t0 + Duration::from_secs(10);
        assert!(limiter.check_at(a, t1).is_ok());
        assert!(limiter.check_at(a, t1).is_err());
    }

    #[test]
    fn the_overall_bucket_caps_many_addresses() {
        let limiter = RateLimiter::new(
            Rate::new(5, Duration::from_secs(1)),
            Rate::new(4, Duration::from_secs(60)),
        );
        let t0 = Instant::now();
        let ok = (0..10u8)
            .filter(|i| limiter.check_at([10, 0, 0, *i].into(), t0).is_ok())
            .count();
        assert_eq!(ok, 4);
    }
}
