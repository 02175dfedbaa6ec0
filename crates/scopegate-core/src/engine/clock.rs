//! The coarse monotonic clock the decision cache checks its time-to-live against.
//!
//! An L1 hit reads the clock once, so its cost counts against the hit: `Instant::now()` is a
//! `CLOCK_MONOTONIC` read (about 20 ns on a VM with the `tsc` clocksource), while Linux's
//! `CLOCK_MONOTONIC_COARSE` returns the time of the last scheduler tick (1–4 ms resolution)
//! for a few nanoseconds. A time-to-live of seconds or minutes does not need better than a
//! few milliseconds; a cached entry can therefore be served at most one tick after its
//! time-to-live. (A policy change never depends on this clock: entries carry the generation
//! they were decided on.)

/// Milliseconds since an arbitrary fixed point, never going backwards.
#[cfg(target_os = "linux")]
pub(super) fn now_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

/// Milliseconds since an arbitrary fixed point, never going backwards.
#[cfg(not(target_os = "linux"))]
pub(super) fn now_ms() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::now_ms;

    #[test]
    fn the_clock_never_goes_back_and_follows_time() {
        let a = now_ms();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let b = now_ms();
        assert!(b >= a + 20, "{a} -> {b}");
    }
}
