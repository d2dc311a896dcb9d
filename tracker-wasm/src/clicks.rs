//! Where a click landed, in forms that survive a responsive reflow, what it landed on, and
//! whether it was a rage click (3 or more within 1 s and 30 px) or a dead one (no DOM change,
//! navigation or scroll soon after).

use alloc::string::String;

/// The numbers the glue reads off the page at click time (all CSS px).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClickInput {
    /// Pointer position relative to the document (`pageX`, `pageY`).
    pub page_x: f64,
    pub page_y: f64,
    /// Pointer position relative to the viewport (`clientX`, `clientY`).
    pub client_x: f64,
    pub client_y: f64,
    /// Full document size (`scrollWidth`, `scrollHeight` of the root element).
    pub doc_width: f64,
    pub doc_height: f64,
    /// The target's box relative to the viewport (`getBoundingClientRect`).
    pub rect_left: f64,
    pub rect_top: f64,
    pub rect_width: f64,
    pub rect_height: f64,
}

/// The click's place: shares of the document, document px, and the point inside the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub x: f64,
    pub y: f64,
    pub yr: f64,
    pub ex: f64,
    pub ey: f64,
}

pub fn position(c: &ClickInput) -> Position {
    Position {
        x: share(c.page_x, c.doc_width),
        y: c.page_y.max(0.0),
        yr: share(c.page_y, c.doc_height),
        ex: share(c.client_x - c.rect_left, c.rect_width),
        ey: share(c.client_y - c.rect_top, c.rect_height),
    }
}

/// `part / whole` clamped to 0..=1; 0 when the whole is empty or a value is not finite
/// (keyboard-activated clicks report 0,0 and zero-size targets exist).
fn share(part: f64, whole: f64) -> f64 {
    let r = part / whole;
    if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Longest visible text kept from a click target, in characters.
pub const MAX_TEXT: usize = 64;

/// A target's visible text as a label: whitespace runs collapsed, trimmed, at most
/// [`MAX_TEXT`] characters.
pub fn label(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    // A space is owed between words (never before the first).
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        for (c, due) in [(' ', space), (c, true)] {
            if !due {
                continue;
            }
            if chars == MAX_TEXT {
                return out;
            }
            out.push(c);
            chars += 1;
        }
        space = false;
    }
    out
}

/// Elements whose text is never captured: what a user types or picks, and whatever the site
/// owner marked. `page.js` matches them around the target (`Element.closest`) and inside it, so
/// a label holding a select or a marked secret gives no text either.
pub const MASKED: &str = "input,textarea,select,option,[contenteditable]:not([contenteditable=false]),[data-spoor-mask],[data-spoor-ignore]";

/// A target holding more elements than this is a container (the page's root, an app's
/// wrapper): its text is not a label.
pub const MAX_LABEL_ELEMENTS: u32 = 8;

/// Targets that promise a response when clicked, matched with `Element.closest`: only these
/// can be dead clicks (a click on plain text is not expected to do anything). Form fields
/// answer by taking focus, which changes nothing in the DOM, so they are left out.
pub const INTERACTIVE: &str =
    "a[href],button,[role=button],[role=link],[role=tab],summary,[onclick],[data-spoor-event]";

/// How long after a click a DOM change, navigation or scroll still counts as its response.
pub const DEAD_WINDOW_MS: i32 = 1000;

/// Rage clicks: this many clicks…
pub const RAGE_CLICKS: usize = 3;
/// …within this time (ms)…
pub const RAGE_WINDOW_MS: f64 = 1000.0;
/// …and this distance (CSS px) of each other.
pub const RAGE_RADIUS_PX: f64 = 30.0;

/// Remembers the last second of clicks to tell rage clicks.
#[derive(Debug, Default)]
pub struct Rage {
    recent: alloc::vec::Vec<(f64, f64, f64)>,
}

impl Rage {
    /// Records a click at monotonic time `t` (ms) and document point (`x`, `y`); returns
    /// whether it completes a rage burst.
    pub fn click(&mut self, t: f64, x: f64, y: f64) -> bool {
        self.recent.retain(|(t0, _, _)| t - t0 <= RAGE_WINDOW_MS);
        let mut near = 0;
        for (_, x0, y0) in &self.recent {
            let (dx, dy) = (x - x0, y - y0);
            if dx * dx + dy * dy <= RAGE_RADIUS_PX * RAGE_RADIUS_PX {
                near += 1;
            }
        }
        self.recent.push((t, x, y));
        near + 1 >= RAGE_CLICKS
    }
}

/// Whether `href` (absolute, as `a.href` gives it) leaves the site at `origin`
/// (`https://shop.example`).
pub fn is_outbound(href: &str, origin: &str) -> bool {
    let web = href.starts_with("http://") || href.starts_with("https://");
    let same = href
        .strip_prefix(origin)
        .is_some_and(|rest| matches!(rest.as_bytes().first(), None | Some(b'/' | b'?' | b'#')));
    web && !same
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_shares_of_document_and_target() {
        let p = position(&ClickInput {
            page_x: 320.0,
            page_y: 1500.0,
            client_x: 320.0,
            client_y: 300.0,
            doc_width: 1280.0,
            doc_height: 3000.0,
            rect_left: 300.0,
            rect_top: 290.0,
            rect_width: 80.0,
            rect_height: 40.0,
        });
        assert_eq!(
            p,
            Position {
                x: 0.25,
                y: 1500.0,
                yr: 0.5,
                ex: 0.25,
                ey: 0.25
            }
        );
    }

    #[test]
    fn degenerate_geometry_gives_zero_not_nan() {
        let p = position(&ClickInput {
            page_x: 10.0,
            page_y: -5.0,
            client_x: 10.0,
            client_y: 5.0,
            ..ClickInput::default()
        });
        assert_eq!((p.x, p.y, p.yr, p.ex, p.ey), (0.0, 0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn positions_outside_the_box_are_clamped() {
        let p = position(&ClickInput {
            page_x: 2000.0,
            page_y: 10.0,
            client_x: 0.0,
            client_y: 100.0,
            doc_width: 1000.0,
            doc_height: 100.0,
            rect_left: 50.0,
            rect_top: 0.0,
            rect_width: 10.0,
            rect_height: 10.0,
        });
        assert_eq!((p.x, p.ex, p.ey), (1.0, 0.0, 1.0));
    }

    #[test]
    fn three_quick_clicks_in_one_place_are_rage() {
        let mut r = Rage::default();
        assert!(!r.click(0.0, 100.0, 100.0));
        assert!(!r.click(200.0, 110.0, 105.0));
        assert!(r.click(400.0, 95.0, 98.0));
        assert!(r.click(600.0, 100.0, 100.0), "and the ones after");
    }

    #[test]
    fn slow_or_scattered_clicks_are_not_rage() {
        let mut r = Rage::default();
        assert!(!r.click(0.0, 100.0, 100.0));
        assert!(!r.click(600.0, 100.0, 100.0));
        assert!(
            !r.click(1700.0, 100.0, 100.0),
            "the first is over a second old"
        );
        let mut r = Rage::default();
        assert!(!r.click(0.0, 0.0, 0.0));
        assert!(!r.click(100.0, 50.0, 0.0));
        assert!(!r.click(200.0, 100.0, 0.0), "each 50 px from the last");
    }

    #[test]
    fn outbound_links_leave_the_origin() {
        let o = "https://shop.example";
        assert!(!is_outbound("https://shop.example/cart", o));
        assert!(!is_outbound("https://shop.example", o));
        assert!(!is_outbound("https://shop.example?x=1", o));
        assert!(is_outbound("https://shop.example.evil.com/", o));
        assert!(is_outbound("https://docs.example/", o));
        assert!(
            is_outbound("http://shop.example/", o),
            "another scheme is another origin"
        );
        assert!(!is_outbound("mailto:a@b.c", o));
        assert!(!is_outbound("javascript:void(0)", o));
    }

    #[test]
    fn labels_collapse_whitespace_and_cut_at_64_chars() {
        assert_eq!(label("  Add\n\t to   cart  "), "Add to cart");
        assert_eq!(label(""), "");
        let long = "é".repeat(100);
        assert_eq!(label(&long).chars().count(), MAX_TEXT);
        let words = "word ".repeat(30);
        let l = label(&words);
        assert_eq!(l.chars().count(), MAX_TEXT);
        assert!(l.starts_with("word word"));
    }
}
