//! Browser errors worth sending: at most a few per page view, each distinct one once, so a
//! page stuck in an error loop cannot flood the collector (or the visitor's network).

use alloc::vec::Vec;

/// Most errors sent per page view.
pub const MAX_PER_VIEW: usize = 10;

#[derive(Debug, Default)]
pub struct Errors {
    /// Hashes of the errors sent in this view.
    seen: Vec<u32>,
}

impl Errors {
    /// A new page view: every error may be sent again.
    pub fn reset(&mut self) {
        self.seen.clear();
    }

    /// Whether to send this error.
    pub fn admit(&mut self, msg: &str, src: &str, line: u32, col: u32) -> bool {
        let h = fnv1a(&[
            msg.as_bytes(),
            src.as_bytes(),
            &line.to_le_bytes(),
            &col.to_le_bytes(),
        ]);
        if self.seen.len() >= MAX_PER_VIEW || self.seen.contains(&h) {
            return false;
        }
        self.seen.push(h);
        true
    }
}

fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for b in *part {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h = h.wrapping_mul(0x0100_0193); // separates the parts
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_distinct_error_once_and_a_few_per_view() {
        let mut e = Errors::default();
        assert!(e.admit("boom", "app.js", 1, 2));
        assert!(!e.admit("boom", "app.js", 1, 2));
        assert!(e.admit("boom", "app.js", 1, 3));
        for i in 0..20u32 {
            e.admit("loop", "app.js", i, 0);
        }
        assert!(!e.admit("yet another", "app.js", 9, 9));
        e.reset();
        assert!(e.admit("boom", "app.js", 1, 2), "a new view starts afresh");
    }
}
