//! Traffic surges and drops: each accepted batch adds its events to a per-site counter of its
//! arrival window (exactly once, in the batch's guarded transaction); a cron trigger compares
//! the last complete window with the ones before it. Pure: the judgement and the windows.

/// What the last window looks like against its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// `traffic_surge` or `traffic_drop`.
    pub kind: &'static str,
    pub last: u64,
    /// Mean events per window before it.
    pub baseline: f64,
}

/// Windows of history compared against: with 5-minute windows, the last hour.
pub const BASELINE_WINDOWS: i64 = 12;

/// A surge: at least `min` events and `factor` times the baseline. A drop: no events at all
/// where the baseline had at least `min` per window. Without history there is no judgement.
pub fn judge(last: u64, baseline: &[u64], factor: f64, min: u64) -> Option<Judgement> {
    if baseline.is_empty() {
        return None;
    }
    let mean = baseline.iter().sum::<u64>() as f64 / baseline.len() as f64;
    let kind = if last >= min && last as f64 >= factor * mean.max(1.0) {
        "traffic_surge"
    } else if last == 0 && mean >= min as f64 {
        "traffic_drop"
    } else {
        return None;
    };
    Some(Judgement {
        kind,
        last,
        baseline: mean,
    })
}

/// Start of the window holding `t` (ms).
pub fn window_start(t: i64, window_ms: i64) -> i64 {
    t - t.rem_euclid(window_ms)
}

/// A window start as a sort key: zero-padded, so string order is time order.
pub fn window_sort_key(start: i64) -> String {
    format!("{start:015}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surges_need_volume_and_a_jump() {
        let base = [10, 12, 8, 10];
        assert_eq!(judge(31, &base, 3.0, 50), None, "a jump, but small");
        let j = judge(60, &base, 3.0, 50).unwrap();
        assert_eq!((j.kind, j.last, j.baseline), ("traffic_surge", 60, 10.0));
        assert_eq!(judge(60, &[40, 40], 3.0, 50), None, "busy, but usual");
        assert_eq!(judge(500, &[0, 0], 3.0, 50).unwrap().kind, "traffic_surge");
    }

    #[test]
    fn a_drop_to_zero_matters_only_on_a_busy_site() {
        assert_eq!(
            judge(0, &[60, 70, 80], 3.0, 50).unwrap().kind,
            "traffic_drop"
        );
        assert_eq!(judge(0, &[1, 2, 0], 3.0, 50), None);
        assert_eq!(judge(1, &[60, 70, 80], 3.0, 50), None, "quiet is not down");
        assert_eq!(judge(0, &[], 3.0, 50), None, "no history");
    }

    #[test]
    fn windows() {
        assert_eq!(window_start(1_000_123, 300_000), 900_000);
        assert_eq!(window_start(-1, 300_000), -300_000);
        assert_eq!(window_sort_key(900_000), "000000000900000");
        assert!(window_sort_key(900_000) < window_sort_key(1_200_000));
    }
}
