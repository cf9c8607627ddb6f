//! Per-registry request limits, shared by every request to one registry:
//! at most `max_requests` in flight, at most `requests_per_second` started
//! (a token bucket), and a pause for everyone when the registry asks for
//! one (`Retry-After` on a 429 or 503), as regclient keeps per host. Part
//! of the request path in [`super::client`]; all off by default.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The limits of one registry, as the plan sets them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestLimits {
    /// Requests in flight at most (`None`: no bound).
    pub max_requests: Option<usize>,
    /// Requests started per second at most (`None`: no bound).
    pub requests_per_second: Option<f64>,
}

struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

/// The shared state that enforces [`RequestLimits`].
pub struct Gate {
    in_flight: Option<Semaphore>,
    bucket: Option<Mutex<Bucket>>,
    paused_until: Mutex<Option<Instant>>,
}

use crate::sync::lock;

impl Gate {
    /// A gate for `limits`.
    pub fn new(limits: RequestLimits) -> Gate {
        Gate {
            in_flight: limits.max_requests.map(|n| Semaphore::new(n.max(1))),
            bucket: limits.requests_per_second.map(|rate| {
                Mutex::new(Bucket {
                    rate: rate.max(0.001),
                    // Start full: a burst of one second's worth.
                    tokens: rate.max(1.0),
                    last: Instant::now(),
                })
            }),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request may start; the permit is held while it is in
    /// flight.
    pub async fn enter(&self) -> Option<SemaphorePermit<'_>> {
        loop {
            let until = *lock(&self.paused_until);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
        if let Some(b) = &self.bucket {
            loop {
                let wait = {
                    let mut b = lock(b);
                    let now = Instant::now();
                    let refill = now.duration_since(b.last).as_secs_f64() * b.rate;
                    b.tokens = (b.tokens + refill).min(b.rate.max(1.0));
                    b.last = now;
                    if b.tokens >= 1.0 {
                        b.tokens -= 1.0;
                        None
                    } else {
                        Some(Duration::from_secs_f64((1.0 - b.tokens) / b.rate))
                    }
                };
                match wait {
                    None => break,
                    Some(d) => tokio::time::sleep(d).await,
                }
            }
        }
        match &self.in_flight {
            // The semaphore is never closed.
            Some(s) => s.acquire().await.ok(),
            None => None,
        }
    }

    /// The registry asked everyone to wait `d` (a `Retry-After`).
    pub fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut p = lock(&self.paused_until);
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bucket_spaces_requests_and_a_pause_holds_everyone() {
        let g = Gate::new(RequestLimits {
            max_requests: None,
            requests_per_second: Some(20.0),
        });
        let t = Instant::now();
        for _ in 0..30 {
            g.enter().await;
        }
        // 20 at once (the burst), then 10 more at 20 per second.
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        let g = Gate::new(RequestLimits::default());
        g.pause(Duration::from_millis(200));
        let t = Instant::now();
        g.enter().await;
        assert!(t.elapsed() >= Duration::from_millis(190));
    }

    #[tokio::test]
    async fn at_most_max_requests_are_in_flight() {
        let g = Gate::new(RequestLimits {
            max_requests: Some(2),
            requests_per_second: None,
        });
        let a = g.enter().await;
        let b = g.enter().await;
        assert!(a.is_some() && b.is_some());
        let third = tokio::time::timeout(Duration::from_millis(50), g.enter()).await;
        assert!(third.is_err(), "a third request started");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(50), g.enter()).await;
        assert!(third.is_ok());
    }
}
