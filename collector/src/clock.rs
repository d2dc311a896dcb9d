//! Time and waiting, on both targets. `SystemTime::now()` panics on wasm32-unknown-unknown, so
//! the Worker reads the JavaScript clock and sleeps with the runtime's timers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Milliseconds since the Unix epoch.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A `SystemTime` for an epoch time in ms, built without reading the clock (wasm-safe).
pub fn system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

#[cfg(target_arch = "wasm32")]
pub async fn sleep(ms: u64) {
    worker::Delay::from(Duration::from_millis(ms)).await;
}

#[cfg(not(target_arch = "wasm32"))]
pub async fn sleep(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// The UTC calendar date (`yyyy-mm-dd`) and hour of an epoch time in ms, for partitioned keys.
pub fn utc_date_hour(ms: i64) -> (String, u32) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let hour = (secs.rem_euclid(86_400) / 3600) as u32;
    let (y, m, d) = civil_from_days(days);
    (format!("{y:04}-{m:02}-{d:02}"), hour)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// `civil_from_days`, exact for every date an i64 of days can reach here.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates() {
        assert_eq!(utc_date_hour(0), ("1970-01-01".into(), 0));
        assert_eq!(utc_date_hour(1_763_791_200_000), ("2025-11-22".into(), 6));
        assert_eq!(utc_date_hour(951_782_400_000), ("2000-02-29".into(), 0));
        assert_eq!(utc_date_hour(-1), ("1969-12-31".into(), 23));
        assert_eq!(utc_date_hour(4_102_444_799_000), ("2099-12-31".into(), 23));
    }

    #[test]
    fn system_time_matches_the_clock() {
        let now = now_ms();
        let t = system_time(now);
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64,
            now
        );
    }
}
