//! Short CSS selectors for click targets: stable enough to find the element again on the same
//! page at another width, short enough to cost little on the wire.

use alloc::string::String;
use alloc::vec::Vec;

use crate::json::{cat, push_uint};

/// What the glue reads of one element on the way from the target up to the root.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step<'a> {
    /// Lower-case tag name.
    pub tag: &'a str,
    pub id: Option<&'a str>,
    /// 1-based position among siblings of the same tag, and whether it has any.
    pub nth_of_type: u32,
    pub has_same_tag_siblings: bool,
}

/// Deepest ancestry kept: enough to be unique on ordinary pages.
pub const MAX_DEPTH: usize = 5;

/// Builds `a>b:nth-of-type(2)>c` from the target (first) upwards, stopping at the first id
/// (`#cart>button`), at `html`/`body`, or after [`MAX_DEPTH`] steps.
pub fn build(path: &[Step]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for step in path {
        if let Some(id) = step.id.filter(|id| is_plain_ident(id)) {
            parts.push(cat(&["#", id]));
            break;
        }
        if step.tag == "html" || step.tag == "body" || parts.len() == MAX_DEPTH {
            break;
        }
        let mut part = String::from(step.tag);
        if step.has_same_tag_siblings {
            part.push_str(":nth-of-type(");
            push_uint(&mut part, u64::from(step.nth_of_type));
            part.push(')');
        }
        parts.push(part);
    }
    let mut out = String::new();
    for (i, part) in parts.iter().rev().enumerate() {
        if i > 0 {
            out.push('>');
        }
        out.push_str(part);
    }
    out
}

/// The tag a selector built here ends in (`main>a:nth-of-type(2)` → `a`), or `""` when its
/// last step is an id. The wire leaves a click's tag out when it is this one.
pub fn last_tag(sel: &str) -> &str {
    // One pass over the bytes: `rsplit` costs the page's download half a kilobyte.
    let (mut start, mut end, mut in_tag) = (0, 0, true);
    let mut i = 0;
    for b in sel.bytes() {
        i += 1;
        if b == b'>' {
            (start, end, in_tag) = (i, i, true);
        } else if in_tag && (b.is_ascii_alphanumeric() || b == b'-') {
            end = i;
        } else {
            in_tag = false;
        }
    }
    sel.get(start..end).unwrap_or_default()
}

/// Ids that need no CSS escaping (letters, digits, `-`, `_`, not starting with a digit);
/// others (generated ids with odd characters) are skipped rather than escaped.
fn is_plain_ident(id: &str) -> bool {
    let mut bytes = id.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'-')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step<'a>(tag: &'a str, id: Option<&'a str>, nth: u32, siblings: bool) -> Step<'a> {
        Step {
            tag,
            id,
            nth_of_type: nth,
            has_same_tag_siblings: siblings,
        }
    }

    #[test]
    fn stops_at_an_id() {
        let path = [
            step("button", None, 1, false),
            step("div", Some("cart"), 1, true),
            step("main", None, 1, false),
        ];
        assert_eq!(build(&path), "#cart>button");
    }

    #[test]
    fn numbers_same_tag_siblings_and_stops_at_body() {
        let path = [
            step("button", None, 1, false),
            step("article", None, 3, true),
            step("main", None, 1, false),
            step("body", None, 1, false),
            step("html", None, 1, false),
        ];
        assert_eq!(build(&path), "main>article:nth-of-type(3)>button");
    }

    #[test]
    fn keeps_at_most_five_steps() {
        let path: Vec<_> = (0..9).map(|i| step("div", None, i + 1, true)).collect();
        assert_eq!(build(&path).matches('>').count(), MAX_DEPTH - 1);
        assert!(build(&path).starts_with("div:nth-of-type(5)"));
    }

    #[test]
    fn skips_ids_that_would_need_escaping() {
        let path = [
            step("span", Some("a:b"), 12, true),
            step("p", Some("9lives"), 1, false),
            step("section", Some("promo_2-a"), 1, false),
        ];
        assert_eq!(build(&path), "#promo_2-a>p>span:nth-of-type(12)");
    }

    #[test]
    fn the_last_step_names_the_tag_as_the_wire_reads_it() {
        assert_eq!(last_tag("main>article:nth-of-type(3)>button"), "button");
        assert_eq!(last_tag("#cart"), "");
        for sel in [
            "#promo>p>span:nth-of-type(12)",
            "x-card",
            "#cart>a",
            "h1",
            "",
        ] {
            assert_eq!(last_tag(sel), wire::v2::implied_tag(sel), "{sel}");
        }
    }

    #[test]
    fn the_body_itself_gives_an_empty_selector() {
        assert_eq!(build(&[step("body", None, 1, false)]), "");
    }
}
