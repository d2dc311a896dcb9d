//! Dwell time of one page view, three ways, on a monotonic clock (`performance.now()`, never
//! `Date` differences, which jump with the system clock):
//! - `total`: wall-clock time of the view;
//! - `visible`: time the page was visible;
//! - `engaged`: time it was visible AND focused AND had an input (pointer, key, scroll, touch)
//!   within the last `idle` ms. Opening the page counts as an input.
//!
//! The state between two updates is constant, so time is accrued at each update.

/// Longest time one report covers: a day, the collector's bound (a tab hidden for days).
pub const MAX_REPORT_MS: u64 = 86_400_000;

/// One report: the time since the previous report, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Report {
    pub engaged_ms: u64,
    pub visible_ms: u64,
    pub total_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dwell {
    idle_ms: f64,
    /// Time up to which time has been accrued.
    last: f64,
    visible: bool,
    focused: bool,
    last_input: f64,
    /// Accrued since the last report (fractions of ms kept until reported).
    total: f64,
    shown: f64,
    engaged: f64,
}

impl Dwell {
    pub fn new(now: f64, visible: bool, focused: bool, idle_ms: f64) -> Self {
        Dwell {
            idle_ms,
            last: now,
            visible,
            focused,
            last_input: now,
            total: 0.0,
            shown: 0.0,
            engaged: 0.0,
        }
    }

    fn advance(&mut self, now: f64) {
        let now = now.max(self.last);
        let dt = now - self.last;
        self.total += dt;
        if self.visible {
            self.shown += dt;
            if self.focused {
                let active_until = (self.last_input + self.idle_ms).min(now);
                self.engaged += (active_until - self.last).max(0.0);
            }
        }
        self.last = now;
    }

    /// Coming back to the page is an input: the visitor chose to look at it again.
    pub fn visibility(&mut self, now: f64, visible: bool) {
        self.advance(now);
        if visible && !self.visible {
            self.last_input = now;
        }
        self.visible = visible;
    }

    pub fn focus(&mut self, now: f64, focused: bool) {
        self.advance(now);
        self.focused = focused;
    }

    /// An input; a hidden page cannot really have one (a script scrolled it), so none counts.
    pub fn input(&mut self, now: f64) {
        self.advance(now);
        if self.visible {
            self.last_input = now;
        }
    }

    #[cfg(test)]
    pub fn last_input(&self) -> f64 {
        self.last_input
    }

    pub fn is_visible(&self) -> bool {
        self.visible
    }

    /// The time accrued since the previous report, or `None` if there is none worth sending
    /// (under a millisecond of wall clock). A report holds engaged ≤ visible ≤ total, as the
    /// collector requires (each kept fraction could otherwise tip one over the next), and
    /// covers at most [`MAX_REPORT_MS`]; what is left over goes in the next.
    pub fn take(&mut self, now: f64) -> Option<Report> {
        self.advance(now);
        let total_ms = (self.total as u64).min(MAX_REPORT_MS);
        let visible_ms = (self.shown as u64).min(total_ms);
        let report = Report {
            engaged_ms: (self.engaged as u64).min(visible_ms),
            visible_ms,
            total_ms,
        };
        if report.total_ms == 0 {
            return None;
        }
        // Keep the fractions, so many reports add up to the true totals.
        self.total -= report.total_ms as f64;
        self.shown -= report.visible_ms as f64;
        self.engaged -= report.engaged_ms as f64;
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: f64 = 30_000.0;

    fn r(engaged: u64, visible: u64, total: u64) -> Option<Report> {
        Some(Report {
            engaged_ms: engaged,
            visible_ms: visible,
            total_ms: total,
        })
    }

    #[test]
    fn an_idle_visible_page_stops_being_engaged_after_the_idle_time() {
        let mut d = Dwell::new(0.0, true, true, IDLE);
        assert_eq!(d.take(60_000.0), r(30_000, 60_000, 60_000));
    }

    #[test]
    fn input_keeps_the_view_engaged() {
        let mut d = Dwell::new(0.0, true, true, IDLE);
        d.input(20_000.0);
        d.input(45_000.0);
        assert_eq!(d.take(100_000.0), r(75_000, 100_000, 100_000));
    }

    #[test]
    fn hidden_time_counts_only_in_total() {
        let mut d = Dwell::new(0.0, true, true, IDLE);
        d.visibility(10_000.0, false);
        d.input(15_000.0); // a script's scroll while hidden is no input
        assert_eq!(d.take(40_000.0), r(10_000, 10_000, 40_000));
        // Coming back engages (for up to the idle time without further input).
        d.visibility(40_000.0, true);
        assert_eq!(d.take(100_000.0), r(30_000, 60_000, 60_000));
    }

    #[test]
    fn unfocused_visible_time_is_visible_not_engaged() {
        let mut d = Dwell::new(0.0, true, false, IDLE);
        d.input(1_000.0);
        d.focus(10_000.0, true);
        assert_eq!(d.take(12_000.0), r(2_000, 12_000, 12_000));
    }

    #[test]
    fn reports_are_deltas_that_add_up() {
        let mut d = Dwell::new(0.0, true, true, IDLE);
        let mut sum = Report::default();
        let mut now = 0.0;
        for _ in 0..100 {
            now += 250.25;
            d.input(now);
            if let Some(r) = d.take(now) {
                sum.engaged_ms += r.engaged_ms;
                sum.visible_ms += r.visible_ms;
                sum.total_ms += r.total_ms;
            }
        }
        assert_eq!(sum.total_ms, 25_025);
        assert_eq!(sum.engaged_ms, 25_025);
        assert_eq!(d.take(now), None, "nothing new to report");
    }

    #[test]
    fn reports_hold_engaged_within_visible_within_total() {
        // Fractions kept from earlier reports: visible's 0.7 ms must not make a report of
        // 60,000.4 ms of wall clock say 60,001 ms visible.
        let mut d = Dwell::new(0.0, false, true, IDLE);
        d.visibility(1_000.3, true);
        let first = d.take(2_000.0).unwrap();
        assert_eq!(
            first,
            Report {
                engaged_ms: 999,
                visible_ms: 999,
                total_ms: 2_000
            }
        );
        let next = d.take(62_000.4).unwrap();
        assert!(next.engaged_ms <= next.visible_ms && next.visible_ms <= next.total_ms);
        assert_eq!(next.total_ms, 60_000);
        // What one report could not hold goes in a later one (fractions of a ms may wait).
        let last = d.take(62_001.4).unwrap();
        let visible = first.visible_ms + next.visible_ms + last.visible_ms;
        assert!((61_000..=61_001).contains(&visible), "{visible}");
    }

    #[test]
    fn a_report_covers_at_most_a_day() {
        let mut d = Dwell::new(0.0, true, true, IDLE);
        d.visibility(1_000.0, false);
        let days = 3.0 * MAX_REPORT_MS as f64;
        let mut total = 0;
        while let Some(r) = d.take(days) {
            assert!(r.total_ms <= MAX_REPORT_MS);
            total += r.total_ms;
        }
        assert_eq!(total, 3 * MAX_REPORT_MS);
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let mut d = Dwell::new(1_000.0, true, true, IDLE);
        d.input(500.0);
        assert_eq!(d.take(900.0), None);
        assert_eq!(d.take(2_000.0), r(1_000, 1_000, 1_000));
    }
}
