//! Where a click landed, in forms that survive a responsive reflow, and what it landed on.

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
    for word in text.split_whitespace() {
        for (i, c) in core::iter::once(' ').chain(word.chars()).enumerate() {
            if i == 0 && out.is_empty() {
                continue;
            }
            if chars == MAX_TEXT {
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

/// Targets whose text is never captured, matched with `Element.closest`: what a user types or
/// picks, and whatever the site owner marked.
pub const MASKED: &str = "input,textarea,select,option,[contenteditable]:not([contenteditable=false]),[data-spoor-mask],[data-spoor-ignore]";

/// A target with more child elements than this is a container: its text is not a label.
pub const MAX_LABEL_CHILDREN: u32 = 3;

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
