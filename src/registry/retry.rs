//! Retry policy as data: how many times, how long to wait, which failures
//! are worth another try. Each operation retries at exactly one level: plain
//! requests in [`super::client`], whole blob transfers in `copy::blob`
//! (whose inner requests are sent with [`RetryPolicy::none`]).

use std::time::Duration;

/// How a failed operation is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: no retry).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Upper bound for one wait (also caps `Retry-After`).
    pub max_delay: Duration,
    /// Randomize each wait between half and all of it, so that many
    /// transfers failing together do not retry together.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (1-based). A server's
    /// `Retry-After` wins over the computed backoff, up to `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let d = exp.min(self.max_delay);
        if self.jitter {
            let f: f64 = rand::random::<f64>() * 0.5 + 0.5;
            d.mul_f64(f)
        } else {
            d
        }
    }
}

/// How slow a response may be. Every body (blob streams, manifests, lists,
/// tokens) must deliver at least `min_rate` bytes per second, measured over
/// each `window`; a connection silent for a whole `window` fails too. A
/// slow body fails as a transport error, so the operation's one retry
/// level tries again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransferLimits {
    /// Minimum bytes per second over a window.
    pub min_rate: u64,
    /// The measuring window, and the longest silence allowed.
    pub window: Duration,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            min_rate: 1000,
            window: Duration::from_secs(60),
        }
    }
}

/// Watches one body's progress against [`TransferLimits`].
#[derive(Debug)]
pub struct RateGuard {
    limits: TransferLimits,
    window_start: std::time::Instant,
    in_window: u64,
}

impl RateGuard {
    /// Starts watching now.
    pub fn new(limits: TransferLimits) -> Self {
        RateGuard {
            limits,
            window_start: std::time::Instant::now(),
            in_window: 0,
        }
    }

    /// Counts `n` more bytes; an error once a whole window has passed with
    /// fewer than `min_rate * window` bytes.
    pub fn on_bytes(&mut self, n: u64) -> Result<(), String> {
        self.in_window = self.in_window.saturating_add(n);
        let elapsed = self.window_start.elapsed();
        if elapsed < self.limits.window {
            return Ok(());
        }
        let need = (self.limits.min_rate as f64 * elapsed.as_secs_f64()) as u64;
        if self.in_window < need {
            return Err(format!(
                "body slower than the minimum rate: {} bytes in {:.1} s (min_rate is {} bytes/s)",
                self.in_window,
                elapsed.as_secs_f64(),
                self.limits.min_rate
            ));
        }
        self.window_start = std::time::Instant::now();
        self.in_window = 0;
        Ok(())
    }
}

/// Statuses that say "try again": timeouts, rate limits and server errors.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Parses a `Retry-After` header: delay-seconds, or an HTTP-date (the wait
/// until then; a date in the past means now). The caller caps it with
/// [`RetryPolicy::max_delay`].
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    parse_retry_after_at(value, std::time::SystemTime::now())
}

fn parse_retry_after_at(value: Option<&str>, now: std::time::SystemTime) -> Option<Duration> {
    let v = value?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            jitter: false,
        };
        assert_eq!(p.delay(1, None), Duration::from_millis(100));
        assert_eq!(p.delay(2, None), Duration::from_millis(200));
        assert_eq!(p.delay(3, None), Duration::from_millis(350));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_millis(350)
        );
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d = p.delay(1, None);
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
        }
    }

    #[test]
    fn transient_statuses() {
        assert!(is_transient_status(503));
        assert!(is_transient_status(429));
        assert!(!is_transient_status(404));
        assert!(!is_transient_status(401));
        assert_eq!(parse_retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015")), None);
        assert!(!is_transient_status(400));
        assert!(!is_transient_status(403));
    }

    #[test]
    fn a_trickle_fails_the_rate_guard_and_a_steady_body_does_not() {
        let limits = TransferLimits {
            min_rate: 1000,
            window: Duration::from_millis(50),
        };
        let mut trickle = RateGuard::new(limits);
        std::thread::sleep(Duration::from_millis(60));
        assert!(trickle.on_bytes(1).is_err());
        let mut steady = RateGuard::new(limits);
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(30));
            assert!(steady.on_bytes(10_000).is_ok());
        }
    }

    #[test]
    fn retry_after_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").ok();
        let now = now.unwrap_or(std::time::UNIX_EPOCH);
        assert_eq!(
            parse_retry_after_at(Some("Wed, 21 Oct 2015 07:28:05 GMT"), now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after_at(Some("Wed, 21 Oct 2015 07:27:00 GMT"), now),
            Some(Duration::ZERO)
        );
    }
}
