//! Scroll depth of one page view: the largest share of the document seen,
//! `(scrollTop + viewport) / height`, and the marks (25, 50, 75, 90, 100 %) reached. A page too
//! short to scroll is seen whole. The height is read when observing, so a document that grows
//! after load (images, lazy content) is measured against its current size.

use alloc::vec::Vec;

pub const MARKS: [u8; 5] = [25, 50, 75, 90, 100];

/// Half a pixel short of the bottom still counts as the bottom (fractional layouts).
const SLACK_PX: f64 = 1.0;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scroll {
    max: f64,
    /// Bit i: `MARKS[i]` reached.
    reached: u8,
    /// Bit i: `MARKS[i]` already reported.
    reported: u8,
    /// `max` at the last report.
    reported_max: f64,
}

/// The share of a document of `height` px seen with its top `top` px scrolled away in a
/// viewport `viewport` px high.
pub fn depth(top: f64, viewport: f64, height: f64) -> f64 {
    if !(top.is_finite() && viewport.is_finite() && height.is_finite()) || height <= 0.0 {
        return 0.0;
    }
    let bottom = top.max(0.0) + viewport.max(0.0);
    if bottom + SLACK_PX >= height {
        1.0
    } else {
        bottom / height
    }
}

impl Scroll {
    pub fn observe(&mut self, top: f64, viewport: f64, height: f64) {
        let d = depth(top, viewport, height);
        if d > self.max {
            self.max = d;
        }
        for (i, mark) in MARKS.iter().enumerate() {
            if self.max * 100.0 >= f64::from(*mark) {
                self.reached |= 1 << i;
            }
        }
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    /// The deepest share so far and the marks reached since the last report, if anything
    /// changed since then.
    pub fn take(&mut self) -> Option<(f64, Vec<u8>)> {
        let new = self.reached & !self.reported;
        if new == 0 && self.max <= self.reported_max {
            return None;
        }
        self.reported |= new;
        self.reported_max = self.max;
        let mut marks = Vec::new();
        for (i, mark) in MARKS.iter().enumerate() {
            if new & (1 << i) != 0 {
                marks.push(*mark);
            }
        }
        Some((self.max, marks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_the_share_seen() {
        assert_eq!(depth(0.0, 800.0, 4000.0), 0.2);
        assert_eq!(depth(1200.0, 800.0, 4000.0), 0.5);
        assert_eq!(
            depth(3199.5, 800.0, 4000.0),
            1.0,
            "the bottom, give or take a pixel"
        );
        assert_eq!(depth(0.0, 800.0, 600.0), 1.0, "too short to scroll");
        assert_eq!(depth(0.0, 800.0, 0.0), 0.0);
        assert_eq!(depth(f64::NAN, 800.0, 100.0), 0.0);
        assert_eq!(depth(-50.0, 800.0, 4000.0), 0.2, "overscroll bounce");
    }

    #[test]
    fn marks_are_reported_once_each() {
        let mut s = Scroll::default();
        s.observe(0.0, 800.0, 4000.0);
        assert_eq!(s.take(), Some((0.2, vec![])));
        assert_eq!(s.take(), None);
        s.observe(2200.0, 800.0, 4000.0); // 75 %
        assert_eq!(s.take(), Some((0.75, vec![25, 50, 75])));
        s.observe(0.0, 800.0, 4000.0); // back up: nothing new
        assert_eq!(s.take(), None);
        s.observe(3200.0, 800.0, 4000.0);
        assert_eq!(s.take(), Some((1.0, vec![90, 100])));
    }

    #[test]
    fn a_document_that_grows_is_measured_at_its_new_height() {
        let mut s = Scroll::default();
        // At 1000 px the visitor would be at the bottom; the image grew the page to 3000 px.
        s.observe(200.0, 800.0, 3000.0);
        assert_eq!(s.take(), Some((1.0 / 3.0, vec![25])));
        s.observe(2200.0, 800.0, 3000.0);
        assert_eq!(s.take(), Some((1.0, vec![50, 75, 90, 100])));
    }

    #[test]
    fn a_short_page_is_seen_whole() {
        let mut s = Scroll::default();
        s.observe(0.0, 900.0, 700.0);
        assert_eq!(s.take(), Some((1.0, MARKS.to_vec())));
    }
}
