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

/// `yyyy-mm-ddThh:mmZ` of an epoch time in ms (for messages people read).
pub fn iso_minute(ms: i64) -> String {
    let (date, hour) = utc_date_hour(ms);
    let minute = ms.div_euclid(60_000).rem_euclid(60);
    format!("{date}T{hour:02}:{minute:02}Z")
}

/// Days since 1970-01-01 of the UTC day holding `ms`.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// `yyyy-mm-dd` of a day number (days since 1970-01-01).
pub fn date_of_day(day: i64) -> String {
    utc_date_hour(day * 86_400_000).0
}

/// Parses a strict `yyyy-mm-dd` into a day number; `None` for anything else, including dates
/// that do not exist (2025-02-30).
pub fn parse_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &text[r];
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let day = days_from_civil(y, m as u32, d as u32);
    // Round-tripping rejects day numbers past the month's end.
    (date_of_day(day) == text).then_some(day)
}

/// Howard Hinnant's `days_from_civil`, the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn minutes() {
        assert_eq!(
            iso_minute(1_763_791_200_000 + 65 * 60_000),
            "2025-11-22T07:05Z"
        );
    }

    #[test]
    fn dates_parse_strictly_and_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2025-11-22"), Some(day_of(1_763_791_200_000)));
        assert_eq!(
            parse_date("2000-02-29").map(date_of_day).as_deref(),
            Some("2000-02-29")
        );
        for bad in [
            "2025-02-30",
            "2025-13-01",
            "2025-1-01",
            "20251122",
            "2025-11-2x",
            "",
            "+025-11-22",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for day in [-1000, 0, 10_957, 20_414, 40_000] {
            assert_eq!(parse_date(&date_of_day(day)), Some(day));
        }
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
